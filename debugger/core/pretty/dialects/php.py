"""analytics-php: ``Segment::track(["userId" => "u1", "event" => "Signed Up", ...]);``."""

from __future__ import annotations

from typing import Any

from debugger.core.pretty.dialects.call import Call
from debugger.core.pretty.dialects.literal import DictStyle, Syntax, braced_unicode, call, quote


def _string(text: str) -> str:
    # "$" interpolates in a double-quoted PHP string; \u{...} is PHP 7's code point escape.
    return quote(text, unicode=braced_unicode, extra="$")


SYNTAX = Syntax(
    string=_string,
    null="null",
    true="true",
    false="false",
    dict_style=lambda _: DictStyle("[", "]", lambda k: f"{_string(k)} => "),
    list_open="[",
    list_close="]",
    empty_dict="[]",
    empty_list="[]",
    step=4,
    call_trailing_comma=True,
    hug_last=True,
)


def render(c: Call) -> str:
    """One array argument with the message's own (camelCase) keys."""
    message: dict[str, Any] = {}
    for key, value in (
        ("userId", c.user_id),
        ("anonymousId", c.anonymous_id),
        ("event", c.event),
        ("groupId", c.group_id),
        ("previousId", c.previous_id),
        ("category", c.category),
        ("name", c.name),
        ("properties", c.properties),
        ("traits", c.traits),
    ):
        required = (c.type, key) in (("track", "event"), ("group", "groupId"), ("alias", "previousId"))
        if value is not None or required:
            message[key] = value
    if c.context:
        message["context"] = c.context
    if c.integrations is not None:
        message["integrations"] = c.integrations
    return call(f"Segment::{c.type}", [("", message)], SYNTAX, end=";")
