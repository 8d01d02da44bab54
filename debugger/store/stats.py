"""Capture statistics (`segdbg stats`, ``GET /debugger/api/stats``) and maintenance (reset)."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from debugger.core.lint.finding import json_type
from debugger.core.protocol import json_object
from debugger.core.timefmt import format_timestamp
from debugger.store.capture import connect, migrate
from debugger.store.index import clear_index, has_index, index_state, stale_entries
from debugger.store.reads import event_count
from debugger.store.retention import first_id_since

RATE_WINDOW = timedelta(minutes=1)
#: ``meta`` key counting resets: a follower that sees it change counts from scratch.
RESETS_KEY = "resets"


def stats(conn: sqlite3.Connection, *, now: datetime) -> dict[str, Any]:
    """Counts by type, status, source and library; the rate over the last minute; the index lag."""
    total = event_count(conn)
    # events_type gives the type counts in index order; the partial index events_not_ok the
    # few invalid/duplicate rows. Libraries need a scan of the table (seconds per million).
    by_type: Counter[str] = Counter()
    for kind, n in conn.execute("SELECT type, count(*) FROM events GROUP BY type"):
        by_type[kind or "?"] += n
    by_status = Counter(
        dict(conn.execute("SELECT status, count(*) FROM events WHERE status != 'ok' GROUP BY status").fetchall())
    )
    if total - sum(by_status.values()):
        by_status["ok"] = total - sum(by_status.values())
    # Requests refused whole (docs/protocol.md §3.4) are rows without a type: counted apart, by reason.
    rejected = dict(
        conn.execute(
            "SELECT json_extract(problems, '$[0].code'), count(*) FROM events"
            " WHERE status = 'rejected' AND status != 'ok' GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    )
    if rejected:
        by_type["?"] -= sum(rejected.values())
        if by_type["?"] <= 0:
            del by_type["?"]
    libraries = [
        {"name": name, "version": version, "events": n}
        for name, version, n in conn.execute(
            "SELECT library_name, library_version, count(*) FROM events WHERE status != 'rejected'"
            " GROUP BY 1, 2 ORDER BY 3 DESC"
        )
    ]
    sources = [
        {
            "write_key": key,
            "label": label,
            "events": events,
            "requests": requests,
            "first_seen": first,
            "last_seen": last,
        }
        for key, label, events, requests, first, last in conn.execute(
            "SELECT write_key, label, event_count, request_count, first_seen, last_seen FROM sources"
            " WHERE event_count > 0 OR request_count > 0 ORDER BY event_count DESC"
        )
    ]
    recent = _received_since(conn, format_timestamp(now - RATE_WINDOW))
    first = conn.execute("SELECT received_at FROM events ORDER BY id LIMIT 1").fetchone()
    last = conn.execute("SELECT received_at FROM events ORDER BY id DESC LIMIT 1").fetchone()
    requests = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    state = index_state(conn)
    pinned = conn.execute("SELECT count(*) FROM events WHERE pinned = 1").fetchone()[0] if _has_pins(conn) else 0
    return {
        "events": total,
        "requests": requests,
        "by_type": dict(by_type.most_common()),
        "by_status": dict(by_status.most_common()),
        "rejected": {"requests": sum(rejected.values()), "by_code": rejected},
        "sources": sources,
        "libraries": libraries,
        "last_minute": {"events": recent, "per_second": round(recent / RATE_WINDOW.total_seconds(), 2)},
        "first_received_at": first[0] if first else None,
        "last_received_at": last[0] if last else None,
        "pinned": pinned,
        "search_index": {"indexed_up_to": state.watermark, "lag": state.lag, "stale": stale_entries(conn)}
        if state
        else None,
    }


def _has_pins(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "pinned" for row in conn.execute("PRAGMA table_info(events)"))


def _received_since(conn: sqlite3.Connection, since: str) -> int:
    """Events received at or after ``since``, found by bisecting ids (they follow arrival order).

    Ids are assigned at commit, so a request that waited behind a bigger one may be a few
    milliseconds out of order: exact enough for a rate, and O(log n) without an index.
    """
    first = first_id_since(conn, "events", since)
    if first is None:
        return 0
    return int(conn.execute("SELECT count(*) FROM events WHERE id >= ?", (first,)).fetchone()[0])


def reset(conn: sqlite3.Connection) -> int:
    """Delete every captured event and request (inside the caller's transaction); returns events deleted.

    Event ids keep counting up (AUTOINCREMENT), so followers and ``?after=`` cursors see the
    next events; source labels are kept, their counts zeroed.
    """
    deleted = event_count(conn)
    conn.execute("DELETE FROM events")
    conn.execute("DELETE FROM requests")
    conn.execute("DELETE FROM sources WHERE label IS NULL")
    conn.execute("UPDATE sources SET event_count = 0, request_count = 0, first_seen = NULL, last_seen = NULL")
    if has_index(conn):
        clear_index(conn)
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        (RESETS_KEY,),
    )
    return int(deleted)


def reset_file(path: Path) -> int:
    """:func:`reset` a capture file no server is writing, in one transaction; returns events deleted."""
    migrate(path)
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        deleted = reset(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return deleted


def observed_schema(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per event (type and name): how often it was seen and the JSON types of its properties/traits."""
    counts: Counter[tuple[str, str]] = Counter()
    fields: dict[tuple[str, str], dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for event in events:
        key = (event.get("type") or "?", event.get("name") or "")
        counts[key] += 1
        stored = json_object(event.get("stored"))
        for part in ("properties", "traits"):
            values = stored.get(part)
            if isinstance(values, dict):
                for name, value in values.items():
                    fields[key][f"{part}.{name}"][json_type(value)] += 1
    return [
        {
            "type": kind,
            "name": name,
            "count": n,
            "fields": {path: dict(types) for path, types in sorted(fields[(kind, name)].items())},
        }
        for (kind, name), n in counts.most_common()
    ]
