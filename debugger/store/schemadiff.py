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
from typing import Any, cast

import orjson

from debugger.core.diff import NOISE
from debugger.core.query import language as q
from debugger.core.query.language import canonical
from debugger.core.query.sql import compile as compile_sql
from debugger.core.schemadiff import SAMPLE_PER_EVENT, SchemaProfile
from debugger.store.clock import now_utc

#: The most of the capture the scan maps into memory (SQLite caps it at its build's limit, 2 GB by default).
_MMAP = 1 << 40
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
    # The scan reads the whole file once and the walk jumps about in it: memory-mapped, SQLite copies
    # no page (about half the scan's time).
    (mapped,) = conn.execute("PRAGMA mmap_size").fetchone()
    conn.execute(f"PRAGMA mmap_size = {_MMAP}")
    try:
        kinds = _scan(conn, [_condition(side, at) for side in unique], sample)
        picked: dict[int, tuple[str, list[SchemaProfile]]] = {}
        for key, tallies in kinds.items():
            for n, tally in enumerate(tallies):
                if tally.events:
                    profiles[n].set_counts(key, tally.events, len(tally.identities))
                for row_id in tally.sample:
                    picked.setdefault(row_id, (key, []))[1].append(profiles[n])
        _walk(conn, profiles[0], picked)
    finally:
        conn.execute(f"PRAGMA mmap_size = {int(mapped)}")
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


#: :data:`_HASH`'s inverse modulo :data:`_SPAN`: an id under ``_SPAN`` is its hash times this.
_UNHASH = pow(_HASH, -1, _SPAN)


def _hashed(row_id: int) -> int:
    """Where an event falls in the sampling order: its id, hashed (even, and the same every time)."""
    return (row_id * _HASH) % _SPAN


def _lowest(ids: list[int], limit: int) -> list[int]:
    """The ``limit`` ids that hash lowest. Ids under ``_SPAN`` (every capture) are ranked by their
    hashes alone, compared as plain ints, and read back from them: no key function a million times."""
    if not 0 < limit < len(ids):
        return ids
    if max(ids) >= _SPAN:
        return heapq.nsmallest(limit, ids, key=_hashed)
    return [(hashed * _UNHASH) % _SPAN for hashed in heapq.nsmallest(limit, [(i * _HASH) % _SPAN for i in ids])]


class _Tally:
    """One side's kind of event: its events, its identities, and its sample (the ids of the ``limit``
    events whose ids hash lowest)."""

    __slots__ = ("events", "identities", "sample")

    def __init__(self) -> None:
        self.events = 0
        self.identities: set[str] = set()
        self.sample: list[int] = []

    @classmethod
    def of(cls, ids: list[int], identities: set[str], limit: int) -> _Tally:
        """The tally of these event ids and identities: the sample is the ``limit`` ids that hash lowest."""
        tally = cls()
        tally.events, tally.identities = len(ids), identities
        tally.sample = _lowest(ids, limit)
        return tally

    def merge(self, other: _Tally, limit: int) -> _Tally:
        """This tally and ``other`` (the same side and kind, other sets of sides or another spelling) as one."""
        merged = _Tally()
        merged.events = self.events + other.events
        merged.identities = self.identities | other.identities
        both = self.sample + other.sample
        merged.sample = _lowest(both, limit)
        return merged


def _scan(conn: sqlite3.Connection, conditions: list[tuple[str, list[Any]]], limit: int) -> dict[str, list[_Tally]]:
    """One scan of the capture: per kind of event (:func:`_key`) and side, the events and distinct
    identities, exactly, and the sample to walk (every event when ``limit`` is 0).

    Each row some side selects crosses into Python once: its id, type, name and identity, and one
    integer whose bits say which sides selected it. Python keeps one tally per (type, name) and set of
    sides (slices of a release are mostly disjoint: one tally per row, no loop over the sides); each
    side's tally of a kind is then the merge of the tallies whose set holds it (a page named "" and a
    page without a name are one kind)."""
    params = [p for _, ps in conditions for p in ps]
    who = "coalesce(nullif(user_id, ''), nullif(anonymous_id, ''))"
    mask = " | ".join(f"(({sql}) << {n})" for n, (sql, _) in enumerate(conditions))
    # OFFSET 0 keeps the scan a subquery: each side's condition is evaluated once per row. A request
    # refused whole (docs/protocol.md §3.4) holds no message to profile.
    rows = conn.execute(
        f"SELECT * FROM (SELECT id, type, name, {who}, {mask} AS m FROM events"
        " WHERE status != 'rejected' LIMIT -1 OFFSET 0) WHERE m",
        params,
    )
    # Per (type, name) and set of sides: the ids and the identities. This loop runs once per row of
    # the capture, so it only appends and adds (bound: two calls per row, nothing looked up); each
    # tally's sample is chosen from its ids at the end.
    by_set: dict[tuple[str | None, str | None, int], tuple[list[int], set[str | None], Any, Any]] = {}
    for row_id, kind, name, identity, selected in rows:
        seen = by_set.get((kind, name, selected))
        if seen is None:
            ids: list[int] = []
            identities: set[str | None] = set()
            seen = by_set[(kind, name, selected)] = (ids, identities, ids.append, identities.add)
        seen[2](row_id)
        seen[3](identity)  # None too: one test less per row, taken out below
    kinds: dict[str, list[_Tally | None]] = {}
    for (kind, name, selected), (ids, identities, _, _) in by_set.items():
        identities.discard(None)
        tally = _Tally.of(ids, cast(set[str], identities), limit)
        sides = kinds.setdefault(_key(kind, name), [None] * len(conditions))
        for n, held in enumerate(sides):
            if selected & (1 << n):
                sides[n] = tally if held is None else held.merge(tally, limit)
    return {key: [t if t is not None else _Tally() for t in sides] for key, sides in kinds.items()}


def _walk(conn: sqlite3.Connection, walker: SchemaProfile, picked: dict[int, tuple[str, list[SchemaProfile]]]) -> None:
    """Walk the sampled messages, read by id: each parsed and walked once (``walker``'s cache), and
    added, under the kind it was counted as, to every side that took it."""
    if not picked:
        return
    rows = conn.execute(
        "SELECT id, stored FROM events WHERE id IN (SELECT value FROM json_each(?))",
        [orjson.dumps(sorted(picked)).decode()],
    )
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for row_id, stored in rows:
        try:
            message = loads(stored) if stored is not None else None
        except decode_error:
            continue
        if isinstance(message, dict) and message:
            key, takers = picked[row_id]
            shape = walker.shape(message)
            for profile in takers:
                profile.add_walked(key, shape)
