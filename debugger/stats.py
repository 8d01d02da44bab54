"""Capture statistics (`segdbg stats`, ``GET /debugger/api/stats``) and maintenance (reset)."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from debugger.search import FTS_TABLE, WATERMARK_KEY, index_state
from debugger.timefmt import format_timestamp

RATE_WINDOW = timedelta(minutes=1)


def stats(conn: sqlite3.Connection, *, now: datetime) -> dict[str, Any]:
    """Counts by type, status, source and library; the rate over the last minute; the index lag."""
    total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    # Each GROUP BY follows an index's order (events_type; events_status is status, library
    # name, version), so a million events are counted from the indexes without sorting.
    by_type: Counter[str] = Counter()
    for kind, n in conn.execute("SELECT type, count(*) FROM events GROUP BY type"):
        by_type[kind or "?"] += n
    by_status: Counter[str] = Counter()
    by_library: Counter[tuple[str | None, str | None]] = Counter()
    for status, name, version, n in conn.execute(
        "SELECT status, library_name, library_version, count(*) FROM events GROUP BY 1, 2, 3"
    ):
        by_status[status] += n
        by_library[(name, version)] += n
    libraries = [{"name": name, "version": version, "events": n} for (name, version), n in by_library.most_common()]
    sources = [
        {"write_key": key, "label": label, "events": events, "requests": requests, "first_seen": first, "last_seen": last}
        for key, label, events, requests, first, last in conn.execute(
            "SELECT write_key, label, event_count, request_count, first_seen, last_seen FROM sources"
            " WHERE event_count > 0 OR request_count > 0 ORDER BY event_count DESC"
        )
    ]
    since = format_timestamp(now - RATE_WINDOW)
    recent = conn.execute("SELECT count(*) FROM events WHERE received_at >= ?", (since,)).fetchone()[0]
    # Two statements: SQLite answers a lone min() or max() from the index in O(log n).
    first = conn.execute("SELECT min(received_at) FROM events").fetchone()[0]
    last = conn.execute("SELECT max(received_at) FROM events").fetchone()[0]
    requests = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    state = index_state(conn)
    return {
        "events": total,
        "requests": requests,
        "by_type": dict(by_type.most_common()),
        "by_status": dict(by_status.most_common()),
        "sources": sources,
        "libraries": libraries,
        "last_minute": {"events": recent, "per_second": round(recent / RATE_WINDOW.total_seconds(), 2)},
        "first_received_at": first,
        "last_received_at": last,
        "search_index": {"indexed_up_to": state.watermark, "lag": state.lag} if state else None,
    }


def reset(conn: sqlite3.Connection) -> int:
    """Delete every captured event and request (inside the caller's transaction); returns events deleted.

    Event ids keep counting up (AUTOINCREMENT), so followers and ``?after=`` cursors see the
    next events; source labels are kept, their counts zeroed.
    """
    deleted = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.execute("DELETE FROM events")
    conn.execute("DELETE FROM requests")
    conn.execute("DELETE FROM sources WHERE label IS NULL")
    conn.execute("UPDATE sources SET event_count = 0, request_count = 0, first_seen = NULL, last_seen = NULL")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (FTS_TABLE,)).fetchone():
        conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(top[0] if top else 0), WATERMARK_KEY))
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('resets', '1')"
        " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )
    return int(deleted)


def observed_schema(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per event (type and name): how often it was seen and the JSON types of its properties/traits."""
    counts: Counter[tuple[str, str]] = Counter()
    fields: dict[tuple[str, str], dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for event in events:
        key = (event.get("type") or "?", event.get("name") or "")
        counts[key] += 1
        stored = event.get("stored") if isinstance(event.get("stored"), dict) else {}
        for part in ("properties", "traits"):
            values = stored.get(part)
            if isinstance(values, dict):
                for name, value in values.items():
                    fields[key][f"{part}.{name}"][_json_type(value)] += 1
    return [
        {"type": kind, "name": name, "count": n, "fields": {path: dict(types) for path, types in sorted(fields[(kind, name)].items())}}
        for (kind, name), n in counts.most_common()
    ]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
