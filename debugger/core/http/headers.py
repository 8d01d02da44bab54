"""Pure handling of a request's headers (docs/protocol.md §1.4, §2): case-insensitive lookup, the
write key of a Basic ``Authorization``, credentials masked for the capture, and the CORS headers
an ingest route answers with. No I/O.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence

from debugger.core.http.bodies import storable_text

MASKED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

Headers = Sequence[tuple[str, str]]


def header(headers: Headers | dict[str, str], name: str) -> str | None:
    """Case-insensitive lookup of the first header called ``name``.

    ``headers`` is the arrival-order pairs, or a dict from :func:`lowered` (one pass, then
    O(1) lookups: what :func:`handle` uses).
    """
    if isinstance(headers, dict):
        return headers.get(name.lower())
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def lowered(headers: Headers) -> dict[str, str]:
    """Headers by lower-cased name; the first of repeated names wins, as :func:`header` does."""
    out: dict[str, str] = {}
    for key, value in headers:
        out.setdefault(key.lower(), value)
    return out


@functools.lru_cache(maxsize=64)  # pure; clients repeat one header, decoding it costs more than the lookup
def basic_auth_user(value: str | None) -> str | None:
    """The username of an ``Authorization: Basic`` header (the write key), if any.

    A key encoded without the trailing colon is tolerated, as Segment does (D-HTTP).
    """
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip() + "==", validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user = decoded.split(":", 1)[0]
    return user or None


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header: Customer.io's CDP libraries send their
    write key so, and nothing else (docs/protocol.md §2)."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def mask_headers(headers: Headers) -> list[list[str]]:
    """Headers in arrival order with credentials masked (the scheme stays readable)."""
    masked: list[list[str]] = []
    for key, value in headers:
        if key.lower() in MASKED_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value and key.lower() != "cookie" else ""
            value = f"{scheme} ••••••".strip()
        masked.append(
            [storable_text(key), storable_text(value)]
        )  # storable even if a shell handed over lone surrogates
    return masked


def cors_headers(request_headers: Headers | dict[str, str], *, preflight: bool) -> tuple[tuple[str, str], ...]:
    """CORS headers for an ingest route (docs/protocol.md §1.4): echo the origin and asked headers."""
    origin = header(request_headers, "origin")
    if origin is None:
        return ()
    out = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", "Retry-After, X-RateLimit-Reset"),
        ("Vary", "Origin"),
    ]
    if preflight:
        asked = header(request_headers, "access-control-request-headers")
        out += [
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Allow-Headers", asked or "authorization, content-type, x-retry-count"),
            ("Access-Control-Max-Age", "7200"),
        ]
        if (header(request_headers, "access-control-request-private-network") or "").lower() == "true":
            out.append(("Access-Control-Allow-Private-Network", "true"))
    return tuple(out)


#: Headers that describe one connection, not the request (RFC 9110, "Connection"), and those the sender
#: sets itself for the new connection (``Host``, ``Content-Length``): never forwarded as they came.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
