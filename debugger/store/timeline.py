"""Reading one identity's timeline: follow the links between its ids, then read its calls and events.

The links are read with grouped SQL served by the ``user_id`` and ``anonymous_id`` indexes (and the
``type`` index for aliases), a round per step away from the asked id, at most
:data:`~debugger.core.timeline.MAX_IDS` ids; the calls and events then go through the one read path
(:func:`debugger.store.reads.iter_events`) with a ``user:`` query over those ids. Only accepted events
(status ``ok``) count, as in the default view: Segment drops the others. The merge and the shape
are pure (:mod:`debugger.core.timeline`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from debugger.core.protocol import PREVIOUS_ID
from debugger.core.query import language as q
from debugger.core.query.plan import DEFAULT_STATUSES
from debugger.core.timeline import DEFAULT_LIMIT, IDENTITY_CALLS, MAX_CALLS, MAX_IDS, Timeline, Use, build, follow
from debugger.store.reads import count_events, iter_events


def identity_timeline(
    conn: sqlite3.Connection, seed: str, *, limit: int = DEFAULT_LIMIT, max_ids: int = MAX_IDS
) -> Timeline:
    """The timeline of the identity ``seed`` (a userId, an anonymousId or an alias's previousId).

    Args:
        conn: a read connection.
        seed: the id asked for.
        limit: the newest events to list (all are counted).
        max_ids: the most ids to follow.
    """
    if limit < 0 or max_ids < 1:
        raise ValueError("limit must be ≥ 0 and max_ids ≥ 1")
    known: set[str] = {seed}
    ordered = [seed]
    uses: dict[tuple[str | None, str | None, str | None], Use] = {}
    aliases: dict[int, tuple[str, str, int]] = {}
    frontier = [seed]
    incomplete = False
    while frontier:
        for use in _uses(conn, frontier):
            uses[(use.user_id, use.anonymous_id, use.write_key)] = use
        for alias in _aliases(conn, frontier):
            aliases[alias[2]] = alias
        found = sorted(follow(uses.values(), aliases.values(), known))
        room = max_ids - len(known)
        if len(found) > room:
            incomplete, found = True, found[:room]
        known.update(found)
        ordered += found
        frontier = found
    # Uses read from an id at the edge may name ids that were not followed: keep only the identity's own.
    kept = [u for u in uses.values() if u.user_id in known or u.anonymous_id in known]
    links = [a for _, a in sorted(aliases.items()) if a[0] in known and a[1] in known]
    who = q.FieldTerm("user", tuple(q.Pattern((i,)) for i in ordered))
    calls_query = q.Query((who, q.FieldTerm("type", tuple(q.Pattern((t,)) for t in IDENTITY_CALLS))))
    calls = list(iter_events(conn, query=calls_query, statuses=DEFAULT_STATUSES, limit=MAX_CALLS, newest=True))
    calls_total = count_events(conn, query=calls_query, statuses=DEFAULT_STATUSES)
    events_query = q.Query((who,))
    events = list(iter_events(conn, query=events_query, statuses=DEFAULT_STATUSES, limit=limit, newest=True))
    total = count_events(conn, query=events_query, statuses=DEFAULT_STATUSES)
    return build(
        seed, kept, links, calls, events if limit else [], calls_total=calls_total, total=total, incomplete=incomplete
    )


def _uses(conn: sqlite3.Connection, ids: Sequence[str]) -> list[Use]:
    """Each (userId, anonymousId, write key) seen with one of ``ids``, with its count and first and last event."""
    marks, params = ",".join("?" * len(ids)), list(ids)
    statuses = ",".join("?" * len(DEFAULT_STATUSES))
    sql = (
        "SELECT user_id, anonymous_id, write_key, count(*), min(id), max(id) FROM events "
        f"WHERE status IN ({statuses}) AND id IN (SELECT id FROM events WHERE user_id IN ({marks}) "
        f"UNION SELECT id FROM events WHERE anonymous_id IN ({marks})) "
        "GROUP BY user_id, anonymous_id, write_key"
    )
    return [Use(*row) for row in conn.execute(sql, [*DEFAULT_STATUSES, *params, *params])]


def _aliases(conn: sqlite3.Connection, ids: Sequence[str]) -> list[tuple[str, str, int]]:
    """(previousId, userId, event id) of the aliases from or to one of ``ids``."""
    marks, params = ",".join("?" * len(ids)), list(ids)
    statuses = ",".join("?" * len(DEFAULT_STATUSES))
    previous = f"json_extract(stored, '$.{PREVIOUS_ID}')"
    sql = (
        f"SELECT {previous}, user_id, id FROM events WHERE type = 'alias' AND status IN ({statuses}) "
        f"AND (user_id IN ({marks}) OR {previous} IN ({marks}))"
    )
    rows = conn.execute(sql, [*DEFAULT_STATUSES, *params, *params])
    return [(str(p), str(u), int(i)) for p, u, i in rows if p is not None and u]
