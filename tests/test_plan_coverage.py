"""Plan coverage computed from groups and samples (pure core: :class:`Coverage` and :func:`junit`, no capture).
The JSON report is what `check --coverage --format json`, the API and the fixture return; the JUnit XML is
what a CI system shows (docs/tracking-plans.md, "Coverage")."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.coverage import Coverage, GroupKey, describe, junit, required_properties
from debugger.core.lint.plan import parse_text

PLAN = """\
name: Shop
events:
  Order Completed:
    properties:
      order_id: string
      total: number?
  Checkout Started: {}
identify:
  traits:
    email: string
"""
WEB = GroupKey("track", "Order Completed", "web", "analytics.js", None)
IOS = GroupKey("track", "Order Completed", "ios", "analytics-ios", None)
WHO = GroupKey("identify", None, "web", "x", None)


def _order(order_id: object = "o1", version: object = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "track", "event": "Order Completed", "properties": {"order_id": order_id}}
    if version is not None:
        message["context"] = {"app": {"version": version}}
    return message


def _report() -> dict[str, Any]:
    coverage = Coverage(CompiledPlan(parse_text(PLAN)), sample=2)
    coverage.add_group(WEB, 5)
    coverage.add_group(IOS, 3)
    coverage.add_group(GroupKey("track", "Mystery", "ios", "x", None), 2)
    coverage.add_group(GroupKey("track", "Mystery", None, "x", None), 1)
    coverage.add_group(GroupKey("track", "Rare", "web", "x", None), 1)
    coverage.add_group(GroupKey("page", "Home", "web", "x", None), 4)  # no page rules: not "unplanned"
    coverage.add_group(WHO, 1)
    coverage.add_sample(WEB, _order("o1", "1.2"), None)
    coverage.add_sample(IOS, _order(7, 13), None)
    coverage.add_sample(IOS, {"type": "track", "event": "Order Completed", "properties": {}}, [{"code": "no_user"}])
    coverage.add_sample(WHO, {"type": "identify", "traits": {"email": "a@b.c"}}, [])
    coverage.add_sample(GroupKey("page", "Home", "web", "x", None), {"type": "page"}, None)  # no rule: ignored
    return coverage.to_json(by="source")


def test_the_report_counts_valid_only_invalid_never_and_unplanned() -> None:
    report = _report()
    assert {k: v for k, v in report.items() if k != "planned_events"} == {
        "plan": "Shop",
        "coverage": 33.3,
        "planned": 3,
        "valid": 1,
        "invalid": 1,
        "never": 1,
        "events": 17,
        "sample_per_group": 2,
        "sampled_counts": ["by.app"],
        "by": "source",
        "unplanned": [
            {"type": "track", "name": "Mystery", "events": 3, "sources": {"ios": 2, "": 1}},
            {"type": "track", "name": "Rare", "events": 1, "sources": {"web": 1}},
        ],
    }
    order, checkout, identify = report["planned_events"]
    assert (order["label"], order["status"], order["events"], order["sampled"], order["sampled_valid"]) == (
        "Order Completed", "valid", 8, 3, 1,
    )  # fmt: skip
    assert order["reasons"] == [
        {"code": "type", "path": "properties.order_id", "count": 1},
        {"code": "no_user", "path": "", "count": 1},
        {"code": "required", "path": "properties.order_id", "count": 1},
    ]
    assert checkout == {
        "type": "track", "name": "Checkout Started", "label": "Checkout Started", "status": "never", "events": 0,
        "sampled": 0, "sampled_valid": 0, "reasons": [], "by": {"source": {}, "library": {}, "app": {}},
        "properties": [],
    }  # fmt: skip
    # A dropped message (problems given, even none listed) is invalid; the label of a kind rule is the kind.
    assert (identify["label"], identify["status"], identify["reasons"]) == (
        "identify", "invalid", [{"code": "invalid", "path": "", "count": 1}],
    )  # fmt: skip
    assert identify["properties"] == [
        {"path": "traits.email", "status": "invalid", "sampled_valid": 0, "sampled_invalid": 1,
         "reasons": [{"code": "invalid", "path": "", "count": 1}]},
    ]  # fmt: skip


def test_breakdowns_count_groups_exactly_and_app_versions_over_samples() -> None:
    order = _report()["planned_events"][0]
    source, library, app = order["by"]["source"], order["by"]["library"], order["by"]["app"]
    assert list(source) == ["ios", "web"] and list(library) == ["analytics-ios", "analytics.js"]
    assert source["web"] == {"status": "valid", "events": 5, "sampled": 1, "sampled_valid": 1, "reasons": []}
    assert (source["ios"]["status"], source["ios"]["events"], source["ios"]["sampled"]) == ("invalid", 3, 2)
    assert library["analytics-ios"] == source["ios"]
    assert {version: (t["status"], t["events"]) for version, t in app.items()} == {
        "": ("invalid", 1),
        "1.2": ("valid", 1),
        "13": ("invalid", 1),  # a number in the message is a version too
    }
    assert order["properties"] == [
        {"path": "properties.order_id", "status": "valid", "sampled_valid": 1, "sampled_invalid": 1,
         "reasons": [{"code": "type", "path": "properties.order_id", "count": 1}]},
    ]  # fmt: skip


def test_a_property_is_judged_only_where_it_was_sent() -> None:
    plan = CompiledPlan(parse_text(PLAN))
    coverage = Coverage(plan, sample=1)
    coverage.add_group(WEB, 2)
    coverage.add_sample(WEB, {"type": "track", "event": "Order Completed", "properties": {"total": 1}}, None)
    coverage.add_sample(WEB, {"type": "track", "event": "Order Completed", "properties": "x"}, None)
    (order, *_) = coverage.to_json()["planned_events"]
    assert order["properties"][0]["status"] == "never"  # order_id never arrived: not valid nor invalid
    assert order["status"] == "invalid" and order["sampled"] == 2
    assert coverage.to_json()["by"] is None


def test_rules_for_a_kind_catch_every_name_but_track_names_are_exact() -> None:
    coverage = Coverage(CompiledPlan(parse_text(PLAN + "pages:\n  Home: {}\n")), sample=1)
    assert coverage.rule_of("identify", "anything") == ("identify", None)
    assert coverage.rule_of("page", "Home") == ("page", "Home")
    assert coverage.rule_of("page", "Other") is None
    assert coverage.rule_of("track", "Order Completed") == ("track", "Order Completed")
    assert coverage.rule_of("track", "Other") is None
    assert coverage.rule_of("group", None) is None
    coverage.add_group(GroupKey("page", "Other", "w", None, None), 1)  # planned kind, unplanned name
    coverage.add_group(GroupKey("group", "g", "w", None, None), 1)  # a kind the plan says nothing about
    report = coverage.to_json()
    assert [(u["type"], u["name"]) for u in report["unplanned"]] == [("page", "Other")]
    assert report["events"] == 2
    empty = Coverage(CompiledPlan(parse_text("name: Empty\n")), sample=1).to_json()
    assert (empty["coverage"], empty["planned"]) == (100.0, 0)


def test_required_properties_are_read_from_the_rule_schema() -> None:
    schema = {"properties": {"properties": {"required": ["a", 5, "b"]}, "traits": {"required": ["t"]}}}
    assert required_properties(schema, "track") == ["properties.a", "properties.b"]
    assert required_properties(schema, "identify") == ["traits.t"]
    assert required_properties(schema, "group") == ["traits.t"]
    assert required_properties({"properties": {"properties": {"required": "a"}}}, "track") == []
    assert required_properties({"properties": []}, "track") == []
    assert required_properties({}, "page") == []


def test_describe_joins_reasons_with_their_counts() -> None:
    reasons = [{"code": "required", "path": "properties.id", "count": 12}, {"code": "no_user", "path": "", "count": 3}]
    assert describe(reasons) == "required properties.id ×12, no_user ×3"
    assert describe([]) == ""


def test_junit_has_a_case_per_planned_event_and_a_failure_for_each_not_valid() -> None:
    xml = junit(_report())
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(xml)
    assert root.tag == "testsuites" and root.attrib == {"name": "segdbg coverage", "tests": "3", "failures": "2"}
    (suite,) = root
    assert suite.attrib == {
        "name": "tracking plan Shop", "tests": "3", "failures": "2", "errors": "0", "skipped": "0",
    }  # fmt: skip
    properties = {p.attrib["name"]: p.attrib["value"] for p in suite.find("properties") or []}
    assert properties == {"coverage": "33.3", "unplanned": "2"}
    cases = suite.findall("testcase")
    assert [(c.attrib["classname"], c.attrib["name"]) for c in cases] == [
        ("plan.track", "Order Completed"),
        ("plan.track", "Checkout Started"),
        ("plan.identify", "identify"),
    ]
    assert list(cases[0]) == []
    never = cases[1].find("failure")
    assert never is not None and never.attrib == {"type": "never_seen", "message": "Checkout Started was never seen."}
    invalid = cases[2].find("failure")
    assert invalid is not None and invalid.attrib == {
        "type": "only_invalid",
        "message": "identify: 1 event(s) seen, none valid: invalid ×1",
    }
    assert invalid.text == "identify: 1 event(s) seen, none valid: invalid ×1\ntraits.email: invalid (invalid ×1)"
    out = suite.find("system-out")
    assert out is not None and out.text == "Unplanned events: track Mystery ×3, track Rare ×1"


def test_junit_of_a_fully_covered_plan_has_no_failures_and_no_output() -> None:
    coverage = Coverage(CompiledPlan(parse_text("name: One\nevents:\n  Ping: {}\n")), sample=1)
    key = GroupKey("track", "Ping", None, None, None)
    coverage.add_group(key, 1)
    coverage.add_sample(key, {"type": "track", "event": "Ping"}, None)
    root = ET.fromstring(junit(coverage.to_json()))
    assert root.attrib["failures"] == "0" and root.find("testsuite/system-out") is None
    assert root.find("testsuite/testcase/failure") is None
    # A property that was seen valid is listed without reasons.
    report = _report()
    report["planned_events"][2]["properties"][0]["reasons"] = []
    text = ET.fromstring(junit(report)).findall("testsuite/testcase")[2].find("failure").text  # type: ignore[union-attr]
    assert text is not None and text.endswith("\ntraits.email: invalid")
