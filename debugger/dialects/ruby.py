"""analytics-ruby: ``Analytics.track(user_id: "u1", event: "Signed Up", properties: {...})``."""

from __future__ import annotations

import re
from typing import Any

from debugger.dialects.call import Call
from debugger.dialects.literal import DictStyle, Syntax, call, quote

_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _string(text: str) -> str:
    # "#" starts interpolation (#{...}, #@ivar, #$global) in a double-quoted Ruby string.
    return quote(text, extra="#")


def _key(name: str) -> str:
    return f"{name}: " if _SYMBOL.match(name) else f"{_string(name)} => "


SYNTAX = Syntax(
    string=_string,
    null="nil",
    true="true",
    false="false",
    dict_style=lambda _: DictStyle("{", "}", _key),
    list_open="[",
    list_close="]",
    empty_dict="{}",
    empty_list="[]",
    compact_padding=True,
)

_ARGS = {
    "track": ("user_id", "event", "properties"),
    "identify": ("user_id", "traits"),
    "page": ("user_id", "category", "name", "properties"),
    "screen": ("user_id", "category", "name", "properties"),
    "group": ("user_id", "group_id", "traits"),
    "alias": ("previous_id", "user_id"),
}
_REQUIRED = {"event", "group_id", "previous_id"}


def render(c: Call) -> str:
    """Keyword arguments, as analytics-ruby takes them."""
    values: dict[str, Any] = {
        "user_id": c.user_id,
        "event": c.event,
        "properties": c.properties,
        "traits": c.traits,
        "category": c.category,
        "name": c.name,
        "group_id": c.group_id,
        "previous_id": c.previous_id,
    }
    args = [(f"{name}: ", values[name]) for name in _ARGS[c.type or "track"] if values[name] is not None or name in _REQUIRED]
    if c.anonymous_id is not None:
        args.append(("anonymous_id: ", c.anonymous_id))
    if c.context:
        args.append(("context: ", c.context))
    if c.integrations is not None:
        args.append(("integrations: ", c.integrations))
    return call(f"Analytics.{c.type}", args, SYNTAX)
