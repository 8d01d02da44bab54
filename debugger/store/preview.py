"""`segdbg preview`: Transformations run over the capture, read only (docs/preview.md).

The selection (a query, the default view) is counted in SQL; when every rule has a condition,
only the events some condition may hold for are read (the conditions are FQL, compiled to SQL
like any query, then re-checked on each message in Python as Segment would). Nothing stored is
modified: the transformed events can be written out as export records (``segdbg send`` to a
``segdbg serve --db NEW.db`` loads them into a new capture).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from debugger.core.pretty.export import export_record
from debugger.core.query import language as q
from debugger.core.transform import Transformation, apply, changes, condition_of
from debugger.store.reads import count_events, iter_events, select_rows


@dataclass(slots=True)
class Preview:
    """What the rules would do to the selection."""

    selected: int = 0
    #: Events some rule changed, per rule.
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
            "changed": self.changed,
            "reshaped": self.reshaped,
            "by_rule": dict(self.by_rule.most_common()),
            "samples": self.samples,
        }


def preview(
    conn: sqlite3.Connection,
    rules: Sequence[Transformation],
    *,
    query: q.Query | None,
    statuses: Iterable[str] | None,
    now: datetime,
    samples: int = 3,
    write: Callable[[dict[str, Any]], object] | None = None,
) -> Preview:
    """Run ``rules`` over the events ``query`` selects; ``write`` gets every selected event's export
    record as the rules leave it (changed or not), in id order."""
    statuses = tuple(statuses) if statuses is not None else None
    result = Preview(selected=count_events(conn, query=query, now=now, statuses=statuses))
    narrowed = query
    condition = condition_of(rules)
    if write is None and condition is not None:  # read only what a rule may change
        narrowed = q.Query((*(query.terms if query is not None else ()), q.FqlTerm(condition)))
    rows: Iterator[dict[str, Any]] = (
        iter_events(conn, query=narrowed, now=now, statuses=statuses)
        if write is not None
        else _light(conn, narrowed, now, statuses)
    )
    by_rule: dict[str, int] = {}
    for event in rows:
        stored = event["stored"]
        if not isinstance(stored, dict):
            if write is not None:
                write(export_record(event))
            continue
        sample = len(result.samples) < samples
        before = orjson.loads(orjson.dumps(stored)) if sample else stored  # kept only to show a change
        after, applied, reshaped = apply(rules, stored, in_place=True)
        if applied:
            result.changed += 1
            for name in applied:
                by_rule[name] = by_rule.get(name, 0) + 1
            result.reshaped += reshaped
            if sample:
                result.samples.append(
                    {
                        "id": event["id"],
                        "type": event["type"],
                        "name": event["name"],
                        "rules": applied,
                        "changes": [list(change) for change in changes(before, after)],
                    }
                )
        if write is not None:
            raw = event["raw"]
            moved = apply(rules, raw, only=applied, in_place=True).message if applied and isinstance(raw, dict) else raw
            write(export_record({**event, "stored": after, "raw": moved}))
    result.by_rule.update(by_rule)
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
