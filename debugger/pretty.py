"""Pure formatting of events for people: list labels, status marks, and inert text.

Payload text is untrusted: :func:`inert` makes control characters, ANSI/OSC escapes and bidi
overrides visible instead of passing them to a terminal, and bounds the length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# C0/C1 controls (ESC starts ANSI/OSC sequences), DEL, and the Unicode bidi/isolate overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")

STATUS_MARK = {"ok": "✓", "invalid": "✗", "duplicate": "⧉"}


def inert(text: object, limit: int = 200) -> str:
    """``text`` safe to print: controls shown as ``\\xNN``/``\\uNNNN``, at most ``limit`` chars."""
    value = text if isinstance(text, str) else "" if text is None else str(text)
    if len(value) > limit * 4:
        value = value[: limit * 4]
    value = _UNSAFE.sub(lambda m: _escape(m.group()), value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def event_label(event: Mapping[str, Any]) -> str:
    """The list label Segment's debugger shows: event or page name, or ``userId (email)``."""
    stored = event.get("stored") if isinstance(event.get("stored"), dict) else {}
    kind = event.get("type")
    if kind in ("track", "page", "screen") and event.get("name"):
        return str(event["name"])
    if kind == "identify":
        traits = stored.get("traits") if isinstance(stored.get("traits"), dict) else None
        if traits is None:  # rudder-sdk-python puts identify traits in context.traits
            context = stored.get("context") if isinstance(stored.get("context"), dict) else {}
            traits = context.get("traits") if isinstance(context.get("traits"), dict) else {}
        who = event.get("user_id") or event.get("anonymous_id") or ""
        email = traits.get("email")
        return f"{who} ({email})" if isinstance(email, str) and email else str(who)
    if kind == "group":
        return str(stored.get("groupId") or "")
    if kind == "alias":
        return f"{stored.get('previousId', '')} → {event.get('user_id') or ''}"
    return ""


def event_user(event: Mapping[str, Any]) -> str:
    """userId, else anonymousId."""
    return str(event.get("user_id") or event.get("anonymous_id") or "")


def status_text(event: Mapping[str, Any]) -> str:
    """A mark and, when there are problems, their count and first code: ``✗ no_user_anon_id``."""
    status = str(event.get("status", ""))
    problems = event.get("problems") or []
    mark = STATUS_MARK.get(status, "?")
    if status == "ok" and problems:
        mark = "⚠"
    if not problems:
        return mark
    first = problems[0].get("code", "") if isinstance(problems[0], Mapping) else ""
    more = f" +{len(problems) - 1}" if len(problems) > 1 else ""
    return f"{mark} {first}{more}"
