"""Tracking plans: read the three formats into one :class:`Plan` of JSON Schemas (pure, no I/O).

Formats (detected from the document's shape, see docs/tracking-plans.md):

1. **segdbg YAML** (our compact form): ``events: {Order Completed: {properties: {order_id:
   string, coupon: string?}}}`` plus ``identify``/``group`` traits, ``page``/``screen``
   properties, ``allow_unplanned_*`` and ``naming`` settings. Compiled here to JSON Schema.
2. **Segment's tracking-plan JSON export**: the Config API shape (``rules: {events: [{name,
   rules}], identify, group, global}``; Typewriter v7's ``plan.json``) or the Public API rules list
   (``rules: [{type: TRACK, key, jsonSchema}]``; Typewriter v8's ``plan.json``, whose schemas are
   the properties' alone, marked ``eventMetadata``), optionally wrapped in ``tracking_plan``/``data``.
3. **JSON Schema per event**: ``{"Order Completed": {<schema>}, ...}``, a list of schemas with a
   ``title``, or one schema with a ``title``. A schema whose ``properties`` name message fields
   (``properties``, ``traits``, ``context``, ``event``) covers the whole message, as Segment's
   do; any other schema describes the event's ``properties``.

Every rule ends up as a JSON Schema for the whole message; :mod:`debugger.core.lint.checker` validates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from debugger.core.documents import Yaml12Loader, is_json, load_text
from debugger.core.lint.naming import EVENT_CASES, KEY_CASES

TRACK, IDENTIFY, GROUP, PAGE, SCREEN, COMMON = "track", "identify", "group", "page", "screen", "common"
_BASE_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
    "null": "null",
    "date": "date",
    "datetime": "date",
    "any": "any",
}
_MESSAGE_FIELDS = frozenset(
    {"properties", "traits", "context", "event", "type", "userId", "anonymousId", "integrations", "name"}
)
_SCHEMA_HINTS = frozenset({"$schema", "type", "properties", "required", "$ref", "allOf", "anyOf", "oneOf", "title"})
_TOP_KEYS = frozenset(
    {
        "name",
        "description",
        "version",
        "allow_unplanned_events",
        "allow_unplanned_properties",
        "naming",
        "events",
        "identify",
        "group",
        "page",
        "screen",
        "pages",
        "screens",
    }
)
_SPEC_KEYS = frozenset(
    {
        "type",
        "required",
        "description",
        "enum",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "min_length",
        "max_length",
        "min_items",
        "max_items",
        "items",
        "properties",
        "allow_unplanned_properties",
        "schema",
    }
)
_CAMEL = {"min_length": "minLength", "max_length": "maxLength", "min_items": "minItems", "max_items": "maxItems"}


class PlanError(Exception):
    """A plan that cannot be read; the message names the file part at fault and what to write."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One planned call: a JSON Schema for the whole message of that kind (and name)."""

    kind: str
    name: str | None
    schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """A tracking plan in one shape, whatever file it came from."""

    name: str
    rules: tuple[Rule, ...]
    format: str
    allow_unplanned_events: bool = False
    allow_unplanned_properties: bool = False
    naming: Mapping[str, str] = field(default_factory=dict)


def parse_text(text: str, source: str = "plan") -> Plan:
    """Read a plan from JSON or YAML text (``source`` names it in errors, with the line when known:
    ``plan.yaml, line 7: events.Order Completed.properties.total: unknown type 'strng'``)."""
    data = load_text(text, source, PlanError)
    try:
        return parse(data, source)
    except PlanError as exc:
        line = None if is_json(text) else _error_line(text, source, str(exc))
        if line is None:
            raise
        raise PlanError(f"{source}, line {line}: {str(exc).removeprefix(f'{source}: ')}") from exc


_UNKNOWN_KEYS = re.compile(r"unknown (?:top-level )?key\(s\) '([^']*)'")


