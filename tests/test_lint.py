"""Strict-mode lint: what Segment accepts with 200 but drops or mangles, each rule with a near miss."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.codes import close_codes, explain
from debugger.core.lint.finding import CATEGORIES, INFO, PROTOCOL, STRICT, Finding, summary_mark
from debugger.core.lint.finding import kind as json_kind
from debugger.core.lint.linter import LintConfig, Linter, strict
from debugger.core.lint.plan import parse_text
from debugger.core.protocol import ERROR, WARNING
from tests.lintkit import at, codes, lint, stored, track


def test_traits_on_a_track_call_are_flagged_at_their_path() -> None:
    """Top-level traits on track reach no destination."""
    found = at(strict(track("Video Played", {"title": "x"}, traits={"plan": "pro"})), "traits_on_track")
    assert [(f.path, f.severity, f.category) for f in found] == [("traits", "warning", STRICT)]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "track", "event": "Video Played", "context": {"traits": {"plan": "pro"}}},
        {"type": "identify", "traits": {"plan": "pro"}},
        {"type": "track", "event": "Video Played", "traits": {}},
    ],
)
def test_traits_in_their_place_are_not_flagged(message: dict[str, object]) -> None:
    """context.traits on track, traits on identify, and an empty traits object are fine."""
    assert "traits_on_track" not in codes(strict(stored(message)))


def test_traits_on_page_and_screen_are_flagged_too() -> None:
    """Only identify and group carry traits."""
    for kind in ("page", "screen"):
        assert "traits_on_track" in codes(strict(stored({"type": kind, "name": "Home", "traits": {"a": 1}})))


def test_properties_on_identify_and_group_are_flagged() -> None:
    """identify/group take traits; their properties are ignored."""
    assert "properties_on_identify" in codes(strict(stored({"type": "identify", "properties": {"plan": "pro"}})))
    assert "properties_on_identify" in codes(strict(stored({"type": "group", "groupId": "g", "properties": {"a": 1}})))
    assert "properties_on_identify" not in codes(strict(stored({"type": "identify", "traits": {"plan": "pro"}})))


@pytest.mark.parametrize(
    ("traits", "path", "expected"),
    [
        ({"email": 42}, "traits.email", "string"),
        ({"createdAt": "last tuesday"}, "traits.createdAt", "ISO-8601 date string"),
        ({"created_at": "soon"}, "traits.created_at", "ISO-8601 date string"),
        ({"createdAt": 1714564800}, "traits.createdAt", "ISO-8601 date string"),
        ({"birthday": True}, "traits.birthday", "ISO-8601 date string"),
        ({"address": "1 Main St"}, "traits.address", "object"),
        ({"age": "42"}, "traits.age", "number"),
        ({"firstName": ["Ada"]}, "traits.firstName", "string"),
    ],
)
def test_reserved_identify_traits_of_the_wrong_type(traits: dict[str, object], path: str, expected: str) -> None:
    """email must be a string, createdAt an ISO date, address an object, age a number, ..."""
    found = at(strict(stored({"type": "identify", "traits": traits})), "reserved_trait_type")
    assert [(f.path, f.expected) for f in found] == [(path, expected)]


def test_reserved_traits_of_the_right_type_pass() -> None:
    """The identify spec's own example traits raise nothing."""
    traits = {
        "email": "peter@example.com",
        "createdAt": "2015-02-23T22:28:55.111Z",
        "first_name": "Peter",
        "address": {"street": "6th St", "city": "San Francisco"},
        "age": 34,
        "id": 97980,
        "birthday": "1990-01-31",
        "company": {"name": "Initech"},
        "phone": "555-555-5555",
        "name": "Peter Gibbons",
    }
    assert strict(stored({"type": "identify", "traits": traits})) == []


def test_a_number_createdat_explains_the_unit_ambiguity() -> None:
    """Epoch numbers are read as seconds by some destinations and ms by others."""
    (finding,) = at(strict(stored({"type": "identify", "traits": {"createdAt": 1714564800}})), "reserved_trait_type")
    assert "seconds" in finding.message


def test_reserved_traits_are_checked_in_context_traits_and_group_traits() -> None:
    """rudder-sdk-python puts identify traits in context.traits; group has its own reserved traits."""
    rudder = stored({"type": "identify", "context": {"traits": {"email": False}}})
    assert [f.path for f in at(strict(rudder), "reserved_trait_type")] == ["context.traits.email"]
    group = stored({"type": "group", "groupId": "g", "traits": {"employees": 42, "website": 7}})
    assert [f.path for f in at(strict(group), "reserved_trait_type")] == ["traits.website"]


