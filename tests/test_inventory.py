"""Schema inventory: counts, times, types, examples, drift; the draft plan validates its own capture."""

from __future__ import annotations

from typing import Any

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.inventory import Inventory
from debugger.core.lint.plan import dump_yaml, parse_text
from tests.lintkit import stored, track


def row(message: dict[str, Any], when: str, write_key: str = "web") -> dict[str, Any]:
    """An events row as the store returns it (only what the inventory reads)."""
    return {"stored": message, "write_key": write_key, "received_at": when}


ROWS = [
    row(
        track("Order Completed", {"order_id": "o1", "revenue": 10, "products": [{"sku": "a", "price": 1.5}]}),
        "2024-05-01T10:00:00.000Z",
    ),
    row(
        track("Order Completed", {"order_id": "o2", "revenue": "12.50", "coupon": None, "products": []}),
        "2024-05-01T11:00:00.000Z",
    ),
    row(
        track("Order Completed", {"order_id": "o3", "revenue": 9.5, "products": [{"sku": "b", "price": 2, "qty": 1}]}),
        "2024-05-01T12:00:00.000Z",
    ),
    row(stored({"type": "identify", "traits": {"email": "a@example.com", "plan": "pro"}}), "2024-05-01T10:30:00.000Z"),
    row(stored({"type": "identify"}), "2024-05-01T10:31:00.000Z"),
    row(
        stored({"type": "page", "name": "Pricing", "properties": {"url": "https://e.com/pricing"}}),
        "2024-05-01T10:32:00.000Z",
    ),
    row(
        stored({"type": "page", "name": "Docs", "properties": {"url": "https://e.com/docs", "title": "Docs"}}),
        "2024-05-01T10:33:00.000Z",
    ),
    row(track("Video Played", {"title": "x"}), "2024-05-01T10:34:00.000Z", write_key="ios"),
]


def _inventory(**options: bool) -> Inventory:
    inventory = Inventory(**options)
    for r in ROWS:
        inventory.add(r)
    return inventory


def _fields(doc: dict[str, Any], source: str, name: str | None, kind: str = "track") -> dict[str, dict[str, Any]]:
    (src,) = [s for s in doc["sources"] if s["write_key"] == source]
    (event,) = [e for e in src["events"] if e["name"] == name and e["type"] == kind]
    return {f["path"]: f for f in event["fields"]} | {"": event}


def test_per_source_per_event_counts_and_times() -> None:
    """Each source lists its events with counts and first/last seen."""
    doc = _inventory().to_json({"web": "Web app"})
    assert [(s["write_key"], s["label"]) for s in doc["sources"]] == [("ios", None), ("web", "Web app")]
    order = _fields(doc, "web", "Order Completed")[""]
    assert (order["count"], order["first_seen"], order["last_seen"]) == (
        3,
        "2024-05-01T10:00:00.000Z",
        "2024-05-01T12:00:00.000Z",
    )


def test_types_presence_examples_and_drift() -> None:
    """revenue was a number and then a string: drift, with when each type was last seen."""
    fields = _fields(_inventory().to_json(), "web", "Order Completed")
    revenue = fields["properties.revenue"]
    assert revenue["types"] == {"number": 2, "string": 1} and revenue["drift"]
    assert revenue["last_seen_by_type"] == {"number": "2024-05-01T12:00:00.000Z", "string": "2024-05-01T11:00:00.000Z"}
    assert fields["properties.order_id"]["examples"] == ['"o1"', '"o2"', '"o3"']
    assert (
        fields["properties.coupon"]["present"],
        fields["properties.coupon"]["of"],
        fields["properties.coupon"]["drift"],
    ) == (1, 3, False)
    assert fields["properties.products[].price"]["types"] == {"number": 2}
    assert fields["properties.products[].qty"]["present"] == 1


def test_identify_traits_and_pages_by_name() -> None:
    """identify lists traits; page calls are listed per name in the inventory."""
    doc = _inventory().to_json()
    assert _fields(doc, "web", None, "identify")["traits.email"]["present"] == 1
    assert _fields(doc, "web", "Docs", "page")["properties.title"]["types"] == {"string": 1}


def test_draft_plan_validates_the_capture_it_came_from() -> None:
    """Every row of the capture conforms to the draft plan written from it."""
    inventory = _inventory(by_source=False, pool_pages=True)
    text = dump_yaml(inventory.draft_plan("Draft"))
    plan = CompiledPlan(parse_text(text))
    assert [(r["stored"].get("event"), plan.check(r["stored"])) for r in ROWS if plan.check(r["stored"])] == []
    assert "coupon: any?" in text and "revenue: string|number" in text and "qty: number?" in text


def test_draft_plan_catches_a_changed_type_and_a_new_property() -> None:
    """A property whose type changes, or that was never seen, is a violation of the draft."""
    plan = CompiledPlan(parse_text(dump_yaml(_inventory(by_source=False, pool_pages=True).draft_plan("Draft"))))
    changed = track("Video Played", {"title": 7})
    assert [(f.code, f.path, f.expected, f.actual) for f in plan.check(changed)] == [
        ("type", "properties.title", "string", "integer")
    ]
    assert [(f.code, f.path) for f in plan.check(track("Video Played", {"title": "x", "volume": 3}))] == [
        ("unplanned_property", "properties.volume")
    ]
    assert [f.code for f in plan.check(track("Video Paused", {}))] == ["unplanned_event"]


def test_wide_objects_are_maps_not_records() -> None:
    """An object keyed by ids (hundreds of keys) is summarised as an open object."""
    inventory = Inventory(by_source=False)
    inventory.add(
        row(track("Scores Synced", {"scores": {f"user_{i}": i for i in range(300)}}), "2024-05-01T10:00:00.000Z")
    )
    plan = inventory.draft_plan("Draft")
    assert plan["events"]["Scores Synced"]["properties"]["scores"] == {"type": "object"}
