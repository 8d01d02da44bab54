"""Plan coverage over a capture in one pass (docs/tracking-plans.md §Coverage); the logic is core.lint.coverage.

Method (fast over millions of rows):

1. One ``GROUP BY`` over ``events`` (every status but ``rejected``, optionally narrowed by a QUERY):
   type, name, write key, library name, ``context.app.version`` and whether the row is ``invalid``,
   with its count and the ids of its newest ``sample`` events (an aggregate that keeps the
   last ``sample`` ids it sees; rows are read in id order).
2. The sampled rows (at most ``sample`` × groups) are read by id and judged against the plan.

So counts are exact and validity is judged on the newest ``sample`` events of each
(event, source, library, app version, status) group: "seen valid" means at least one of those
is valid, and reasons are counted over the sampled events.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.coverage import Coverage, GroupKey
from debugger.core.query import language as q
from debugger.core.query.sql import compile as compile_query

#: Events judged per group (the newest ones).
SAMPLE = 20
_CHUNK = 500


class _Newest:
    """``segdbg_newest_ids(id)``: the last ``k`` ids stepped, comma-separated."""

    def __init__(self, k: int) -> None:
        self.ids: deque[int] = deque(maxlen=k)

    def step(self, value: int, /) -> None:
        self.ids.append(value)

    def finalize(self) -> str:
        return ",".join(map(str, self.ids))


def coverage(
    conn: sqlite3.Connection,
    plan: CompiledPlan,
    *,
    query: q.Query | None = None,
    sample: int = SAMPLE,
    now: datetime | None = None,
) -> Coverage:
    """Measure ``plan`` against the capture (or the events ``query`` selects); see the module docstring."""
    # typeshed says an aggregate finalizes to int; SQLite takes any SQL value (here TEXT).
    conn.create_aggregate("segdbg_newest_ids", 1, lambda: _Newest(sample))  # type: ignore[arg-type,return-value]
    where, params = ("1", []) if query is None else compile_query(query, now=now or datetime.now(UTC))
    rows = conn.execute(
        "SELECT type, name, write_key, library_name, json_extract(stored, '$.context.app.version') AS app,"
        " status = 'invalid' AS bad, count(*), segdbg_newest_ids(id) FROM events"
        f" WHERE status != 'rejected' AND type IS NOT NULL AND ({where})"
        " GROUP BY 1, 2, 3, 4, 5, 6",
        params,
    ).fetchall()
    result = Coverage(plan, sample=sample)
    wanted: dict[int, GroupKey] = {}
    for kind, name, write_key, library, app, _bad, count, ids in rows:
        key = GroupKey(kind, name, write_key, library, None if app is None else str(app))
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
