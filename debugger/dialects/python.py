"""analytics-python (and rudder-sdk-python, which shares its name and API): keyword arguments."""

from __future__ import annotations

from typing import Any

from debugger.dialects.call import Call
from debugger.dialects.literal import DictStyle, Syntax, call, quote

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

#: The keyword each Call field has in ``analytics.<type>(...)``, in the library's order.
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
    """``analytics.track(user_id="u1", event="Signed Up", properties={...})``."""
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
    args = [(f"{name}=", values[name]) for name in _ARGS[c.type or "track"] if values[name] is not None or name in _REQUIRED]
    if c.anonymous_id is not None:
        args.append(("anonymous_id=", c.anonymous_id))
    if c.context:
        args.append(("context=", c.context))
    if c.integrations is not None:
        args.append(("integrations=", c.integrations))
    return call(f"analytics.{c.type}", args, SYNTAX)