def test_reserved_track_properties_revenue_value_currency() -> None:
    """revenue and value must be numbers; currency an ISO 4217 code in any case."""
    bad = strict(track("Plan Upgraded", {"revenue": "$12.50", "value": "3", "currency": "dollars"}))
    assert {(f.code, f.path) for f in bad} == {
        ("reserved_property_type", "properties.revenue"),
        ("reserved_property_type", "properties.value"),
        ("currency_code", "properties.currency"),
    }
    assert strict(track("Plan Upgraded", {"revenue": 12.5, "value": 3, "currency": "usd"})) == []


def test_reserved_page_properties() -> None:
    """Page url/title/... are strings, keywords a list of strings."""
    page = stored({"type": "page", "name": "Home", "properties": {"url": 5, "keywords": "a,b", "title": "Home"}})
    assert {f.path for f in at(strict(page), "reserved_property_type")} == {"properties.url", "properties.keywords"}


@pytest.mark.parametrize(
    ("integrations", "expected"),
    [
        ({"All": False}, {"integrations_disable_all"}),
        ({"All": False, "Mixpanel": False}, {"integrations_disable_all"}),
        ({"All": False, "Mixpanel": True}, set()),
        ({"All": False, "Amplitude": {"session_id": 1}}, set()),
        ({"All": True, "Salesforce": False}, set()),
        ({"Mixpanel": "false"}, {"integrations_value"}),
        ({"all": False}, {"integrations_all_case"}),
    ],
)
def test_integrations(integrations: dict[str, object], expected: set[str]) -> None:
    """All: false with nothing re-enabled reaches no destination; flags must be booleans or objects."""
    assert codes(strict(track("Video Played", {}, integrations=integrations))) == expected


@pytest.mark.parametrize(
    "value", ["undefined", "null", "None", "[object Object]", "NaN", " ", "guest", "Anonymous", "0", "-1", "0000-00"]
)
def test_placeholder_ids(value: str) -> None:
    """A stringified undefined/null is a real id to Segment, shared by every user that sent it."""
    assert [f.path for f in at(strict(track("Video Played", {}, userId=value)), "placeholder_id")] == ["userId"]


def test_ids_that_merely_contain_placeholder_words_pass() -> None:
    """Only the whole value counts."""
    assert strict(track("Video Played", {}, userId="user-undefined-1", anonymousId="null-island")) == []


def test_lint_never_repeats_protocol_problems() -> None:
    """No ids, track without event, bad timestamps: protocol's job, stored at ingest; lint adds none of them."""
    broken = stored({"type": "track", "userId": None, "event": "", "timestamp": "soon", "messageId": "x" * 150})
    protocol_codes = {
        "no_user_anon_id",
        "missing_event",
        "invalid_timestamp",
        "message_id_too_long",
        "duplicate_message_id",
    }
    assert not codes(lint(broken)) & protocol_codes


def test_event_merges_stored_protocol_problems_first() -> None:
    """Linter.event lists the row's stored problems as protocol findings, then lint."""
    row = {
        "problems": [{"code": "no_user_anon_id", "path": "userId", "message": "m", "severity": "error"}],
        "stored": track("Video Played", {}, traits={"a": 1}),
    }
    found = Linter().event(row)
    assert [(f.category, f.code) for f in found] == [(PROTOCOL, "no_user_anon_id"), (STRICT, "traits_on_track")]


def test_ignore_takes_codes_and_categories() -> None:
    """LintConfig.ignore leaves out a rule or a whole category."""
    message = track("Video Played", {"Bad Key": 1}, traits={"a": 1})
    assert "traits_on_track" not in codes(lint(message, LintConfig(ignore=frozenset({"traits_on_track"}))))
    assert codes(lint(message, LintConfig(ignore=frozenset({"naming"})))) == {"traits_on_track"}


