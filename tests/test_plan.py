"""Tracking plans: the three formats, the YAML syntax, violations with paths, unplanned events and keys, reload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.finding import PLAN
from debugger.core.lint.plan import PlanError, parse, parse_text
from debugger.store.planfile import PlanWatcher, read_plan
from tests.lintkit import stored, track

YAML_PLAN = """
name: Acme web
events:
  Order Completed:
    description: The customer paid.
    properties:
      order_id: string
      revenue: number
      coupon: string?
      currency: {type: string, pattern: "^[A-Z]{3}$", required: false}
      tags: string[]?
      status: {type: string, enum: [paid, pending], required: false}
      products:
        type: array
        items:
          type: object
          properties:
            sku: string
            price: number
  Signed Out: {}
  Video Played:
    properties: {}
identify:
  traits:
    email: string
    created_at: date?
    on: boolean?
page:
  properties:
    url: string
"""


def check(plan_text: str, message: dict[str, Any], **flags: bool) -> list[tuple[str, str, str | None, str | None]]:
    """(code, path, expected, actual) of each violation."""
    plan = CompiledPlan(parse_text(plan_text), **flags)  # type: ignore[arg-type]
    return sorted((f.code, f.path, f.expected, f.actual) for f in plan.check(message))


GOOD = {"order_id": "o1", "revenue": 12.5, "products": [{"sku": "s", "price": 1.0}]}


def test_a_conforming_event_has_no_violations() -> None:
    """Required present, optional absent, nested items right: nothing to say."""
    assert check(YAML_PLAN, track("Order Completed", GOOD)) == []
    assert (
        check(
            YAML_PLAN,
            track("Order Completed", {**GOOD, "coupon": "x", "tags": ["a"], "status": "paid", "currency": "USD"}),
        )
        == []
    )


def test_type_violation_has_path_expected_and_actual() -> None:
    """A number sent as a string is reported where it is."""
    assert check(YAML_PLAN, track("Order Completed", {**GOOD, "revenue": "12.50"})) == [
        ("type", "properties.revenue", "number", "string")
    ]


def test_nested_violations_have_array_paths() -> None:
    """products[1].price, not just 'products'."""
    products = [{"sku": "a", "price": 1}, {"sku": "b", "price": "2"}]
    assert check(YAML_PLAN, track("Order Completed", {**GOOD, "products": products})) == [
        ("type", "properties.products[1].price", "number", "string")
    ]


def test_missing_required_properties_each_reported() -> None:
    """Each missing required property, also when the message has no properties at all."""
    assert check(YAML_PLAN, track("Order Completed", {"products": []})) == [
        ("required", "properties.order_id", "present", "missing"),
        ("required", "properties.revenue", "present", "missing"),
    ]
    assert [v[1] for v in check(YAML_PLAN, track("Order Completed"))] == [
        "properties.order_id",
        "properties.products",
        "properties.revenue",
    ]


def test_enum_pattern_and_date_formats() -> None:
    """enum, pattern and `date` are enforced."""
    bad = {**GOOD, "status": "lost", "currency": "usd"}
    assert [v[:2] for v in check(YAML_PLAN, track("Order Completed", bad))] == [
        ("enum", "properties.status"),
        ("pattern", "properties.currency"),
    ]
    identify = stored({"type": "identify", "traits": {"email": "a@b.co", "created_at": "someday"}})
    assert [v[:2] for v in check(YAML_PLAN, identify)] == [("format", "traits.created_at")]


def test_unplanned_events_and_properties() -> None:
    """Events and keys the plan does not list are violations, at any depth the plan lists keys."""
    assert check(YAML_PLAN, track("Coupon Applied", {})) == [
        ("unplanned_event", "event", "an event in the plan", '"Coupon Applied"')
    ]
    extra = {**GOOD, "gift": True, "products": [{"sku": "s", "price": 1, "color": "red"}]}
    assert [v[:2] for v in check(YAML_PLAN, track("Order Completed", extra))] == [
        ("unplanned_property", "properties.gift"),
        ("unplanned_property", "properties.products[0].color"),
    ]


def test_planned_event_without_properties_listed_takes_any() -> None:
    """`Signed Out: {}` plans the event but not its properties; `properties: {}` allows none."""
    assert check(YAML_PLAN, track("Signed Out", {"anything": 1})) == []
    assert [v[:2] for v in check(YAML_PLAN, track("Video Played", {"title": "x"}))] == [
        ("unplanned_property", "properties.title")
    ]


def test_allow_unplanned_flags_in_the_plan_and_as_overrides() -> None:
    """allow_unplanned_events / _properties in the file, or from the command line."""
    lenient = "allow_unplanned_events: true\nallow_unplanned_properties: true\n" + YAML_PLAN
    assert check(lenient, track("Coupon Applied", {})) == []
    assert check(lenient, track("Order Completed", {**GOOD, "gift": True})) == []
    assert check(YAML_PLAN, track("Coupon Applied", {}), allow_unplanned_events=True) == []
    assert check(YAML_PLAN, track("Order Completed", {**GOOD, "gift": True}), allow_unplanned_properties=True) == []


def test_identify_and_page_rules() -> None:
    """identify traits and page properties have their own rules; alias has none."""
    assert check(YAML_PLAN, stored({"type": "identify", "traits": {"email": 5}})) == [
        ("type", "traits.email", "string", "integer")
    ]
    assert check(YAML_PLAN, stored({"type": "page", "name": "Home", "properties": {}})) == [
        ("required", "properties.url", "present", "missing")
    ]
    assert check(YAML_PLAN, stored({"type": "alias", "previousId": "a"})) == []


def test_yaml_keys_like_on_and_no_stay_names() -> None:
    """YAML 1.1 would read `on:` as true; plans read it as the property `on`."""
    identify = stored({"type": "identify", "traits": {"email": "a@b.co", "on": "yes"}})
    assert check(YAML_PLAN, identify) == [("type", "traits.on", "boolean", "string")]


def test_naming_settings_travel_with_the_plan() -> None:
    """A team's casing conventions live in its plan."""
    assert parse_text("naming: {events: snake, keys: camel}\nevents: {}").naming == {"events": "snake", "keys": "camel"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("events:\n  X:\n    properties:\n      a: strng", "line 4: events.X.properties.a: unknown type 'strng'"),
        (
            "events:\n  X:\n    properties:\n      a: {type: string, requried: false}",
            "line 4: events.X.properties.a: unknown key(s) 'requried'",
        ),
        ("name: p\nevnts: {}", "line 2: unknown top-level key(s) 'evnts'"),
        ("events: {}\nnaming: {events: Title}", "line 2: naming.events must be one of"),
        ("events:\n  X:\n    description: x\n    props: {}", "line 4: events.X: unknown key(s) 'props'"),
        ("name: p\nevents: [a, b]", "line 2: events must be a mapping"),
        (
            "events:\n  Order Completed:\n    properties:\n      address:\n        properties:\n          city: strnig",
            "line 6: events.Order Completed.properties.address.city: unknown type 'strnig'",
        ),
        ("events:\n  X:\n    properties:\n      a: string\n     b: [", "line 5, column 6: not valid JSON or YAML"),
        ('{\n  "events": {\n    "X": {,\n', "line 3: not valid JSON or YAML"),
        ("- 1\n- 2", "plan.yaml: not a tracking plan"),
    ],
)
def test_bad_plans_say_where_and_why(text: str, message: str) -> None:
    """A broken plan is a one-line error naming the place (the line, in a file) and the fix."""
    with pytest.raises(PlanError) as excinfo:
        CompiledPlan(parse_text(text, "plan.yaml"))
    assert message in str(excinfo.value)


