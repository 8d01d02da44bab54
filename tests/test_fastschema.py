"""The fast validity predicate agrees with jsonschema on every schema it accepts (Hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, Draft7Validator, Draft202012Validator

from debugger.core.lint.fastschema import fast_predicate, format_checker

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 2.5, -1.5])
    | st.text(alphabet="ab1-:TZ", max_size=5)
    | st.sampled_from(["2024-05-01T12:00:00Z", "2024-05-01", "soon"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=10,
)
types = st.sampled_from(["string", "number", "integer", "boolean", "null", "array", "object"])
numbers = st.integers(-2, 2) | st.sampled_from([0.5, 1.0])


def _leaf() -> st.SearchStrategy[Any]:
    # One or two keywords per schema: with many at once nearly every instance fails on some
    # keyword, which would hide a disagreement on another.
    keyword = st.one_of(
        st.tuples(st.just("type"), types | st.lists(types, min_size=1, max_size=3, unique=True)),
        st.tuples(st.just("enum"), st.lists(scalars, min_size=1, max_size=3)),
        st.tuples(st.just("const"), scalars),
        st.tuples(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]), numbers),
        st.tuples(st.sampled_from(["minLength", "maxLength", "minItems", "maxItems"]), st.integers(0, 3)),
        st.tuples(st.just("pattern"), st.sampled_from(["^a", "1$", "b", "^[ab]+$"])),
        st.tuples(st.just("format"), st.sampled_from(["date-time", "date", "email"])),
        st.tuples(st.just("description"), st.just("annotation")),
    )
    return st.lists(keyword, max_size=2).map(dict) | st.booleans()


def _node(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keyword = st.one_of(
        st.tuples(st.just("type"), types),
        st.tuples(st.just("properties"), st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
        st.tuples(st.just("required"), st.lists(st.sampled_from("abc"), max_size=3, unique=True)),
        st.tuples(st.just("additionalProperties"), st.booleans() | inner),
        st.tuples(st.just("items"), inner),
        st.tuples(st.just("anyOf"), st.lists(inner, min_size=1, max_size=3)),
    )
    return st.lists(keyword, min_size=1, max_size=3).map(dict)


schemas = st.recursive(_leaf(), _node, max_leaves=6)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas, instance=values)
def test_fast_path_matches_jsonschema_2020_12(schema: Any, instance: Any) -> None:
    """Whatever the schema and instance, the predicate says valid exactly when jsonschema does."""
    fast = fast_predicate(schema)
    assume(fast is not None)
    assert fast(instance) == Draft202012Validator(schema, format_checker=format_checker()).is_valid(instance)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas, instance=values)
def test_fast_path_matches_jsonschema_draft_7(schema: Any, instance: Any) -> None:
    """Segment's exports declare draft-07; same answers there."""
    fast = fast_predicate(schema)
    assume(fast is not None)
    assert fast(instance) == Draft7Validator(schema, format_checker=format_checker()).is_valid(instance)


TRICKY: list[tuple[Any, list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1"]),
    ({"type": "number"}, [1, 1.5, True, None]),
    ({"enum": [1]}, [1, 1.0, True, "1"]),
    ({"enum": [True]}, [True, 1, 1.0]),
    ({"const": [1, {"a": False}]}, [[1, {"a": False}], [1.0, {"a": False}], [True, {"a": 0}], [1]]),
    ({"minimum": 1}, [0, True, False, "0", 1]),
    ({"format": "date-time"}, [5, "2024-05-01T12:00:00Z", "2024-5-1", "soon", None]),
    ({"maxLength": 1}, ["é", "ab", 12]),
    ({"additionalProperties": {"type": "string"}, "properties": {"a": {}}}, [{"a": 1, "b": "x"}, {"b": 2}, []]),
    ({"required": ["a"]}, [{}, {"a": None}, [], "a"]),
]


def test_tricky_cases_agree() -> None:
    """Booleans are not numbers, 1 == 1.0 but true != 1, formats only judge strings, ..."""
    for schema, instances in TRICKY:
        fast = fast_predicate(schema)
        assert fast is not None
        validator = Draft202012Validator(schema, format_checker=format_checker())
        for instance in instances:
            assert fast(instance) == validator.is_valid(instance), (schema, instance)


def test_draft_4_integers_and_exclusive_bounds() -> None:
    """Draft 4: 1.0 is not an integer, and boolean exclusiveMinimum goes to jsonschema."""
    schema = {"type": "integer"}
    fast = fast_predicate(schema, legacy=True)
    assert fast is not None
    for value in (1, 1.0, True, "1"):
        assert fast(value) == Draft4Validator(schema).is_valid(value)
    assert fast_predicate({"minimum": 1, "exclusiveMinimum": True}, legacy=True) is None


def test_keywords_outside_the_subset_fall_back() -> None:
    """$ref, oneOf, patternProperties and friends are left to jsonschema."""
    for schema in (
        {"$ref": "#/definitions/x"},
        {"oneOf": [{}]},
        {"patternProperties": {"a": {}}},
        {"items": [{}]},
        {"properties": {"a": {"allOf": [{}]}}},
        {"pattern": "("},
    ):
        assert fast_predicate(schema) is None


def test_the_subset_covers_what_plans_generate() -> None:
    """Compiled segdbg plans (types, unions, nested objects, closed keys, dates) stay on the fast path."""
    schema = {
        "type": "object",
        "properties": {
            "properties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["a"],
                "properties": {
                    "a": {"type": ["string", "null"], "format": "date-time"},
                    "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"enum": [1, 2]}}}},
                },
            }
        },
    }
    fast = fast_predicate(schema)
    assert fast is not None
    validator = Draft202012Validator(schema, format_checker=format_checker())
    instances = [
        {"properties": {"a": "2024-05-01T12:00:00Z"}},
        {"properties": {"a": None, "b": [{"c": 1}, {"c": 2}, {}]}},
        {"properties": {"a": "yesterday"}},
        {"properties": {"a": 5}},
        {"properties": {"b": []}},
        {"properties": {"a": None, "b": [{"c": 3}]}},
        {"properties": {"a": None, "extra": 1}},
        {"properties": {"a": None, "b": "no"}},
        {"properties": []},
        {},
    ]
    answers = [fast(instance) for instance in instances]
    assert answers == [validator.is_valid(instance) for instance in instances]
    assert True in answers and False in answers  # both outcomes exercised
