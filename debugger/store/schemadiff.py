"""One side of `segdbg diff --schema` read from a capture (docs/replay.md, "Schema diff"): a
:class:`~debugger.core.schemadiff.SchemaProfile` of the events a query selects.

Two statements, each one pass over the selection (through :func:`debugger.store.reads.matching_sql`,
so a query reads like everywhere else):

1. the selection is read once (ids, type, name, identity) into a temporary table: per kind of
   event, the events and distinct identities (``coalesce(user_id, anonymous_id)``) are exact,
   whatever the size;
2. the ``stored`` messages are walked in Python (:meth:`~debugger.core.schemadiff.SchemaProfile.add`):
   every one of a kind with at most ``sample`` events (:data:`SAMPLE_PER_EVENT` by default,
   ``--sample``), else an even sample of about that many, chosen in SQL by a hash of the event id
   (deterministic: the same capture gives the same numbers). Only the sampled rows leave SQLite.

The bound, with 2,000 events walked per kind: a presence or type share is within ±2.2 percentage
points of the whole kind's at 95% confidence (binomial, worst case at 50%); the difference of two
sides that did not move has a standard deviation of at most 1.6 points, so it crosses the default
``--tolerance 5`` with probability under 0.2%. A property that is always or never sent reads
exactly 100% or 0%. Walking costs tens of microseconds per event, which is why the bound exists:
at 1,000,000 events about 20 kinds × 2,000 are walked per side rather than a million.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

import orjson

from debugger.core.diff import NOISE
from debugger.core.query import language as q
from debugger.core.schemadiff import SAMPLE_PER_EVENT, SchemaProfile
from debugger.store.reads import matching_sql

#: Knuth's multiplicative hash: spreads consecutive ids over [0, 2**32).
_HASH = 2654435761
_SPAN = 1 << 32


def _key(kind: str | None, name: str | None) -> str:
    """:func:`debugger.core.diff.event_key` from the ``type`` and ``name`` columns."""
    kind = kind or "(no type)"
    return f'{kind} "{name}"' if name and kind in ("track", "page", "screen") else kind


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
    profile = SchemaProfile(ignore=ignore)
    sql, params = matching_sql(
        conn, ("id", "type", "name", "user_id", "anonymous_id", "status"), query=query, now=now, statuses=statuses
    )
    # The selection is read once (a JSON-path query costs most there) into a temporary table of
    # small rows; the counts and the sample read that, and only the sampled rows' ``stored``.
    conn.execute("PRAGMA temp_store = MEMORY")  # small rows (about 60 bytes each): no temporary file
    conn.execute("DROP TABLE IF EXISTS temp.schema_side")
    conn.execute(
        "CREATE TEMP TABLE schema_side AS SELECT id, type, name,"
        f" coalesce(nullif(user_id, ''), nullif(anonymous_id, '')) AS who FROM ({sql})"
        # A request refused whole (docs/protocol.md §3.4) holds no message to profile.
        " WHERE status != 'rejected'",
        params,
    )
    try:
        cuts: dict[tuple[str | None, str | None], int] = {}
        for kind, name, events, identities in conn.execute(
            "SELECT type, name, count(*), count(DISTINCT who) FROM temp.schema_side GROUP BY type, name"
        ):
            profile.set_counts(_key(kind, name), events, identities)
            if 0 < sample < events:
                cuts[(kind, name)] = _SPAN * sample // events
        # Only the kinds over the bound are sampled; the join is on a small, automatically indexed table.
        values = ", ".join("(?, ?, ?)" for _ in cuts) or "(NULL, NULL, NULL)"
        rows = conn.execute(
            f"WITH cuts(type, name, cut) AS (VALUES {values})"
            " SELECT e.stored FROM temp.schema_side AS s"
            " LEFT JOIN cuts AS c ON c.type IS s.type AND c.name IS s.name"
            " CROSS JOIN events AS e"
            f" WHERE e.id = s.id AND (c.cut IS NULL OR (s.id * {_HASH}) % {_SPAN} < c.cut)",
            [v for (kind, name), cut in cuts.items() for v in (kind, name, cut)],
        )
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        for (stored,) in rows:
            try:
                message = loads(stored) if stored is not None else None
            except decode_error:
                continue
            if isinstance(message, dict) and message:
                profile.add(message, counted=True)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.schema_side")
    return profile