def test_an_invalid_json_schema_is_a_plan_error() -> None:
    """Schemas are checked when the plan is compiled, not when the first event arrives."""
    with pytest.raises(PlanError, match="not a valid JSON Schema"):
        CompiledPlan(parse({"Order Completed": {"type": "object", "properties": {"order_id": {"type": "strin"}}}}))


CONFIG_API = {
    "name": "workspaces/acme/tracking-plans/rs_1",
    "display_name": "Acme TP",
    "rules": {
        "global": {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "object",
            "properties": {"context": {"type": "object"}},
        },
        "events": [
            {
                "name": "Order Completed",
                "version": 1,
                "rules": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {
                        "properties": {
                            "type": "object",
                            "properties": {"order_id": {"type": "string"}, "revenue": {"type": "number"}},
                            "required": ["order_id"],
                        },
                        "context": {},
                        "traits": {},
                    },
                    "required": ["properties"],
                },
            }
        ],
        "identify": {
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {"email": {"type": "string"}}}},
        },
        "identify_traits": [],
        "group_traits": [],
    },
}

PUBLIC_API = {
    "data": {
        "rules": [
            {
                "type": "TRACK",
                "key": "Order Completed",
                "version": 1,
                "jsonSchema": CONFIG_API["rules"]["events"][0]["rules"],
            },  # type: ignore[index]
            {"type": "IDENTIFY", "key": None, "version": 1, "jsonSchema": CONFIG_API["rules"]["identify"]},  # type: ignore[index]
            {"type": "COMMON", "key": None, "version": 1, "jsonSchema": CONFIG_API["rules"]["global"]},  # type: ignore[index]
        ],
        "pagination": {"current": "MA=="},
    }
}


