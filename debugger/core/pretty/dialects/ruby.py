"""analytics-ruby: ``Analytics.track(user_id: "u1", event: "Signed Up", properties: {...})``."""

from __future__ import annotations

import re

from debugger.core.pretty.dialects.call import Call, keyword_args
from debugger.core.pretty.dialects.literal import DictStyle, Syntax, call, quote

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


def render(c: Call) -> str:
    """Keyword arguments, as analytics-ruby takes them."""
    return call(f"Analytics.{c.type}", keyword_args(c, ": "), SYNTAX)
