"""Pure planning of a forward (`segdbg serve --forward URL`, docs/forward.md): which request goes upstream.

A request segdbg accepted and stored is sent on as it arrived: its method, path, query string,
headers (less the hop-by-hop ones, which belong to one connection) and its body bytes, gzip
included. Two things change it:

- **``--forward-write-key KEY``** replaces the write key wherever the request carried one: the
  ``Authorization`` header (Basic or Bearer, kept in its scheme), a ``writeKey`` query parameter,
  the body's ``writeKey`` (the batch envelope's and each message's) and a pixel's ``data``. When the
  body changes it is sent as plain JSON, without the ``Content-Encoding`` it came with.
- **``--forward-only QUERY``**: when every event of the request matches, the original bytes go;
  when none does, nothing goes; when only some of a batch's messages match, a batch rebuilt from the
  original envelope (``context``, ``sentAt``, ...) and only the matching messages, as they arrived.

Which events match is decided by the store with the filter language's own SQL, and passed in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from debugger.core.http.bodies import RequestError, decode_json_lenient, inflate
from debugger.core.http.headers import HOP_BY_HOP, Headers, basic_auth_user, bearer_token, lowered
from debugger.core.http.limits import WIRE_LIMIT
from debugger.core.http.model import IncomingRequest
from debugger.core.protocol import BATCH, WRITE_KEY
from debugger.core.replay.planning import ReplayItem

#: Characters a path keeps unencoded (RFC 3986 pchar and "/").
PATH_SAFE = "/:@!$&'()*+,;=~"
#: The query parameter a pixel carries its message in (base64 JSON).
PIXEL_DATA = "data"


@dataclass(frozen=True, slots=True)
class Forward:
    """One request to send upstream.

    Attributes:
        method: as it arrived.
        target: path and query string, URL-encoded (``/v1/batch?writeKey=K``), appended to the upstream's root.
        headers: the request's headers, hop-by-hop ones left out.
        body: the bytes to send (the original ones unless a key or a filter changed them).
        items: the events it carries, for the deliveries rows.
        rebuilt: the body is a batch rebuilt from only the matching messages.
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    items: tuple[ReplayItem, ...]
    rebuilt: bool = False


def forwarded_headers(headers: Headers) -> list[tuple[str, str]]:
    """``headers`` without the hop-by-hop ones, including those a ``Connection`` header names."""
    named = {token.strip().lower() for token in lowered(headers).get("connection", "").split(",") if token.strip()}
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP and name.lower() not in named]


def plan_forward(
    request: IncomingRequest,
    items: Sequence[ReplayItem],
    *,
    matching: Collection[int] | None = None,
    write_key: str | None = None,
) -> Forward | None:
    """The request to send upstream for one accepted request, or ``None`` when none of its events may go.

    Args:
        request: the request as it arrived.
        items: one per stored event, in the request's order (``message`` is the message as received).
        matching: the ``event_id`` of the items ``--forward-only`` lets through; ``None``: all of them.
        write_key: ``--forward-write-key``, put wherever the request carried its key.
    """
    kept = tuple(items) if matching is None else tuple(i for i in items if i.event_id in matching)
    if not kept:
        return None
    headers = forwarded_headers(request.headers)
    query = list(request.query)
    body = request.body
    document: Any = None
    changed = False
    rebuilt = len(kept) < len(items)
    if rebuilt or (write_key is not None and request.body):
        document = _document(request, headers)
    if rebuilt:
        if not isinstance(document, dict) or not isinstance(document.get(BATCH), list):
            return None  # only a batch carries several events; anything else cannot be split
        document = _only(document, items, kept)
        changed = True
    if write_key is not None:
        headers = [
            (name, _auth(value, write_key) if name.lower() == "authorization" else value) for name, value in headers
        ]
        query = [(name, _query_value(name, value, write_key)) for name, value in query]
        if isinstance(document, dict) and _replace_key(document, write_key):
            changed = True
    if changed:
        body = orjson.dumps(document)
        headers = [(name, value) for name, value in headers if name.lower() != "content-encoding"]
    # Encoded afresh from the decoded path and pairs the server saw: what the client meant, in one safe spelling.
    target = quote(request.path, safe=PATH_SAFE) + (f"?{urlencode(query)}" if query else "")
    return Forward(request.method, target, tuple(headers), body, kept, rebuilt)


def _document(request: IncomingRequest, headers: Sequence[tuple[str, str]]) -> Any:
    """The request's JSON body (inflated), or ``None`` when it is not JSON."""
    try:
        data = inflate(request.body, lowered(headers).get("content-encoding"), WIRE_LIMIT)
        return decode_json_lenient(data)[0]
    except RequestError:
        return None


def _only(document: dict[str, Any], items: Sequence[ReplayItem], kept: Sequence[ReplayItem]) -> dict[str, Any]:
    """The batch envelope with only the kept messages: the original items when the batch maps one
    to one onto the stored events, else each kept event's message as received."""
    batch = document[BATCH]
    if len(batch) == len(items):
        wanted = {id(item) for item in kept}
        messages = [message for message, item in zip(batch, items, strict=True) if id(item) in wanted]
    else:
        messages = [orjson.loads(item.message) for item in kept]
    return {**document, BATCH: messages}


def _replace_key(document: dict[str, Any], write_key: str) -> bool:
    """Put ``write_key`` where the body has a ``writeKey``: the envelope and each message. Whether any was."""
    changed = False
    for holder in (document, *(m for m in document.get(BATCH) or () if isinstance(m, dict))):
        if WRITE_KEY in holder:
            holder[WRITE_KEY] = write_key
            changed = True
    return changed


def _auth(value: str, write_key: str) -> str:
    """An ``Authorization`` value with ``write_key`` in it, in the scheme it came in."""
    if bearer_token(value) is not None:
        return f"Bearer {write_key}"
    if basic_auth_user(value) is not None or value.strip().lower().startswith("basic"):
        return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    return value


def _query_value(name: str, value: str, write_key: str) -> str:
    """A query parameter with ``write_key`` in it: ``writeKey`` itself, or a pixel's ``data``."""
    if name == WRITE_KEY:
        return write_key
    if name != PIXEL_DATA:
        return value
    text = value.strip().replace(" ", "+")
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
        message = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return value
    if not isinstance(message, dict) or WRITE_KEY not in message:
        return value
    message[WRITE_KEY] = write_key
    return base64.b64encode(orjson.dumps(message)).decode()
