"""Destinations and consent, explained: which destinations an event would reach, and why not (pure, no I/O).

A routing file (docs/routing.md) names the destinations of a source, each with its mode (``cloud``
or ``device``), the consent categories it is mapped to, and its destination filters in Segment's
shapes (``drop_event``, ``sample_event``, ``allow_properties``, ``block_properties``, each with an
FQL ``if``, evaluated by :mod:`debugger.core.query.fql`)::

    destinations:
      Amplitude:
        mode: cloud
        consent: [Analytics]
      Mixpanel:
        consent: [Analytics]
        filters:
          - title: strip pii
            if: type = 'identify' or type = 'track'
            actions:
              - type: block_properties
                fields: {properties: [email], traits: [email]}

:func:`route` judges one stored message for every destination, in this precedence:

1. the ``integrations`` object: ``"<Destination>": false``, or ``All: false`` without an explicit
   ``true`` (or settings object) for the destination;
2. consent: when the message carries ``context.consent.categoryPreferences``, every category the
   destination is mapped to must be ``true`` there (``false`` is off; a category it does not list
   is not consent). A message *without* categoryPreferences is not enforced: Segment lets events
   without the consent object flow to every destination;
3. the destination filters, in Segment's order (sample, drop, block fields, allow fields): the
   first sample or drop whose ``if`` holds and that drops the event is named;
4. for a delivered event, the fields the block/allow filters removed.

Every ``if`` is evaluated on the message as stored (before any field is removed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from debugger.core.documents import Yaml12Loader, load_text
from debugger.core.protocol import CONTEXT, INTEGRATIONS, MESSAGE_ID, PROPERTIES, TRAITS
from debugger.core.query import fql

CLOUD, DEVICE = "cloud", "device"
MODES = (CLOUD, DEVICE)
DROP, SAMPLE, ALLOW, BLOCK = "drop_event", "sample_event", "allow_properties", "block_properties"
#: The filter types, in the order Segment applies them.
FILTER_TYPES = (SAMPLE, DROP, BLOCK, ALLOW)
#: Other spellings of the filter types: Segment's Public API and Config API names.
FILTER_ALIASES = {
    "drop": DROP,
    "sample": SAMPLE,
    "allow_fields": ALLOW,
    "whitelist_fields": ALLOW,
    "drop_properties": BLOCK,
    "block_fields": BLOCK,
    "blacklist_fields": BLOCK,
}
#: The parts of a message a field filter may name (Segment's destination filters: these three).
FIELD_SECTIONS = (PROPERTIES, TRAITS, CONTEXT)
#: Where consent lives in a message.
CONSENT, CATEGORY_PREFERENCES = "consent", "categoryPreferences"
ALL = "All"
#: Why a destination does not get the event (``Verdict.reason``).
BY_INTEGRATIONS, BY_CONSENT, BY_FILTER = "integrations", "consent", "filter"
_DESTINATION_KEYS = frozenset({"mode", "consent", "filters", "description", "enabled"})
_FILTER_KEYS = frozenset(
    {"title", "name", "description", "if", "enabled", "actions", "type", "percent", "path", "fields"}
)
_ACTION_KEYS = frozenset({"type", "percent", "path", "fields"})

Place = tuple[str | int, ...]
FieldPath = tuple[str, ...]


class RoutingError(ValueError):
    """A routing file segdbg cannot use; the message says where (file, line, field) and why."""


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a filter does when its ``if`` holds."""

    type: str
    percent: float = 1.0  # sample_event: the share of events kept, 0..1
    path: FieldPath = (MESSAGE_ID,)  # sample_event: the field whose value decides, hashed
    fields: tuple[FieldPath, ...] = ()  # allow/block: ("properties", "email"), ...


@dataclass(frozen=True, slots=True)
class Filter:
    """A destination filter: a title, an FQL condition (``None``: every event) and its actions."""

    title: str
    condition: fql.Expr | None
    condition_text: str
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination of the source: its name (as the ``integrations`` object spells it), mode, consent, filters."""

    name: str
    mode: str = CLOUD
    consent: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True, slots=True)
class Routing:
    """The destinations of one routing file, in the file's order."""

    destinations: tuple[Destination, ...]
    source: str = "routing"


