"""Replay end to end: a capture made by real clients, replayed into a second real segdbg server,
compared field by field; rewrites; what is recorded; report, JUnit and dry run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.core.timefmt import parse_timestamp
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from debugger.store import capture, runs
from tests.helpers import basic, events, http

#: Fields a replay cannot keep: the target's own clock and the attempt's sentAt.
NOISE = {"receivedAt", "sentAt", "timestamp"}


@pytest.fixture
def target(tmp_path: Path) -> Iterator[ServerThread]:
    """A second real segdbg server with its own capture: the replay target."""
    with ServerThread(Settings(db=tmp_path / "target.db", port=0)) as running:
        yield running


def replay(db: Path, *args: str) -> Result:
    """Run `segdbg replay --db DB ARGS` in-process."""
    return CliRunner().invoke(cli, ["replay", "--db", str(db), *args], catch_exceptions=False)


def seed_with_real_clients(url: str) -> None:
    """Send a session through segment-analytics-python and rudder-sdk-python, plus the shapes
    analytics.js and raw HTTP users send (per-message writeKey, no timestamp, envelope context)."""
    from rudderstack.analytics import Client as RudderClient
    from segment.analytics import Client

    segment = Client("wk_python", host=url, sync_mode=True)
    segment.identify("user-1", {"email": "ada@example.com", "plan": "pro", "logins": 5})
    segment.track("user-1", "Order Completed", {"revenue": 12.5, "currency": "USD", "items": [{"sku": "a1", "qty": 2}]})
    segment.page("user-1", "Docs", "Getting Started", {"url": "https://example.com/docs"})
    segment.group("user-1", "group-acme", {"name": "Acme Inc", "employees": 42})
    segment.alias("anon-prev-1", "user-1")  # previous_id, user_id
    segment.track(
        anonymous_id="anon-9",
        event="Signed Up",
        timestamp=datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        context={"ip": "203.0.113.7"},
        integrations={"All": False, "Mixpanel": True},
    )
    rudder = RudderClient("wk_rudder", host=url, sync_mode=True)
    rudder.identify("user-2", {"email": "bob@example.com"})
    rudder.screen("user-2", "Onboarding", "Welcome", {"step": 1})
    browser = {
        "type": "track",
        "event": "Product Added",
        "anonymousId": "anon-3f2a",
        "messageId": "ajs-next-1-abc",
        "properties": {"sku": "45790-32", "price": 19},
        "writeKey": "wk_browser",
        "timestamp": "2024-05-01T12:00:00.123Z",
        "sentAt": "2024-05-01T12:00:00.200Z",
        "context": {"page": {"path": "/cart"}, "library": {"name": "analytics.js", "version": "npm:next-1.84.3"}},
        "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
    }
    assert http(f"{url}/v1/t", body=browser, headers={"Content-Type": "text/plain"}).status == 200
    curl = {"userId": "user-3", "event": "Trial Started", "properties": {"days": 14}}
    assert http(f"{url}/v1/track", body=curl, headers={"Authorization": basic("wk_curl")}).status == 200
    envelope = {
        "batch": [
            {"type": "track", "userId": "user-4", "event": "Plan Changed", "context": {"device": {"type": "tablet"}}}
        ],
        "context": {"device": {"type": "phone"}, "os": {"name": "iOS"}},
        "integrations": {"Amplitude": False},
        "writeKey": "wk_env",
        "sentAt": "2024-05-01T12:00:00.000Z",
    }
    assert http(f"{url}/v1/batch", body=envelope).status == 200
    no_ids = {"event": "Broken", "writeKey": "wk_curl"}  # stored invalid; not replayed by default
    assert http(f"{url}/v1/track", body=no_ids).status == 200


def ok_events(db: Path) -> list[dict[str, Any]]:
    """The events a capture accepted."""
    return events(db, statuses=("ok",))


def by_message_id(db: Path) -> dict[str, dict[str, Any]]:
    """Accepted events keyed by messageId."""
    return {e["message_id"]: e for e in ok_events(db)}


def without_noise(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored event minus the fields a replay cannot keep."""
    return {k: v for k, v in stored.items() if k not in NOISE}


