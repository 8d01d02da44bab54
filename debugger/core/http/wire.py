"""Pure handling of one HTTP request to the Segment Tracking API (docs/protocol.md §1–§3).

:func:`handle` turns what arrived (method, path, query, headers, wire bytes, peer address)
into an :class:`Outcome`: the exact reply Segment would give, the events to store, and the
record of the request itself. The server only reads bytes, calls this, awaits the commit and
writes the reply. No I/O, no clock: the receive time and the id generator are passed in.

The request and reply model lives in :mod:`debugger.core.http.model`, the route table and the
settings, pixel and home routes' bodies in :mod:`debugger.core.http.routes`, headers (lookup,
auth, masking, CORS) in :mod:`debugger.core.http.headers`, body decoding in
:mod:`debugger.core.http.bodies` and the bounds in :mod:`debugger.core.http.limits`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from debugger.core.http.bodies import RequestError, decode_json_lenient, inflate, quoted, serialize, storable_text
from debugger.core.http.headers import basic_auth_user, bearer_token, cors_headers, lowered, mask_headers
from debugger.core.http.limits import KEPT_BODY_LIMIT, Oversize, kept_headers, kept_target, oversize
from debugger.core.http.model import DISCONNECTED, TIMED_OUT, TOO_LARGE, IncomingRequest, Outcome, Reply, RequestRecord
from debugger.core.http.routes import (
    BATCH_ROUTE,
    HOME,
    HOME_TEXT,
    MESSAGE,
    METRICS,
    PIXEL,
    PIXEL_GIF,
    SETTINGS,
    SOURCE_CONFIG,
    UNKNOWN,
    Route,
    match_route,
    pixel_message,
    settings_body,
    source_config_body,
)
from debugger.core.protocol import (
    BATCH,
    CONTEXT,
    INTEGRATIONS,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    REJECTED,
    SENT_AT,
    WARNING,
    WRITE_KEY,
    Envelope,
    Event,
    Problem,
    build_event,
)
from debugger.core.timefmt import format_timestamp

#: Segment's answer to every accepted request (exactly this body, status 200).
SUCCESS_BODY = b'{"success":true}'
#: How much of a rejected body its ``events`` row shows as ``raw`` (characters; the request keeps 1 MB of bytes).
REJECTED_RAW_LIMIT = 64 * 1024


def error_body(code: str, message: str) -> bytes:
    """Segment's error body: python clients need ``code`` and ``message`` together (docs/protocol.md §3.3)."""
    return orjson.dumps({"success": False, "code": code, "message": message})


