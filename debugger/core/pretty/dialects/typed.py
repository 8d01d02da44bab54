"""The statically typed server libraries: analytics-go (struct literals) and analytics-java (builders)."""

from __future__ import annotations

from typing import Any

from debugger.core.pretty.dialects.call import Call
from debugger.core.pretty.dialects.literal import DictStyle, Syntax, quote, write

_INT32 = 2**31


def _go_number(value: float) -> str:
    return repr(value)


GO = Syntax(
    string=quote,
    null="nil",
    true="true",
    false="false",
    dict_style=lambda _: DictStyle("map[string]interface{}{", "}", lambda k: f"{quote(k)}: "),
    list_open="[]interface{}{",
    list_close="}",
    empty_dict="map[string]interface{}{}",
    empty_list="[]interface{}{}",
    number=_go_number,
    trailing_comma=True,  # Go requires a comma before a newline that closes a literal
    step=4,
)

_GO_STRUCT = {
    "track": "Track",
    "identify": "Identify",
    "page": "Page",
    "screen": "Screen",
    "group": "Group",
    "alias": "Alias",
}


def go(c: Call) -> str:
    """``client.Enqueue(analytics.Track{UserId: "u1", Event: "Signed Up", Properties: ...})``."""
    fields: list[tuple[str, Any, DictStyle | None]] = []

    def add(name: str, value: Any, top: DictStyle | None = None, *, required: bool = False) -> None:
        if value is not None or required:
            fields.append((name, value, top))

    def typed(kind: str) -> DictStyle:
        return DictStyle(f"analytics.{kind}{{", "}", lambda k: f"{quote(k)}: ")

    add("UserId", c.user_id)
    add("AnonymousId", c.anonymous_id)
    if c.type == "track":
        add("Event", c.event, required=True)
        add("Properties", c.properties, typed("Properties"))
    elif c.type == "identify":
        add("Traits", c.traits, typed("Traits"))
    elif c.type in ("page", "screen"):
        add("Name", c.name)
        properties = dict(c.properties or {})
        if c.category is not None:  # analytics-go has no Category field; it travels in properties
            properties.setdefault("category", c.category)
        add("Properties", properties or None, typed("Properties"))
    elif c.type == "group":
        add("GroupId", c.group_id, required=True)
        add("Traits", c.traits, typed("Traits"))
    else:
        add("PreviousId", c.previous_id, required=True)
    if c.context:
        add("Context", {"Extra": c.context}, DictStyle("&analytics.Context{", "}", lambda k: f"{k}: "))
    add("Integrations", c.integrations, typed("Integrations"))
    lines = [f"    {name}: {write(value, GO, 4, 6 + len(name), top=top)}," for name, value, top in fields]
    return f"client.Enqueue(analytics.{_GO_STRUCT[c.type or 'track']}{{\n" + "\n".join(lines) + "\n})"


def _java_number(value: float) -> str:
    if isinstance(value, int) and not -_INT32 <= value < _INT32:
        return f"{value}L"
    return repr(value)


def _java_dict(value: dict[str, Any]) -> DictStyle:
    if len(value) <= 10:  # Map.of takes at most ten pairs
        return DictStyle("Map.of(", ")", lambda k: f"{quote(k)}, ")
    return DictStyle("Map.ofEntries(", ")", lambda k: f"Map.entry({quote(k)}, ", ")")


JAVA = Syntax(
    string=quote,
    null="null",
    true="true",
    false="false",
    dict_style=_java_dict,
    list_open="List.of(",
    list_close=")",
    empty_dict="Map.of()",
    empty_list="List.of()",
    number=_java_number,
    step=4,
)

_JAVA_BUILDER = {
    "track": ("TrackMessage", "event"),
    "identify": ("IdentifyMessage", None),
    "page": ("PageMessage", "name"),
    "screen": ("ScreenMessage", "name"),
    "group": ("GroupMessage", "group_id"),
    "alias": ("AliasMessage", "previous_id"),
}


def java(c: Call) -> str:
    """``analytics.enqueue(TrackMessage.builder("Signed Up").userId("u1").properties(Map.of(...)));``."""
    builder, argument = _JAVA_BUILDER[c.type or "track"]
    head = f"{builder}.builder({write(getattr(c, argument), JAVA) if argument else ''})"
    steps: list[str] = []
    for method, value in (
        ("userId", c.user_id),
        ("anonymousId", c.anonymous_id),
        ("properties", c.properties),
        ("traits", c.traits),
        ("context", c.context or None),
    ):
        if value is not None:
            steps.append(f".{method}({write(value, JAVA, 8, 9 + len(method))})")
    for name, setting in (c.integrations or {}).items():
        if isinstance(setting, bool):
            steps.append(f".enableIntegration({quote(str(name))}, {'true' if setting else 'false'})")
        else:
            steps.append(f".integrationOptions({quote(str(name))}, {write(setting, JAVA, 8, 29 + len(name))})")
    return "analytics.enqueue(" + head + "".join(f"\n        {s}" for s in steps) + ");"
