"""analytics-python (and rudder-sdk-python, which shares its name and API): keyword arguments."""

from __future__ import annotations

from debugger.core.pretty.dialects.call import Call, keyword_args
from debugger.core.pretty.dialects.literal import DictStyle, Syntax, call, quote

SYNTAX = Syntax(
    string=quote,
    null="None",
    true="True",
    false="False",
    dict_style=lambda _: DictStyle("{", "}", lambda k: f"{quote(k)}: "),
    list_open="[",
    list_close="]",
    empty_dict="{}",
    empty_list="[]",
    step=4,
    call_trailing_comma=True,
)


def render(c: Call) -> str:
    """``analytics.track(user_id="u1", event="Signed Up", properties={...})``."""
    return call(f"analytics.{c.type}", keyword_args(c, "="), SYNTAX)
