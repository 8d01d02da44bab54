"""A plain-Python fast path for JSON Schema validation, equivalent to ``jsonschema`` on a subset.

``jsonschema`` validates ~10,000 small events/s on this hardware: half the lint budget
(bench/lint.py). :func:`fast_predicate` compiles a schema that uses only the common keywords
(type, properties, required, additionalProperties, items, enum, const, anyOf, pattern, format,
min/max bounds and lengths; annotations are ignored) into a predicate that answers *valid or
not* several times faster. :mod:`debugger.core.lint.checker` trusts a *valid* answer and asks
``jsonschema`` for the violations otherwise; a schema outside the subset always goes to
``jsonschema``. ``tests/test_fastschema.py`` checks with Hypothesis that both agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import FormatChecker

from debugger.core.timefmt import parse_timestamp

Predicate = Callable[[Any], bool]
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "id",
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "labels",
        "deprecated",
        "readOnly",
        "writeOnly",
        "definitions",
        "$defs",
    }
)
_FAST = (
    frozenset(
        {
            "type",
            "properties",
            "required",
            "additionalProperties",
            "items",
            "enum",
            "const",
            "anyOf",
            "pattern",
            "format",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
        }
    )
    | _ANNOTATIONS
)
_FORMATS = ("date-time", "date")


def _is_time(value: object) -> bool:
    return not isinstance(value, str) or parse_timestamp(value) is not None


def format_checker() -> FormatChecker:
    """A checker for ``date-time``/``date`` that accepts what Segment's clients send (timefmt)."""
    checker = FormatChecker(formats=())
    for name in _FORMATS:
        checker.checks(name)(_is_time)
    return checker


def _json_equal(one: object, two: object) -> bool:
    """JSON equality as jsonschema defines it: 1 == 1.0, but true != 1."""
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_json_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return one == two


_NUMBERS = (int, float)


def _number(v: object) -> bool:
    return type(v) in _NUMBERS  # exact types: JSON decodes to int/float, and bool is not a number


