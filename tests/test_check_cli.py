"""`segdbg check` and `segdbg schema` on real captures: round trip, exit codes, output shapes, plan reloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from segment.analytics.client import Client as SegmentClient

from debugger.server.app import ServerThread
from tests.helpers import basic, http, run_segdbg


def capture(server: ServerThread) -> None:
    """What a real backend sends with segment-analytics-python: identify, group, tracks, pages."""
    client = SegmentClient("wk_backend", host=server.url, sync_mode=True, max_retries=1)
    client.identify(user_id="u1", traits={"email": "ada@example.com", "plan": "pro", "logins": 5})
    client.group(user_id="u1", group_id="g1", traits={"name": "Acme", "employees": 42})
    for index in range(3):
        client.track(
            user_id="u1",
            event="Report Exported",
            properties={
                "format": "csv",
                "rows": 100 + index,
                "filters": {"team": "data", "days": 30},
                "columns": [{"name": "day", "width": 10}],
                **({"note": "x"} if index else {}),
            },
        )
    client.track(
        user_id="u1",
        event="Order Completed",
        properties={
            "order_id": "o1",
            "revenue": 25.0,
            "currency": "USD",
            "products": [{"product_id": "p1", "price": 25.0, "quantity": 1}],
        },
    )
    client.page(user_id="u1", category="Docs", name="Getting Started", properties={"url": "https://e.com/docs"})
    client.flush()


def segdbg(db: Path, *args: str) -> Any:
    """Run segdbg on the capture."""
    return run_segdbg(*args, "--db", str(db))


def test_round_trip_schema_plan_then_check(server: ServerThread, tmp_path: Path) -> None:
    """capture → schema --format plan → check --plan: zero violations; one changed type → exactly that violation."""
    capture(server)
    db, plan = server.settings.db, tmp_path / "plan.yaml"
    written = segdbg(db, "schema", "--format", "plan", "-o", str(plan))
    assert written.returncode == 0, written.stderr
    assert "Report Exported:" in plan.read_text() and "note: string?" in plan.read_text()
    clean = segdbg(db, "check", "--plan", str(plan))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "✓ No findings in 7 events." in clean.stdout

    changed = {
        "type": "track",
        "userId": "u1",
        "event": "Report Exported",
        "writeKey": "wk_backend",
        "properties": {"format": "csv", "rows": "101", "filters": {"team": "data", "days": 30}, "columns": []},
    }
    assert http(f"{server.url}/v1/track", body=changed).status == 200
    result = segdbg(db, "check", "--plan", str(plan), "--format", "json")
    assert result.returncode == 3, result.stderr
    (record,) = orjson.loads(result.stdout)
    assert record["event"] == "Violation Generated"
    props = record["properties"]
    assert (
        props["eventName"],
        props["violationField"],
        props["violationType"],
        props["expected"],
        props["actual"],
    ) == ("Report Exported", "properties.rows", "Type", "number", "string")


def test_the_draft_plan_types_iso_date_strings_as_dates(server: ServerThread, tmp_path: Path) -> None:
    """Strings that were all ISO dates or times are `date` in the draft (format date-time); others stay strings.
    The draft passes its own capture, and a date that turns into free text is then a `format` violation."""
    for index, placed in enumerate(("2024-05-01T12:00:00.000Z", "2024-05-02", "2024-05-03 09:30:00+02:00")):
        properties = {"placed_at": placed, "order_ref": "20240501", "note": "2024-05-01" if index else "soon"}
        body = {"userId": "u", "event": "Order Placed", "properties": properties, "writeKey": "wk"}
        assert http(f"{server.url}/v1/track", body=body).status == 200
    db, plan = server.settings.db, tmp_path / "plan.yaml"
    assert segdbg(db, "schema", "--format", "plan", "-o", str(plan)).returncode == 0
    text = plan.read_text()
    assert "placed_at: date\n" in text and "order_ref: string\n" in text and "note: string\n" in text
    assert segdbg(db, "check", "--plan", str(plan)).returncode == 0
    later = {"userId": "u", "event": "Order Placed", "writeKey": "wk"}
    later["properties"] = {"placed_at": "yesterday", "order_ref": "x", "note": "y"}
    assert http(f"{server.url}/v1/track", body=later).status == 200
    result = segdbg(db, "check", "--plan", str(plan), "--format", "json")
    assert result.returncode == 3
    [record] = orjson.loads(result.stdout)
    assert record["properties"]["violationField"] == "properties.placed_at"
    assert record["properties"]["violationCode"] == "format"


def test_violation_records_have_segment_protocols_shape(server: ServerThread, tmp_path: Path) -> None:
    """--format json/jsonl: Segment's "Violation Generated" track call, with the event's ids and the plan."""
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: Acme\nevents:\n  Order Completed:\n    properties:\n      order_id: string\n")
    http(
        f"{server.url}/v1/track",
        body={
            "userId": "u",
            "event": "Order Completed",
            "messageId": "m-9",
            "properties": {},
            "context": {"library": {"name": "analytics.js", "version": "1.84"}},
        },
        headers={"Authorization": basic("wk_web")},
    )
    result = segdbg(server.settings.db, "check", "--plan", str(plan), "--format", "jsonl")
    assert result.returncode == 3
    (line,) = result.stdout.splitlines()
    record = orjson.loads(line)
    assert {k: record[k] for k in ("type", "event", "integrations")} == {
        "type": "track",
        "event": "Violation Generated",
        "integrations": {},
    }
    assert record["messageId"].startswith("sch-") and record["context"]["library"]["name"] == "analytics.js"
    assert set(record["properties"]) >= {
        "appVersion",
        "eventMessageID",
        "eventName",
        "eventSentAt",
        "eventTimestamp",
        "eventType",
        "sourceID",
        "sourceName",
        "sourceSlug",
        "trackingPlanID",
        "trackingPlanName",
        "violationDescription",
        "violationField",
        "violationType",
    }
    props = record["properties"]
    assert (
        props["eventMessageID"],
        props["sourceID"],
        props["trackingPlanName"],
        props["violationField"],
        props["violationType"],
    ) == ("m-9", "wk_web", "Acme", "properties.order_id", "Required")


def test_table_groups_by_event_and_rule_and_exits_3(server: ServerThread) -> None:
    """Without a plan: protocol, strict, semantic and naming findings, grouped, with a summary."""
    for body in (
        {"userId": "u", "event": "product added", "properties": {"price": 1}},
        {"userId": "u", "event": "product added", "properties": {"price": 2}},
        {"event": "Video Played"},
        {"userId": "u", "event": "Plan Upgraded", "traits": {"plan": "pro"}, "properties": {"revenue": "12"}},
    ):
        http(f"{server.url}/v1/track", body={**body, "writeKey": "wk"})
    result = segdbg(server.settings.db, "check", "--all-findings")
    assert result.returncode == 3
    out = result.stdout
    assert "product added (track)  2 event(s)" in out and "near_miss_event" in out and "×2" in out
    assert "no_user_anon_id" in out and "traits_on_track" in out and "reserved_property_type" in out
    assert "findings" in out.splitlines()[-1] and "in 4 of 4 events" in out.splitlines()[-1]


def test_without_a_plan_the_table_has_one_line_per_rule(server: ServerThread, tmp_path: Path) -> None:
    """Hundreds of events with the same findings give one line per rule code, with counts and a few examples,
    errors first; --all-findings and --format jsonl still list every finding."""
    batch = [{"type": "track", "event": f"Ping {n}", "properties": {"n": n}} for n in range(300)]  # no ids: errors
    batch += [{"type": "track", "userId": "u", "event": "product added", "properties": {"price": n}} for n in (1, 2)]
    http(f"{server.url}/v1/batch", body={"writeKey": "wk", "batch": batch})
    result = segdbg(server.settings.db, "check", "--ignore", "naming")
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    heads = [line for line in lines if "×" in line]
    assert heads[0] == "✗ no_user_anon_id protocol dropped  ×300 in 300 events"  # errors first, with the consequence
    assert lines[1] == "    e.g. Ping 0 (track) userId #1, Ping 1 (track) userId #2"
    assert "near_miss_event semantic advisory  ×2 in 2 events" in "\n".join(heads)
    assert len(heads) == 2 and len(lines) < 12  # two rules: a dozen lines, not a block per event name
    footer = " ".join(lines[lines.index(next(line for line in lines if line.startswith("✗ 302 findings"))) :])
    assert "in 302 of 302 events" in footer and "--all-findings lists each one" in footer
    every = segdbg(server.settings.db, "check", "--ignore", "naming", "--all-findings")
    assert every.returncode == 3 and len(every.stdout.splitlines()) > 300  # each "Ping N" is its own event name
    records = segdbg(server.settings.db, "check", "--ignore", "naming", "--format", "jsonl").stdout.splitlines()
    assert sum('"no_user_anon_id"' in r for r in records) == 300


def test_rules_and_ignore_select_what_is_reported(server: ServerThread) -> None:
    """--rules picks categories, --ignore drops codes; nothing left → exit 0."""
    http(f"{server.url}/v1/track", body={"userId": "u", "event": "product added", "writeKey": "wk"})
    assert segdbg(server.settings.db, "check", "--rules", "strict").returncode == 0
    assert segdbg(server.settings.db, "check", "--ignore", "near_miss_event").returncode == 0
    assert segdbg(server.settings.db, "check", "--rules", "semantic").returncode == 3


def test_plan_edits_apply_to_events_already_captured(server: ServerThread, tmp_path: Path) -> None:
    """Lint runs at read time: a plan written after the capture judges it; editing the plan changes the verdict."""
    http(
        f"{server.url}/v1/track",
        body={"userId": "u", "event": "Video Played", "properties": {"title": "x"}, "writeKey": "wk"},
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text("events:\n  Video Played:\n    properties:\n      title: number\n")
    assert segdbg(server.settings.db, "check", "--plan", str(plan)).returncode == 3
    plan.write_text("events:\n  Video Played:\n    properties:\n      title: string\n")
    assert segdbg(server.settings.db, "check", "--plan", str(plan)).returncode == 0


def test_naming_conventions_from_the_plan_and_the_command_line(server: ServerThread, tmp_path: Path) -> None:
    """A snake_case team says so in its plan (or with --event-case); Title Case names are then the finding."""
    http(f"{server.url}/v1/track", body={"userId": "u", "event": "video_played", "writeKey": "wk"})
    assert segdbg(server.settings.db, "check", "--rules", "naming").returncode == 3
    assert segdbg(server.settings.db, "check", "--rules", "naming", "--event-case", "snake").returncode == 0
    plan = tmp_path / "plan.yaml"
    plan.write_text("naming: {events: snake}\nevents:\n  video_played: {}\n")
    assert segdbg(server.settings.db, "check", "--plan", str(plan), "--rules", "all").returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--rules", "spelling"), 2, "unknown spelling"),
        (("--rules", "plan"), 2, "--rules plan needs --plan"),
        (("--plan", "{bad}"), 1, "not valid JSON or YAML"),
        (("evnt:x",), 2, "did you mean `event:`"),
    ],
)
def test_errors_and_usage(server: ServerThread, tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    """Bad options are usage errors (2); a broken plan is an error (1) with the reason, no traceback."""
    http(f"{server.url}/v1/track", body={"userId": "u", "event": "Video Played", "writeKey": "wk"})
    if args[0] == "--plan":
        bad = tmp_path / "bad.yaml"
        bad.write_text("{bad")
        args = ("--plan", str(bad))
    result = segdbg(server.settings.db, "check", *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_plan_mistake_is_reported_with_its_line(server: ServerThread, tmp_path: Path) -> None:
    """`check --plan` on a YAML plan with a typo: exit 1, the file, the line and the place, no traceback."""
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: Acme\nevents:\n  Order Completed:\n    properties:\n      revenue: numbr\n")
    result = segdbg(server.settings.db, "check", "--plan", str(plan))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{plan}, line 5: events.Order Completed.properties.revenue: unknown type 'numbr'" in result.stderr


def test_missing_capture_is_a_clear_error(tmp_path: Path) -> None:
    """No capture file: exit 1 with the path, never an empty success."""
    result = segdbg(tmp_path / "nope.db", "check")
    assert result.returncode == 1 and "nope.db" in result.stderr


def test_query_selects_the_events_checked(server: ServerThread) -> None:
    """QUERY is the filter language: only matching events are checked."""
    http(f"{server.url}/v1/track", body={"userId": "u", "event": "product added", "writeKey": "wk"})
    http(f"{server.url}/v1/track", body={"userId": "u", "event": "Video Played", "writeKey": "wk"})
    assert segdbg(server.settings.db, "check", 'event:"Video Played"').returncode == 0
    assert segdbg(server.settings.db, "check", "event:product*").returncode == 3


def test_schema_table_and_json_show_drift(server: ServerThread) -> None:
    """A property that changed type is flagged in both outputs, per source."""
    for value in (12, "12"):
        http(
            f"{server.url}/v1/track",
            body={"userId": "u", "event": "Cart Emptied", "properties": {"items": value}, "writeKey": "wk_web"},
        )
    table = segdbg(server.settings.db, "schema")
    assert table.returncode == 0 and "Source wk_web" in table.stdout and "drift" in table.stdout
    doc = orjson.loads(segdbg(server.settings.db, "schema", "--format", "json").stdout)
    (field,) = doc["sources"][0]["events"][0]["fields"]
    assert (field["path"], field["types"], field["drift"]) == ("properties.items", {"number": 1, "string": 1}, True)
