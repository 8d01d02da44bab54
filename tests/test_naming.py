"""Naming lint: one casing, Object Action, no values in names or keys; each rule with a near miss."""

from __future__ import annotations

import pytest

from debugger.core.lint.finding import INFO, NAMING
from debugger.core.lint.linter import LintConfig
from debugger.core.lint.naming import Naming, convert, words
from tests.lintkit import at, codes, lint, stored, track


def test_words_split_every_casing() -> None:
    """Title, snake, camel, kebab and acronyms split into the same words."""
    variants = ("orderCompleted", "order_completed", "Order Completed", "order-completed", "ORDER COMPLETED")
    assert {tuple(w.lower() for w in words(v)) for v in variants} == {("order", "completed")}
    assert words("URLShared") == ["URL", "Shared"]


@pytest.mark.parametrize(
    ("name", "case", "expected"),
    [
        ("video bookmarked", "title", "Video Bookmarked"),
        ("Email Marked As Spam", "title", "Email Marked as Spam"),
        ("Video Bookmarked", "snake", "video_bookmarked"),
        ("video_bookmarked", "camel", "videoBookmarked"),
        ("VIDEO bookmarked", "sentence", "VIDEO bookmarked"),
    ],
)
def test_convert_suggests_the_configured_casing(name: str, case: str, expected: str) -> None:
    """The suggestion in a casing finding is the name in the right casing."""
    assert convert(name, case) == expected


@pytest.mark.parametrize("name", ["video bookmarked", "Video bookmarked", "Video_Bookmarked", "videoBookmarked"])
def test_event_names_not_in_title_case(name: str) -> None:
    """Title Case by default."""
    (finding,) = at(lint(track(name, {})), "event_name_casing")
    assert (finding.path, finding.expected, finding.severity, finding.category) == ("event", "Title Case", INFO, NAMING)


@pytest.mark.parametrize(
    "name", ["Video Bookmarked", "Report Marked as Spam", "iPhone Paired", "URL Shared", "3D Model Rotated"]
)
def test_title_case_allows_small_words_acronyms_and_brands(name: str) -> None:
    """'as'/'to' stay lower case; URL, iPhone and 3D are fine."""
    assert "event_name_casing" not in codes(lint(track(name, {})))


def test_event_casing_is_configurable() -> None:
    """snake_case teams get snake_case advice."""
    snake = LintConfig(event_case="snake")
    assert "event_name_casing" not in codes(lint(track("video_bookmarked", {}), snake))
    (finding,) = at(lint(track("Video Bookmarked", {}), snake), "event_name_casing")
    assert "video_bookmarked" in finding.message


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Bookmark", "one word"),
        ("Bookmark Video", "no past-tense"),
        ("Bookmarked Video", "action first"),
        ("Add To Cart", "no past-tense"),
    ],
)
def test_object_action(name: str, why: str) -> None:
    """Event names are a noun then a past-tense verb."""
    (finding,) = at(lint(track(name, {})), "event_name_object_action")
    assert why in finding.message


@pytest.mark.parametrize(
    "name", ["Video Bookmarked", "Logged In", "Report Sent", "Checkout Step Two Viewed", "Order Completed"]
)
def test_object_action_near_misses(name: str) -> None:
    """Past tense last, phrasal verbs and irregular verbs pass."""
    assert "event_name_object_action" not in codes(lint(track(name, {})))


@pytest.mark.parametrize(
    "name", ["Signed Up", "Unsubscribed", "Account Added User", "Video Content Playing", "Email Marked as Spam"]
)
def test_the_segment_specs_own_names_are_exempt(name: str) -> None:
    """The spec asks for these exact names; naming lint must not argue."""
    assert not [f for f in lint(track(name, {})) if f.category == NAMING]


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("Order 12345 Completed", "a number"),
        ("Report 2024-05-01 Viewed", "a date"),
        ("Invite ada@example.com Sent", "an e-mail"),
        ("Item 3f2a9c81d4e5 Viewed", "an id"),
        ("Doc 123e4567-e89b-12d3-a456-426614174000 Opened", "a UUID"),
    ],
)
def test_dynamic_event_names(name: str, what: str) -> None:
    """Values inside names split one event into thousands."""
    (finding,) = at(lint(track(name, {})), "dynamic_event_name")
    assert what in finding.message


@pytest.mark.parametrize("name", ["Web3 Wallet Connected", "Video Played", "MP4 Exported"])
def test_names_with_digits_in_words_are_not_dynamic(name: str) -> None:
    """Digits inside a word are part of the name."""
    assert "dynamic_event_name" not in codes(lint(track(name, {})))


