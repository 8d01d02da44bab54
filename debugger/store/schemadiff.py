"""The sides of `segdbg diff --schema` read from a capture (docs/replay.md, "Schema diff"): a
:class:`~debugger.core.schemadiff.SchemaProfile` of the events each query selects.

Every side of one capture is read in the same passes (two slices of one capture cost one scan of
it, and two identical sides are read once):

1. one scan of the capture evaluates each side's condition (its query, compiled as every read
   re-checks it, and its statuses) on every row; each row some side selects crosses into Python
   once, as its id, type, name and identity (``coalesce(user_id, anonymous_id)``), with one integer
   whose bits say which sides took it. Per side and kind of event, Python counts the events and
   the distinct identities, exactly, whatever the size, and keeps the sample: the ``sample`` rows
   (:data:`SAMPLE_PER_EVENT` by default, ``--sample``; 0: every row) whose ids hash lowest, in a
   bounded heap. Counting in SQL instead (``count(DISTINCT)``, or a ``GROUP BY`` per identity)
   sorts the million rows, which costs more than handing them to Python (docs/performance.md);
2. the sampled rows' ``stored`` messages, and only theirs, are read by id and walked in Python
   (:meth:`~debugger.core.schemadiff.SchemaProfile.shape`), each parsed and walked once however
   many sides took it. The sample is deterministic (the same capture gives the same numbers) and a
   kind's sample is evenly spread over its events, and a row two equal-sized sides share is
   sampled by both or neither.

The bound, with 2,000 events walked per kind: a presence or type share is within ±2.2 percentage
points of the whole kind's at 95% confidence (binomial, worst case at 50%); the difference of two
sides that did not move has a standard deviation of at most 1.6 points, so it crosses the default
``--tolerance 5`` with probability under 0.2%. A property that is always or never sent reads
exactly 100% or 0%. Walking costs tens of microseconds per event, which is why the bound exists:
at 1,000,000 events about 20 kinds × 2,000 are walked per side rather than a million.
"""

from __future__ import annotations

import heapq
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
        identity = (canonical(side.query) if side.query is not None else None, side.statuses)
        which.append(distinct.setdefault(identity, len(distinct)))
    unique = [sides[which.index(n)] for n in range(len(distinct))]
    profiles = [SchemaProfile(ignore=ignore) for _ in unique]
    kinds = _scan(conn, [_condition(side, at) for side in unique], sample)
    by_key: dict[str, list[_Tally]] = {}
    for (kind, name), tallies in kinds.items():
        key = _key(kind, name)  # a page named "" and a page without a name are one kind
        by_key[key] = (
            [a.merge(b, sample) for a, b in zip(by_key[key], tallies, strict=True)] if key in by_key else tallies
        )
    picked: dict[int, list[bool]] = {}
    for key, tallies in by_key.items():
        for n, tally in enumerate(tallies):
            if tally.events:
                profiles[n].set_counts(key, tally.events, len(tally.identities))
            for _, row_id in tally.sample:
                picked.setdefault(row_id, [False] * len(unique))[n] = True
    _walk(conn, profiles, picked)
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


class _Tally:
    """One side's kind of event while the scan reads it: events, identities, and the sample so far
    (the ``limit`` rows with the smallest hashes of their id, as a heap of ``(-hash, id)``)."""

    __slots__ = ("events", "identities", "sample")

    def __init__(self) -> None:
        self.events = 0
        self.identities: set[str] = set()
        self.sample: list[tuple[int, int]] = []

    def add(self, row_id: int, identity: str | None, limit: int) -> None:
        """Count one event of this side and kind (``limit``: the sample's size, 0: every event)."""
        self.events += 1
        if identity is not None:
            self.identities.add(identity)
        hashed = -((row_id * _HASH) % _SPAN)
        sample = self.sample
        if limit <= 0 or len(sample) < limit:
            heapq.heappush(sample, (hashed, row_id))
        elif hashed > sample[0][0]:
            heapq.heappushpop(sample, (hashed, row_id))

    def merge(self, other: _Tally, limit: int) -> _Tally:
        """This tally and ``other`` (the same side, another spelling of the same kind) as one."""
        merged = _Tally()
        merged.events = self.events + other.events
        merged.identities = self.identities | other.identities
        both = self.sample + other.sample
        merged.sample = heapq.nlargest(limit, both) if limit > 0 else both
        return merged


def _scan(
    conn: sqlite3.Connection, conditions: list[tuple[str, list[Any]]], limit: int
) -> dict[tuple[str | None, str | None], list[_Tally]]:
    """One scan of the capture: per kind (type, name) and side, the events and distinct identities,
    exactly, and the sample to walk (every event when ``limit`` is 0).

    Each row some side selects crosses into Python once: its id, type, name and identity, and with
    several sides one integer whose bits say which selected it."""
    params = [p for _, ps in conditions for p in ps]
    who = "coalesce(nullif(user_id, ''), nullif(anonymous_id, ''))"
    # A request refused whole (docs/protocol.md §3.4) holds no message to profile.
    scan = f"SELECT id, type, name, {who}{{more}} FROM events WHERE status != 'rejected' AND {{where}}"
    kinds: dict[tuple[str | None, str | None], list[_Tally]] = {}
    if len(conditions) == 1:
        rows = conn.execute(scan.format(more="", where=conditions[0][0]), params)
        for row_id, kind, name, identity in rows:
            tallies = kinds.get((kind, name))
            if tallies is None:
                tallies = kinds[(kind, name)] = [_Tally()]
            tallies[0].add(row_id, identity, limit)
        return kinds
    mask = " | ".join(f"(({sql}) << {n})" for n, (sql, _) in enumerate(conditions))
    # OFFSET 0 keeps the scan a subquery: each side's condition is evaluated once per row.
    rows = conn.execute(
        f"SELECT * FROM ({scan.format(more=f', {mask} AS m', where='1')} LIMIT -1 OFFSET 0) WHERE m", params
    )
    bits = [(n, 1 << n) for n in range(len(conditions))]
    for row_id, kind, name, identity, selected in rows:
        tallies = kinds.get((kind, name))
        if tallies is None:
            tallies = kinds[(kind, name)] = [_Tally() for _ in bits]
        for n, bit in bits:
            if selected & bit:
                tallies[n].add(row_id, identity, limit)
    return kinds


def _walk(conn: sqlite3.Connection, profiles: list[SchemaProfile], picked: dict[int, list[bool]]) -> None:
    """Walk the sampled messages, read by id: each parsed and walked once, added to every side that took it."""
    if not picked:
        return
    rows = conn.execute(
        "SELECT id, stored FROM events WHERE id IN (SELECT value FROM json_each(?))",
        [orjson.dumps(sorted(picked)).decode()],
    )
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    walker = profiles[0]
    for row_id, stored in rows:
        try:
            message = loads(stored) if stored is not None else None
        except decode_error:
            continue
        if isinstance(message, dict) and message:
            key, shape = event_key(message), walker.shape(message)
            for n, taken in enumerate(picked[row_id]):
                if taken:
                    profiles[n].add_walked(key, shape)
