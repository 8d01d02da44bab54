"""`segdbg preview`: a change (Transformations, a destination's filters, a replay rewrite:
:mod:`debugger.core.preview`) run over the capture, read only (docs/preview.md).

The selection (a query, the default view) is counted in SQL; when every rule has a condition,
only the events some condition may hold for are read (the conditions are FQL, compiled to SQL
like any query, then re-checked on each message in Python as Segment would). Nothing stored is
modified: the transformed events can be written out as export records (``segdbg send`` to a
``segdbg serve --db NEW.db`` loads them into a new capture).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from debugger.core.pretty.export import export_record
from debugger.core.preview import Change
from debugger.core.query import language as q
from debugger.core.transform import changes
from debugger.store.reads import count_events, iter_events, select_rows


@dataclass(slots=True)
class Preview:
    """What the rules would do to the selection."""

    selected: int = 0
    #: Events the change found something to act on (a rule's condition held), per rule.
    matched: int = 0
    matched_by_rule: Counter[str] = field(default_factory=Counter)
    #: Events some rule changed, per rule (or per reason an event is stopped or trimmed).
    changed: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    #: Changed events whose shape (paths and their JSON types) changed, not only values.
    reshaped: int = 0
    #: The first changed events: id, type, name, and the field-by-field change.
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (`--format json`)."""
        return {
            "selected": self.selected,
            "matched": self.matched,
            "matched_by_rule": dict(self.matched_by_rule.most_common()),
            "changed": self.changed,
            "reshaped": self.reshaped,
            "by_rule": dict(self.by_rule.most_common()),
            "samples": self.samples,
        }


def preview(
    conn: sqlite3.Connection,
    change: Change,
    *,
    query: q.Query | None,
    statuses: Iterable[str] | None,
    now: datetime,
    samples: int = 3,
    write: Callable[[dict[str, Any]], object] | None = None,
) -> Preview:
    """Run ``change`` over the events ``query`` selects; ``write`` gets each selected event's export
    record as the change leaves it, in id order (events it stops are left out)."""
    statuses = tuple(statuses) if statuses is not None else None
    result = Preview(selected=count_events(conn, query=query, now=now, statuses=statuses))
    narrowed = query
    if write is None and change.condition is not None:  # read only what the change may touch
        narrowed = q.Query((*(query.terms if query is not None else ()), q.FqlTerm(change.condition)))
    rows: Iterator[dict[str, Any]] = (
        iter_events(conn, query=narrowed, now=now, statuses=statuses)
        if write is not None or change.full_rows
        else _light(conn, narrowed, now, statuses)
    )
    # Counted per combination (one dict update an event), spread per name at the end.
    by_reasons: dict[tuple[str, ...], int] = {}
    by_matches: dict[tuple[str, ...], int] = {}
    for event in rows:
        message = change.before(event)
        if not isinstance(message, dict):
            if write is not None:
                write(export_record(event))
            continue
        sample = len(result.samples) < samples
        before = orjson.loads(orjson.dumps(message)) if sample else message  # kept only to show a change
        outcome = change(event, message)
        if outcome.matched:
            matched = tuple(outcome.matched)
            by_matches[matched] = by_matches.get(matched, 0) + 1
        if outcome.reasons:
            reasons = tuple(outcome.reasons)
            by_reasons[reasons] = by_reasons.get(reasons, 0) + 1
            result.reshaped += outcome.reshaped
            if sample:
                result.samples.append(
                    {
                        "id": event["id"],
                        "type": event["type"],
                        "name": event["name"],
                        "rules": outcome.reasons,
                        "changes": [list(c) for c in changes(before, outcome.after)]
                        if outcome.after is not None
                        else [],
                    }
                )
        if write is not None and outcome.after is not None:
            write(export_record({**event, "stored": outcome.after, "raw": change.raw(event, outcome)}))
    for names, count in by_reasons.items():
        result.changed += count
        for name in names:
            result.by_rule[name] += count
    for names, count in by_matches.items():
        result.matched += count
        for name in names:
            result.matched_by_rule[name] += count
    return result


def _light(
    conn: sqlite3.Connection, query: q.Query | None, now: datetime, statuses: tuple[str, ...] | None
) -> Iterator[dict[str, Any]]:
    """Only what a preview reads of each event when nothing is written out: id, type, name, stored."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for row_id, kind, name, stored in select_rows(
        conn, ("id", "type", "name", "stored"), query=query, now=now, statuses=statuses
    ):
        try:
            message = loads(stored) if stored is not None else None
        except decode_error:
            message = None
        yield {"id": row_id, "type": kind, "name": name, "stored": message}