@dataclass(frozen=True, slots=True)
class Removal:
    """Fields one filter removed from a delivered event."""

    filter: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one destination would receive one event, and why not.

    Attributes:
        destination, mode: the destination.
        delivered: it would receive the event.
        reason: why not: ``integrations``, ``consent`` or ``filter`` (``None`` when delivered).
        detail: the reason in words (``consent category Analytics is off``).
        filter: the filter that dropped it (``reason == "filter"``).
        categories: the consent categories that are not on (``reason == "consent"``).
        removed: for a delivered event, the fields each filter removed.
    """

    destination: str
    mode: str
    delivered: bool
    reason: str | None = None
    detail: str = ""
    filter: str | None = None
    categories: tuple[str, ...] = ()
    removed: tuple[Removal, ...] = ()

    def sentence(self) -> str:
        """``Amplitude: blocked, consent category Analytics is off`` /
        ``Mixpanel: delivered (properties.email removed by filter "strip pii")``."""
        if not self.delivered:
            return f"{self.destination}: blocked, {self.detail}"
        if not self.removed:
            return f"{self.destination}: delivered"
        parts = [f"{', '.join(r.fields)} removed by filter {json.dumps(r.filter)}" for r in self.removed]
        return f"{self.destination}: delivered ({'; '.join(parts)})"

    def to_json(self) -> dict[str, Any]:
        """The JSON form (`segdbg route --format json`, the API)."""
        return {
            "destination": self.destination,
            "mode": self.mode,
            "delivered": self.delivered,
            "reason": self.reason,
            "detail": self.detail,
            "filter": self.filter,
            "categories": list(self.categories),
            "removed": [{"filter": r.filter, "fields": list(r.fields)} for r in self.removed],
            "text": self.sentence(),
        }


# ------------------------------------------------------------------------------------ judging
def route(routing: Routing, message: Any) -> list[Verdict]:
    """For each destination of ``routing``, whether ``message`` (an event as stored) would reach it, and why not."""
    document = message if isinstance(message, Mapping) else {}
    return [judge(d, document) for d in routing.destinations]


@dataclass(frozen=True, slots=True)
class DeliveredTo:
    """``expect --delivered-to NAME``: a condition on one message, that it would reach the destination ``name``."""

    routing: Routing
    name: str

    def __post_init__(self) -> None:
        if not any(d.name == self.name for d in self.routing.destinations):
            known = ", ".join(d.name for d in self.routing.destinations)
            raise RoutingError(f"{self.routing.source}: no destination {self.name!r}; it names {known}.")

    def verdict(self, message: Any) -> Verdict:
        """The destination's verdict on ``message``."""
        destination = next(d for d in self.routing.destinations if d.name == self.name)
        return judge(destination, message if isinstance(message, Mapping) else {})

    def holds(self, message: Any) -> bool:
        """Whether ``message`` would reach the destination."""
        return self.verdict(message).delivered


def judge(destination: Destination, message: Mapping[str, Any]) -> Verdict:
    """One destination's verdict on one message."""
    return received(destination, message)[0]


