"""Pure planning of `segdbg send`: file contents → the HTTP requests a client would make.

- A ``.json`` file is sent **verbatim** (so broken payloads reach the server broken, and the
  server's answer is what you see): a batch envelope to ``/v1/batch``, a message to
  ``/v1/<type>`` (``/v1/track`` when it has no type), a JSON array wrapped in a batch, and
  anything unparseable to ``/v1/track``.
- A ``.jsonl``/``.ndjson`` file holds one message per line; lines are batched like
  analytics-python does (up to 100 messages and 500 KB per ``/v1/batch``), with a fresh
  envelope ``sentAt`` so the server's skew correction keeps each message's own timestamp.
  A line that is a batch envelope is sent as it is.
- Exports come back in: a line or array item written by ``segdbg events --format jsonl|json``
  is re-sent as the message it was received as (:func:`debugger.core.pretty.export.resend_message`), and a
  ``.har`` file (or a ``.json`` holding a HAR log) re-sends each POST to a ``/v1/`` path as it
  was made — browser HAR captures included; other requests in it are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from debugger.core.http.bodies import RequestError, decode_json_lenient
from debugger.core.pretty.export import is_export_record, resend_message
from debugger.core.protocol import BATCH, MAX_BATCH_BYTES, REJECTED, SENT_AT, TYPE, TYPES, WRITE_KEY
from debugger.core.timefmt import format_timestamp

LINE_FORMATS = (".jsonl", ".ndjson")
FILE_FORMATS = (".json", ".har", *LINE_FORMATS)
DEFAULT_BATCH_SIZE = 100
#: Why an exported ``rejected`` row is not re-sent (docs/protocol.md §3.4).
REJECTED_RECORD = (
    "a rejected request holds no message; not sent (export with --format har to re-send the request as it was)"
)


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One POST to make: path under the base URL, body bytes, and where it came from."""

    path: str
    body: bytes
    origin: str
    messages: int
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class LineError:
    """A line of a JSON-lines file that is not JSON; it is reported, not sent."""

    origin: str
    message: str


def body_write_key(body: bytes) -> str | None:
    """The write key a JSON body names: on the envelope, else on the first batch item that has one."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    batch = document.get(BATCH)
    for item in [document, *(batch if isinstance(batch, list) else [])]:
        key = item.get(WRITE_KEY) if isinstance(item, dict) else None
        if isinstance(key, str) and key:
            return key
    return None


def plan_file(
    name: str, data: bytes, *, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[PlannedRequest | LineError]:
    """The requests that send one file.

    Args:
        name: the file name (its suffix picks the format; it labels the output).
        data: the file contents.
        now: the ``sentAt`` for batches built from JSON lines.
        batch_size: the most messages per built batch.
    """
    if name.lower().endswith(LINE_FORMATS):
        yield from _plan_lines(name, data, now=now, batch_size=batch_size)
        return
    try:
        # Lenient, as the server is: bad UTF-8 still routes by its type (the bytes go verbatim).
        document, _ = decode_json_lenient(data)
    except RequestError:
        yield PlannedRequest("/v1/track", data, name, 0, ("not valid JSON; sent as it is",))
        return
    if isinstance(document, dict) and isinstance(document.get("log"), dict) and "entries" in document["log"]:
        yield from _plan_har(name, document["log"].get("entries"))
    elif isinstance(document, list):
        rejected = [i for i, item in enumerate(document) if is_export_record(item) and item.get("status") == REJECTED]
        for index in rejected:
            yield LineError(f"{name}#{index}", REJECTED_RECORD)
        skip = set(rejected)
        messages = [
            resend_message(item) if is_export_record(item) else item for i, item in enumerate(document) if i not in skip
        ]
        if messages or not skip:
            yield from _batches(name, messages, now=now, batch_size=batch_size)
    elif isinstance(document, dict) and BATCH in document:
        count = len(document[BATCH]) if isinstance(document[BATCH], list) else 0
        yield PlannedRequest("/v1/batch", data, name, count)
    elif isinstance(document, dict):
        kind = document.get(TYPE)
        path = f"/v1/{kind}" if isinstance(kind, str) and kind in TYPES else "/v1/track"
        yield PlannedRequest(path, data, name, 1)
    else:
        yield PlannedRequest("/v1/track", data, name, 1, ("not a JSON object; sent as it is",))


def _plan_lines(name: str, data: bytes, *, now: datetime, batch_size: int) -> Iterator[PlannedRequest | LineError]:
    pending: list[Any] = []
    first_line = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield LineError(f"{name}:{number}", f"not JSON ({str(exc).split(':', 1)[0]}); not sent")
            continue
        if isinstance(document, dict) and BATCH in document:
            yield PlannedRequest("/v1/batch", line, f"{name}:{number}", len(document.get(BATCH) or []))
            continue
        if is_export_record(document) and document.get("status") == REJECTED:
            yield LineError(f"{name}:{number}", REJECTED_RECORD)
            continue
        if is_export_record(document):
            document = resend_message(document)
        if not pending:
            first_line = number
        pending.append(document)
        if len(pending) >= batch_size:
            yield from _batches(f"{name}:{first_line}-{number}", pending, now=now, batch_size=batch_size)
            pending = []
    if pending:
        yield from _batches(f"{name}:{first_line}-", pending, now=now, batch_size=batch_size)


def _plan_har(name: str, entries: object) -> Iterator[PlannedRequest | LineError]:
    """Each POST to a ``/v1/`` path in a HAR log, re-sent with its body as it was made."""
    if not isinstance(entries, list):
        yield LineError(name, "a HAR file needs log.entries to be a list; nothing sent")
        return
    for index, entry in enumerate(entries):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or str(request.get("method", "")).upper() != "POST":
            continue
        path = urlsplit(str(request.get("url", ""))).path
        if not path.startswith("/v1/"):
            continue
        post = request.get("postData")
        text = post.get("text") if isinstance(post, dict) else None
        origin = f"{name}#{index}"
        if not isinstance(text, str):
            yield LineError(origin, "a POST without postData.text (was the HAR saved without content?); not sent")
            continue
        body = text.encode()
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None
        count = len(document[BATCH]) if isinstance(document, dict) and isinstance(document.get(BATCH), list) else 1
        yield PlannedRequest(path, body, origin, count)


def _batches(origin: str, messages: list[Any], *, now: datetime, batch_size: int) -> Iterator[PlannedRequest]:
    """Split messages into batches under both the count and the 500 KB limit."""
    budget = MAX_BATCH_BYTES - 200
    chunk: list[bytes] = []
    size = 0
    for message in messages:
        encoded = orjson.dumps(message)
        if chunk and (len(chunk) >= batch_size or size + len(encoded) + 1 > budget):
            yield _batch_request(origin, chunk, now)
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield _batch_request(origin, chunk, now)


def _batch_request(origin: str, chunk: list[bytes], now: datetime) -> PlannedRequest:
    body = (
        b'{"batch":['
        + b",".join(chunk)
        + b'],"'
        + SENT_AT.encode()
        + b'":'
        + orjson.dumps(format_timestamp(now))
        + b"}"
    )
    return PlannedRequest("/v1/batch", body, origin, len(chunk))
