"""The sides of `segdbg diff --schema` read from a capture (docs/replay.md, "Schema diff"): a
:class:`~debugger.core.schemadiff.SchemaProfile` of the events each query selects.

Every side of one capture is read in the same passes (two slices of one capture cost one scan of
it, and two identical sides are read once):

1. one scan of the capture evaluates each side's condition (its query, compiled as every read
   re-checks it, and its statuses) on every row, and keeps the rows some side selects (id, type,
   name, identity, one flag per side) in a temporary table of small rows;
2. per side and kind of event, the events and distinct identities (``coalesce(user_id,
   anonymous_id)``) are counted there, exactly, whatever the size;
3. the ``stored`` messages are walked in Python (:meth:`~debugger.core.schemadiff.SchemaProfile.shape`):
   every one of a kind with at most ``sample`` events (:data:`SAMPLE_PER_EVENT` by default,
   ``--sample``), else an even sample of about that many, chosen by a hash of the event id
   (deterministic: the same capture gives the same numbers, and a row two sides share is sampled
   by both or neither). Only the sampled rows' ``stored`` leave SQLite, in id order, each parsed and
   walked once however many sides take it.

The bound, with 2,000 events walked per kind: a presence or type share is within ±2.2 percentage
points of the whole kind's at 95% confidence (binomial, worst case at 50%); the difference of two
sides that did not move has a standard deviation of at most 1.6 points, so it crosses the default
``--tolerance 5`` with probability under 0.2%. A property that is always or never sent reads
exactly 100% or 0%. Walking costs tens of microseconds per event, which is why the bound exists:
at 1,000,000 events about 20 kinds × 2,000 are walked per side rather than a million.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from debugger.core.diff import NOISE, event_key
from debugger.core.query import language as q
from debugger.core.query.language import canonical
from debugger.core.query.sql import compile as compile_sql
from debugger.core.schemadiff import SAMPLE_PER_EVENT, SchemaProfile
from debugger.store.clock import now_utc

#: Knuth's multiplicative hash: spreads consecutive ids over [0, 2**32).
_HASH = 2654435761
_SPAN = 1 << 32


def _key(kind: str | None, name: str | None) -> str:
    """:func:`debugger.core.diff.event_key` from the ``type`` and ``name`` columns."""
    kind = kind or "(no type)"
    return f'{kind} "{name}"' if name and kind in ("track", "page", "screen") else kind


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a schema diff in a capture: the events ``query`` selects (``None``: all) with one
    of ``statuses`` (``None``: any)."""

    query: q.Query | None = None
    statuses: tuple[str, ...] | None = ("ok",)


def schema_profile(
    conn: sqlite3.Connection,
    *,
    query: q.Query | None = None,
    statuses: Iterable[str] | None = ("ok",),
    ignore: frozenset[str] = NOISE,
    sample: int = SAMPLE_PER_EVENT,
    now: datetime | None = None,
) -> SchemaProfile:
    """The schema profile of the events ``query`` selects (only ``statuses``; ``None``: all).

    ``sample``: events walked per kind at most (0: every event).
    """
    side = Side(query, tuple(statuses) if statuses is not None else None)
    return schema_profiles(conn, [side], ignore=ignore, sample=sample, now=now)[0]


def schema_profiles(
    conn: sqlite3.Connection,
    sides: Sequence[Side],
    *,
    ignore: frozenset[str] = NOISE,
    sample: int = SAMPLE_PER_EVENT,
    now: datetime | None = None,
) -> list[SchemaProfile]:
    """The profile of each side, all read in one scan of the capture (equal sides share one profile)."""
    at = now if now is not None else now_utc()
    distinct: dict[tuple[str | None, tuple[str, ...] | None], int] = {}
    which: list[int] = []
    for side in sides:
        key = (canonical(side.query) if side.query is not None else None, side.statuses)
        which.append(distinct.setdefault(key, len(distinct)))
    unique = [sides[which.index(n)] for n in range(len(distinct))]
    profiles = [SchemaProfile(ignore=ignore) for _ in unique]
    conditions = [_condition(side, at) for side in unique]
    flags = ", ".join(f"({sql}) AS f{n}" for n, (sql, _) in enumerate(conditions))
    any_flag = " OR ".join(f"f{n}" for n in range(len(unique)))
    # Small rows (about 60 bytes each) in memory: no temporary file. OFFSET 0 keeps the inner
    # SELECT a subquery, so each side's condition (a JSON path reads the whole message) is
    # evaluated once per row, not again for the outer filter.
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("DROP TABLE IF EXISTS temp.schema_side")
    conn.execute(
        f"CREATE TEMP TABLE schema_side AS SELECT * FROM (SELECT id, type, name,"
        f" coalesce(nullif(user_id, ''), nullif(anonymous_id, '')) AS who, {flags} FROM events"
        # A request refused whole (docs/protocol.md §3.4) holds no message to profile.
        f" WHERE status != 'rejected' LIMIT -1 OFFSET 0) WHERE {any_flag}",
        [p for _, params in conditions for p in params],
    )
    try:
        cuts = _count(conn, profiles, sample)
        _walk(conn, profiles, cuts)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.schema_side")
    return [profiles[n] for n in which]


