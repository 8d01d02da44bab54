"""`segdbg route` and `expect --delivered-to` on a real capture: segment-analytics-python sends through the real server,
the routing file is docs/routing.md's own example."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from click.testing import CliRunner
from segment.analytics.client import Client as SegmentClient

from debugger.cli.child import ChildServer
from debugger.cli.group import cli
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from debugger.store.routingfile import read_routing
from tests.helpers import ROOT, ServeProcess, http, run_segdbg

ANALYTICS_OFF = {"consent": {"categoryPreferences": {"Analytics": False, "Advertising": True, "Personalization": True}}}
ALL_ON = {"consent": {"categoryPreferences": {"Analytics": True, "Advertising": True, "Personalization": True}}}


def docs_routing(tmp_path: Path) -> Path:
    """The routing example of docs/routing.md (its first yaml block), as a file."""
    text = (ROOT / "docs" / "routing.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    path = tmp_path / "routing.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    return path


def capture(url: str) -> None:
    """Checkout events from a real backend: one with Analytics consent off, one with everything on, one test event,
    one that turns every destination off but Braze."""
    client = SegmentClient("wk_routing", host=url, sync_mode=True, max_retries=1)
    client.track(user_id="u1", event="Order Completed", properties={"total": 10}, context=ANALYTICS_OFF)
    client.track(user_id="u2", event="Order Completed", properties={"total": 20, "email": "a@b.c"}, context=ALL_ON)
    client.track(user_id="u3", event="Test Checkout", properties={}, context=ALL_ON)
    client.track(
        user_id="u4", event="Order Completed", properties={}, context=ALL_ON, integrations={"All": False, "Braze": True}
    )
    client.flush()


def route(db: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["route", *args, "--db", str(db)])


@pytest.fixture
def captured(server: ServerThread, tmp_path: Path) -> tuple[Path, Path]:
    capture(server.url)
    return server.settings.db, docs_routing(tmp_path)


def test_route_prints_the_consent_sentence_for_a_real_event(captured: tuple[Path, Path]) -> None:
    db, routing = captured
    done = run_segdbg("route", "1", "--routing", str(routing), "--db", str(db))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("#1  TRACK  Order Completed")
    assert "  → Amplitude: blocked, consent category Analytics is off" in lines
    assert lines[1:] == [
        "  → Amplitude: blocked, consent category Analytics is off",
        "  → Mixpanel: blocked, consent category Analytics is off",
        "  → Braze: delivered",
    ]


def test_route_over_a_query_names_filters_fields_and_the_integrations_object(captured: tuple[Path, Path]) -> None:
    db, routing = captured
    result = route(db, "user:u2", "--routing", str(routing))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "  → Amplitude: delivered",
        "  → Mixpanel: delivered",
        '  → Braze: delivered (properties.email removed by filter "strip pii")',
    ]
    dropped = route(db, "#3", "--routing", str(routing)).output
    assert '  → Mixpanel: blocked, dropped by filter "drop internal tests"' in dropped.splitlines()
    off = route(db, "4", "--routing", str(routing)).output.splitlines()
    assert off[1:] == [
        "  → Amplitude: blocked, integrations.All is false",
        "  → Mixpanel: blocked, integrations.All is false",
        "  → Braze: delivered",
    ]
    everything = route(db, 'event:"Order Completed"', "--routing", str(routing), "--format", "json")
    doc = orjson.loads(everything.output)
    assert [e["event"]["id"] for e in doc["events"]] == [1, 2, 4]
    first = doc["events"][0]["destinations"][0]
    assert first["reason"] == "consent" and first["categories"] == ["Analytics"]
    assert first["text"] == "Amplitude: blocked, consent category Analytics is off"


def test_route_errors(captured: tuple[Path, Path], tmp_path: Path) -> None:
    db, routing = captured
    missing = route(db, "99", "--routing", str(routing))
    assert missing.exit_code == 1 and "no event #99 in the capture." in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("destinations:\n  Amplitude:\n    filters:\n      - if: event == 'x'\n        type: drop_event\n")
    refused = route(db, "1", "--routing", str(bad))
    assert refused.exit_code == 2
    assert "line 4: destinations.Amplitude.filters[0].if: FQL error at offset 6" in refused.output


def test_expect_delivered_to_counts_only_what_reaches_the_destination(captured: tuple[Path, Path]) -> None:
    db, routing = captured
    every = ["expect", 'event:"Order Completed"', "--db", str(db), "--timeout", "0"]
    runner = CliRunner()
    assert runner.invoke(cli, [*every, "--count", "3"]).exit_code == 0  # without --delivered-to: every match
    alone = runner.invoke(cli, [*every, "--delivered-to", "Amplitude"])
    assert alone.exit_code == 2 and "--delivered-to needs --routing FILE" in alone.output
    base = [*every, "--routing", str(routing)]
    amplitude = runner.invoke(cli, [*base, "--delivered-to", "Amplitude", "--count", "1"])
    assert amplitude.exit_code == 0, amplitude.output
    braze = runner.invoke(cli, [*base, "--delivered-to", "Braze", "--count", "3"])
    assert braze.exit_code == 0, braze.output
    failed = runner.invoke(cli, [*base, "--delivered-to", "Amplitude", "--count", "3"])
    assert failed.exit_code == 3
    assert "Expected exactly 3 events" in failed.output and "delivered to Amplitude" in failed.output
    assert "consent category Analytics is off" in failed.output
    unknown = runner.invoke(cli, [*base, "--delivered-to", "Amplitud"])
    assert unknown.exit_code == 2 and "no destination 'Amplitud'" in unknown.output


def test_serve_routing_answers_the_api_with_the_json_route_prints(tmp_path: Path) -> None:
    """`segdbg serve --routing FILE` → GET /debugger/api/route?id=N (or ?q=) answers what `route --format json` prints."""
    routing_file, db = docs_routing(tmp_path), tmp_path / "served.db"
    served = ServeProcess(db, "--quiet", "--routing", str(routing_file))
    try:
        capture(served.url)
        answer = http(f"{served.url}/debugger/api/route?id=1", "GET")
        assert answer.status == 200
        printed = route(db, "1", "--routing", str(routing_file), "--format", "json")
        assert answer.json() == orjson.loads(printed.output)
        first = answer.json()["events"][0]["destinations"][0]
        assert first["text"] == "Amplitude: blocked, consent category Analytics is off"
        by_query = http(f"{served.url}/debugger/api/route?q={quote('user:u3')}", "GET").json()
        assert [e["event"]["id"] for e in by_query["events"]] == [3]
        assert http(f"{served.url}/debugger/api/route?id=99", "GET").status == 404
        bad = http(f"{served.url}/debugger/api/route?q={quote('fql:event == 1')}", "GET")
        assert bad.status == 400 and bad.json()["code"] == "invalid_query"
    finally:
        assert served.stop()[0] == 0


def test_the_api_without_a_routing_file_says_how_to_give_one(server: ServerThread) -> None:
    missing = http(f"{server.url}/debugger/api/route?id=1", "GET")
    assert missing.status == 404 and missing.json()["code"] == "no_routing"
    assert "segdbg serve --routing FILE" in missing.json()["message"]


def test_serve_refuses_a_bad_routing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("destinations:\n  Amplitude:\n    mode: satellite\n")
    done = run_segdbg("serve", "--headless", "--port", "0", "--db", str(tmp_path / "x.db"), "--routing", str(bad))
    assert done.returncode == 2
    assert "line 3: destinations.Amplitude.mode: mode is cloud or device, not 'satellite'." in done.stderr


def test_the_tuis_child_server_gets_the_routing_file(tmp_path: Path) -> None:
    """`segdbg serve --routing FILE` in a terminal runs the server as a child: it reads the same file."""
    routing_file = docs_routing(tmp_path)
    settings = Settings(db=tmp_path / "child.db", port=0, routing=read_routing(routing_file))
    child = ChildServer.start(settings)
    try:
        capture(child.url)
        answer = http(f"{child.url}/debugger/api/route?id=1", "GET")
        assert answer.status == 200, answer.body
        assert answer.json()["events"][0]["destinations"][0]["text"] == (
            "Amplitude: blocked, consent category Analytics is off"
        )
    finally:
        child.stop()
