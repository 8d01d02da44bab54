"""Semantic specs: near-miss names, property types, products[], expected properties; no false positives."""

from __future__ import annotations

from typing import Any

import pytest

from debugger.core.lint.finding import SEMANTIC
from debugger.core.lint.semantic import Semantic
from debugger.core.lint.specs import SEMANTIC_EVENTS, V1_ALIASES
from tests.lintkit import at, codes, lint, track

_VALUES: dict[str, Any] = {
    "s": "x",
    "n": 1.5,
    "b": True,
    "o": {},
    "d": "2024-05-01T12:00:00Z",
    "c": "USD",
    "s[]": ["a"],
    "o[]": [{}],
    "p[]": [{"product_id": "p1", "sku": "s1", "price": 9.99, "quantity": 1}],
}


def _valid(name: str) -> dict[str, Any]:
    spec = SEMANTIC_EVENTS[name]
    return {key: _VALUES[compact.split("|")[0]] for key, compact in spec.properties.items()}


@pytest.mark.parametrize("name", sorted(SEMANTIC_EVENTS))
def test_every_spec_event_with_every_spec_property_is_clean(name: str) -> None:
    """A spec event sent exactly as the spec describes raises no finding of any category."""
    assert lint(track(name, _valid(name))) == []


# Payloads shaped like the examples on the spec pages (our own values), including their quirks.
SPEC_SHAPED: list[tuple[str, dict[str, Any]]] = [
    (
        "Product Viewed",
        {
            "product_id": "507f1f",
            "sku": "G-32",
            "price": 18.99,
            "quantity": 1,
            "currency": "usd",
            "value": 18.99,
            "position": 3,
            "url": "https://www.example.com/p",
            "image_url": "https://www.example.com/p.jpg",
        },
    ),
    (
        "Order Completed",
        {
            "checkout_id": "c1",
            "order_id": "o1",
            "affiliation": "Store",
            "total": 27.5,
            "subtotal": 22.5,
            "revenue": 25.0,
            "shipping": 3,
            "tax": 2,
            "discount": 2.5,
            "coupon": "may",
            "currency": "USD",
            "products": [
                {
                    "product_id": "p1",
                    "sku": "45790-32",
                    "name": "Game",
                    "price": 19,
                    "quantity": 1,
                    "category": "Games",
                    "url": "https://e.com/p",
                    "image_url": "https://e.com/p.jpg",
                },
                {"product_id": "p2", "sku": "46493-32", "price": 3, "quantity": 2},
            ],
        },
    ),
    (
        "Order Refunded",
        {
            "order_id": "o1",
            "total": 30,
            "currency": "USD",
            "products": [{"product_id": "p1", "price": 19, "quantity": 1}],
        },
    ),
    (
        "Cart Shared",
        {
            "share_via": "email",
            "share_message": "hey",
            "recipient": "f@example.com",
            "cart_id": "c",
            "products": [{"product_id": "p1"}, {"product_id": "p2"}],
        },
    ),
    ("Coupon Denied", {"order_id": "o1", "cart_id": "c1", "coupon": "may_deals_2016", "reason": "Coupon expired"}),
    ("Payment Info Entered", {"checkout_id": "c1", "order_id": "o1"}),
    ("Product Reviewed", {"product_id": "p1", "review_id": "r1", "review_body": "love it", "rating": "5"}),
    (
        "Product List Filtered",
        {
            "list_id": "deals",
            "filters": [{"type": "department", "value": "beauty"}],
            "sorts": [{"type": "price", "value": "desc"}],
            "products": [{"product_id": "p1", "price": 12.6, "position": 1}],
        },
    ),
    (
        "Promotion Viewed",
        {"promotion_id": "promo_1", "creative": "top_banner_2", "name": "75% sale", "position": "home_banner_top"},
    ),
    ("Application Updated", {"previous_version": "1.1.2", "previous_build": 1234, "version": "1.2.0", "build": "1456"}),
    ("Application Opened", {"from_background": False, "referring_application": "GMail", "url": "url://location"}),
    (
        "Install Attributed",
        {
            "provider": "Branch",
            "campaign": {"source": "FB", "name": "Spring", "ad_creative": "Red", "ad_group": "Red Ones"},
        },
    ),
    (
        "Video Playback Started",
        {
            "session_id": "12345",
            "content_asset_ids": ["0129370"],
            "ad_asset_id": ["ad123"],
            "ad_type": ["mid-roll"],
            "position": 0,
            "total_length": 392,
            "framerate": 29.0,
            "full_screen": False,
            "livestream": False,
        },
    ),
    (
        "Video Playback Paused",
        {"session_id": "12345", "content_asset_id": "0129370", "ad_asset_id": None, "ad_type": None, "position": 21},
    ),
    (
        "Video Content Started",
        {"session_id": "12345", "asset_id": "0129370", "season": "1", "keywords": ["nature"], "airdate": "1991-08-13"},
    ),
    (
        "Video Ad Started",
        {"session_id": "12345", "asset_id": "ad123", "type": "pre-roll", "load_type": "dynamic", "position": 0},
    ),
    ("Video Quality Updated", {"bitrate": 100, "framerate": 29.0, "startupTime": 1.2, "droppedFrames": 0}),
    (
        "Signed Up",
        {"type": "organic", "first_name": "Peter", "last_name": "G", "email": "p@example.com", "username": "pg"},
    ),
    (
        "Trial Started",
        {
            "trial_start_date": "2018-08-28T04:09:47Z",
            "trial_end_date": "2018-09-20T04:09:47Z",
            "trial_plan_name": "Business",
        },
    ),
    (
        "Email Link Clicked",
        {
            "email_id": "18vzF7u3z",
            "email_subject": "Hi",
            "campaign_id": "123",
            "link_id": "101",
            "link_url": "https://e.com",
        },
    ),
    ("Unsubscribed", {"email_id": "e", "list_id": "1425", "list_name": "New customers"}),
]