def received(destination: Destination, message: Mapping[str, Any]) -> tuple[Verdict, Any]:
    """One destination's verdict on one message, and what it would receive: the message without the
    fields its filters remove (a copy when any are; the message itself otherwise), ``None`` when not delivered."""
    name, mode = destination.name, destination.mode
    blocked = _integrations(name, message.get(INTEGRATIONS))
    if blocked is not None:
        return Verdict(name, mode, False, BY_INTEGRATIONS, blocked), None
    off, detail = _consent(destination.consent, message.get(CONTEXT))
    if off:
        return Verdict(name, mode, False, BY_CONSENT, detail, categories=off), None
    held = [f for f in destination.filters if f.condition is None or fql.matches(f.condition, message)]
    for kind in (SAMPLE, DROP):
        for f in held:
            for action in f.actions:
                if action.type == kind and not _kept(action, message):
                    return Verdict(name, mode, False, BY_FILTER, _dropped(f, action), filter=f.title), None
    removals: list[Removal] = []
    working: Any = message
    for kind in (BLOCK, ALLOW):
        for f in held:
            for action in f.actions:
                if action.type != kind:
                    continue
                gone = _blocked(action.fields, working) if kind == BLOCK else _not_allowed(action.fields, working)
                if gone:
                    working = _without(working, gone)
                    removals.append(Removal(f.title, tuple(".".join(p) for p in gone)))
    return Verdict(name, mode, True, removed=tuple(removals)), working


def _integrations(name: str, integrations: Any) -> str | None:
    if not isinstance(integrations, Mapping):
        return None
    own = integrations.get(name)
    if own is False:
        return f"integrations.{name} is false"
    if own is None and integrations.get(ALL) is False:
        return "integrations.All is false"
    return None


def _consent(categories: Sequence[str], context: Any) -> tuple[tuple[str, ...], str]:
    consent = context.get(CONSENT) if isinstance(context, Mapping) else None
    preferences = consent.get(CATEGORY_PREFERENCES) if isinstance(consent, Mapping) else None
    if not isinstance(preferences, Mapping) or not categories:
        return (), ""  # no consent object: Segment does not enforce consent on this event
    off = tuple(c for c in categories if preferences.get(c) is not True)
    if not off:
        return (), ""
    first = off[0]
    if first not in preferences:
        return off, f"consent category {first} is not in context.consent.categoryPreferences"
    return off, f"consent category {first} is off"


def _kept(action: Action, message: Mapping[str, Any]) -> bool:
    if action.type == DROP:
        return False
    return sample_fraction(fql.lookup(message, action.path)) < action.percent


def sample_fraction(value: Any) -> float:
    """Where ``value`` falls in [0, 1): a hash of its JSON, the same on every run (sampling keeps what falls below)."""
    digest = hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _dropped(f: Filter, action: Action) -> str:
    if action.type == DROP:
        return f"dropped by filter {json.dumps(f.title)}"
    share = f"{action.percent * 100:g}%"
    return f"sampled out by filter {json.dumps(f.title)} (keeps {share} by {'.'.join(action.path)})"


def _blocked(fields: tuple[FieldPath, ...], message: Any) -> list[FieldPath]:
    return [p for p in fields if _present(message, p)]


def _not_allowed(fields: tuple[FieldPath, ...], message: Any) -> list[FieldPath]:
    gone: list[FieldPath] = []
    for section in dict.fromkeys(p[0] for p in fields):
        allowed = [p[1:] for p in fields if p[0] == section]
        gone += [(section, *rest) for rest in _outside(message.get(section), allowed)]
    return gone


def _outside(value: Any, allowed: list[FieldPath]) -> list[FieldPath]:
    """The keys of ``value`` (recursively) that no allowed path keeps."""
    if not isinstance(value, Mapping) or () in allowed:
        return []
    out: list[FieldPath] = []
    for key, inner in value.items():
        below = [p[1:] for p in allowed if p and p[0] == key]
        if not below:
            out.append((str(key),))
        elif () not in below:
            out += [(str(key), *rest) for rest in _outside(inner, below)]
    return out


def _present(document: Any, path: FieldPath) -> bool:
    for part in path:
        if not isinstance(document, Mapping) or part not in document:
            return False
        document = document[part]
    return True


def _without(document: Any, paths: list[FieldPath]) -> Any:
    """A copy of ``document`` without ``paths`` (the message as stored is never changed)."""
    copy = orjson.loads(orjson.dumps(document))
    for path in paths:
        parent = copy
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return copy