def handle(
    request: IncomingRequest,
    *,
    received_at: datetime,
    new_id: Callable[[], str],
    allowed_keys: frozenset[str] = frozenset(),
) -> Outcome:
    """Answer one request exactly as Segment would, and say what to store.

    Args:
        request: what arrived.
        received_at: the server clock at receipt (aware, UTC).
        new_id: generates messageIds for messages without one.
        allowed_keys: when not empty, the only write keys accepted (``serve --write-key``);
            any other key is answered like an invalid key.
    """
    route = match_route(request.method, request.path)
    too_big = oversize(request.path, request.query_string, request.headers)
    if too_big is not None:
        return _refuse_oversize(request, route, received_at, too_big)
    headers = lowered(request.headers)
    if request.method == "OPTIONS":
        return Outcome(Reply(204, b"", "text/plain", cors_headers(headers, preflight=True)), None)
    cors = cors_headers(headers, preflight=False)
    if route.kind == HOME and request.method in ("GET", "HEAD"):
        return Outcome(Reply(200, HOME_TEXT, "text/plain", cors), None)

    events: tuple[Event, ...] = ()
    body_size: int | None = None
    write_key: str | None = None
    keep_body = False
    try:
        if route.kind == SETTINGS and request.method in ("GET", "HEAD"):
            write_key = route.write_key
            reply = Reply(200, settings_body(route.write_key or "", request, route.fork_host), headers=cors)
        elif route.kind == SOURCE_CONFIG and request.method in ("GET", "HEAD"):
            write_key = _request_key(headers, None) or _fallback_key(headers, request)
            reply = Reply(200, source_config_body(write_key or ""), headers=cors)
        elif route.kind == PIXEL and request.method in ("GET", "HEAD"):
            reply = Reply(200, PIXEL_GIF, "image/gif", (*cors, ("Cache-Control", "no-store")))
            try:
                message = pixel_message(request.query)
                write_key = _str_key(message.get(WRITE_KEY))
                if write_key is None:
                    raise RequestError("invalid_write_key", "The pixel carries no writeKey.")
                if allowed_keys and write_key not in allowed_keys:
                    raise RequestError(
                        "invalid_write_key", f"{quoted(write_key)} is not one of this server's --write-key values."
                    )
                envelope = Envelope(
                    write_key=write_key, received_at=received_at, ip=request.remote, path_type=route.type
                )
                events = (build_event(message, envelope, new_id=new_id, raw=serialize(message)),)
            except RequestError as exc:
                return _record(
                    request, route, received_at, reply, write_key, None, exc.code, exc.message, events, True, headers
                )
        elif route.kind in (MESSAGE, BATCH_ROUTE, METRICS) and request.method == "POST":
            limit = MAX_MESSAGE_BYTES if route.kind == MESSAGE else MAX_BATCH_BYTES
            if request.cut == TOO_LARGE:
                raise RequestError("payload_too_large", _too_large(limit, None))
            if request.cut == TIMED_OUT:
                raise RequestError(
                    "request_timeout",
                    f"The body did not arrive in time ({len(request.body):,} bytes received); send it in one go.",
                    status=408,
                )
            if request.cut == DISCONNECTED:
                raise RequestError(
                    "client_disconnected", f"The client went away after {len(request.body):,} bytes.", status=400
                )
            data = inflate(request.body, headers.get("content-encoding"), limit)
            body_size = len(data)
            if body_size > limit:
                raise RequestError("payload_too_large", _too_large(limit, None))
            document, repaired = decode_json_lenient(data)
            too_many = _too_many(route, document)
            if too_many is not None:
                # Segment answers 200 and drops the whole batch: one rejected row, the body kept, instead of
                # thousands of invalid ones (docs/protocol.md §3.4).
                reply = Reply(200, SUCCESS_BODY, headers=cors)
                key = _request_key(headers, document) or _fallback_key(headers, request)
                return _record(
                    request,
                    route,
                    received_at,
                    reply,
                    key,
                    body_size,
                    too_many.code,
                    too_many.message,
                    (),
                    True,
                    headers,
                )
            if route.kind == METRICS:
                keep_body = True
                reply = Reply(200, SUCCESS_BODY, headers=cors)
            else:
                write_key, events = _messages(route, document, request, headers, received_at, new_id, repaired)
                if allowed_keys and any(e.write_key not in allowed_keys for e in events):
                    bad = next(e.write_key for e in events if e.write_key not in allowed_keys)
                    raise RequestError(
                        "invalid_write_key",
                        f"An invalid write key was provided: {quoted(bad)} is not one of this server's --write-key values.",
                    )
                reply = Reply(200, SUCCESS_BODY, headers=cors)
        else:
            allowed = "GET" if route.kind in (SETTINGS, SOURCE_CONFIG, PIXEL, HOME) else "POST"
            if route.kind == UNKNOWN:
                if request.method in ("GET", "HEAD") and not request.path.startswith("/v1/"):
                    reply = Reply(404, error_body("not_found", _not_found(request)), headers=cors)
                    return Outcome(reply, None)
                raise RequestError("not_found", _not_found(request), status=404)
            text = f"{quoted(request.method, 20)[1:-1]} is not allowed here; use {allowed}."
            reply = Reply(
                405, error_body("method_not_allowed", text), headers=(*cors, ("Allow", f"{allowed}, OPTIONS"))
            )
            return _record(
                request, route, received_at, reply, None, None, "method_not_allowed", text, (), True, headers
            )
    except RequestError as exc:
        reply = Reply(exc.status, error_body(exc.code, exc.message), headers=cors)
        # A body that could not be read still came with a key in its header or query: the refusal is that source's.
        key = write_key or _request_key(headers, None) or _fallback_key(headers, request)
        return _record(request, route, received_at, reply, key, body_size, exc.code, exc.message, (), True, headers)
    return _record(request, route, received_at, reply, write_key, body_size, None, None, events, keep_body, headers)