def _error_line(text: str, source: str, message: str) -> int | None:
    """The line of the YAML node a segdbg-plan error names (``source: events.X.properties.a: ...``).

    Walks the document's node tree along the dotted place in the message, trying the longest key
    at each level (names may hold dots and spaces) and stepping through a ``properties:`` level the
    place leaves out; an unknown key named in the message is pointed at itself.
    """
    if not message.startswith(f"{source}: "):
        return None
    try:
        node = yaml.compose(text, Loader=Yaml12Loader)
    except yaml.YAMLError:
        return None
    rest = message.removeprefix(f"{source}: ")
    line = None
    while isinstance(node, yaml.MappingNode) and rest:
        step = _longest_key(node, rest)
        if step is None:
            inner = next((v for k, v in node.value if k.value == "properties"), None)
            step = _longest_key(inner, rest) if isinstance(inner, yaml.MappingNode) else None
        if step is None:
            break
        key, node, rest = step
        line = key.start_mark.line + 1
        if not rest.startswith("."):
            break
        rest = rest[1:]
    unknown = _UNKNOWN_KEYS.search(message)
    if unknown and isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if key.value == unknown.group(1):
                return int(key.start_mark.line + 1)
    return line


def _longest_key(node: yaml.MappingNode, rest: str) -> tuple[yaml.Node, yaml.Node, str] | None:
    """The key of ``node`` that ``rest`` starts with (followed by ``.``, ``:``, a space or the end)."""
    best = None
    for key, value in node.value:
        name = str(key.value)
        if rest.startswith(name) and rest[len(name) : len(name) + 1] in ("", ".", ":", " "):
            if best is None or len(name) > len(str(best[0].value)):
                best = (key, value, rest[len(name) :])
    return best


def parse(data: object, source: str = "plan") -> Plan:
    """Read a decoded plan document in any of the three formats."""
    data = _unwrap(data)
    if isinstance(data, dict):
        if isinstance(data.get("events"), dict):
            return _segdbg(data, source)
        rules = data.get("rules")
        if isinstance(rules, dict):
            return _config_api(data, rules, source)
        if isinstance(rules, list):
            return _public_api(data, rules, source)
        if _looks_like_schema(data) and isinstance(data.get("title"), str):
            return Plan(source, (event_schema(data["title"], data),), "json-schema")
        if data and _schemas(data):
            return Plan(source, tuple(event_schema(str(k), v) for k, v in data.items()), "json-schema")
        if data:
            return _segdbg(data, source)  # reports unknown keys, the likeliest mistake
    if isinstance(data, list) and data and all(isinstance(s, dict) and isinstance(s.get("title"), str) for s in data):
        return Plan(source, tuple(event_schema(s["title"], s) for s in data), "json-schema")
    raise PlanError(
        f"{source}: not a tracking plan. Expected segdbg YAML (a top-level `events:` mapping), Segment's "
        "tracking-plan export (`rules`), or JSON Schemas keyed by event name (see docs/tracking-plans.md)."
    )


def _unwrap(data: object) -> object:
    """Peel API envelopes: ``{"data": {...}}``, ``{"tracking_plan": {...}}``, ``{"trackingPlan": {...}, "rules": [...]}``."""
    while isinstance(data, dict) and len(data) == 1 and next(iter(data)) in ("data", "tracking_plan", "trackingPlan"):
        data = next(iter(data.values()))
    if isinstance(data, dict) and isinstance(data.get("trackingPlan"), dict):
        data = {**data["trackingPlan"], **{k: v for k, v in data.items() if k != "trackingPlan"}}
    return data


def _schemas(data: Mapping[str, Any]) -> bool:
    return all(isinstance(v, dict) and _looks_like_schema(v) for v in data.values())


def _looks_like_schema(value: Mapping[str, Any]) -> bool:
    return bool(_SCHEMA_HINTS & set(value))


def event_schema(name: str, schema: object, kind: str = TRACK) -> Rule:
    """A rule from one event's JSON Schema: of the whole message, or of its properties (wrapped)."""
    if not isinstance(schema, dict):
        raise PlanError(f"event {name!r}: a JSON Schema must be an object.")
    listed = schema.get("properties")
    # Typewriter's plan.json marks a schema of the event's properties with `eventMetadata`; a property may be
    # called `name` or `type` there, which would otherwise read as a message field.
    if isinstance(listed, dict) and _MESSAGE_FIELDS & set(listed) and "eventMetadata" not in schema:
        return Rule(kind, name, schema, str(schema.get("description", "")))
    field_name = "traits" if kind in (IDENTIFY, GROUP) else "properties"
    return Rule(kind, name, {"type": "object", "properties": {field_name: schema}}, str(schema.get("description", "")))