def test_stray_spaces_in_event_names() -> None:
    """A leading space makes a second event."""
    assert "event_name_whitespace" in codes(lint(track(" Video Played", {})))
    assert "event_name_whitespace" not in codes(lint(track("Video Played", {})))


def test_property_keys_not_in_snake_case() -> None:
    """snake_case by default, with the fix in the message, at any depth."""
    found = at(
        lint(track("Video Played", {"videoTitle": "x", "player": {"playerName": "y"}, "ok_key": 1})), "key_casing"
    )
    assert {(f.path, f.expected) for f in found} == {
        ("properties.videoTitle", "snake_case"),
        ("properties.player.playerName", "snake_case"),
    }
    assert "video_title" in found[0].message


def test_key_casing_is_configurable_and_checks_traits() -> None:
    """camelCase teams; identify traits are keys too."""
    camel = LintConfig(key_case="camel")
    assert [
        f.path
        for f in at(
            lint(stored({"type": "identify", "traits": {"plan_name": "x", "planTier": 1}}), camel), "key_casing"
        )
    ] == ["traits.plan_name"]


def test_reserved_camelcase_traits_and_spec_keys_are_exempt() -> None:
    """firstName/createdAt are the spec's; Video Quality Updated's startupTime too; $-keys are destination-specific."""
    identify = stored({"type": "identify", "traits": {"firstName": "Ada", "createdAt": "2024-01-01T00:00:00Z"}})
    assert "key_casing" not in codes(lint(identify))
    assert "key_casing" not in codes(lint(track("Video Quality Updated", {"startupTime": 1, "droppedFrames": 0})))
    assert "key_casing" not in codes(lint(track("Video Played", {"$browser": "x"})))


def test_numbered_keys_are_one_list() -> None:
    """feature_1, feature_2 want an array."""
    (finding,) = at(lint(track("Plan Viewed", {"feature_1": "a", "feature_2": "b", "tier": 1})), "dynamic_property_key")
    assert finding.path == "properties.feature_1" and "feature_2" in finding.actual


def test_a_single_numbered_key_is_fine() -> None:
    """address_line_1 alone is a name."""
    assert "dynamic_property_key" not in codes(lint(track("Plan Viewed", {"address_line_1": "a"})))


@pytest.mark.parametrize("key", ["2024-05-01", "12345", "ada@example.com", "3f2a9c81d4e5"])
def test_keys_that_are_values(key: str) -> None:
    """A date, number, e-mail or id as a key makes the schema grow forever."""
    assert [f.path for f in at(lint(track("Stats Viewed", {key: 1})), "dynamic_property_key")] == [
        f'properties["{key}"]'
    ]


def test_keys_inside_arrays_are_reported_once() -> None:
    """A bad key in every item of a list is one finding, at the first item."""
    items = [{"itemName": "a"}, {"itemName": "b"}, {"itemName": "c"}]
    assert [f.path for f in at(lint(track("Cart Emptied", {"items": items})), "key_casing")] == [
        "properties.items[0].itemName"
    ]


@pytest.mark.parametrize("name", ["Product 12345", "Order 3f2a9c81d4e5", "Invoice 2024-05-01"])
def test_page_names_that_vary_by_id(name: str) -> None:
    """One page name per template."""
    for kind in ("page", "screen"):
        assert [f.path for f in at(lint(stored({"type": kind, "name": name})), "dynamic_page_name")] == ["name"]


@pytest.mark.parametrize("name", ["Pricing", "/docs/getting-started", "Product Detail"])
def test_fixed_page_names_pass(name: str) -> None:
    """A path is a fixed page; only ids vary."""
    assert "dynamic_page_name" not in codes(lint(stored({"type": "page", "name": name})))


def test_naming_caches_do_not_change_answers() -> None:
    """The cached answer for a name is what a fresh, empty Naming computes, whatever was asked
    before: the cache is keyed by name *and* path, and a semantic name is cached apart."""
    names = ["video bookmarked", "Order_Completed", "Signed Up", "user 12345 clicked", " Padded"]
    paths = ["event", "properties.kind", "event"]
    naming = Naming()
    for path in paths:
        for name in names:
            cached = naming.event_name(name, path=path)
            assert cached == Naming().event_name(name, path=path)
            assert all(f.path == path for f in cached)
    assert naming.event_name("video bookmarked") != ()
    assert naming.event_name("video bookmarked", path="properties.kind")[0].path == "properties.kind"
    assert Naming().event_name("video bookmarked", semantic=True) == ()