def _messages(
    route: Route,
    document: Any,
    request: IncomingRequest,
    headers: dict[str, str],
    received_at: datetime,
    new_id: Callable[[], str],
    repaired: bool = False,
) -> tuple[str | None, tuple[Event, ...]]:
    if not isinstance(document, dict):
        raise RequestError("invalid_json", "The body must be a JSON object.")
    if route.kind == MESSAGE:
        items: list[Any] = [document]
        sent_at = None
        context = integrations = None
    else:
        batch = document.get(BATCH)
        if not isinstance(batch, list):
            raise RequestError(
                "invalid_batch", 'A batch body must be {"batch": [ ...messages ]}; `batch` is missing or not an array.'
            )
        items = batch
        sent_at = document.get(SENT_AT)
        context = document.get(CONTEXT) if isinstance(document.get(CONTEXT), dict) else None
        integrations = document.get(INTEGRATIONS) if isinstance(document.get(INTEGRATIONS), dict) else None
    request_key = _request_key(headers, document)
    if request_key is None and not any(isinstance(i, dict) and _str_key(i.get(WRITE_KEY)) for i in items):
        request_key = _fallback_key(headers, request)
        if request_key is None:
            raise RequestError("invalid_write_key", "An invalid write key was provided")
    raws = [serialize(item) for item in items]
    if route.kind == BATCH_ROUTE:
        for index, raw in enumerate(raws):
            if len(raw) > MAX_MESSAGE_BYTES:
                raise RequestError(
                    "payload_too_large", _too_large(MAX_MESSAGE_BYTES, f"batch[{index}] is {len(raw):,} bytes")
                )
    extra: tuple[Problem, ...] = ()
    if repaired:
        extra = (
            Problem(
                "invalid_unicode",
                "",
                "The body has bytes that are not UTF-8 or lone surrogate escapes; they were stored as U+FFFD.",
                WARNING,
            ),
        )
    envelope = Envelope(
        write_key=request_key,
        received_at=received_at,
        sent_at=sent_at,
        context=context,
        integrations=integrations,
        ip=request.remote,
        path_type=route.type,
    )
    events = tuple(
        build_event(item, envelope, new_id=new_id, extra_problems=extra, raw=raw)
        for item, raw in zip(items, raws, strict=True)
    )
    return request_key or next((e.write_key for e in events if e.write_key), None), events


def _too_many(route: Route, document: Any) -> Problem | None:
    """Why a batch is refused as a whole for its message count (``None``: it is not)."""
    if route.kind != BATCH_ROUTE or not isinstance(document, dict):
        return None
    batch = document.get(BATCH)
    if not isinstance(batch, list) or len(batch) <= MAX_BATCH_MESSAGES:
        return None
    return Problem(
        "batch_too_large",
        "",
        f"The batch holds {len(batch):,} messages; Segment accepts at most {MAX_BATCH_MESSAGES:,} per batch, "
        "answers 200 and drops the whole batch.",
    )


