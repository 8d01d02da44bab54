"""The HTTP exchange as data: a request as it arrived, the reply, the record kept of it, and the outcome.

Sans I/O: the server builds :class:`IncomingRequest` from aiohttp's request, paste builds it from
text, and :func:`debugger.core.http.wire.handle` turns it into an :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from debugger.core.http.headers import Headers
from debugger.core.protocol import Event

#: Why a server stopped reading a body early (:attr:`IncomingRequest.cut`).
TOO_LARGE, TIMED_OUT, DISCONNECTED = "too_large", "timed_out", "disconnected"


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """An HTTP request as it arrived.

    Attributes:
        body: the bytes read off the wire (still compressed), at most ``WIRE_LIMIT + 1``.
        cut: why the server stopped reading early, if it did: ``TOO_LARGE`` (more than
            ``WIRE_LIMIT`` bytes), ``TIMED_OUT`` (a slow client) or ``DISCONNECTED``.
        scheme: ``http`` or ``https``, used to tell analytics.js where to send.
    """

    method: str
    path: str
    query_string: str = ""
    query: Sequence[tuple[str, str]] = ()
    headers: Headers = ()
    body: bytes = b""
    remote: str | None = None
    cut: str | None = None
    scheme: str = "http"


@dataclass(frozen=True, slots=True)
class Reply:
    """The HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One row of the ``requests`` table: every request that reached an ingest route."""

    received_at: str
    method: str
    path: str
    query_string: str
    remote_addr: str | None
    headers: list[list[str]]
    kind: str
    write_key: str | None
    content_type: str | None
    content_encoding: str | None
    wire_size: int
    body_size: int | None
    status: int
    code: str | None
    message: str | None
    body: bytes | None
    #: The ``--fault`` rule that made this answer (docs/faults.md); ``None`` for every ordinary request.
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer, what to record, and which events to store."""

    reply: Reply
    record: RequestRecord | None
    events: tuple[Event, ...] = field(default=())