def _all(checks: list[Predicate]) -> Predicate:
    """The conjunction, without a generator per call for the usual one to three checks."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    if len(checks) == 3:
        first, second, third = checks
        return lambda v: first(v) and second(v) and third(v)
    return lambda v: all(c(v) for c in checks)


def _type_predicate(name: str, legacy: bool) -> Predicate | None:
    preds: dict[str, Predicate] = {
        "string": lambda v: type(v) is str,
        "number": _number,
        "integer": (lambda v: type(v) is int)
        if legacy
        else (lambda v: type(v) is int or (type(v) is float and v.is_integer())),
        "boolean": lambda v: type(v) is bool,
        "null": lambda v: v is None,
        "array": lambda v: type(v) is list,
        "object": lambda v: type(v) is dict,
    }
    return preds.get(name)


def fast_predicate(schema: object, legacy: bool = False) -> Predicate | None:
    """A plain-Python validity test equivalent to jsonschema's, or ``None`` if the schema is out of reach.

    Args:
        schema: a JSON Schema (dict or boolean).
        legacy: draft 3/4 semantics (integer excludes 1.0; boolean exclusiveMinimum).
    """
    if schema is True or schema == {}:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict) or set(schema) - _FAST:
        return None
    if legacy and ("exclusiveMinimum" in schema or "exclusiveMaximum" in schema):
        return None
    checks: list[Predicate] = []
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else None
        preds = [_type_predicate(n, legacy) for n in names] if names else None
        present = [p for p in preds if p is not None] if preds else []
        if not present or len(present) != len(names or ()):
            return None
        checks.append(present[0] if len(present) == 1 else _any_of(tuple(present)))
    if "enum" in schema:
        if not isinstance(schema["enum"], list):
            return None
        options = tuple(schema["enum"])
        checks.append(lambda v: any(_json_equal(v, o) for o in options))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda v: _json_equal(v, const))
    for piece in (_numeric(schema), _strings(schema), _arrays(schema, legacy), _objects(schema, legacy)):
        if piece is False:
            return None
        if piece is not None:
            checks.append(piece)  # type: ignore[arg-type]
    if "anyOf" in schema:
        subs = [fast_predicate(s, legacy) for s in schema["anyOf"]] if isinstance(schema["anyOf"], list) else [None]
        if any(s is None for s in subs):
            return None
        checks.append(lambda v, ss=tuple(subs): any(s(v) for s in ss))  # type: ignore[misc]
    return _all(checks)


def _numeric(schema: Mapping[str, Any]) -> Predicate | None | bool:
    bounds = [(k, schema[k]) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema]
    if not bounds:
        return None
    if not all(_number(b) for _, b in bounds):
        return False
    tests: dict[str, Callable[[Any, Any], bool]] = {
        "minimum": lambda v, b: v >= b,
        "maximum": lambda v, b: v <= b,
        "exclusiveMinimum": lambda v, b: v > b,
        "exclusiveMaximum": lambda v, b: v < b,
    }
    pairs = tuple((tests[k], b) for k, b in bounds)
    return lambda v: not _number(v) or all(t(v, b) for t, b in pairs)


def _any_of(predicates: tuple[Predicate, ...]) -> Predicate:
    return lambda v: any(p(v) for p in predicates)


def _strings(schema: Mapping[str, Any]) -> Predicate | None | bool:
    try:
        pattern = re.compile(schema["pattern"]) if isinstance(schema.get("pattern"), str) else None
    except re.error:
        return False
    low, high = schema.get("minLength"), schema.get("maxLength")
    timed = schema.get("format") in _FORMATS
    if pattern is None and low is None and high is None and not timed:
        return None if "pattern" not in schema else False

    def check(v: object) -> bool:
        if not isinstance(v, str):
            return True
        return (
            (pattern is None or pattern.search(v) is not None)
            and (low is None or len(v) >= low)
            and (high is None or len(v) <= high)
            and (not timed or parse_timestamp(v) is not None)
        )

    return check


def _arrays(schema: Mapping[str, Any], legacy: bool) -> Predicate | None | bool:
    items = schema.get("items")
    low, high = schema.get("minItems"), schema.get("maxItems")
    if items is None and low is None and high is None:
        return None
    sub = fast_predicate(items, legacy) if items is not None else None
    if items is not None and sub is None:
        return False

    def check(v: object) -> bool:
        if not isinstance(v, list):
            return True
        return (
            (low is None or len(v) >= low)
            and (high is None or len(v) <= high)
            and (sub is None or all(sub(x) for x in v))
        )

    return check


def _objects(schema: Mapping[str, Any], legacy: bool) -> Predicate | None | bool:
    props, required, extra = schema.get("properties"), schema.get("required"), schema.get("additionalProperties")
    if props is None and required is None and extra is None:
        return None
    if (props is not None and not isinstance(props, dict)) or (required is not None and not isinstance(required, list)):
        return False
    subs = {k: fast_predicate(s, legacy) for k, s in (props or {}).items()}
    extra_pred = None if extra is None or isinstance(extra, bool) else fast_predicate(extra, legacy)
    if any(s is None for s in subs.values()) or (
        extra is not None and not isinstance(extra, bool) and extra_pred is None
    ):
        return False
    need = tuple(required or ())
    closed = extra is False
    if not closed and extra_pred is None:
        # Open object: only the listed keys matter, so look them up instead of walking every key
        # (a whole message has a dozen keys; a rule usually lists one, `properties`).
        listed = tuple((k, s) for k, s in subs.items() if s is not None)
        missing = object()

        def check_open(v: object) -> bool:
            if type(v) is not dict:
                return True
            for key in need:
                if key not in v:
                    return False
            for key, sub in listed:
                value = v.get(key, missing)
                if value is not missing and not sub(value):
                    return False
            return True

        return check_open

    def check(v: object) -> bool:
        if type(v) is not dict:
            return True
        for key in need:
            if key not in v:
                return False
        for key, value in v.items():
            sub = subs.get(key)
            if sub is not None:
                if not sub(value):
                    return False
            elif closed or (extra_pred is not None and not extra_pred(value)):
                return False
        return True

    return check
