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


#: analytics-python's ``alias()`` takes no ``anonymous_id`` (passing one raises ``TypeError``).
_ALIAS_ANONYMOUS = "anonymous_id="


def render(c: Call) -> str:
    """``analytics.track(user_id="u1", event="Signed Up", properties={...})``.

    An alias sent with an anonymousId (analytics.js does) has no such argument in this library:
    the call leaves it out, so it runs, and a comment above it says what was sent.
    """
    args = keyword_args(c, "=")
    if c.type != "alias" or c.anonymous_id is None:
        return call(f"analytics.{c.type}", args, SYNTAX)
    kept = [(name, value) for name, value in args if name != _ALIAS_ANONYMOUS]
    note = f"# anonymousId {quote(c.anonymous_id)} was sent too; alias() has no argument for it\n"
    return note + call(f"analytics.{c.type}", kept, SYNTAX)
