"""One side of `segdbg diff --schema` read from a capture (docs/replay.md, "Schema diff"): a
:class:`~debugger.core.schemadiff.SchemaProfile` of the events a query selects.

Two statements, each one pass over the selection (through :func:`debugger.store.reads.matching_sql`,
so a query reads like everywhere else):

1. per kind of event, SQL counts the events and the distinct identities
   (``coalesce(user_id, anonymous_id)``) — exact, whatever the size;
2. the ``stored`` messages are walked in Python, every one of a kind with at most
   :data:`SAMPLE_PER_EVENT` events, else an even sample of about that many chosen in SQL by a
   hash of the event id (deterministic: the same capture gives the same numbers). Only the
   sampled rows leave SQLite.

The bound: with 10,000 events walked, a presence or type share is within ±1 percentage point of
the whole kind's at 95% confidence (binomial, worst case at 50%), well inside the default
``--tolerance 5``; a property that is never or always sent reads exactly 0% or 100%.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

import orjson

from debugger.core.diff import NOISE
from debugger.core.query import language as q
from debugger.core.schemadiff import SchemaProfile
from debugger.store.reads import matching_sql

#: Events walked per kind of event (see the module doc for the error this bounds).
SAMPLE_PER_EVENT = 10_000
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
    """The schema profile of the events ``query`` selects (only ``statuses``; ``None``: all)."""
    profile = SchemaProfile(ignore=ignore)
    sql, params = matching_sql(
        conn, ("type", "name", "user_id", "anonymous_id"), query=query, now=now, statuses=statuses
    )
    cuts: dict[tuple[str | None, str | None], int] = {}
    for kind, name, events, identities in conn.execute(
        "SELECT type, name, count(*), count(DISTINCT coalesce(nullif(user_id, ''), nullif(anonymous_id, '')))"
        f" FROM ({sql}) GROUP BY type, name",
        params,
    ):
        if kind is None and statuses is None:
            continue  # a request refused whole (docs/protocol.md §3.4) holds no message
        profile.set_counts(_key(kind, name), events, identities)
        if events > sample:
            cuts[(kind, name)] = _SPAN * sample // events
    sql, params = matching_sql(conn, ("id", "type", "name", "stored"), query=query, now=now, statuses=statuses)
    if cuts:
        # Only the kinds over the bound are sampled; the join is on a small, automatically indexed table.
        values = ", ".join("(?, ?, ?)" for _ in cuts)
        rows = conn.execute(
            f"WITH cuts(type, name, cut) AS (VALUES {values})"
            f" SELECT m.stored FROM ({sql}) AS m LEFT JOIN cuts AS c ON c.type IS m.type AND c.name IS m.name"
            f" WHERE c.cut IS NULL OR (m.id * {_HASH}) % {_SPAN} < c.cut",
            [v for (kind, name), cut in cuts.items() for v in (kind, name, cut)] + list(params),
        )
    else:
        rows = conn.execute(f"SELECT m.stored FROM ({sql}) AS m", params)
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for (stored,) in rows:
        try:
            message = loads(stored) if stored is not None else None
        except decode_error:
            continue
        if isinstance(message, dict) and message:
            profile.add(message, counted=True)
    return profile
