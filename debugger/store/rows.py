"""How a group of accepted requests becomes rows: ids, duplicates, the ``sources`` counts.

The writer calls :func:`write_group` inside its IMMEDIATE transaction, so nothing can commit
between reading the next ids and inserting. Ids are explicit (``max(id) + 1``), not left to
SQLite, because a duplicate must point at its first copy, which may be in the same group.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from debugger.core.http.model import RequestRecord
from debugger.core.protocol import DUPLICATE, DUPLICATE_WINDOW, OK, REJECTED, WARNING, Event, Problem
from debugger.core.query.extracted import EXTRACTED, extract
from debugger.core.timefmt import format_timestamp, parse_timestamp
from debugger.store.capture import insert_many


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one submitted job became: the request row id and each event's id and status."""

    request_id: int | None
    event_ids: tuple[int, ...]
    statuses: tuple[str, ...]


class Job(Protocol):
    """One request's record (``None`` for a paste without one) and its events."""

    record: RequestRecord | None
    events: Sequence[Event]


INSERT_REQUEST = """INSERT INTO requests (id, received_at, method, path, query_string, remote_addr, headers, kind,
 write_key, content_type, content_encoding, wire_size, body_size, status, code, message, event_count, body, fault)
 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""
_EXTRACTED_COLUMNS = [column for columns in EXTRACTED.values() for column in columns]
INSERT_EVENT = f"""INSERT INTO events (id, request_id, received_at, write_key, type, name, user_id, anonymous_id,
 message_id, timestamp, library_name, library_version, status, duplicate_of, problems, raw, stored,
 {", ".join(_EXTRACTED_COLUMNS)}) VALUES ({",".join("?" * (17 + len(_EXTRACTED_COLUMNS)))})"""
UPSERT_SOURCE = """INSERT INTO sources (write_key, first_seen, last_seen, event_count, request_count)
 VALUES (?,?,?,?,?) ON CONFLICT(write_key) DO UPDATE SET last_seen = excluded.last_seen,
 event_count = event_count + excluded.event_count, request_count = request_count + excluded.request_count"""


def next_ids(conn: sqlite3.Connection, *, sequence: bool) -> tuple[int, int]:
    """The next ``requests`` and ``events`` ids; ``sequence``: the capture has ``sqlite_sequence``.

    Never below the highest event id ever used (AUTOINCREMENT's counter): after a reset,
    followers and ``?after=`` cursors must still see the next events as new.
    """
    next_request = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM requests").fetchone()[0]
    next_event = conn.execute(
        "SELECT max(coalesce((SELECT max(id) FROM events), 0),"
        " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)) + 1"
        if sequence
        else "SELECT coalesce(max(id), 0) + 1 FROM events"
    ).fetchone()[0]
    return int(next_request), int(next_event)


def write_group(
    conn: sqlite3.Connection, jobs: Sequence[Job], ids: tuple[int, int]
) -> tuple[list[WriteResult], tuple[int, int]]:
    """Insert a group of jobs (one multi-row INSERT per table) from ``ids`` on; returns each
    job's result and the next ids after them."""
    next_request, next_event = ids
    all_events = [event for job in jobs for event in job.events]
    firsts = first_copies(conn, all_events) if all_events else {}
    request_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    results: list[WriteResult] = []
    dumps = orjson.dumps
    for job in jobs:
        request_id = None
        r = job.record
        if r is not None:
            request_id = next_request
            next_request += 1
            request_rows.append(
                (
                    request_id,
                    r.received_at,
                    r.method,
                    r.path,
                    r.query_string,
                    r.remote_addr,
                    dumps(r.headers).decode(),
                    r.kind,
                    r.write_key,
                    r.content_type,
                    r.content_encoding,
                    r.wire_size,
                    r.body_size,
                    r.status,
                    r.code,
                    r.message,
                    sum(e.status != REJECTED for e in job.events),
                    r.body,
                    r.fault,
                )
            )
        event_ids: list[int] = []
        statuses: list[str] = []
        for event in job.events:
            row_id = next_event
            next_event += 1
            status, problems, duplicate_of = event.status, event.problems, None
            if status == OK and event.message_id is not None:
                key = (event.write_key, event.message_id)
                first = firsts.get(key)
                if first is None:
                    firsts[key] = (row_id, event.received_at)
                else:
                    status, duplicate_of = DUPLICATE, first[0]
                    problems = (*problems, duplicate_problem(first))
            event_rows.append(
                (
                    row_id,
                    request_id,
                    event.received_at,
                    event.write_key,
                    event.type,
                    event.name,
                    event.user_id,
                    event.anonymous_id,
                    event.message_id,
                    event.timestamp,
                    event.library_name,
                    event.library_version,
                    status,
                    duplicate_of,
                    dumps([p.to_dict() for p in problems]).decode() if problems else None,
                    event.raw.decode("utf-8", "replace"),
                    dumps(event.stored).decode(),
                    # The paths filters read from columns (core.query.extracted), from the message held here.
                    *(part for path in EXTRACTED for part in extract(event.stored, path)),
                )
            )
            event_ids.append(row_id)
            statuses.append(status)
        results.append(WriteResult(request_id, tuple(event_ids), tuple(statuses)))
    if request_rows:
        insert_many(conn, INSERT_REQUEST, request_rows)
    if event_rows:
        insert_many(conn, INSERT_EVENT, event_rows)
    update_sources(conn, jobs)
    return results, (next_request, next_event)


def update_sources(conn: sqlite3.Connection, jobs: Sequence[Job]) -> None:
    """Add the group's events and requests to each write key's ``sources`` row."""
    seen: dict[str, list[Any]] = {}
    for job in jobs:
        for event in job.events:
            if event.write_key is not None:
                entry = seen.get(event.write_key)
                if entry is None:
                    entry = seen[event.write_key] = [event.received_at, event.received_at, 0, 0]
                entry[1] = event.received_at
                entry[2] += 1
        record = job.record
        if record is not None and record.write_key is not None:
            entry = seen.setdefault(record.write_key, [record.received_at, record.received_at, 0, 0])
            entry[3] += 1
    if seen:
        conn.executemany(UPSERT_SOURCE, [(key, *values) for key, values in seen.items()])


def write_error(path: Path, exc: Exception) -> str:
    """What a request answered 503 says when its group could not be written."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another process; the client should retry ({text})."
    if "full" in text:
        return f"{path}: the disk (or the capture's size limit) is full; free space and the client's retry will land."
    return f"could not write to {path}: {text}"


def first_copies(
    conn: sqlite3.Connection, events: Sequence[Event]
) -> dict[tuple[str | None, str | None], tuple[int, str]]:
    """The first stored ``ok`` copy of each (write key, messageId) seen in the last 24 hours."""
    candidates = {e.message_id for e in events if e.status == OK and e.message_id is not None}
    if not candidates:
        return {}
    newest = max(e.received_at for e in events)
    since_dt = parse_timestamp(newest)
    since = format_timestamp(since_dt - DUPLICATE_WINDOW) if since_dt is not None else newest
    found: dict[tuple[str | None, str | None], tuple[int, str]] = {}
    ordered = sorted(candidates)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row_id, write_key, message_id, received_at in conn.execute(
            f"SELECT id, write_key, message_id, received_at FROM events WHERE message_id IN ({marks})"
            " AND status = 'ok' AND received_at >= ? ORDER BY id",
            (*chunk, since),
        ):
            found.setdefault((write_key, message_id), (row_id, received_at))
    return found


def duplicate_problem(first: tuple[int, str]) -> Problem:
    return Problem(
        "duplicate_message_id",
        "messageId",
        f"Same messageId as event #{first[0]} received at {first[1]}; Segment drops repeats within 24 h.",
        WARNING,
    )