def _condition(side: Side, now: datetime) -> tuple[str, list[Any]]:
    """A side's condition on an ``events`` row: its query as every read re-checks it, and its statuses."""
    sql, params = compile_sql(side.query, now=now) if side.query is not None else ("1", [])
    if side.statuses is not None:
        sql = f"({sql}) AND events.status IN ({', '.join('?' * len(side.statuses))})"
        params = [*params, *side.statuses]
    # CASE WHEN, not the bare expression: SQLite short-circuits AND/OR only as a condition, so a
    # cheap column term (lib:analytics-ios) spares the JSON paths of the rows it already excludes.
    return f"CASE WHEN {sql} THEN 1 ELSE 0 END", params


def _count(
    conn: sqlite3.Connection, profiles: list[SchemaProfile], sample: int
) -> list[dict[tuple[str | None, str | None], int]]:
    """Set each side's exact totals per kind; return, per side, the hash cut of each kind over ``sample``."""
    columns = ", ".join(f"sum(f{n}), count(DISTINCT CASE WHEN f{n} THEN who END)" for n in range(len(profiles)))
    cuts: list[dict[tuple[str | None, str | None], int]] = [{} for _ in profiles]
    for kind, name, *totals in conn.execute(f"SELECT type, name, {columns} FROM temp.schema_side GROUP BY type, name"):
        for n, profile in enumerate(profiles):
            events, identities = totals[2 * n], totals[2 * n + 1]
            if events:
                profile.set_counts(_key(kind, name), events, identities)
                if 0 < sample < events:
                    cuts[n][(kind, name)] = _SPAN * sample // events
    return cuts


def _walk(
    conn: sqlite3.Connection, profiles: list[SchemaProfile], cuts: list[dict[tuple[str | None, str | None], int]]
) -> None:
    """Walk the sampled messages: each parsed and walked once, added to every side that samples it."""
    sides = range(len(profiles))
    kinds = sorted({kind for side in cuts for kind in side}, key=repr)
    # Per kind over the bound, each side's cut (NULL: that side takes every event of the kind). The
    # join is on a small, automatically indexed table; only the sampled rows reach ``events``.
    marks = ", ".join("?" for _ in range(2 + len(profiles)))
    values = ", ".join(f"({marks})" for _ in kinds) or f"({', '.join('NULL' for _ in range(2 + len(profiles)))})"
    params = [v for kind in kinds for v in (*kind, *(side.get(kind) for side in cuts))]
    taken = [f"(s.f{n} AND (c.c{n} IS NULL OR (s.id * {_HASH}) % {_SPAN} < c.c{n}))" for n in sides]
    rows = conn.execute(
        f"WITH cuts(type, name, {', '.join(f'c{n}' for n in sides)}) AS (VALUES {values})"
        f" SELECT e.stored, {', '.join(taken)} FROM temp.schema_side AS s"
        " LEFT JOIN cuts AS c ON c.type IS s.type AND c.name IS s.name"
        " CROSS JOIN events AS e"
        f" WHERE e.id = s.id AND ({' OR '.join(taken)})",
        params,
    )
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    walker = profiles[0]
    for stored, *takers in rows:
        try:
            message = loads(stored) if stored is not None else None
        except decode_error:
            continue
        if isinstance(message, dict) and message:
            key, shape = event_key(message), walker.shape(message)
            for n in sides:
                if takers[n]:
                    profiles[n].add_walked(key, shape)