def test_config_rejects_unknown_casings() -> None:
    """A typo in a casing name is an error, not silently the default."""
    with pytest.raises(ValueError, match="event_case"):
        LintConfig(event_case="Title")


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["Order Completed", "product added", "undefined", "USD", "2024-05-01", "All"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["All", "email", "price", "products"]), inner, max_size=4
        )
    ),
    max_leaves=12,
)
_messages = st.dictionaries(
    st.sampled_from(
        [
            "type",
            "event",
            "name",
            "userId",
            "anonymousId",
            "groupId",
            "previousId",
            "properties",
            "traits",
            "context",
            "integrations",
            "timestamp",
        ]
    ),
    _json | st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]),
    max_size=8,
)
_PLAN = CompiledPlan(
    parse_text(
        "events:\n  Order Completed:\n    properties:\n      price: number\nidentify:\n  traits:\n    email: string?\n"
    )
)


@settings(max_examples=300, deadline=None)
@given(message=_messages)
def test_lint_never_raises_on_any_message(message: dict[str, object]) -> None:
    """Whatever a client sends (event as an object, traits as a list, ...), lint answers with findings."""
    for finding in Linter(plan=_PLAN).lint(message):
        assert finding.code and finding.category in CATEGORIES and finding.severity in ("error", "warning", "info")


def test_summary_mark_shows_the_worst_finding_first_and_counts_the_rest() -> None:
    info = Finding("naming_case", "event", "m", INFO, "naming")
    warning = Finding("traits_on_track", "traits", "m", WARNING)
    error = Finding("no_user_anon_id", "", "m", ERROR, PROTOCOL)
    assert summary_mark([]) == ("", "")
    assert summary_mark([info]) == ("· naming_case", INFO)
    assert summary_mark([info, warning]) == ("⚠ traits_on_track +1", WARNING)
    assert summary_mark([warning, info, error]) == ("✗ no_user_anon_id +2", ERROR)
    odd = Finding("x", "", "m", "fatal")
    assert summary_mark([odd]) == ("• x", "fatal")
    assert summary_mark([odd, info]) == ("· naming_case +1", INFO)  # a known severity ranks before an unknown one


def test_a_finding_as_json_has_the_problem_keys_and_its_category() -> None:
    finding = Finding("type", "properties.total", "a string", ERROR, "plan", "number", "string")
    assert finding.to_dict() == {
        "code": "type", "path": "properties.total", "message": "a string", "severity": "error", "category": "plan",
        "expected": "number", "actual": "string",
    }  # fmt: skip


def test_explain_prints_a_codes_whole_entry_and_close_codes_suggest_spellings() -> None:
    text = explain("no_user_anon_id").splitlines()
    assert text[:5] == [
        "no_user_anon_id  (protocol, dropped: never reaches destinations)",
        "",
        "Neither `userId` nor `anonymousId`: Segment drops the message.",
        "",
        "Fix: Set `userId` once the user is known and `anonymousId` before; every message needs one of them.",
    ]
    assert text[5].startswith("  analytics.js: ") and text[-2:] == ["", "docs/problems.md lists every code."]
    with pytest.raises(KeyError):
        explain("no_such_code")
    assert close_codes("no_user_anon") == ["no_user_anon_id", "missing_user_id"]
    assert close_codes("no_user_anon", n=1) == ["no_user_anon_id"]
    assert close_codes("zzzz") == []


def test_integrations_all_in_another_case_is_named_with_what_was_expected() -> None:
    (finding,) = [f for f in lint(track("Order Completed", {}, integrations={"all": False})) if "integr" in f.code]
    assert (finding.code, finding.path, finding.expected, finding.actual) == (
        "integrations_all_case", "integrations.all", '"All"', '"all"',
    )  # fmt: skip
    assert finding.message == "`integrations.all` is not `All`: integration names are case-sensitive, so it is ignored."


def test_json_kinds_are_named_as_json_schema_names_them() -> None:
    assert [json_kind(v) for v in (None, True, 1, 1.5, "s", [1], {"a": 1})] == [
        "null", "boolean", "integer", "number", "string", "array", "object",
    ]  # fmt: skip


def test_an_identify_rule_checks_traits() -> None:
    plan = CompiledPlan(parse_text("name: P\nidentify:\n  traits:\n    email: string\n"))
    (wrong,) = plan.check(stored({"type": "identify", "traits": {"email": 5}}))
    assert (wrong.code, wrong.path, wrong.message) == (
        "type",
        "traits.email",
        "traits.email is integer 5; the plan expects string.",
    )
    (extra,) = plan.check(stored({"type": "identify", "traits": {"email": "a", "extra": 1}}))
    assert (extra.code, extra.path, extra.actual) == ("unplanned_property", "traits.extra", '"extra"')
    assert plan.check(stored({"type": "identify", "traits": {"email": "a"}, "properties": {"x": 1}})) == []
