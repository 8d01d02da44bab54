"""Plan coverage (`check --plan P --coverage`, the API, the fixture, the TUI) on real captures filled through a real server."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from segment.analytics.client import Client as SegmentClient
from textual.widgets import Static, Tree

from debugger.cli.group import cli
from debugger.pytest_plugin import CoverageTooLow, Segdbg
from debugger.server.app import ServerThread
from debugger.store.coverage import NEWEST, OLDEST, SAMPLE
from tests.helpers import basic, http

PLAN = """\
name: Shop
events:
  Order Completed:
    properties:
      order_id: string
      total: number
  Product Viewed:
    properties:
      product_id: string
  Checkout Started: {}
"""


def _post(server: ServerThread, key: str, *messages: dict[str, Any]) -> None:
    answer = http(f"{server.url}/v1/batch", body={"batch": list(messages)}, headers={"Authorization": basic(key)})
    assert answer.status == 200, answer.body


def _track(event: str, version: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "userId": "u1",
        "properties": properties,
        "context": {"library": {"name": "analytics-ios", "version": "1.0"}, "app": {"version": version}},
    }


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


@pytest.fixture
def shop(server: ServerThread) -> ServerThread:
    """Web (segment-analytics-python) sends valid orders; iOS sends orders without order_id in 1.3, bad
    Product Viewed everywhere, and an event the plan does not know; nobody sends Checkout Started."""
    client = SegmentClient("wk_web", host=server.url, sync_mode=True, max_retries=1)
    for index in range(3):
        client.track(user_id="u1", event="Order Completed", properties={"order_id": f"o{index}", "total": 9.5})
    client.flush()
    _post(server, "wk_ios", *(_track("Order Completed", "1.3", total=5) for _ in range(4)))
    _post(server, "wk_ios", *(_track("Product Viewed", "1.2", product_id=7) for _ in range(2)))
    _post(server, "wk_ios", _track("Mystery Tapped", "1.3"), _track("Mystery Tapped", "1.3"))
    _post(server, "wk_ios", {"type": "screen", "name": "Home", "userId": "u1"})  # no screen rules: not unplanned
    return server


def _check(db: Path, *args: str) -> Any:
    return CliRunner(env={"COLUMNS": "160"}).invoke(cli, ["check", "--db", str(db), *args], prog_name="segdbg")


def _report(db: Path, plan: Path, *args: str) -> dict[str, Any]:
    result = _check(db, "--plan", str(plan), "--coverage", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = orjson.loads(result.stdout)
    return report


def _event(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in report["planned_events"] if e["name"] == name)


def test_valid_only_invalid_never_and_unplanned(shop: ServerThread, plan: Path) -> None:
    """Each planned event gets a status, with the top reasons when only invalid; unknown events are listed as unplanned."""
    report = _report(shop.settings.db, plan)
    assert (report["planned"], report["valid"], report["invalid"], report["never"]) == (3, 1, 1, 1)
    assert report["coverage"] == 33.3
    order, viewed, checkout = (_event(report, n) for n in ("Order Completed", "Product Viewed", "Checkout Started"))
    assert order["status"] == "valid" and order["events"] == 7
    assert viewed["status"] == "invalid" and viewed["events"] == 2
    assert viewed["reasons"] == [{"code": "type", "path": "properties.product_id", "count": 2}]
    assert viewed["properties"][0] | {"reasons": []} == {
        "path": "properties.product_id",
        "status": "invalid",
        "sampled_valid": 0,
        "sampled_invalid": 2,
        "reasons": [],
    }
    assert checkout == checkout | {"status": "never", "events": 0, "reasons": []}
    assert report["unplanned"] == [{"type": "track", "name": "Mystery Tapped", "events": 2, "sources": {"wk_ios": 2}}]


def test_breakdown_per_source_library_and_app_version(shop: ServerThread, plan: Path) -> None:
    """Order Completed is valid from web but only invalid from iOS 1.3 (order_id missing): the cells say so."""
    order = _event(_report(shop.settings.db, plan), "Order Completed")
    assert order["by"]["source"]["wk_web"]["status"] == "valid"
    ios = order["by"]["source"]["wk_ios"]
    assert ios["status"] == "invalid" and ios["events"] == 4
    assert ios["reasons"] == [{"code": "required", "path": "properties.order_id", "count": 4}]
    assert order["by"]["library"]["analytics-python"]["status"] == "valid"
    assert order["by"]["library"]["analytics-ios"]["status"] == "invalid"
    assert order["by"]["app"]["1.3"]["status"] == "invalid"
    assert {p["path"]: p["status"] for p in order["properties"]} == {
        "properties.order_id": "valid",
        "properties.total": "valid",
    }


def test_the_table_shows_a_column_per_source_and_the_total(shop: ServerThread, plan: Path) -> None:
    """Two sources: a column each; reasons inline; unplanned listed; the coverage line; exit 0 without --min-coverage."""
    result = _check(shop.settings.db, "--plan", str(plan), "--coverage")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "planned event" in line)
    assert "wk_ios" in header and "wk_web" in header
    assert "only invalid: type properties.product_id ×2" in result.output
    assert "never seen" in result.output
    assert "? Mystery Tapped  ×2" in result.output
    assert (
        "Coverage 33.3%: 1 of 3 planned events seen valid, 1 only invalid, 1 never seen; 1 unplanned" in result.output
    )
    by_app = _check(shop.settings.db, "--plan", str(plan), "--coverage", "--by", "app")
    assert "columns: app" in by_app.output and "1.3" in by_app.output


def test_min_coverage_exit_codes(shop: ServerThread, plan: Path) -> None:
    """--min-coverage exits 3 below the threshold (saying so) and 0 at or above it; it implies --coverage."""
    below = _check(shop.settings.db, "--plan", str(plan), "--min-coverage", "50")
    assert below.exit_code == 3
    assert "coverage 33.3% is below --min-coverage 50%" in below.stderr
    assert _check(shop.settings.db, "--plan", str(plan), "--min-coverage", "33").exit_code == 0
    no_plan = _check(shop.settings.db, "--coverage")
    assert no_plan.exit_code == 2 and "need --plan FILE" in no_plan.output
    assert _check(shop.settings.db, "--plan", str(plan), "--min-coverage", "120").exit_code == 2
    assert "--by goes with --coverage" in _check(shop.settings.db, "--plan", str(plan), "--by", "app").output
    jsonl = _check(shop.settings.db, "--plan", str(plan), "--coverage", "--format", "jsonl")
    assert jsonl.exit_code == 2 and "table or json" in jsonl.output


def test_junit_xml_has_a_test_case_per_planned_event(shop: ServerThread, plan: Path, tmp_path: Path) -> None:
    """--junit FILE: one <testcase> per planned event, a <failure> for never seen and only invalid, with the reasons."""
    out = tmp_path / "coverage.xml"
    result = _check(shop.settings.db, "--plan", str(plan), "--junit", str(out), "--min-coverage", "90")
    assert result.exit_code == 3
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "2"
    (suite,) = root.findall("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"Order Completed", "Product Viewed", "Checkout Started"}
    assert cases["Order Completed"].find("failure") is None
    never = cases["Checkout Started"].find("failure")
    assert never is not None and never.get("type") == "never_seen"
    invalid = cases["Product Viewed"].find("failure")
    assert invalid is not None and invalid.get("type") == "only_invalid"
    assert "type properties.product_id ×2" in (invalid.get("message") or "")
    out_text = suite.find("system-out")
    assert out_text is not None and "Mystery Tapped ×2" in (out_text.text or "")


def test_a_query_narrows_and_dropped_rows_count_as_invalid(server: ServerThread, plan: Path) -> None:
    """QUERY restricts the events measured; a row Segment would drop is invalid with its protocol code."""
    _post(server, "wk_web", {"type": "track", "event": "Checkout Started"})  # no userId/anonymousId: dropped
    _post(server, "wk_ios", _track("Checkout Started", "1.3"))
    report = _report(server.settings.db, plan, "source:wk_web")
    checkout = _event(report, "Checkout Started")
    assert checkout["status"] == "invalid" and checkout["events"] == 1
    assert checkout["reasons"][0]["code"] == "no_user_anon_id"
    assert _event(_report(server.settings.db, plan), "Checkout Started")["status"] == "valid"


def test_validity_is_judged_on_the_newest_and_oldest_events_of_each_group(server: ServerThread, plan: Path) -> None:
    """The documented method: counts are exact; the NEWEST newest and OLDEST oldest events of a group are judged, so
    a fix shows at once and an old build still sending is seen; the app breakdown comes from those events."""
    _post(server, "wk_web", *(_track("Product Viewed", "0.9", product_id=1) for _ in range(3)))  # an old, bad build
    _post(server, "wk_web", *(_track("Product Viewed", "2.0", product_id=1) for _ in range(SAMPLE + 5)))
    _post(server, "wk_web", _track("Product Viewed", "2.1", product_id="p1"))  # the fix
    viewed = _event(_report(server.settings.db, plan), "Product Viewed")
    assert viewed["status"] == "valid" and viewed["events"] == SAMPLE + 9
    assert (viewed["sampled"], viewed["sampled_valid"]) == (NEWEST + OLDEST, 1)
    assert viewed["reasons"] == [{"code": "type", "path": "properties.product_id", "count": SAMPLE - 1}]
    apps = viewed["by"]["app"]
    assert (apps["0.9"]["status"], apps["0.9"]["events"]) == ("invalid", 3)
    assert (apps["2.1"]["status"], apps["2.0"]["status"]) == ("valid", "invalid")


def test_the_api_takes_the_plan_as_json(shop: ServerThread) -> None:
    """POST /debugger/api/coverage with the plan document: the same report, ok against min_coverage, clear 400s."""
    import yaml

    document = yaml.safe_load(PLAN)
    url = f"{shop.url}/debugger/api/coverage"
    json_type = {"Content-Type": "application/json"}
    answer = http(url, body={"plan": document, "min_coverage": 50}, headers=json_type)
    assert answer.status == 200, answer.body
    report = answer.json()
    assert report["ok"] is False and report["coverage"] == 33.3
    assert _event(report, "Product Viewed")["reasons"][0]["code"] == "type"
    narrowed = http(url, body={"plan": document, "q": "source:wk_web"}, headers=json_type).json()
    assert narrowed["ok"] is True and narrowed["unplanned"] == []
    bad = http(url, body={"plan": {"nonsense": 1}}, headers=json_type)
    assert (
        bad.status == 400
        and bad.json()["code"] == "invalid_plan"
        and "unknown top-level key(s) 'nonsense'" in bad.json()["message"]
    )
    assert http(url, body={"events": {}}, headers=json_type).json()["code"] == "invalid_plan"
    assert http(url, body={"plan": document, "q": '"open'}, headers=json_type).json()["code"] == "invalid_query"
    assert http(url, body=b"{}", headers={"Content-Type": "text/plain"}).status == 415


def test_the_fixture_reports_and_asserts_coverage(segdbg: Segdbg, plan: Path) -> None:
    """segdbg.coverage(plan) returns the report; assert_coverage fails with what is missing and why."""
    client = SegmentClient(segdbg.write_key, host=segdbg.url, sync_mode=True, max_retries=1)
    client.track(user_id="u1", event="Order Completed", properties={"order_id": "o1", "total": 1})
    client.track(user_id="u1", event="Product Viewed", properties={"product_id": 3})
    segdbg.expect("type:track", count=2)
    report = segdbg.coverage(plan)
    assert report["coverage"] == 33.3 and _event(report, "Order Completed")["status"] == "valid"
    assert segdbg.assert_coverage(plan, min_coverage=30)["valid"] == 1
    with pytest.raises(CoverageTooLow) as failed:
        segdbg.assert_coverage(plan, min_coverage=90)
    message = str(failed.value)
    assert "plan coverage 33.3% < 90%: 1 of 3 planned events seen valid" in message
    assert "never seen: Checkout Started" in message
    assert "only invalid: Product Viewed (type properties.product_id ×1)" in message


async def test_the_tui_schema_screen_shows_coverage(shop: ServerThread, plan: Path) -> None:
    """segdbg tui --plan: the Schema screen's summary gives the coverage, and `c` shows it per planned event and source."""
    from debugger.tui.screens.schema import SchemaScreen
    from tests.tui_support import make_app, settle

    app = make_app(shop.settings.db, plan=plan)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SchemaScreen)
        assert "plan coverage 33.3%" in str(screen.query_one("#schema-summary", Static).content)
        await pilot.press("c")
        await settle(pilot)
        labels = [str(n.label) for n in _walk(screen.query_one("#schema-tree", Tree).root)]
        assert any(label.startswith("✓ Order Completed") for label in labels)
        assert any(
            "Product Viewed" in label and "only invalid: type properties.product_id ×2" in label for label in labels
        )
        assert any("Checkout Started" in label and "never seen" in label for label in labels)
        assert any(label.startswith("✗ source wk_ios") for label in labels)
        assert any("Mystery Tapped" in label for label in labels)
        summary = str(screen.query_one("#schema-summary", Static).content)
        assert "coverage 33.3%" in summary and "1 never seen" in summary
        await pilot.press("c")
        await settle(pilot)
        labels = [str(n.label) for n in _walk(screen.query_one("#schema-tree", Tree).root)]
        assert any("properties.product_id" in label for label in labels)
        assert not any(label.startswith("✓ Order Completed") for label in labels)


async def test_the_tui_without_a_plan_says_how_to_get_coverage(shop: ServerThread) -> None:
    """No --plan: `c` on the Schema screen explains, and the schema stays."""
    from debugger.tui.screens.schema import SchemaScreen
    from tests.tui_support import make_app, settle

    app = make_app(shop.settings.db)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SchemaScreen)
        assert "coverage" not in str(app.screen.query_one("#schema-summary", Static).content)
        await pilot.press("c")
        await settle(pilot)
        assert any("--plan FILE" in str(n.message) for n in app._notifications)


def _walk(node: Any) -> list[Any]:
    out = []
    for child in node.children:
        out.append(child)
        out.extend(_walk(child))
    return out
