"""The delivery attempts `segdbg delivery-check` judges (docs/faults.md), read from a capture.

An attempt is a request to a route that carries events: accepted (its messages are its stored
``events`` rows, read from ``raw``) or refused by a ``--fault`` rule (its messages are read back from
the body the request row kept; they were never stored as events). Requests refused for what they
sent (bad JSON, a bad key) are not attempts at delivery and are left out. The judging is pure
(:func:`debugger.core.delivery.judge`).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

import orjson

from debugger.core.delivery import Attempt, Sent, refused_messages, refused_pixel, sent
from debugger.core.http.routes import BATCH_ROUTE, MESSAGE, PIXEL
from debugger.core.protocol import REJECTED
from debugger.core.timefmt import parse_timestamp

_KINDS = (MESSAGE, BATCH_ROUTE, PIXEL)


def delivery_attempts(
    conn: sqlite3.Connection, *, write_keys: Sequence[str] = (), sequence: tuple[str, ...] = ()
) -> list[Attempt]:
    """Every delivery attempt in the capture, oldest first (only these write keys, when given)."""
    marks = ",".join("?" * len(_KINDS))
    # With write keys, only their rows are read (a message's own writeKey may differ from its request's: rare,
    # and filtered again below).
    keys = ",".join("?" * len(write_keys))
    rows = conn.execute(
        "SELECT id, received_at, status, fault, write_key, content_encoding, body, kind, query_string FROM requests"
        f" WHERE kind IN ({marks}) AND (status = 200 OR fault IS NOT NULL)"
        + (f" AND (write_key IN ({keys}) OR write_key IS NULL)" if write_keys else "")
        + " ORDER BY id",
        (*_KINDS, *write_keys),
    ).fetchall()
    messages: dict[int, list[Sent]] = defaultdict(list)
    for request_id, raw, write_key, library, version in conn.execute(
        "SELECT request_id, raw, write_key, library_name, library_version FROM events"
        " WHERE status != ? AND request_id IS NOT NULL"
        + (f" AND write_key IN ({keys})" if write_keys else "")
        + " ORDER BY id",
        (REJECTED, *write_keys),
    ):
        try:
            message = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            message = None
        if isinstance(message, dict):
            one = sent(message, write_key, sequence=sequence)
            if library:  # as stored: the batch's context.library counts too
                one = replace(one, library=f"{library} {version}" if version else library)
            messages[request_id].append(one)
    attempts = []
    for request_id, received_at, status, fault, write_key, encoding, body, kind, query_string in rows:
        at = parse_timestamp(received_at)
        if at is None:
            continue
        accepted = status == 200
        carried: tuple[Sent, ...]
        if accepted:
            carried = tuple(messages.get(request_id, ()))
        elif kind == PIXEL:
            carried = refused_pixel(query_string or "", write_key, sequence)
        else:
            carried = refused_messages(body, encoding, write_key, sequence)
        if write_keys:
            carried = tuple(m for m in carried if m.write_key in write_keys)
        if carried:
            attempts.append(Attempt(request_id, at, accepted, carried, status, fault))
    return attempts
