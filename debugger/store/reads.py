"""The capture store: one SQLite file in WAL mode, one writer thread, readers on their own connections.

The parts live in their own modules — :mod:`debugger.store.capture` (opening, checks, migrate),
:mod:`debugger.store.migrations` (the schema) and :mod:`debugger.store.writer` (:class:`EventWriter`, the
one writer) — and are re-exported here, where the rest of segdbg imports them from. This module
keeps the reads: each caller brings its own connection (WAL: readers never block the writer).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from debugger.store.capture import (  # noqa: F401 - re-exported
    APPLICATION_ID,
    CHECK_BYTES,
    RECOVER_HINT,
    SCHEMA_VERSION_KEY,
    StoreError,
    check_integrity,
    connect,
    damaged,
    insert_many,
    migrate,
)
from debugger.store.migrations import MIGRATIONS  # noqa: F401 - re-exported
from debugger.core.query.language import Query
from debugger.store.writer import EventWriter, IdleTask, WriteResult  # noqa: F401 - re-exported

# ---------------------------------------------------------------------------------------------
# Reads: each caller brings its own connection (WAL: readers never block the writer).

EVENT_COLUMNS = (
    "id", "request_id", "received_at", "write_key", "type", "name", "user_id", "anonymous_id",
    "message_id", "timestamp", "library_name", "library_version", "status", "duplicate_of",
    "problems", "raw", "stored", "pinned",
)


def from_row(row: Sequence[Any]) -> dict[str, Any]:
    """An ``events`` row as a dict, with ``problems``, ``raw`` and ``stored`` decoded."""
    event = dict(zip(EVENT_COLUMNS, row, strict=True))
    event["problems"] = orjson.loads(event["problems"]) if event["problems"] else []
    event["pinned"] = bool(event["pinned"])
    for key in ("raw", "stored"):
        try:
            event[key] = orjson.loads(event[key]) if event[key] is not None else None
        except orjson.JSONDecodeError:
            pass  # raw text that was not valid UTF-8 JSON stays a string, as received
    return event


@contextmanager
def reader(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A short-lived read connection to an existing capture."""
    if not Path(path).exists():
        raise StoreError(f"{path}: no such capture; start `segdbg serve` or pass --db PATH.")
    migrate(path)
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


def iter_events(
    conn: sqlite3.Connection,
    *,
    query: Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> Iterator[dict[str, Any]]:
    """Events oldest first (or the newest ``limit`` of them, still oldest first).

    Args:
        conn: a read connection.
        query: a parsed filter (:mod:`debugger.core.query.language`); searched through the FTS index when
            it helps, with exact results whatever the index lag.
        now: the instant relative times in ``query`` (``after:10m``) count back from; default: the clock.
        statuses: only these statuses (see :func:`debugger.store.search.view_statuses` for the default view).
        after_id: only ids above this (a cursor); ``before_id``: only ids below this (paging back).
        limit: at most this many; ``newest``: the last ``limit`` rather than the first.
    """
    from debugger.store.search import select_events

    return select_events(
        conn, query=query, now=now, statuses=statuses, after_id=after_id, before_id=before_id, limit=limit, newest=newest
    )


def count_events(
    conn: sqlite3.Connection,
    *,
    query: Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    cap: int | None = None,
) -> int:
    """How many events :func:`iter_events` would give (at most ``cap``)."""
    from debugger.store.search import count_events as count

    return count(conn, query=query, now=now, statuses=statuses, after_id=after_id, before_id=before_id, cap=cap)


def get_request(conn: sqlite3.Connection, request_id: int) -> dict[str, Any] | None:
    """One ``requests`` row as a dict, headers decoded."""
    cursor = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    request = dict(zip([c[0] for c in cursor.description], row, strict=True))
    request["headers"] = orjson.loads(request["headers"]) if request["headers"] else []
    return request


def status_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many events have each status."""
    return {status: count for status, count in conn.execute("SELECT status, count(*) FROM events GROUP BY status")}


def default_db_path(option: str | None, environ: dict[str, str]) -> Path:
    """``--db PATH``, else ``$SEGDBG_DB``, else ``./segdbg.db`` (DESIGN §3)."""
    return Path(option or environ.get("SEGDBG_DB") or "segdbg.db")


def now_utc() -> datetime:
    """The server clock; the one place the store layer reads it (kept out of the pure core)."""
    from datetime import UTC

    return datetime.now(UTC)
