"""Explain an event: strict-mode problems, naming lint, semantic specs and tracking-plan violations.

Pure: a :class:`Linter` takes a stored message (the ``stored`` JSON of an ``events`` row) and
returns :class:`~debugger.core.lint.finding.Finding` objects; no I/O, no clock. It complements
:mod:`debugger.core.protocol`, whose problems (no ids, track without event, group without groupId,
alias without previousId, messageId too long, bad timestamps, oversized batches) and the store's
``duplicate_message_id`` are computed at ingest and stored; they are never repeated here.

**When lint runs.** Lint results are computed when an event is *read* (``segdbg check``,
``segdbg schema``, the TUI), not stored at ingest: a new or reloaded tracking plan, or changed
naming conventions, apply to the whole history, and ``check`` works on any capture, including
ones written before a rule existed. bench/lint.py keeps this cheap (≥ 20,000 events/s with a
50-event plan), so reading is never the bottleneck.

Strict mode: what Segment accepts with 200 but then drops or mangles beyond protocol's problems:

- ``traits_on_track`` — top-level ``traits`` on track/page/screen (only identify/group carry traits);
  ``properties_on_identify`` — ``properties`` on identify/group/alias;
- ``reserved_trait_type`` — reserved traits of the wrong type (``email`` not a string,
  ``createdAt``/``birthday`` not an ISO-8601 date, ``address`` not an object, …), in ``traits``
  and ``context.traits``;
- ``reserved_property_type`` / ``currency_code`` — ``revenue``/``value`` not numbers, ``currency``
  not an ISO 4217 code, page ``url``/``title``/… not strings;
- ``integrations_disable_all`` — ``All: false`` with nothing re-enabled: no destination gets it;
  ``integrations_value`` — a flag that is not a boolean or an options object (``"false"`` is
  truthy); ``integrations_all_case`` — ``all``/``ALL``: names are case-sensitive;
- ``placeholder_id`` — ``userId``/``anonymousId``/``groupId``/``previousId`` like ``"undefined"``,
  ``"null"``, ``"guest"``, ``"anonymous"``, only zeros and dashes (``"0"``, the nil UUID) or blank: Segment
  takes it as a real id and merges everyone who sent it (see :func:`placeholder`);
- ``traits_in_properties`` — a ``traits`` object inside a track/page/screen's ``properties``: a
  property named "traits" that no destination reads as traits (``context.traits`` is where they go).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from debugger.core.lint.finding import CATEGORIES, NAMING, SEMANTIC, STRICT, Finding, from_problem, join, kind, short
from debugger.core.lint.naming import EVENT_CASES, KEY_CASES, Naming
from debugger.core.lint.semantic import Semantic, currency_ok, describe, type_ok
from debugger.core.lint.specs import GROUP_TRAITS, IDENTIFY_TRAITS, PAGE_PROPERTIES, SEMANTIC_EVENTS, TRACK_PROPERTIES
from debugger.core.protocol import REJECTED, WARNING

if TYPE_CHECKING:  # the plan checker loads jsonschema and yaml: only a linter given a plan needs them
    from debugger.core.lint.checker import CompiledPlan

#: Ids that stand for "no id" (compared stripped and case-folded). "guest" and "anonymous" are the words Segment's
#: Unify suggests blocking as identifier values, with values made only of zeros and dashes (:data:`_ZEROS`); "-1"
#: is the usual sentinel for "no row".
_PLACEHOLDERS = frozenset(
    {"undefined", "null", "none", "nil", "nan", "[object object]", "true", "false", "guest", "anonymous", "-1"}
)
#: "0", "000", "-", the nil UUID "00000000-0000-0000-0000-000000000000": every user who sent one is merged.
_ZEROS = re.compile(r"[0-]+")
_TRAIT_ALIASES = {"createdAt": "created_at", "firstName": "first_name", "lastName": "last_name"}
#: Keys the spec itself spells in camelCase; the casing rule leaves them alone.
_RESERVED_KEYS = frozenset({*IDENTIFY_TRAITS, *GROUP_TRAITS, *_TRAIT_ALIASES.values()})
_SPEC_EXEMPT = {name: frozenset({*spec.properties, *_RESERVED_KEYS}) for name, spec in SEMANTIC_EVENTS.items()}


@dataclass(frozen=True, slots=True)
class LintConfig:
    """Which conventions to enforce.

    Attributes:
        event_case: event-name casing (``title``, ``sentence``, ``snake``, ``camel``).
        key_case: property/trait key casing (``snake``, ``camel``, ``pascal``).
        ignore: rule codes or whole categories (``naming``, ``semantic``, …) to leave out.
    """

    event_case: str = "title"
    key_case: str = "snake"
    ignore: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.event_case not in EVENT_CASES:
            raise ValueError(f"event_case must be one of {', '.join(EVENT_CASES)}")
        if self.key_case not in KEY_CASES:
            raise ValueError(f"key_case must be one of {', '.join(KEY_CASES)}")


class Linter:
    """Everything lint says about events, for one configuration and (optionally) one plan.

    Args:
        config: naming conventions and ignored rules.
        plan: a compiled tracking plan, or ``None`` for no plan checks.
    """

    def __init__(self, config: LintConfig | None = None, plan: CompiledPlan | None = None) -> None:
        self.config = config or LintConfig()
        self.plan = plan
        self._naming = Naming(self.config.event_case, self.config.key_case)
        self._semantic = Semantic()
        ignore = self.config.ignore
        self._strict, self._names, self._specs = STRICT not in ignore, NAMING not in ignore, SEMANTIC not in ignore
        self._plan = plan if "plan" not in ignore else None

    def lint(self, stored: Mapping[str, Any]) -> list[Finding]:
        """Strict, plan, semantic and naming findings for one stored message."""
        found: list[Finding] = strict(stored) if self._strict else []
        if self._plan is not None:
            found.extend(self._plan.check(stored))
        kind_ = stored.get("type")
        covered: set[str] = set()
        if kind_ == "track":
            name = stored.get("event")
            if type(name) is str:
                semantic = self._semantic.track(name, stored.get("properties")) if self._specs else []
                if semantic:
                    found.extend(semantic)
                    covered = {f.path for f in semantic if f.code in ("near_miss_property", "near_miss_event")}
                if self._names:
                    naming = self._naming.event_name(name, semantic=name in SEMANTIC_EVENTS)
                    # A near-miss name's fix covers the naming fixes for it.
                    found.extend(f for f in naming if f.path not in covered) if covered else found.extend(naming)
        if self._names:
            found.extend(self._keys(stored, kind_, covered))
        if self.config.ignore and found:
            found = [f for f in found if f.code not in self.config.ignore and f.category not in self.config.ignore]
        return found

    def _keys(self, stored: Mapping[str, Any], kind_: object, covered: set[str]) -> list[Finding]:
        found: list[Finding] = []
        if kind_ in ("page", "screen") and type(stored.get("name")) is str:
            found.extend(self._naming.page_name(stored["name"]))
        field_name = "traits" if kind_ in ("identify", "group") else "properties"
        obj = stored.get(field_name)
        if type(obj) is dict and obj:
            exempt: Collection[str] = _RESERVED_KEYS
            event = stored.get("event")
            if kind_ == "track" and type(event) is str and event in _SPEC_EXEMPT:
                exempt = _SPEC_EXEMPT[event]
            keys = self._naming.keys(obj, field_name, exempt)
            found.extend(f for f in keys if f.path not in covered) if covered else found.extend(keys)
        return found

    def event(self, row: Mapping[str, Any]) -> list[Finding]:
        """Everything about a stored ``events`` row: its protocol problems, then lint."""
        found = [from_problem(p) for p in row.get("problems") or [] if isinstance(p, Mapping)]
        if self.config.ignore:
            found = [f for f in found if f.code not in self.config.ignore and "protocol" not in self.config.ignore]
        stored = row.get("stored")
        if isinstance(stored, dict) and stored and row.get("status") != REJECTED:  # a refusal is no message
            found.extend(self.lint(stored))
        order = {c: i for i, c in enumerate(CATEGORIES)}
        return sorted(found, key=lambda f: order.get(f.category, len(order)))


def for_plan(plan: CompiledPlan | None) -> Linter:
    """The linter every view uses: the plan's naming conventions (Title Case events and snake_case
    keys without one), so the TUI, `segdbg events`, the API and `check` judge an event alike."""
    naming = plan.plan.naming if plan is not None else {}
    return Linter(LintConfig(event_case=naming.get("events", "title"), key_case=naming.get("keys", "snake")), plan)


def strict(stored: Mapping[str, Any]) -> list[Finding]:
    """Strict-mode findings: accepted by Segment, then dropped or mangled downstream."""
    found: list[Finding] = []
    kind_ = stored.get("type")
    traits, props = stored.get("traits"), stored.get("properties")
    if kind_ in ("track", "page", "screen") and isinstance(traits, dict) and traits:
        found.append(
            Finding(
                "traits_on_track",
                "traits",
                f"Top-level `traits` on a {kind_} call reach no destination; "
                "send traits with identify, or in `context.traits`.",
                WARNING,
                STRICT,
                "no traits",
                "traits",
            )
        )
    if kind_ in ("track", "page", "screen") and isinstance(props, dict) and isinstance(props.get("traits"), dict):
        found.append(
            Finding(
                "traits_in_properties",
                "properties.traits",
                f'`properties.traits` on a {kind_} call is a property named "traits", not the user\'s traits: '
                "no destination updates the profile from it; send them in `context.traits` (or with identify).",
                WARNING,
                STRICT,
                "context.traits",
                "properties.traits",
            )
        )
    if kind_ in ("identify", "group", "alias") and isinstance(props, dict) and props:
        where = "`traits`" if kind_ != "alias" else "nothing besides ids"
        found.append(
            Finding(
                "properties_on_identify",
                "properties",
                f"`properties` on an {kind_} call is ignored; it takes {where}.",
                WARNING,
                STRICT,
                "no properties",
                "properties",
            )
        )
    if kind_ in ("identify", "group") and isinstance(traits, dict):
        found.extend(_reserved(traits, "traits", IDENTIFY_TRAITS if kind_ == "identify" else GROUP_TRAITS, "trait"))
    context = stored.get("context")
    if isinstance(context, dict) and isinstance(context.get("traits"), dict):
        found.extend(_reserved(context["traits"], "context.traits", IDENTIFY_TRAITS, "trait"))
    if isinstance(props, dict) and kind_ in ("track", "page"):
        found.extend(
            _reserved(props, "properties", TRACK_PROPERTIES if kind_ == "track" else PAGE_PROPERTIES, "property")
        )
    found.extend(_integrations(stored.get("integrations")))
    for key in ("userId", "anonymousId", "groupId", "previousId"):
        value = stored.get(key)
        if placeholder(value):
            found.append(
                Finding(
                    "placeholder_id",
                    key,
                    f"`{key}` is {short(value)}, a placeholder: Segment takes it as a "
                    "real id and merges everyone who sent it.",
                    WARNING,
                    STRICT,
                    "a real id",
                    short(value),
                )
            )
    return found


def placeholder(value: object) -> bool:
    """Whether an id is a placeholder for "no id" (``placeholder_id``): a stringified undefined/null, ``"guest"``,
    ``"anonymous"``, only zeros and dashes, or blank. Only the whole value counts (``user-null-1`` is an id)."""
    if type(value) is not str:
        return False
    text = value.strip().casefold()
    return not text or (len(text) <= 16 and text in _PLACEHOLDERS) or _ZEROS.fullmatch(text) is not None


def _variants(table: Mapping[str, str]) -> dict[str, str]:
    """Reserved names in both spellings Segment accepts (createdAt and created_at) → compact type."""
    return {**table, **{_TRAIT_ALIASES[k]: v for k, v in table.items() if k in _TRAIT_ALIASES}}


_TABLES = {id(t): _variants(t) for t in (IDENTIFY_TRAITS, GROUP_TRAITS, TRACK_PROPERTIES, PAGE_PROPERTIES)}


def _reserved(obj: Mapping[str, Any], base: str, table: Mapping[str, str], what: str) -> list[Finding]:
    found: list[Finding] = []
    lookup = _TABLES[id(table)]
    for key, value in obj.items():
        compact = lookup.get(key)
        if compact is None:
            continue
        path = join(base, key)
        if not type_ok(value, compact):
            note = (
                " (a number is read as seconds by some destinations, milliseconds by others)"
                if compact == "d" and kind(value) in ("integer", "number")
                else ""
            )
            found.append(
                Finding(
                    f"reserved_{what}_type",
                    path,
                    f"Reserved {what} `{key}` should be {describe(compact)}, got {kind(value)} {short(value)}{note}.",
                    WARNING,
                    STRICT,
                    describe(compact),
                    kind(value),
                )
            )
        elif compact == "c" and not currency_ok(value):
            found.append(
                Finding(
                    "currency_code",
                    path,
                    f"`{key}` {short(value)} is not an ISO 4217 currency code "
                    "(USD, EUR, …); revenue in it is dropped or misread.",
                    WARNING,
                    STRICT,
                    "ISO 4217 code",
                    short(value),
                )
            )
    return found


def _integrations(value: object) -> list[Finding]:
    if not isinstance(value, dict) or not value:
        return []
    found: list[Finding] = []
    for key, flag in value.items():
        path = join("integrations", key)
        if key != "All" and key.lower() == "all":
            found.append(
                Finding(
                    "integrations_all_case",
                    path,
                    f"`integrations.{key}` is not `All`: integration names are case-sensitive, so it is ignored.",
                    WARNING,
                    STRICT,
                    '"All"',
                    short(key),
                )
            )
        if not isinstance(flag, bool | dict):
            found.append(
                Finding(
                    "integrations_value",
                    path,
                    f"`integrations.{key}` is {kind(flag)} {short(flag)}; use true, "
                    "false or an options object (a non-empty string counts as enabled).",
                    WARNING,
                    STRICT,
                    "boolean or object",
                    kind(flag),
                )
            )
    if value.get("All") is False and not any(
        k != "All" and (v is True or isinstance(v, dict)) for k, v in value.items()
    ):
        found.append(
            Finding(
                "integrations_disable_all",
                "integrations",
                "`integrations` sets All: false and enables nothing else: no destination receives this event.",
                WARNING,
                STRICT,
                "at least one destination enabled",
                "All: false",
            )
        )
    return found
