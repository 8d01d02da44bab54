"""What one scope (a test's write key) holds: ``GET /debugger/api/stats?scope=`` (docs/ci.md, "Per-test scopes")."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any


def scope_stats(conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    """Counts for the events and requests sent with write key ``name``: by type and status, first and last
    received, and the newest event id (a cursor for ``events?after=``)."""
    by_type: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    first: str | None = None
    last: str | None = None
    newest = 0
    for kind, status, n, low, high, top in conn.execute(
        "SELECT type, status, count(*), min(received_at), max(received_at), max(id) FROM events"
        " WHERE write_key = ? GROUP BY 1, 2",
        (name,),
    ):
        if status != "rejected":
            by_type[kind or "?"] += n
        by_status[status] += n
        first = low if first is None or low < first else first
        last = high if last is None or high > last else last
        newest = max(newest, top)
    requests = conn.execute("SELECT count(*) FROM requests WHERE write_key = ?", (name,)).fetchone()[0]
    return {
        "scope": name,
        "events": sum(by_status.values()),
        "requests": requests,
        "by_type": dict(by_type.most_common()),
        "by_status": dict(by_status.most_common()),
        "first_received_at": first,
        "last_received_at": last,
        "newest_id": newest,
    }
