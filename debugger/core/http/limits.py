"""Pure bounds on the parts of a request around the body: header sets, header lines, URLs.

The HTTP parser (aiohttp) is given limits *above* these (:data:`PARSER_LIMITS`), so a request
over ours still reaches :func:`debugger.core.http.wire.handle`, which answers it Segment-style
(``{"success": false, "code": ..., "message": ...}``) and records it with a bounded copy of
what it sent. Only a request beyond the parser's own limits is refused by aiohttp before
segdbg sees it (a plain-text 400, logged as one line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from debugger.core.protocol import MAX_BATCH_BYTES

#: The most a server reads off the wire for one request; anything longer is over every limit.
WIRE_LIMIT = 2 * MAX_BATCH_BYTES
#: How much of a rejected request's body is kept for the HTTP view.
KEPT_BODY_LIMIT = 1024 * 1024
#: The most headers one request may carry (browsers send about 20).
MAX_HEADER_COUNT = 128
#: The most bytes of header names and values one request may carry (a big localhost Cookie
#: header fits: Node accepts 16 KiB, Chromium sends up to 256 KiB).
MAX_HEADER_BYTES = 64 * 1024
#: The longest path plus query string (a pixel GET carries a whole message in ``data``).
MAX_TARGET_BYTES = 64 * 1024
#: aiohttp's parser limits: above ours so that what ours refuse is still answered and recorded.
#: Worst case the parser holds ``max_headers × max_field_size`` (16 MiB) for one request.
PARSER_LIMITS = {"max_line_size": 2 * MAX_TARGET_BYTES, "max_field_size": MAX_HEADER_BYTES, "max_headers": 256}
#: What a refused request keeps of its headers and URL in the capture.
KEPT_HEADERS = 64
KEPT_VALUE_CHARS = 1024
KEPT_TARGET_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Oversize:
    """Why a request is refused before its body is looked at: status, code and message."""

    status: int
    code: str
    message: str


def header_bytes(headers: Sequence[tuple[str, str]]) -> int:
    """Bytes of names and values as sent (``Name: value\\r\\n``), counted in characters."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


def oversize(path: str, query_string: str, headers: Sequence[tuple[str, str]]) -> Oversize | None:
    """The limit a request breaks, if any: 414 for the URL, 431 for the header set."""
    target = len(path) + len(query_string) + (1 if query_string else 0)
    if target > MAX_TARGET_BYTES:
        return Oversize(
            414,
            "uri_too_long",
            f"The URL is {target:,} bytes; segdbg accepts at most {MAX_TARGET_BYTES:,}. "
            f"Send the message as a POST body instead.",
        )
    size = header_bytes(headers)
    if len(headers) > MAX_HEADER_COUNT or size > MAX_HEADER_BYTES:
        kept = min(len(headers), KEPT_HEADERS)
        return Oversize(
            431,
            "headers_too_large",
            f"The request carries {len(headers):,} headers ({size:,} bytes); segdbg accepts at most "
            f"{MAX_HEADER_COUNT:,} headers and {MAX_HEADER_BYTES:,} bytes of them. "
            f"The first {kept} are kept, each cut to {KEPT_VALUE_CHARS:,} characters.",
        )
    return None


def kept_headers(headers: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """A bounded copy of a refused request's headers: the first few, names and values cut."""
    return tuple(
        (name[:KEPT_VALUE_CHARS], value if len(value) <= KEPT_VALUE_CHARS else value[: KEPT_VALUE_CHARS - 1] + "…")
        for name, value in headers[:KEPT_HEADERS]
    )


def kept_target(text: str) -> str:
    """A path or query string cut to what a refused request keeps."""
    return text if len(text) <= KEPT_TARGET_CHARS else text[: KEPT_TARGET_CHARS - 1] + "…"
