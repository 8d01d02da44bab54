"""Reading what a `segdbg replay` run resends: the events a
:class:`~debugger.core.replay.selection.Selection` names.

Reads go through the search index (:mod:`debugger.store.reads`), bounded to the events stored when
the run started; a resumed run also leaves out what it already recorded as delivered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from debugger.core.replay.planning import event_time
from debugger.core.replay.selection import Selection
from debugger.store.capture import connect
from debugger.store.reads import matching_sql, newest_id, select_rows

#: The columns planning reads (problems are not needed to resend an event).
_PLAN_COLUMNS = ("id", "type", "name", "message_id", "write_key", "timestamp", "received_at", "raw", "stored")


def selected_events(conn: sqlite3.Connection, selection: Selection) -> Iterator[dict[str, Any]]:
    """The events a selection names, in capture order, with the columns planning needs.

    Free text is found through the FTS index up to its watermark (the rest is scanned), so
    ``replay "rare words"`` on a big capture reads only the matching rows.
    """
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    rows = select_rows(
        conn,
        _PLAN_COLUMNS,
        query=selection.query,
        now=selection.now,
        statuses=selection.statuses,
        before_id=selection.before_id,
    )
    if selection.skip_delivered_of is not None:
        rows = _without(rows, _delivered_ids(conn, selection.skip_delivered_of))
    for row in rows:
        event = dict(zip(_PLAN_COLUMNS, row, strict=True))
        for key in ("raw", "stored"):
            try:
                event[key] = loads(event[key]) if event[key] is not None else None
            except decode_error:
                pass  # a raw body that was not JSON stays text: planning reports it as not resendable
        yield event


_DELIVERED = "SELECT event_id FROM deliveries WHERE run_id = ? AND status = 'delivered' AND event_id IS NOT NULL"


def _delivered_ids(conn: sqlite3.Connection, run_id: int) -> Iterator[int]:
    """The ids of the events ``run_id`` recorded as delivered, ascending."""
    cursor = conn.cursor()  # its own cursor: it is read alongside the selection's
    return (row[0] for row in cursor.execute(f"{_DELIVERED} ORDER BY event_id", (run_id,)))


def _without(rows: Iterator[Any], skip: Iterator[int]) -> Iterator[Any]:
    """``rows`` (ascending by their first column, the id) except those whose id is in ``skip`` (ascending)."""
    pending = next(skip, None)
    for row in rows:
        while pending is not None and pending < row[0]:
            pending = next(skip, None)
        if pending != row[0]:
            yield row


def selection_stats(conn: sqlite3.Connection, selection: Selection) -> tuple[int, datetime | None, datetime | None]:
    """How many events a selection holds, and the earliest and latest event time among them."""
    sql, params = matching_sql(
        conn,
        ("id", "timestamp", "received_at"),
        query=selection.query,
        now=selection.now,
        statuses=selection.statuses,
        before_id=selection.before_id,
    )
    where = ""
    if selection.skip_delivered_of is not None:
        where, params = f" WHERE id NOT IN ({_DELIVERED})", (*params, selection.skip_delivered_of)
    count, first, last = conn.execute(
        "SELECT count(*), min(coalesce(timestamp, received_at)), max(coalesce(timestamp, received_at))"
        f" FROM ({sql}){where}",
        params,
    ).fetchone()
    return int(count), event_time({"timestamp": first}), event_time({"timestamp": last})


def top_id(db: Path) -> int:
    """The newest event id now: a run covers the events stored when it started."""
    with closing(connect(db)) as conn:
        return newest_id(conn)