# ------------------------------------------------------------------------------------ reading
def parse_text(text: str, source: str = "routing") -> Routing:
    """Read a routing file's JSON or YAML text; errors name ``source``, the line and the field:
    ``routing.yaml, line 9: destinations.Mixpanel.filters[0].actions[0].type: unknown filter type 'drop_evnt' ...``."""
    data = load_text(text, source, RoutingError)
    try:
        return _routing(data, source)
    except _Problem as exc:
        line = _line_of(text, exc.place)
        at = f", line {line}" if line is not None else ""
        where = f"{_place_text(exc.place)}: " if exc.place else ""
        raise RoutingError(f"{source}{at}: {where}{exc.message}") from None


class _Problem(Exception):
    def __init__(self, place: Place, message: str) -> None:
        super().__init__(message)
        self.place, self.message = place, message


def parse(data: object, source: str = "routing") -> Routing:
    """Read a decoded routing document (``{destinations: {Name: {...}}}``).

    Raises:
        RoutingError: what is wrong, and where (without a line: see :func:`parse_text`).
    """
    try:
        return _routing(data, source)
    except _Problem as exc:
        where = f"{_place_text(exc.place)}: " if exc.place else ""
        raise RoutingError(f"{source}: {where}{exc.message}") from None


def _routing(data: object, source: str) -> Routing:
    if not isinstance(data, Mapping) or "destinations" not in data:
        raise _Problem((), "a routing file is a mapping with a `destinations:` key (docs/routing.md).")
    unknown = sorted(str(k) for k in data if k not in ("destinations", "name", "description"))
    if unknown:
        raise _Problem((unknown[0],), "unknown top-level key; expected destinations (and name, description).")
    destinations = data["destinations"]
    if not isinstance(destinations, Mapping) or not destinations:
        raise _Problem(("destinations",), "name at least one destination: `Amplitude: {consent: [Analytics]}`.")
    return Routing(
        tuple(_destination(str(n), spec, ("destinations", str(n))) for n, spec in destinations.items()), source
    )


def _destination(name: str, spec: object, place: Place) -> Destination:
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise _Problem(place, "a destination is a mapping (mode, consent, filters).")
    for key in spec:
        if key not in _DESTINATION_KEYS:
            raise _Problem(
                (*place, str(key)), f"unknown key; a destination has {', '.join(sorted(_DESTINATION_KEYS))}."
            )
    mode = spec.get("mode", CLOUD)
    if mode not in MODES:
        raise _Problem((*place, "mode"), f"mode is cloud or device, not {mode!r}.")
    consent = spec.get("consent") or []
    if isinstance(consent, str):
        consent = [consent]
    if not isinstance(consent, list) or not all(isinstance(c, str) and c for c in consent):
        raise _Problem((*place, "consent"), "consent is a list of category names, e.g. [Analytics, Advertising].")
    filters = spec.get("filters") or []
    if not isinstance(filters, list):
        raise _Problem((*place, "filters"), "filters is a list.")
    parsed = tuple(_filter(f, (*place, "filters", i)) for i, f in enumerate(filters))
    enabled = [
        f
        for f, raw in zip(parsed, filters, strict=True)
        if not (isinstance(raw, Mapping) and raw.get("enabled") is False)
    ]
    return Destination(name, str(mode), tuple(consent), tuple(enabled))