@pytest.mark.parametrize(("name", "properties"), SPEC_SHAPED, ids=[n for n, _ in SPEC_SHAPED])
def test_spec_shaped_examples_raise_nothing(name: str, properties: dict[str, Any]) -> None:
    """Lower-case currency, nulls, arrays for ad ids, numeric builds, camelCase video keys: all as the spec shows."""
    assert lint(track(name, properties)) == []


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("product added", "Product Added"),
        ("Added Product", "Product Added"),
        ("Order Complete", "Order Completed"),
        ("Order Compelted", "Order Completed"),
        ("Product_Added", "Product Added"),
        ("productAdded", "Product Added"),
        ("Viewed Product Category", "Product List Viewed"),
        ("Completed Order", "Order Completed"),
        ("Order Canceled", "Order Cancelled"),
        ("Sign Up", "Signed Up"),
        ("application opened", "Application Opened"),
    ],
)
def test_near_miss_event_names(name: str, target: str) -> None:
    """Case, separators, order, tense, v1 names and typos all point at the exact spec name."""
    found = lint(track(name, {}))
    (finding,) = at(found, "near_miss_event")
    assert (finding.path, finding.expected, finding.category) == ("event", f'"{target}"', SEMANTIC)
    assert not [f for f in found if f.path == "event" and f.code != "near_miss_event"], (
        "the near miss replaces naming advice"
    )


@pytest.mark.parametrize(
    "name", ["Trial Extended", "Signed In", "Cart Updated", "Order Created", "Account Updated", "Product Added"]
)
def test_distinct_names_are_not_near_misses(name: str) -> None:
    """Other words, and the exact spec names, are not near misses."""
    assert Semantic().near_miss(name) is None


def test_v1_names_say_so() -> None:
    """An Ecommerce v1 name gets the v2 name and the reason."""
    (finding,) = at(lint(track(next(iter(V1_ALIASES)), {})), "near_miss_event")
    assert "v1" in finding.message


def test_property_of_the_wrong_type() -> None:
    """A price sent as a string is a string to every destination."""
    (finding,) = at(lint(track("Product Added", {"product_id": "p", "price": "19.99"})), "semantic_type")
    assert (finding.path, finding.expected, finding.actual) == ("properties.price", "number", "string")


def test_products_must_be_product_objects_with_typed_fields() -> None:
    """Each products[] item is an object; its fields have the spec's types, at their own paths."""
    found = lint(
        track(
            "Order Completed",
            {"order_id": "o", "revenue": 1, "products": ["p1", {"sku": "s", "price": "9", "quantity": 1}]},
        )
    )
    assert {(f.code, f.path) for f in found} == {
        ("semantic_type", "properties.products[0]"),
        ("semantic_type", "properties.products[1].price"),
    }


def test_order_items_need_id_price_and_quantity() -> None:
    """Order Completed's products carry product_id or sku, price and quantity."""
    found = at(
        lint(track("Order Completed", {"order_id": "o", "total": 3, "products": [{"name": "x"}]})),
        "semantic_missing_property",
    )
    assert {f.path for f in found} == {
        "properties.products[0].product_id",
        "properties.products[0].price",
        "properties.products[0].quantity",
    }


def test_expected_properties() -> None:
    """Order Completed needs order_id, products and revenue or total; either of the pair will do."""
    found = at(lint(track("Order Completed", {"currency": "USD"})), "semantic_missing_property")
    assert {f.path for f in found} == {"properties.order_id", "properties.products", "properties.revenue"}
    ok = {"order_id": "o", "total": 3.0, "products": [{"sku": "s", "price": 3.0, "quantity": 1}]}
    assert "semantic_missing_property" not in codes(lint(track("Order Completed", ok)))


def test_near_miss_property_keys_replace_casing_advice() -> None:
    """orderId on Order Completed is the spec's order_id misspelt; one finding, not two."""
    found = lint(
        track(
            "Order Completed",
            {
                "orderId": "o",
                "order_total": 3,
                "revenue": 3,
                "products": [{"productId": "p", "price": 1, "quantity": 1}],
            },
        )
    )
    near = at(found, "near_miss_property")
    assert {(f.path, f.expected) for f in near} == {
        ("properties.orderId", "order_id"),
        ("properties.products[0].productId", "product_id"),
    }
    assert not at(found, "key_casing")


def test_dates_booleans_and_currencies() -> None:
    """Trial dates are ISO-8601, from_background a boolean, currency an ISO 4217 code."""
    assert [f.path for f in at(lint(track("Trial Started", {"trial_start_date": "next week"})), "semantic_type")] == [
        "properties.trial_start_date"
    ]
    assert [f.path for f in at(lint(track("Application Opened", {"from_background": "false"})), "semantic_type")] == [
        "properties.from_background"
    ]
    assert [f.path for f in at(lint(track("Product Viewed", {"sku": "s", "currency": "XYZ"})), "currency_code")] == [
        "properties.currency"
    ]


def test_non_spec_events_get_no_semantic_findings() -> None:
    """A custom event with a price string is the team's business (naming aside)."""
    assert not [f for f in lint(track("Invoice Paid", {"price": "19.99"})) if f.category == SEMANTIC]