def test_replay_into_second_server_keeps_every_field(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """Replayed events arrive with the same ids, types, properties, traits, context, integrations,
    write keys and originalTimestamp; only receivedAt/sentAt/timestamp are the target's own."""
    seed_with_real_clients(server.url)
    source = by_message_id(db_path)
    assert len(source) == 11

    result = replay(db_path, "--to", target.url)

    assert result.exit_code == 0, result.output
    assert "delivered      11" in result.output
    copies = by_message_id(Path(target.settings.db))
    assert copies.keys() == source.keys()
    for message_id, original in source.items():
        copy = copies[message_id]
        for column in ("type", "name", "user_id", "anonymous_id", "write_key", "library_name", "library_version"):
            assert copy[column] == original[column], (message_id, column)
        if "originalTimestamp" in original["stored"]:
            assert copy["stored"] == {**without_noise(original["stored"]), **{k: copy["stored"][k] for k in NOISE}}
        else:  # the client sent no time: the replay sends the moment the capture gave it
            assert copy["stored"]["originalTimestamp"] == original["stored"]["timestamp"]
            assert without_noise(copy["stored"]) == {
                **without_noise(original["stored"]),
                "originalTimestamp": original["stored"]["timestamp"],
            }
        # the skew-corrected time lands on the original time (give or take the replay's latency)
        moved = parse_timestamp(copy["stored"]["timestamp"]) - parse_timestamp(copy["stored"]["originalTimestamp"])  # type: ignore[operator]
        assert abs(moved) < timedelta(seconds=2)


def test_replay_keeps_capture_order_and_envelope_context(
    server: ServerThread, target: ServerThread, db_path: Path
) -> None:
    """Events arrive in capture order; envelope context/integrations are merged into the sent message
    (item wins), a client-set context.ip survives, and the per-message writeKey is not sent on."""
    seed_with_real_clients(server.url)
    assert replay(db_path, "--to", target.url).exit_code == 0
    copies = ok_events(Path(target.settings.db))
    assert [e["message_id"] for e in copies] == [e["message_id"] for e in ok_events(db_path)]
    plan_changed = next(e for e in copies if e["name"] == "Plan Changed")
    assert plan_changed["stored"]["context"]["device"] == {"type": "tablet"}
    assert plan_changed["stored"]["context"]["os"] == {"name": "iOS"}
    assert plan_changed["stored"]["integrations"] == {"Amplitude": False}
    signed_up = next(e for e in copies if e["name"] == "Signed Up")
    assert signed_up["stored"]["context"]["ip"] == "203.0.113.7"
    assert signed_up["stored"]["originalTimestamp"] == "2024-01-02T03:04:05.678Z"
    product_added = next(e for e in copies if e["name"] == "Product Added")
    assert "writeKey" not in product_added["raw"] or product_added["raw"]["writeKey"] == "wk_browser"
    assert product_added["stored"]["_metadata"] == {"bundled": ["Segment.io"], "unbundled": []}


def test_replay_rewrites_ids_keys_and_times(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """--new-message-ids, --map-id, --id-prefix, --write-key and --timestamps shift are applied,
    and each delivery records the original and the new messageId."""
    seed_with_real_clients(server.url)
    source = ok_events(db_path)
    before = datetime.now(UTC)

    result = replay(
        db_path,
        "--to",
        target.url,
        "--new-message-ids",
        "--map-id",
        "user-1=qa-1",
        "--id-prefix",
        "replay-",
        "--write-key",
        "wk_staging",
        "--timestamps",
        "shift",
    )

    assert result.exit_code == 0, result.output
    copies = ok_events(Path(target.settings.db))
    assert len(copies) == len(source)
    assert not {e["message_id"] for e in copies} & {e["message_id"] for e in source}
    assert {e["write_key"] for e in copies} == {"wk_staging"}
    users = {e["user_id"] for e in copies} | {e["anonymous_id"] for e in copies}
    assert "qa-1" in users and "user-1" not in users
    assert {u for u in users if u and u != "qa-1"} == {
        f"replay-{u}"
        for u in ({e["user_id"] for e in source} | {e["anonymous_id"] for e in source})
        if u and u != "user-1"
    }
    alias = next(e for e in copies if e["type"] == "alias")
    assert alias["stored"]["previousId"] == "replay-anon-prev-1"
    # shift: same gaps, the latest event at the replay's start
    originals = [parse_timestamp(e["stored"].get("originalTimestamp") or e["stored"]["timestamp"]) for e in source]
    shifted = [parse_timestamp(e["stored"]["originalTimestamp"]) for e in copies]
    deltas = {s - o for s, o in zip(shifted, originals, strict=True)}  # type: ignore[operator]
    assert max(deltas) - min(deltas) <= timedelta(milliseconds=1)
    assert before - timedelta(seconds=5) <= max(shifted) <= datetime.now(UTC)  # type: ignore[type-var]
    with capture.reader(db_path) as conn:
        run_id = runs.list_runs(conn)[0]["id"]
        recorded = list(runs.iter_deliveries(conn, run_id))
    assert [d["message_id"] for d in recorded] == [e["message_id"] for e in source]
    assert [d["sent_message_id"] for d in recorded] == [e["message_id"] for e in copies]


def test_no_batch_sends_one_request_per_event_to_its_type_route(
    server: ServerThread, target: ServerThread, db_path: Path
) -> None:
    """--no-batch makes one /v1/<type> request per event, and the target stores the same events."""
    seed_with_real_clients(server.url)
    result = replay(db_path, "--to", target.url, "--no-batch")
    assert result.exit_code == 0, result.output
    paths = [r["path"] for r in _target_requests(target)]
    assert paths == [f"/v1/{e['type']}" for e in ok_events(db_path)]
    assert by_message_id(Path(target.settings.db)).keys() == by_message_id(db_path).keys()


def test_every_run_and_delivery_is_recorded(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """A run row with target, options, counts and latency percentiles; one delivery per event."""
    seed_with_real_clients(server.url)
    replay(db_path, "--to", target.url, "--batch-size", "4", "--write-key", "wk_one")  # one key: batches of 4, 4, 3
    with capture.reader(db_path) as conn:
        (run,) = runs.list_runs(conn)
        deliveries = list(runs.iter_deliveries(conn, run["id"]))
        requests = conn.execute(
            "SELECT count(*), sum(event_count) FROM replay_requests WHERE run_id = ?", (run["id"],)
        ).fetchone()
    assert run["target"] == target.url and run["status"] == "delivered" and run["exit_code"] == 0
    assert run["options"]["batch_size"] == 4
    assert (run["total"], run["delivered"], run["failed"], run["requests"]) == (11, 11, 0, 3)
    assert run["p50_ms"] is not None and run["p99_ms"] >= run["p50_ms"]
    assert requests == (3, 11)
    assert [d["status"] for d in deliveries] == ["delivered"] * 11
    assert all(d["http_status"] == 200 and d["attempts"] == 1 and d["sent"] is None for d in deliveries)


def test_report_and_junit_files(server: ServerThread, target: ServerThread, db_path: Path, tmp_path: Path) -> None:
    """--report writes the run, summary and deliveries as JSON; --junit one passing test case per event."""
    seed_with_real_clients(server.url)
    report, junit = tmp_path / "replay.json", tmp_path / "replay.xml"
    result = replay(db_path, "--to", target.url, "--report", str(report), "--junit", str(junit))
    assert result.exit_code == 0
    document = orjson.loads(report.read_bytes())
    assert document["run"]["target"] == target.url
    assert document["summary"]["delivered"] == 11 and document["summary"]["not_delivered"] == 0
    assert len(document["deliveries"]) == 11 and {d["status"] for d in document["deliveries"]} == {"delivered"}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "11" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == 11


def test_dry_run_prints_requests_and_sends_nothing(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """--dry-run prints each request as a JSON line and neither sends nor records a run."""
    seed_with_real_clients(server.url)
    result = replay(db_path, "--to", target.url, "--dry-run", "--batch-size", "5")
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [line["events"] for line in lines] == [5, 1, 2, 1, 1, 1]  # split by size, then by write key
    assert lines[0]["url"] == f"{target.url}/v1/batch" and lines[0]["body"]["writeKey"] == "wk_python"
    assert "Nothing was sent" in result.stderr
    assert _target_requests(target) == []
    with capture.reader(db_path) as conn:
        assert runs.list_runs(conn) == []


def test_usage_errors(db_path: Path, server: ServerThread) -> None:
    """Contradictory or malformed options are usage errors (exit 2) with a clear message."""
    assert replay(db_path, "--to", "ftp://x").exit_code == 2
    result = replay(db_path, "--to", server.url, "--rate", "5", "--speed", "1")
    assert result.exit_code == 2 and "cannot be combined" in result.output
    assert replay(db_path, "--to", server.url, "--max-gap", "1").exit_code == 2
    assert replay(db_path, "--to", server.url, "--map-id", "nonsense").exit_code == 2


def _target_requests(target: ServerThread) -> list[dict[str, Any]]:
    conn = capture.connect(Path(target.settings.db))
    try:
        cursor = conn.execute("SELECT path FROM requests ORDER BY id")
        return [{"path": row[0]} for row in cursor]
    finally:
        conn.close()


def test_query_selects_what_is_replayed(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """QUERY picks the events (ANDed terms, quoted values); only accepted ones unless a status: term."""
    seed_with_real_clients(server.url)
    result = replay(db_path, "event:Order Completed", "user:user-1", "--to", target.url)  # as the shell passes it
    assert result.exit_code == 0, result.output
    assert [e["name"] for e in events(Path(target.settings.db))] == ["Order Completed"]


def test_status_term_replays_invalid_events(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """`status:invalid` resends the events segdbg flagged; the target flags them the same way."""
    seed_with_real_clients(server.url)
    result = replay(db_path, "status:invalid", "--to", target.url)
    assert result.exit_code == 0, result.output
    (copy,) = events(Path(target.settings.db))
    assert copy["status"] == "invalid" and [p["code"] for p in copy["problems"]] == ["no_user_anon_id"]


def test_malformed_query_points_at_the_term(db_path: Path, server: ServerThread) -> None:
    """A bad query is a usage error (exit 2) that shows where it is wrong; nothing is sent."""
    result = replay(db_path, "type:track", "evnt:x", "--to", server.url)
    assert result.exit_code == 2
    assert "did you mean `event:`" in result.output
    assert "type:track evnt:x\n             ^^^^" in result.output


@pytest.mark.parametrize("name", ["replay", "diff"])
def test_command_has_help_with_examples_and_is_in_the_readme(name: str) -> None:
    """`segdbg NAME --help` shows examples, the group lists the command, and the README documents it."""
    from tests.helpers import ROOT

    help_text = CliRunner().invoke(cli, [name, "--help"]).output
    assert "Examples:" in help_text and f"segdbg {name} " in help_text
    assert name in CliRunner().invoke(cli, ["--help"]).output
    readme = (ROOT / "README.md").read_text()
    assert f"| `segdbg {name} " in readme and f"\nsegdbg {name} " in readme
