"""JavaScript: analytics.js (browser, positional arguments) and analytics-node (one object)."""

from __future__ import annotations

import re
from typing import Any

from debugger.core.pretty.dialects.call import Call
from debugger.core.pretty.dialects.literal import DictStyle, Syntax, call, comment, quote

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _key(name: str) -> str:
    return f"{name}: " if _IDENTIFIER.match(name) else f"{quote(name)}: "


SYNTAX = Syntax(
    string=quote,
    null="null",
    true="true",
    false="false",
    dict_style=lambda _: DictStyle("{", "}", _key),
    list_open="[",
    list_close="]",
    empty_dict="{}",
    empty_list="[]",
    compact_padding=True,
    call_trailing_comma=True,
    hug_last=True,
)


def browser(c: Call) -> str:
    """analytics.js: ``analytics.track("Event", {properties}, {options})``.

    The ids are implicit in the browser (set by identify and by the library), so they are
    named in a comment above the call; ``context``/``integrations`` go in the options.
    """
    options: dict[str, Any] = {}
    if c.context:
        options["context"] = c.context
    if c.integrations is not None:
        options["integrations"] = c.integrations
    # (value, is an object slot): a missing object before the options becomes ``{}``.
    args: list[tuple[Any, bool]]
    implicit: list[tuple[str, str | None]] = [("anonymousId", c.anonymous_id)]
    if c.type == "track":
        args = [(c.event, False), (c.properties, True)]
        implicit.insert(0, ("userId", c.user_id))
    elif c.type == "identify":
        args = [(c.user_id, False), (c.traits, True)] if c.user_id is not None else [(c.traits, True)]
    elif c.type in ("page", "screen"):
        args = [(x, False) for x in (c.category, c.name) if x is not None] + [(c.properties, True)]
        implicit.insert(0, ("userId", c.user_id))
    elif c.type == "group":
        args = [(c.group_id, False), (c.traits, True)]
        implicit.insert(0, ("userId", c.user_id))
    else:  # alias(userId, previousId)
        args = [(c.user_id, False), (c.previous_id, False)]
        implicit = []
    if not options:
        while args and args[-1][0] is None:
            args.pop()
    values = [{} if value is None and is_object else value for value, is_object in args]
    if options:
        values.append(options)
    head = comment("//", implicit, SYNTAX)
    return head + call(f"analytics.{c.type}", [("", v) for v in values], SYNTAX, end=";")


def node(c: Call) -> str:
    """Classic analytics-node: ``analytics.track({ userId, event, ... })``."""
    return _node(c, alias_anonymous=True)


def node_next(c: Call) -> str:
    """@segment/analytics-node: as classic analytics-node, but its ``alias()`` drops an
    ``anonymousId`` without a word, so one that was sent (analytics.js sends one) is named in a
    comment above the call instead of written where it would be lost."""
    if c.type == "alias" and c.anonymous_id is not None:
        note = comment("//", [("anonymousId", c.anonymous_id)], SYNTAX)
        return note.rstrip("\n") + " was sent too; alias() has no field for it\n" + _node(c, alias_anonymous=False)
    return _node(c, alias_anonymous=True)


def _node(c: Call, *, alias_anonymous: bool) -> str:
    fields: dict[str, Any] = {}
    if c.user_id is not None:
        fields["userId"] = c.user_id
    if c.anonymous_id is not None and (alias_anonymous or c.type != "alias"):
        fields["anonymousId"] = c.anonymous_id
    if c.type == "track":
        fields["event"] = c.event
        _put(fields, "properties", c.properties)
    elif c.type == "identify":
        _put(fields, "traits", c.traits)
    elif c.type in ("page", "screen"):
        _put(fields, "category", c.category)
        _put(fields, "name", c.name)
        _put(fields, "properties", c.properties)
    elif c.type == "group":
        fields["groupId"] = c.group_id
        _put(fields, "traits", c.traits)
    else:
        fields["previousId"] = c.previous_id
    if c.context:
        fields["context"] = c.context
    _put(fields, "integrations", c.integrations)
    return call(f"analytics.{c.type}", [("", fields)], SYNTAX, end=";")


def _put(fields: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        fields[key] = value
