"""What the developer wrote: a stored message minus what the library and the server added."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.protocol import (
    ANONYMOUS_ID,
    CONTEXT,
    EVENT,
    GROUP_ID,
    INTEGRATIONS,
    MESSAGE_ID,
    NAME,
    ORIGINAL_TIMESTAMP,
    PREVIOUS_ID,
    PROPERTIES,
    TRAITS,
    TYPE,
    TYPES,
    USER_ID,
)

#: Context keys the libraries (or the server) fill in themselves; a developer rarely writes them.
AUTO_CONTEXT = frozenset(
    {
        "library",
        "ip",
        "page",
        "userAgent",
        "userAgentData",
        "locale",
        "timezone",
        "app",
        "device",
        "os",
        "screen",
        "network",
        "instanceId",
    }
)
#: What analytics.js copies from ``context.page`` into a page call's properties.
PAGE_PROPERTIES = ("path", "referrer", "search", "title", "url")


@dataclass(frozen=True, slots=True)
class Call:
    """One library call, field by field; values are JSON values exactly as stored.

    ``type`` is ``None`` (or not one of the six) for a message that is not a Segment call.
    ``context`` holds only the keys a developer passes; ``integrations`` is ``None`` when it
    is the library default (empty or ``{"All": true}``).
    """

    type: str | None
    user_id: str | None = None
    anonymous_id: str | None = None
    event: Any = None
    name: Any = None
    category: Any = None
    group_id: Any = None
    previous_id: Any = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, Any] | None = None
    timestamp: str | None = None
    message_id: str | None = None

    @property
    def known(self) -> bool:
        """Whether the type is one of the six Segment calls."""
        return self.type in TYPES


def from_message(stored: Mapping[str, Any], *, browser: bool = False) -> Call:
    """The call behind a stored message.

    Args:
        stored: the message as stored (``events.stored``), or as received.
        browser: drop the page properties analytics.js fills in from ``context.page``.
    """
    kind = stored.get(TYPE)
    context = _object(stored.get(CONTEXT))
    traits = _object_or_none(stored.get(TRAITS))
    if kind == "identify" and traits is None and isinstance(context.get("traits"), dict):
        traits = dict(context["traits"])  # rudder-sdk-python sends identify traits in context.traits
    user_context = {k: v for k, v in context.items() if k not in AUTO_CONTEXT}
    if "traits" in user_context and user_context["traits"] == traits:
        del user_context["traits"]
    properties = _object_or_none(stored.get(PROPERTIES))
    if browser and kind == "page" and properties is not None:
        page = _object(context.get("page"))
        properties = {k: v for k, v in properties.items() if not (k in PAGE_PROPERTIES and page.get(k) == v)}
    integrations = _object_or_none(stored.get(INTEGRATIONS))
    if integrations is not None and (not integrations or integrations == {"All": True}):
        integrations = None
    return Call(
        type=kind if isinstance(kind, str) else None,
        user_id=_text(stored.get(USER_ID)),
        anonymous_id=_text(stored.get(ANONYMOUS_ID)),
        event=stored.get(EVENT),
        name=stored.get(NAME),
        category=stored.get("category"),
        group_id=stored.get(GROUP_ID),
        previous_id=stored.get(PREVIOUS_ID),
        properties=properties,
        traits=traits,
        context=user_context,
        integrations=integrations,
        timestamp=_text(stored.get(ORIGINAL_TIMESTAMP)),
        message_id=_text(stored.get(MESSAGE_ID)),
    )


def _object(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _object_or_none(value: object) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


#: The keyword arguments of ``analytics.<type>(...)`` in the server libraries that take them
#: (analytics-python, analytics-ruby), in the libraries' order.
KEYWORD_ARGS = {
    "track": ("user_id", "event", "properties"),
    "identify": ("user_id", "traits"),
    "page": ("user_id", "category", "name", "properties"),
    "screen": ("user_id", "category", "name", "properties"),
    "group": ("user_id", "group_id", "traits"),
    "alias": ("previous_id", "user_id"),
}
_REQUIRED = {"event", "group_id", "previous_id"}


def keyword_args(c: Call, separator: str) -> list[tuple[str, Any]]:
    """The call's keyword arguments as ``(name + separator, value)`` pairs: the type's own
    (the required ones even when missing), then anonymous_id, context and integrations."""
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
    args = [
        (f"{name}{separator}", values[name])
        for name in KEYWORD_ARGS[c.type or "track"]
        if values[name] is not None or name in _REQUIRED
    ]
    if c.anonymous_id is not None:
        args.append((f"anonymous_id{separator}", c.anonymous_id))
    if c.context:
        args.append((f"context{separator}", c.context))
    if c.integrations is not None:
        args.append((f"integrations{separator}", c.integrations))
    return args