def _filter(spec: object, place: Place) -> Filter:
    if not isinstance(spec, Mapping):
        raise _Problem(place, "a filter is a mapping: title, if, actions.")
    for key in spec:
        if key not in _FILTER_KEYS:
            raise _Problem(
                (*place, str(key)), "unknown key; a filter has title, if, actions (or one action's type inline)."
            )
    title = spec.get("title", spec.get("name"))
    if not isinstance(title, str) or not title:
        title = f"filter {place[-1] if isinstance(place[-1], int) else 0}"
    condition_text = spec.get("if", "all")
    if not isinstance(condition_text, str):
        raise _Problem((*place, "if"), "`if` is an FQL statement in a string, or `all`.")
    condition = None
    if condition_text.strip() != "all":
        try:
            condition = fql.parse(condition_text)
        except fql.FqlError as exc:
            raise _Problem(
                (*place, "if"),
                f"FQL error at offset {exc.start}: {exc.message}\n  {condition_text}\n  "
                + " " * exc.start
                + "^" * max(1, min(exc.end, len(condition_text)) - exc.start),
            ) from None
    if "actions" in spec:
        if "type" in spec:
            raise _Problem((*place, "type"), "give `actions:` or one action's `type:`, not both.")
        raw_actions = spec["actions"]
        if not isinstance(raw_actions, list) or not raw_actions:
            raise _Problem((*place, "actions"), "actions is a non-empty list: [{type: drop_event}].")
        actions = tuple(_action(a, (*place, "actions", i)) for i, a in enumerate(raw_actions))
    elif "type" in spec:
        actions = (_action({k: v for k, v in spec.items() if k in _ACTION_KEYS}, place),)
    else:
        raise _Problem(
            place,
            "a filter needs `actions:` (or `type:`): drop_event, sample_event, allow_properties, block_properties.",
        )
    return Filter(title, condition, condition_text, actions)


def _action(spec: object, place: Place) -> Action:
    if not isinstance(spec, Mapping):
        raise _Problem(place, "an action is a mapping with a type.")
    for key in spec:
        if key not in _ACTION_KEYS:
            raise _Problem((*place, str(key)), "unknown key; an action has type, percent, path, fields.")
    raw = spec.get("type")
    kind = FILTER_ALIASES.get(str(raw).lower(), str(raw).lower()) if isinstance(raw, str) else None
    if kind not in FILTER_TYPES:
        raise _Problem((*place, "type"), f"unknown filter type {raw!r}; expected one of {', '.join(FILTER_TYPES)}.")
    if kind == DROP:
        return Action(DROP)
    if kind == SAMPLE:
        percent = spec.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 1:
            raise _Problem(
                (*place, "percent"), "percent is the share kept, 0 to 1 as Segment writes it (0.1 keeps 10%)."
            )
        path = spec.get("path") or MESSAGE_ID
        if not isinstance(path, str):
            raise _Problem((*place, "path"), "path is a field's dot path, e.g. userId.")
        return Action(SAMPLE, float(percent), tuple(path.split(".")))
    return Action(kind, fields=_fields(spec.get("fields"), (*place, "fields")))


def _fields(spec: object, place: Place) -> tuple[FieldPath, ...]:
    """``{properties: [email], context: {fields: [ip]}}`` or ``[properties.email, context.ip]``."""
    paths: list[FieldPath] = []
    if isinstance(spec, list):
        for i, item in enumerate(spec):
            if not isinstance(item, str) or "." not in item:
                raise _Problem(
                    (*place, i), "name a field with its section: properties.email, traits.email, context.ip."
                )
            paths.append(tuple(item.split(".")))
    elif isinstance(spec, Mapping):
        for section, names in spec.items():
            if isinstance(names, Mapping) and set(names) == {"fields"}:
                names = names["fields"]  # the Config API's shape
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise _Problem((*place, str(section)), "a list of field names, e.g. [email, phone].")
            paths += [(str(section), *n.split(".")) for n in names]
    else:
        raise _Problem(place, "fields is {properties: [...], traits: [...], context: [...]}.")
    for path in paths:
        if path[0] not in FIELD_SECTIONS:
            raise _Problem(place, f"fields name properties, traits or context, not {path[0]!r}.")
    if not paths:
        raise _Problem(place, "name at least one field.")
    return tuple(paths)


def _place_text(place: Place) -> str:
    out = ""
    for part in place:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _line_of(text: str, place: Place) -> int | None:
    """The 1-based line of the key (or item) at ``place`` in the YAML or JSON text."""
    try:
        node = yaml.compose(text, Loader=Yaml12Loader)
    except yaml.YAMLError:
        return None
    line = None
    for part in place:
        if isinstance(node, yaml.MappingNode):
            step = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if step is None:
                break
            line, node = step[0].start_mark.line + 1, step[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