def rejected_event(record: RequestRecord, body: bytes | None) -> Event:
    """The ``events`` row that stands for a request refused as a whole (docs/protocol.md §3.4).

    ``raw`` is the body as received (inflated when it can be, at most :data:`REJECTED_RAW_LIMIT`
    characters; ``requests.body`` keeps the bytes). Segment stored nothing, so ``stored`` holds
    only the refusal: ``{"rejected": {status, code, message, method, path}}``.
    """
    text = ""
    if body:
        try:
            data = inflate(body, record.content_encoding, KEPT_BODY_LIMIT)
        except RequestError:
            data = body
        text = data.decode("utf-8", "replace")
        if len(text) > REJECTED_RAW_LIMIT:
            text = text[:REJECTED_RAW_LIMIT]
    return Event(
        raw=text.encode(),
        stored={
            REJECTED: {
                "status": record.status,
                "code": record.code,
                "message": record.message,
                "method": record.method,
                "path": record.path,
            }
        },
        type=None,
        name=None,
        user_id=None,
        anonymous_id=None,
        message_id=None,
        write_key=record.write_key,
        timestamp=None,
        received_at=record.received_at,
        library_name=None,
        library_version=None,
        status=REJECTED,
        problems=(Problem(record.code or "rejected", "", record.message or f"Answered {record.status}."),),
    )


def _record(
    request: IncomingRequest,
    route: Route,
    received_at: datetime,
    reply: Reply,
    write_key: str | None,
    body_size: int | None,
    code: str | None,
    message: str | None,
    events: tuple[Event, ...],
    keep_body: bool,
    headers: dict[str, str],
) -> Outcome:
    record = RequestRecord(
        received_at=events[0].received_at if events else format_timestamp(received_at),
        method=storable_text(request.method),
        path=storable_text(request.path),
        query_string=storable_text(request.query_string),
        remote_addr=request.remote,
        headers=mask_headers(request.headers),
        kind=route.kind,
        write_key=write_key,
        content_type=_maybe_text(headers.get("content-type")),
        content_encoding=_maybe_text(headers.get("content-encoding")),
        wire_size=len(request.body),
        body_size=body_size,
        status=reply.status,
        code=code,
        message=message,
        body=request.body[:KEPT_BODY_LIMIT] if keep_body and request.body else None,
    )
    if code is not None and not events:
        events = (rejected_event(record, record.body),)
    return Outcome(reply, record, events)


def _refuse_oversize(request: IncomingRequest, route: Route, received_at: datetime, too_big: Oversize) -> Outcome:
    """414/431, recorded with a bounded copy of the URL and headers (preflights included)."""
    reply = Reply(
        too_big.status,
        error_body(too_big.code, too_big.message),
        headers=cors_headers(request.headers, preflight=False),
    )
    kept = replace(
        request,
        path=kept_target(request.path),
        query_string=kept_target(request.query_string),
        headers=kept_headers(request.headers),
    )
    return _record(
        kept, route, received_at, reply, None, None, too_big.code, too_big.message, (), False, lowered(kept.headers)
    )


def _maybe_text(value: str | None) -> str | None:
    return None if value is None else storable_text(value)


def _str_key(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _request_key(headers: dict[str, str], document: Any) -> str | None:
    """A request's own write key (docs/protocol.md §2): the Basic username, else the body's ``writeKey``."""
    return basic_auth_user(headers.get("authorization")) or (
        _str_key(document.get(WRITE_KEY)) if isinstance(document, dict) else None
    )


def _fallback_key(headers: dict[str, str], request: IncomingRequest) -> str | None:
    """The key of a request that carries none of its own and no message does (docs/protocol.md §2):
    the query string's ``writeKey`` (RudderStack's beacon requests carry it only there), else a
    Bearer token (Customer.io's CDP libraries send the key so and nothing else; a Segment OAuth
    token comes with the key in the body, which wins)."""
    query = next((value for name, value in request.query if name == WRITE_KEY and value), None)
    return query or bearer_token(headers.get("authorization"))


def _too_large(limit: int, detail: str | None) -> str:
    extra = f" ({detail})" if detail else ""
    return f"Exceed payload limit: the limit is {limit:,} bytes after decompression{extra}."


def _not_found(request: IncomingRequest) -> str:
    hint = ""
    if "/v1/v1/" in request.path:
        hint = " The path repeats /v1: set your library's host to the server root, without /v1."
    elif not request.path.startswith("/v1/"):
        hint = " Segment routes live under /v1/ (e.g. POST /v1/batch, POST /v1/track)."
    return f"No Segment route at {quoted(request.method, 20)[1:-1]} {quoted(request.path, 200)[1:-1]}.{hint}"
