"""Pure formatting of events for people: list labels, status marks, inert text, and the
Pretty view (the call as the sending library would have written it).

Payload text is untrusted: :func:`inert` makes control characters, ANSI/OSC escapes and bidi
overrides visible instead of passing them to a terminal, and bounds the length. The Pretty
dialects escape such characters in each language's own string syntax, so the code they
return is valid *and* inert.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from debugger.core.http.routes import DEFAULT_URL
from debugger.core.pretty.dialects import curl, js, mobile, php, python, ruby, typed
from debugger.core.pretty.dialects.call import Call, from_message
from debugger.core.protocol import json_object

# C0/C1 controls (ESC starts ANSI/OSC sequences), DEL, the Unicode bidi/isolate overrides, line
# and paragraph separators (line breaks to some terminals and editors), and invisible
# characters that make two names look the same: zero-width space, word joiner, BOM,
# interlinear annotations and the tag characters ("ASCII smuggling").
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
    "\u2028\u2029\u200b\u2060\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)

STATUS_MARK = {"ok": "✓", "invalid": "✗", "duplicate": "⧉", "rejected": "✗"}


def inert(text: object, limit: int = 200) -> str:
    """``text`` safe to print: controls shown as ``\\xNN``/``\\uNNNN``, at most ``limit`` chars."""
    value = text if isinstance(text, str) else "" if text is None else str(text)
    if len(value) > limit * 4:
        value = value[: limit * 4]
    value = _UNSAFE.sub(lambda m: _escape(m.group()), value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def event_label(event: Mapping[str, Any]) -> str:
    """The list label Segment's debugger shows: event or page name, or ``userId (email)``."""
    stored = json_object(event.get("stored"))
    kind = event.get("type")
    if kind in ("track", "page", "screen") and event.get("name"):
        return str(event["name"])
    if kind == "identify":
        traits = stored.get("traits") if isinstance(stored.get("traits"), dict) else None
        if traits is None:  # rudder-sdk-python puts identify traits in context.traits
            context = json_object(stored.get("context"))
            traits = json_object(context.get("traits"))
        who = event.get("user_id") or event.get("anonymous_id") or ""
        email = traits.get("email")
        return f"{who} ({email})" if isinstance(email, str) and email else str(who)
    if kind == "group":
        return str(stored.get("groupId") or "")
    if kind == "alias":
        return f"{stored.get('previousId', '')} → {event.get('user_id') or ''}"
    refusal = rejection(event)
    if refusal is not None:  # a request refused whole: what it was sent to
        return f"{refusal.get('method') or ''} {refusal.get('path') or ''}".strip()
    return ""


