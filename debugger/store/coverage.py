"""Plan coverage over a capture in one pass (docs/tracking-plans.md, "Coverage"); the logic is core.lint.coverage.

Method (fast over millions of rows):

1. One ``GROUP BY`` over ``events`` (every status but ``rejected``, optionally narrowed by a QUERY)
   on columns only — type, name, write key, library name, and whether the row is ``invalid`` —
   with SQLite's own aggregates: the exact count and the first and last id.
2. For each group of a planned call, its :data:`NEWEST` newest and :data:`OLDEST` oldest rows are
   read in id order through the ``name`` index (the partial ``events_not_ok`` index for a group of
   ``invalid`` rows), bounded by the group's first and last id, and judged against the plan; ``context.app.version`` is read from them (it has no column,
   and ``json_extract`` on every row would cost more than the whole pass).

So counts per event, source and library are exact; "seen valid" means at least one sampled event
of the group is valid; reasons and the ``app`` breakdown are counted over the sampled events.
A group's sample is found by walking its name's rows (or the invalid rows) from either end, so a
group that is rare among them costs more lookups (bounded by that name's, or the invalid, row count).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import orjson

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.coverage import Coverage, GroupKey
from debugger.core.query import language as q
from debugger.core.query.sql import compile as compile_query

#: Events judged per group: the newest (a fix shows at once) and the oldest (old builds still sending).
NEWEST, OLDEST = 20, 10
SAMPLE = NEWEST + OLDEST
_GROUP = "type = ? AND name IS ? AND write_key IS ? AND library_name IS ?"


def coverage(
    conn: sqlite3.Connection,
    plan: CompiledPlan,
    *,
    query: q.Query | None = None,
    newest: int = NEWEST,
    oldest: int = OLDEST,
    now: datetime | None = None,
) -> Coverage:
    """Measure ``plan`` against the capture (or the events ``query`` selects); see the module docstring."""
    where, params = ("1", []) if query is None else compile_query(query, now=now or datetime.now(UTC))
    selected = f"status != 'rejected' AND type IS NOT NULL AND ({where})"
    groups = conn.execute(
        "SELECT type, name, write_key, library_name, status = 'invalid', count(*), min(id), max(id) FROM events"
        f" WHERE {selected} GROUP BY 1, 2, 3, 4, 5",
        params,
    ).fetchall()
    result = Coverage(plan, sample=newest + oldest)
    for kind, name, write_key, library, bad, count, first, last in groups:
        key = GroupKey(kind, name, write_key, library, None)
        result.add_group(key, count)
        if result.rule_of(kind, name) is None:
            continue
        bound = [kind, name, write_key, library, first, last, *params]
        # Invalid rows are few: walk them through the partial index events_not_ok, not the name's every row.
        status = "status = 'invalid' AND status != 'ok'" if bad else "status != 'invalid'"
        table = "events INDEXED BY events_not_ok" if bad else "events"
        sql = f"SELECT id, status, stored, problems FROM {table} WHERE {_GROUP} AND {status} AND id BETWEEN ? AND ? AND {selected}"
        rows = conn.execute(f"{sql} ORDER BY id DESC LIMIT ?", [*bound, newest]).fetchall()
        if count > newest:
            seen = {row[0] for row in rows}
            older = conn.execute(f"{sql} ORDER BY id LIMIT ?", [*bound, min(oldest, count - newest)]).fetchall()
            rows += [row for row in older if row[0] not in seen]
        for _id, status, stored, problems in rows:
            found = None
            if status == "invalid":
                decoded = orjson.loads(problems) if problems else []
                found = [p for p in decoded if isinstance(p, dict)] if isinstance(decoded, list) else []
            result.add_sample(key, _object(stored), found)
    return result


def _object(text: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
