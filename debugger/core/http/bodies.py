"""Pure decoding of a request body (docs/protocol.md §1.4, §3): ``Content-Encoding`` undone without
letting a bomb grow, JSON parsed as Segment's decoder would (bad UTF-8 repaired, not refused),
and messages serialized back for storage. Every refusal is a :class:`RequestError`, answered
with Segment's error body. No I/O.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import orjson


class RequestError(Exception):
    """A request-level rejection: answered 400 with Segment's error body."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding``; never produce more than ``limit + 1`` bytes (bombs stay small).

    Raises:
        RequestError: the encoding is unknown or the data is not valid for it.
    """
    tokens = [t.strip().lower() for t in (encoding or "").split(",") if t.strip()]
    data = body
    for token in reversed(tokens):
        if token == "identity":
            continue
        if token not in ("gzip", "x-gzip", "deflate"):
            raise RequestError("invalid_encoding", f"Unsupported Content-Encoding {quoted(token)}; use gzip.")
        data = _inflate_members(data, token, limit)
    return data


def _inflate_members(data: bytes, token: str, limit: int) -> bytes:
    """Inflate every gzip member (or one zlib stream), stopping at ``limit + 1`` bytes."""
    out = bytearray()
    remaining = data
    while remaining and len(out) <= limit:
        decoder = zlib.decompressobj(47)  # 32 + 15: accept a gzip or a zlib header
        try:
            out += decoder.decompress(remaining, limit + 1 - len(out))
        except zlib.error as exc:
            raise RequestError("invalid_encoding", f"The body is not valid {token} data ({exc}).") from exc
        if len(out) > limit:
            break
        if not decoder.eof:
            raise RequestError("invalid_encoding", f"The {token} body is truncated.")
        remaining = decoder.unused_data
    return bytes(out)


def decode_json(data: bytes) -> Any:
    """Parse a JSON body, with Segment's error for anything that is not JSON."""
    document, _ = decode_json_lenient(data)
    return document


def decode_json_lenient(data: bytes) -> tuple[Any, bool]:
    """Parse JSON; bad UTF-8 bytes and lone surrogate escapes become U+FFFD, as Segment's Go
    decoder does, instead of failing the request. Returns ``(document, repaired)``.

    Raises:
        RequestError: the body is not JSON (also NaN/Infinity, which JSON does not have).
    """
    try:
        return orjson.loads(data), False
    except orjson.JSONDecodeError as exc:
        detail = str(exc).split(":", 1)[0] if str(exc) else "invalid JSON"
        error = RequestError("invalid_json", f"Invalid JSON: {detail}.")
        if "surrogate" not in str(exc) and "UTF-8" not in str(exc):
            raise error from exc
    try:
        document = json.loads(
            data.decode("utf-8", "replace"), parse_constant=_reject_constant, parse_int=_int, parse_float=_float
        )
        return _scrub(document), True
    except (ValueError, RecursionError) as exc:
        raise error from exc


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# The lenient parse reads numbers as orjson does, so both paths store the same values (and
# orjson can write them back): integers beyond 64 bits become floats, infinite ones are an error.
def _int(text: str) -> int | float:
    value = int(text)
    return value if -(2**63) <= value < 2**64 else _float(text)


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number is infinity when parsed as double")
    return value


def _scrub(value: Any) -> Any:
    """Replace lone surrogates (which cannot be stored as UTF-8) with U+FFFD, recursively."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def serialize(message: object) -> bytes:
    """A message as JSON bytes; JSON nested too deep to store is a request-level error.

    orjson reads up to 1,024 levels but writes only 254, so a body between the two parses and
    then could not be stored: it is rejected with its body kept, never a 500.
    """
    try:
        return orjson.dumps(message)
    except orjson.JSONEncodeError as exc:
        raise RequestError("invalid_json", f"The JSON is nested too deeply to store ({exc}).") from exc


def storable_text(value: str) -> str:
    """Text that can be stored as UTF-8: lone surrogates (bytes a shell could not decode) become U+FFFD."""
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def quoted(value: object, limit: int = 80) -> str:
    """``repr`` of a client's value for an error message: escapes control characters, and is
    cut so a 32 KB write key or a 64 KB path does not come back whole in every answer."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[-1]