def rejection(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A rejected row's refusal (``status``, ``code``, ``message``, ``method``, ``path``); ``None`` otherwise."""
    if event.get("status") != "rejected":
        return None
    return json_object(json_object(event.get("stored")).get("rejected"))


def event_kind(event: Mapping[str, Any]) -> str:
    """The type column: the message type, ``rejected`` for a request refused whole, ``?`` when there is none."""
    return str(event.get("type") or ("rejected" if event.get("status") == "rejected" else "?"))


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
    refusal = rejection(event)
    if refusal is not None and refusal.get("status"):
        return f"{mark} {refusal['status']} {first}{more}"
    return f"{mark} {first}{more}"


def enrichment(raw: object, stored: object, *, limit: int = 40) -> list[tuple[str, str]]:
    """What the server changed between the message as received and as stored (docs/protocol.md §4.3):
    ``("+", path)`` added, ``("~", path)`` changed, ``("-", path)`` removed, in key order, at most ``limit``.

    Objects are compared key by key (``context.ip`` rather than all of ``context``); anything else is
    compared whole. A ``raw`` that is not an object (a batch item that was not JSON) changed as a whole.
    """
    out: list[tuple[str, str]] = []

    def walk(before: object, after: object, path: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(before, dict) and isinstance(after, dict):
            for key in after:
                where = f"{path}.{key}" if path else str(key)
                if key not in before:
                    out.append(("+", where))
                else:
                    walk(before[key], after[key], where)
                if len(out) >= limit:
                    return
            out.extend(("-", f"{path}.{key}" if path else str(key)) for key in before if key not in after)
        elif before != after:
            out.append(("~", path or "(message)"))

    walk(raw, stored, "")
    return out[:limit]


def inert_lines(text: str, line_limit: int = 2000) -> str:
    """Multi-line text safe to print: newlines kept, every other control shown as an escape,
    each line bounded to ``line_limit`` characters."""
    return "\n".join(inert(line, line_limit) for line in text.split("\n"))


# ---------------------------------------------------------------------------------------------
# Pretty: the call in the sender's dialect.

CURL = "curl"
#: Every dialect, in the order the manual switch offers them.
DIALECTS: tuple[str, ...] = (
    "analytics.js",
    "@segment/analytics-node",
    "analytics-node",
    "analytics-python",
    "analytics-ruby",
    "analytics-go",
    "analytics-swift",
    "analytics-kotlin",
    "analytics-php",
    "analytics-java",
    CURL,
)
#: ``context.library.name`` values that map to a dialect with another name.
LIBRARY_DIALECT = {
    "analytics-next": "analytics.js",
    "analytics-react-native": "analytics.js",
    "analytics-node-next": "@segment/analytics-node",
    "analytics-ios": "analytics-swift",
    "analytics-android": "analytics-kotlin",
}
#: The pygments lexer name for each dialect (the TUI highlights with it).
LEXER = {
    "analytics.js": "javascript",
    "@segment/analytics-node": "javascript",
    "analytics-node": "javascript",
    "analytics-python": "python",
    "analytics-ruby": "ruby",
    "analytics-go": "go",
    "analytics-swift": "swift",
    "analytics-kotlin": "kotlin",
    "analytics-php": "php",
    "analytics-java": "java",
    CURL: "bash",
}

_RENDER: dict[str, Callable[[Call], str]] = {
    "analytics.js": js.browser,
    "@segment/analytics-node": js.node_next,
    "analytics-node": js.node,
    "analytics-python": python.render,
    "analytics-ruby": ruby.render,
    "analytics-go": typed.go,
    "analytics-swift": mobile.swift,
    "analytics-kotlin": mobile.kotlin,
    "analytics-php": php.render,
    "analytics-java": typed.java,
}


def dialect_for(library_name: object) -> str:
    """The dialect of the library that sent an event: its own, analytics.js for an unknown
    library, and curl when no library named itself (raw HTTP)."""
    if not isinstance(library_name, str) or not library_name:
        return CURL
    name = LIBRARY_DIALECT.get(library_name, library_name)
    return name if name in DIALECTS else "analytics.js"


def render_call(event: Mapping[str, Any], dialect: str | None = None, *, base_url: str = DEFAULT_URL) -> str:
    """The event as a call in ``dialect`` (default: the sender's own).

    Args:
        event: an event as :func:`debugger.store.reads.from_row` returns it (``stored``, ``raw``,
            ``write_key``, ``library_name``).
        dialect: one of :data:`DIALECTS`.
        base_url: where the curl dialect sends.

    A message that is not one of the six calls is shown as curl in every dialect: there is
    no library call to show, only the request.
    """
    chosen = dialect or dialect_for(event.get("library_name"))
    stored = json_object(event.get("stored"))
    raw, key = event.get("raw"), event.get("write_key")
    if chosen == CURL:
        return curl.render(stored, raw, key, base_url)
    call = from_message(stored, browser=chosen == "analytics.js")
    if not call.known:
        note = f"# {inert(stored.get('type') if stored else None, 40) or 'no type'}: not one of the six calls; the raw request:"
        return note + "\n" + curl.render(stored, raw, key, base_url)
    try:
        return _RENDER[chosen](call)
    except RecursionError:
        return f"# nested too deeply to show as {chosen}; the raw request:\n" + curl.render(stored, raw, key, base_url)


def lexer_for(dialect: str) -> str:
    """The pygments lexer for a dialect's output."""
    return LEXER.get(dialect, "text")