def _config_api(doc: Mapping[str, Any], rules: Mapping[str, Any], source: str) -> Plan:
    out: list[Rule] = []
    for index, event in enumerate(rules.get("events") or []):
        if not isinstance(event, dict) or not isinstance(event.get("name"), str):
            raise PlanError(f"{source}: rules.events[{index}] needs a `name` and `rules`.")
        out.append(event_schema(event["name"], event.get("rules") or {}))
    for key, kind in (("identify", IDENTIFY), ("group", GROUP), ("global", COMMON)):
        schema = rules.get(key)
        if isinstance(schema, dict) and schema:
            out.append(Rule(kind, None, schema))
    name = str(doc.get("display_name") or doc.get("name") or source)
    return Plan(name, tuple(out), "segment-config-api")


def _public_api(doc: Mapping[str, Any], rules: list[Any], source: str) -> Plan:
    kinds = {"TRACK": TRACK, "IDENTIFY": IDENTIFY, "GROUP": GROUP, "PAGE": PAGE, "SCREEN": SCREEN, "COMMON": COMMON}
    out: list[Rule] = []
    for index, rule in enumerate(rules):
        kind = kinds.get(str(rule.get("type", "")).upper()) if isinstance(rule, dict) else None
        schema = rule.get("jsonSchema") if isinstance(rule, dict) else None
        if kind is None or not isinstance(schema, dict):
            raise PlanError(
                f"{source}: rules[{index}] needs `type` (TRACK, IDENTIFY, GROUP, PAGE, SCREEN, COMMON) and `jsonSchema`."
            )
        key = rule.get("key")
        if kind == TRACK and not isinstance(key, str):
            raise PlanError(f"{source}: rules[{index}] is a TRACK rule without the event name in `key`.")
        # Segment's rules describe the whole message; Typewriter's plan.json keeps the properties' (or traits')
        # schema alone: event_schema tells them apart and wraps the latter.
        wrapped = event_schema(str(key or kind), schema, kind) if kind != COMMON else Rule(kind, None, schema)
        out.append(Rule(kind, key if isinstance(key, str) and key else None, wrapped.schema, wrapped.description))
    name = str(doc.get("name") or doc.get("slug") or source)
    return Plan(name, tuple(out), "segment-public-api")


def _segdbg(doc: Mapping[str, Any], source: str) -> Plan:
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise PlanError(
            f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(_TOP_KEYS))}."
        )
    naming = doc.get("naming") or {}
    if not isinstance(naming, dict) or set(naming) - {"events", "keys"}:
        raise PlanError(
            f"{source}: `naming` takes `events` ({'|'.join(EVENT_CASES)}) and `keys` ({'|'.join(KEY_CASES)})."
        )
    for key, allowed in (("events", EVENT_CASES), ("keys", KEY_CASES)):
        if key in naming and naming[key] not in allowed:
            raise PlanError(f"{source}: naming.{key} must be one of {', '.join(allowed)}, not {naming[key]!r}.")
    rules: list[Rule] = []
    for name, spec in _mapping(doc.get("events"), f"{source}: events").items():
        rules.append(_segdbg_rule(TRACK, str(name), spec, "properties", f"{source}: events.{name}"))
    for kind, field_name in ((IDENTIFY, "traits"), (GROUP, "traits"), (PAGE, "properties"), (SCREEN, "properties")):
        if doc.get(kind) is not None:
            rules.append(_segdbg_rule(kind, None, doc[kind], field_name, f"{source}: {kind}"))
    for key, kind in (("pages", PAGE), ("screens", SCREEN)):
        for name, spec in _mapping(doc.get(key), f"{source}: {key}").items():
            rules.append(_segdbg_rule(kind, str(name), spec, "properties", f"{source}: {key}.{name}"))
    return Plan(
        str(doc.get("name") or source),
        tuple(rules),
        "segdbg-yaml",
        allow_unplanned_events=_flag(doc, "allow_unplanned_events", source),
        allow_unplanned_properties=_flag(doc, "allow_unplanned_properties", source),
        naming={str(k): str(v) for k, v in naming.items()},
    )