@pytest.mark.parametrize(("document", "fmt"), [(CONFIG_API, "segment-config-api"), (PUBLIC_API, "segment-public-api")])
def test_segment_exports(document: dict[str, Any], fmt: str) -> None:
    """Segment's Config API and Public API tracking-plan JSON validate the same way."""
    plan = CompiledPlan(parse(json.loads(json.dumps(document))))
    assert plan.plan.format == fmt and plan.event_names == ["Order Completed"]
    assert plan.check(track("Order Completed", {"order_id": "o", "revenue": 1})) == []
    violations = {(f.code, f.path) for f in plan.check(track("Order Completed", {"revenue": "1", "extra": 1}))}
    assert violations == {
        ("required", "properties.order_id"),
        ("type", "properties.revenue"),
        ("unplanned_property", "properties.extra"),
    }
    assert {(f.code, f.path) for f in plan.check(stored({"type": "identify", "traits": {"email": 1}}))} == {
        ("type", "traits.email")
    }
    assert all(f.category == PLAN and f.severity == "error" for f in plan.check(track("Nope", {})))


def test_json_schema_per_event_of_properties_or_of_the_message() -> None:
    """A schema of the properties, or of the whole message (it names message fields), both work."""
    doc = {
        "Order Completed": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        "Signed Up": {
            "type": "object",
            "properties": {"properties": {"type": "object", "properties": {"plan": {"enum": ["a", "b"]}}}},
        },
    }
    plan = CompiledPlan(parse(doc))
    assert [f.path for f in plan.check(track("Order Completed", {}))] == ["properties.order_id"]
    assert [f.code for f in plan.check(track("Signed Up", {"plan": "c"}))] == ["enum"]
    titled = CompiledPlan(parse([{"title": "Signed Up", "type": "object", "properties": {"plan": {"type": "string"}}}]))
    assert titled.event_names == ["Signed Up"]


def test_a_folder_of_schema_files(tmp_path: Path) -> None:
    """One JSON Schema per file, named by its title or the file name."""
    (tmp_path / "order_completed.json").write_text(
        json.dumps({"title": "Order Completed", "type": "object", "properties": {"order_id": {"type": "string"}}})
    )
    (tmp_path / "Signed Up.json").write_text(json.dumps({"type": "object"}))
    (tmp_path / "README.md").write_text("not a schema")
    plan = read_plan(tmp_path)
    assert sorted(r.name or "" for r in plan.rules) == ["Order Completed", "Signed Up"]


def test_watcher_reloads_edits_and_keeps_the_last_good_plan(tmp_path: Path) -> None:
    """An edit applies on the next read; a broken edit keeps the old plan and says why."""
    now = [0.0]
    path = tmp_path / "plan.yaml"
    path.write_text("events:\n  Order Completed: {}\n")
    watcher = PlanWatcher(path, interval=1.0, clock=lambda: now[0])
    assert watcher.current() is not None and watcher.current().event_names == ["Order Completed"]  # type: ignore[union-attr]
    path.write_text("events:\n  Order Completed: {}\n  Signed Up: {}\n")
    assert watcher.current().event_names == ["Order Completed"]  # type: ignore[union-attr]  # within the interval
    now[0] = 2.0
    assert watcher.current().event_names == ["Order Completed", "Signed Up"]  # type: ignore[union-attr]
    assert (watcher.version, watcher.error) == (2, None)
    path.write_text("events:\n  X: {properties: {a: nope}}\n")
    now[0] = 4.0
    assert watcher.current().event_names == ["Order Completed", "Signed Up"]  # type: ignore[union-attr]
    assert watcher.error is not None and "unknown type 'nope'" in watcher.error
    path.write_text("events:\n  Fixed Event: {}\n")
    now[0] = 6.0
    assert watcher.current().event_names == ["Fixed Event"] and watcher.error is None  # type: ignore[union-attr]
