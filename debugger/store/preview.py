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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from debugger.core.pretty.export import export_record
from debugger.core.query import language as q
from debugger.core.schemadiff import paths_of
from debugger.core.transform import Transformation, apply, changes, condition_of
from debugger.store.reads import count_events, iter_events


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
    for event in iter_events(conn, query=narrowed, now=now, statuses=statuses):
        before = event["stored"]
        if not isinstance(before, dict):
            if write is not None:
                write(export_record(event))
            continue
        after, applied = apply(rules, before)
        if applied:
            result.changed += 1
            result.by_rule.update(applied)
            if paths_of(before) != paths_of(after):
                result.reshaped += 1
            if len(result.samples) < samples:
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
            moved = apply(rules, raw, only=applied)[0] if applied and isinstance(raw, dict) else raw
            write(export_record({**event, "stored": after, "raw": moved}))
    return result