def _flag(doc: Mapping[str, Any], key: str, where: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise PlanError(f"{where}: `{key}` must be true or false, not {value!r}.")
    return value


def _mapping(value: object, where: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PlanError(f"{where} must be a mapping of names to specs.")
    return value


def _segdbg_rule(kind: str, name: str | None, spec: object, field_name: str, where: str) -> Rule:
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise PlanError(f"{where}: expected a mapping with `{field_name}:`, not {spec!r}.")
    extra = set(spec) - {field_name, "description", "allow_unplanned_properties"}
    if extra:
        raise PlanError(
            f"{where}: unknown key(s) {', '.join(map(repr, sorted(extra)))}; use `{field_name}:`, `description:`."
        )
    schema: dict[str, Any] = {"type": "object"}
    if spec.get(field_name) is not None or "allow_unplanned_properties" in spec:
        body = {"properties": spec.get(field_name) or {}}
        if "allow_unplanned_properties" in spec:
            body["allow_unplanned_properties"] = spec["allow_unplanned_properties"]
        schema["properties"] = {field_name: compile_spec(body, f"{where}.{field_name}")[0]}
    return Rule(kind, name, schema, str(spec.get("description", "")))


def compile_spec(spec: object, where: str) -> tuple[dict[str, Any], bool]:
    """One segdbg property spec → (JSON Schema, required?). See docs/tracking-plans.md for the syntax."""
    if spec is None:
        return {}, True
    if isinstance(spec, str):
        return _type_expr(spec, where)
    if not isinstance(spec, dict):
        raise PlanError(f"{where}: a property spec is a type like `string?` or a mapping, not {spec!r}.")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise PlanError(
            f"{where}: unknown key(s) {', '.join(map(repr, sorted(unknown)))}; allowed: {', '.join(sorted(_SPEC_KEYS))}."
        )
    required = spec.get("required", True)
    if not isinstance(required, bool):
        raise PlanError(f"{where}: `required` must be true or false.")
    if "schema" in spec:
        if not isinstance(spec["schema"], dict):
            raise PlanError(f"{where}: `schema` must be a JSON Schema object.")
        return dict(spec["schema"]), required
    schema: dict[str, Any] = {}
    if spec.get("type") is not None:
        schema, typed_required = _type_expr(spec["type"], where)
        required = required and typed_required
    elif "properties" in spec:
        schema = {"type": "object"}
    for key in ("description", "enum", "pattern", "format", "minimum", "maximum", *_CAMEL):
        if key in spec:
            schema[_CAMEL.get(key, key)] = spec[key]
    if "items" in spec:
        schema["items"] = compile_spec(spec["items"], f"{where}.items")[0]
    if "properties" in spec:
        props = _mapping(spec["properties"], f"{where}.properties")
        compiled = {str(k): compile_spec(v, f"{where}.{k}") for k, v in props.items()}
        schema["properties"] = {k: s for k, (s, _) in compiled.items()}
        needed = [k for k, (_, req) in compiled.items() if req]
        if needed:
            schema["required"] = needed
    if "allow_unplanned_properties" in spec:
        schema["additionalProperties"] = bool(spec["allow_unplanned_properties"])
    return schema, required


def _type_expr(expr: object, where: str) -> tuple[dict[str, Any], bool]:
    if isinstance(expr, list):
        expr = "|".join(str(e) for e in expr)
    text = str(expr).strip()
    optional = text.endswith("?")
    alternatives = [a.strip() for a in text.rstrip("?").split("|")]
    schemas = [_one_type(a, where) for a in alternatives]
    if any(s == {} for s in schemas):
        return {}, not optional
    simple = [s["type"] for s in schemas if set(s) == {"type"}]
    if len(simple) == len(schemas):
        types = list(dict.fromkeys(simple))
        return {"type": types[0] if len(types) == 1 else types}, not optional
    dated = [s for s in schemas if s.get("format") == "date-time"]
    if len(simple) + len(dated) == len(schemas) and "string" not in simple:
        types = list(dict.fromkeys([*simple, "string"]))
        return {"type": types[0] if len(types) == 1 else types, "format": "date-time"}, not optional
    return {"anyOf": schemas}, not optional


def _one_type(text: str, where: str) -> dict[str, Any]:
    if text.endswith("[]"):
        return {"type": "array", "items": _one_type(text[:-2].strip(), where)}
    base = _BASE_TYPES.get(text.lower())
    if base is None:
        raise PlanError(
            f"{where}: unknown type {text!r}; use {', '.join(sorted(set(_BASE_TYPES)))}, with `|` for either, "
            "`[]` for arrays and `?` for optional."
        )
    if base == "any":
        return {}
    if base == "date":
        return {"type": "string", "format": "date-time"}
    return {"type": base}


def dump_yaml(document: Mapping[str, Any], header: str = "") -> str:
    """A plan document as YAML, keys in the order given, names quoted only where YAML needs it."""
    body = yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
    return header + body
