"""`segdbg route` and the API's ``route``: the events a reference names, each with every destination's verdict."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from debugger.core.pretty.export import export_record
from debugger.core.query import language as q
from debugger.core.routing import Routing, route
from debugger.store.reads import get_event, iter_events

#: The most events one `route` answer judges (a query names the newest of them).
ROUTE_LIMIT = 50


def routed_events(
    conn: sqlite3.Connection,
    routing: Routing,
    *,
    event_id: int | None = None,
    query: q.Query | None = None,
    now: datetime,
    statuses: Iterable[str] | None,
    limit: int = ROUTE_LIMIT,
) -> list[dict[str, Any]]:
    """The event ``event_id`` (or the newest ``limit`` events matching ``query``), oldest first, each as
    ``{"event": <export record>, "destinations": [<verdict JSON>, ...]}``."""
    if event_id is not None:
        row = get_event(conn, event_id)
        events = [row] if row is not None else []
    else:
        events = list(iter_events(conn, query=query, now=now, statuses=statuses, limit=limit, newest=True))
    return [
        {"event": export_record(e), "destinations": [v.to_json() for v in route(routing, e["stored"])]} for e in events
    ]
