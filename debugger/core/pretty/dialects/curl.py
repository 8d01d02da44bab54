"""The raw HTTP request as a curl command that reproduces the stored event when sent again."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from debugger.core.protocol import ORIGINAL_TIMESTAMP, RECEIVED_AT, TIMESTAMP, TYPE, TYPES

# Characters orjson leaves raw that must not reach a terminal (C1 controls, DEL, bidi overrides).
_RAW_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def message_body(stored: Mapping[str, Any], raw: Any = None) -> dict[str, Any]:
    """The message to send so the server stores ``stored`` again.

    Server-added fields go (``receivedAt``, the skew-corrected ``timestamp``); the client's
    own time goes back in ``timestamp``, verbatim from ``raw`` when it is there (the stored
    ``originalTimestamp`` is rounded to milliseconds). ``sentAt`` stays, so the skew
    correction is redone against the new receive time.
    """
    body = {k: v for k, v in stored.items() if k not in (RECEIVED_AT, TIMESTAMP, ORIGINAL_TIMESTAMP)}
    sent = raw if isinstance(raw, Mapping) else {}
    original = next(
        (sent[k] for k in (TIMESTAMP, ORIGINAL_TIMESTAMP) if sent.get(k) is not None), stored.get(ORIGINAL_TIMESTAMP)
    )
    if original is not None:
        body[TIMESTAMP] = original
    return body


def json_text(value: Any, *, indent: bool = False) -> str:
    """JSON (compact, or indented by two spaces) with every unsafe character written as a ``\\uXXXX`` escape."""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else None).decode()
    return _RAW_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def shell_quote(text: str) -> str:
    """Single-quote for POSIX shells (a ``'`` becomes ``'\\''``)."""
    return "'" + text.replace("'", "'\\''") + "'"


def render(stored: Mapping[str, Any] | None, raw: Any, write_key: str | None, base_url: str) -> str:
    """``curl`` posting the message to ``base_url``: ``/v1/<type>``, or ``/v1/batch`` for a
    message that is not one of the six types (so the server sees it exactly as a batch item).
    The body is indented JSON, one value per line, so a reader sees all of it."""
    kind = stored.get(TYPE) if stored else None
    if stored and kind in TYPES:
        path, body = f"/v1/{kind}", json_text(message_body(stored, raw), indent=True)
    else:
        item = message_body(stored, raw) if stored else raw
        path, body = "/v1/batch", json_text({"batch": [item]}, indent=True)
    lines = [f"curl {shell_quote(base_url.rstrip('/') + path)}"]
    if write_key:
        lines.append(f"-u {shell_quote(write_key + ':')}")
    lines += ["-H 'Content-Type: application/json'", f"--data-raw {shell_quote(body)}"]
    return " \\\n  ".join(lines)
