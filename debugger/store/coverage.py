"""Plan coverage over a capture in one pass (docs/tracking-plans.md, "Coverage"); the logic is core.lint.coverage.

Method (fast over millions of rows):

1. One ``GROUP BY`` over ``events`` (every status but ``rejected``, optionally narrowed by a QUERY)
   on columns only — type, name, write key, library name, and whether the row is ``invalid`` —
   with its exact count and a sample of its ids: the newest :data:`NEWEST` plus :data:`SPREAD`
   drawn uniformly (reservoir sampling, fixed seed) from all of the group's rows.
2. The sampled rows (at most ``NEWEST + SPREAD`` per group) are read by id, and each is judged
   against the plan; ``context.app.version`` is read from them (it has no column, and
   ``json_extract`` on every row would cost more than the whole pass).

So counts per event, source and library are exact; "seen valid" means at least one sampled event
of the group is valid; reasons and the ``app`` breakdown are counted over the sampled events.
"""

from __future__ import annotations

import random
import sqlite3
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.coverage import Coverage, GroupKey
from debugger.core.query import language as q
from debugger.core.query.sql import compile as compile_query

#: Events judged per group: the newest (a fix shows at once), and a uniform spread (old builds still sending).
NEWEST, SPREAD = 10, 30
SAMPLE = NEWEST + SPREAD
_CHUNK = 500


class _Sample:
    """``segdbg_sample(id)``: the last ``newest`` ids stepped plus ``spread`` drawn uniformly, comma-separated."""

    def __init__(self, newest: int, spread: int) -> None:
        self.newest: deque[int] = deque(maxlen=newest)
        self.spread: list[int] = []
        self.size = spread
        self.seen = 0
        self.draw = random.Random(0).randrange  # a sample, not a secret

    def step(self, value: int, /) -> None:
        self.newest.append(value)
        self.seen += 1
        if len(self.spread) < self.size:
            self.spread.append(value)
        else:
            slot = self.draw(self.seen)
            if slot < self.size:
                self.spread[slot] = value

    def finalize(self) -> str:
        return ",".join(map(str, {*self.newest, *self.spread}))


def coverage(
    conn: sqlite3.Connection,
    plan: CompiledPlan,
    *,
    query: q.Query | None = None,
    newest: int = NEWEST,
    spread: int = SPREAD,
    now: datetime | None = None,
) -> Coverage:
    """Measure ``plan`` against the capture (or the events ``query`` selects); see the module docstring."""
    # typeshed says an aggregate finalizes to int; SQLite takes any SQL value (here TEXT).
    conn.create_aggregate("segdbg_sample", 1, lambda: _Sample(newest, spread))  # type: ignore[arg-type,return-value]
    where, params = ("1", []) if query is None else compile_query(query, now=now or datetime.now(UTC))
    rows = conn.execute(
        "SELECT type, name, write_key, library_name, status = 'invalid', count(*), segdbg_sample(id) FROM events"
        f" WHERE status != 'rejected' AND type IS NOT NULL AND ({where})"
        " GROUP BY 1, 2, 3, 4, 5",
        params,
    ).fetchall()
    result = Coverage(plan, sample=newest + spread)
    wanted: dict[int, GroupKey] = {}
    for kind, name, write_key, library, _bad, count, ids in rows:
        key = GroupKey(kind, name, write_key, library, None)
        result.add_group(key, count)
        if ids and result.rule_of(kind, name) is not None:
            for event_id in ids.split(","):
                wanted[int(event_id)] = key
    ordered = sorted(wanted)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for event_id, status, stored, problems in conn.execute(
            f"SELECT id, status, stored, problems FROM events WHERE id IN ({marks})", chunk
        ):
            message = _object(stored)
            found = None
            if status == "invalid":
                decoded = orjson.loads(problems) if problems else []
                found = [p for p in decoded if isinstance(p, dict)] if isinstance(decoded, list) else []
            result.add_sample(wanted[event_id], message, found)
    return result


def _object(text: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
