"""The mobile libraries: analytics-swift (and analytics-ios), analytics-kotlin (and analytics-android).

On a device the userId comes from an earlier ``identify`` and the anonymousId from the
library, so they are named in a comment above the call. The mobile APIs have no ``page``;
a page message is shown as the closest call, ``screen``.
"""

from __future__ import annotations

from typing import Any

from debugger.core.pretty.dialects.call import Call
from debugger.core.pretty.dialects.literal import WIDTH, DictStyle, Syntax, braced_unicode, call, comment, quote


def _swift_string(text: str) -> str:
    return quote(text, unicode=braced_unicode)


SWIFT = Syntax(
    string=_swift_string,
    null="NSNull()",  # a [String: Any] literal cannot hold nil
    true="true",
    false="false",
    dict_style=lambda _: DictStyle("[", "]", lambda k: f"{_swift_string(k)}: "),
    list_open="[",
    list_close="]",
    empty_dict="[:]",
    empty_list="[]",
    step=4,
)


def _implicit(c: Call, prefix: str, syntax: Syntax) -> str:
    ids: list[tuple[str, str | None]] = [("anonymousId", c.anonymous_id)]
    if c.type not in ("identify", "alias"):
        ids.insert(0, ("userId", c.user_id))
    note = comment(prefix, ids, syntax)
    if c.type == "page":
        note += f"{prefix} the mobile libraries have no page call; this page message as a screen call\n"
    return note


def swift(c: Call) -> str:
    """``analytics.track(name: "Signed Up", properties: [...])``."""
    args: list[tuple[str, Any]]
    if c.type == "track":
        args = [("name: ", c.event), ("properties: ", c.properties)]
    elif c.type == "identify":
        args = [("userId: ", c.user_id), ("traits: ", c.traits)]
    elif c.type in ("page", "screen"):
        args = [("title: ", c.name), ("category: ", c.category), ("properties: ", c.properties)]
    elif c.type == "group":
        args = [("groupId: ", c.group_id), ("traits: ", c.traits)]
    else:
        args = [("newId: ", c.user_id)]
    kept = [(p, v) for i, (p, v) in enumerate(args) if v is not None or i == 0]
    method = "screen" if c.type == "page" else c.type
    return _implicit(c, "//", SWIFT) + call(f"analytics.{method}", kept, SWIFT)


def _kotlin_string(text: str) -> str:
    return quote(text, extra="$")  # "$" starts a template in a Kotlin string


KOTLIN = Syntax(
    string=_kotlin_string,
    null="null",
    true="true",
    false="false",
    dict_style=lambda _: DictStyle("{", "}", lambda k: k),
    list_open="[",
    list_close="]",
    empty_dict="emptyJsonObject()",
    empty_list="[]",
    step=4,
)


def kotlin(c: Call) -> str:
    """``analytics.track("Signed Up", buildJsonObject { put("plan", "pro") })``."""
    args: list[tuple[str, Any]]
    if c.type == "track":
        args = [("name = ", c.event), ("properties = ", c.properties)]
    elif c.type == "identify":
        args = [("userId = ", c.user_id), ("traits = ", c.traits)]
    elif c.type in ("page", "screen"):
        args = [("title = ", c.name), ("category = ", c.category), ("properties = ", c.properties)]
    elif c.type == "group":
        args = [("groupId = ", c.group_id), ("traits = ", c.traits)]
    else:
        args = [("newId = ", c.user_id)]
    kept = [(p, v) for i, (p, v) in enumerate(args) if v is not None or i == 0]
    method = "screen" if c.type == "page" else c.type
    head = _implicit(c, "//", KOTLIN) + f"analytics.{method}("
    if all(not isinstance(v, dict) for _, v in kept):
        inline = ", ".join(p + _kotlin_scalar(v) for p, v in kept)
        if len(head) + len(inline) < WIDTH:
            return f"{head}{inline})"
    lines = [f"    {p}{_json_object(v, 4) if isinstance(v, dict) else _kotlin_scalar(v)}" for p, v in kept]
    return head + "\n" + ",\n".join(lines) + ",\n)"


def _kotlin_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _kotlin_string(value)
    return _kotlin_string(str(value))


def _json_object(value: dict[str, Any], indent: int) -> str:
    """A kotlinx.serialization ``buildJsonObject { ... }`` block."""
    if not value:
        return "buildJsonObject {}"
    return "buildJsonObject {\n" + _object_body(value, indent + 4) + " " * indent + "}"


def _object_body(value: dict[str, Any], indent: int) -> str:
    pad = " " * indent
    out: list[str] = []
    for key, member in value.items():
        name = _kotlin_string(str(key))
        if isinstance(member, dict):
            out.append(f"{pad}putJsonObject({name}) {{\n{_object_body(member, indent + 4)}{pad}}}\n")
        elif isinstance(member, list):
            out.append(f"{pad}putJsonArray({name}) {{\n{_array_body(member, indent + 4)}{pad}}}\n")
        else:
            out.append(f"{pad}put({name}, {_json_scalar(member)})\n")
    return "".join(out)


def _array_body(values: list[Any], indent: int) -> str:
    pad = " " * indent
    out: list[str] = []
    for member in values:
        if isinstance(member, dict):
            out.append(f"{pad}addJsonObject {{\n{_object_body(member, indent + 4)}{pad}}}\n")
        elif isinstance(member, list):
            out.append(f"{pad}addJsonArray {{\n{_array_body(member, indent + 4)}{pad}}}\n")
        else:
            out.append(f"{pad}add({_json_scalar(member)})\n")
    return "".join(out)


def _json_scalar(value: Any) -> str:
    return "JsonNull" if value is None else _kotlin_scalar(value)
