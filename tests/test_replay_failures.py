"""Replay against real failing endpoints on loopback: retried 5xx, 429 with Retry-After, 400
kept with its three views, a closed port (exit 4), retries running out, Ctrl-C."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.server.app import ServerThread
from debugger.store import runs
from debugger.store.capture import reader
from tests.helpers import cli_env, http
from tests.sinks import Reply, ScriptedTarget, closed_port_url

BAD_REQUEST = Reply(400, b'{"success":false,"code":"invalid_json","message":"Invalid JSON"}')


@pytest.fixture
def capture(server: ServerThread, db_path: Path) -> Path:
    """A capture holding three accepted track events in one batch."""
    batch = {
        "writeKey": "wk_test",
        "batch": [{"type": "track", "userId": f"u{i}", "event": "Tested", "messageId": f"m{i}"} for i in range(3)],
    }
    assert http(f"{server.url}/v1/batch", body=batch).status == 200
    return db_path


def replay(db: Path, *args: str) -> Result:
    """Run `segdbg replay` in-process with fast retries."""
    return CliRunner().invoke(cli, ["replay", "--db", str(db), "--backoff", "0.01", *args], catch_exceptions=False)


def last_run(db: Path) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    """The newest run and its deliveries."""
    with reader(db) as conn:
        run = runs.list_runs(conn)[0]
        return run, list(runs.iter_deliveries(conn, run["id"]))


def test_500_then_200_is_retried_and_delivered(capture: Path) -> None:
    """A 500 is retried with the same messageIds, a new sentAt and X-Retry-Count; then delivered."""
    with ScriptedTarget([Reply(500, b'{"success":false}'), Reply(200)]) as target:
        result = replay(capture, "--to", target.url)
    assert result.exit_code == 0, result.output
    first, second = target.arrivals
    assert [m["messageId"] for m in first.body["batch"]] == [m["messageId"] for m in second.body["batch"]]
    assert second.headers["X-Retry-Count"] == "1" and "X-Retry-Count" not in first.headers
    assert first.body["sentAt"] != second.body["sentAt"]
    assert "retried        3" in result.output
    run, deliveries = last_run(capture)
    assert run["status"] == "delivered" and run["retried"] == 3
    assert {(d["status"], d["attempts"], d["http_status"]) for d in deliveries} == {("delivered", 2, 200)}


def test_429_waits_for_retry_after(capture: Path) -> None:
    """A 429 with Retry-After: 1 is retried after one second (not the short backoff), then delivered."""
    with ScriptedTarget([Reply(429, b"", (("Retry-After", "1"),)), Reply(200)]) as target:
        result = replay(capture, "--to", target.url)
    assert result.exit_code == 0, result.output
    first, second = target.arrivals
    assert 0.95 <= second.at - first.at < 1.6
    with reader(capture) as conn:
        log = orjson.loads(conn.execute("SELECT attempt_log FROM replay_requests").fetchone()[0])
    assert [a["status"] for a in log] == [429, 200] and log[0]["wait_s"] == 1.0


def test_400_fails_without_retry_and_keeps_the_three_views(capture: Path, tmp_path: Path) -> None:
    """A 400 is not retried; each event is failed with the message sent, the request made and the
    response received stored, and shown in the report and the JUnit file; exit 3."""
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    with ScriptedTarget([BAD_REQUEST]) as target:
        result = replay(capture, "--to", target.url, "--report", str(report), "--junit", str(junit))
    assert result.exit_code == 3, result.output
    assert len(target.arrivals) == 1
    assert "HTTP 400 invalid_json" in result.output and "not delivered  3" in result.output
    assert '#1 track "Tested"  HTTP 400 invalid_json: Invalid JSON' in result.output
    run, deliveries = last_run(capture)
    assert run["status"] == "failed" and run["failed"] == 3 and run["errors"] == {"HTTP 400 invalid_json": 3}
    assert {(d["status"], d["http_status"], d["attempts"]) for d in deliveries} == {("failed", 400, 1)}
    with reader(capture) as conn:
        views = runs.failure_views(conn, deliveries[1])
    assert views["you_sent"]["messageId"] == "m1" and views["you_sent"]["userId"] == "u1"
    assert views["request"]["url"] == f"{target.url}/v1/batch"
    assert orjson.loads(views["request"]["body"])["batch"][1]["messageId"] == "m1"
    assert ["Authorization", "Basic ••••••"] in views["request"]["headers"]
    assert views["response"]["status"] == 400
    assert orjson.loads(views["response"]["body"])["message"] == "Invalid JSON"
    document = orjson.loads(report.read_bytes())
    assert document["summary"]["not_delivered"] == 3
    assert (
        document["deliveries"][0]["response"]["status"] == 400
        and document["deliveries"][0]["you_sent"]["messageId"] == "m0"
    )
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "3"
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == "HTTP 400 invalid_json"


def test_closed_port_is_unreachable(capture: Path) -> None:
    """Nothing listening: retried, then exit 4, the run recorded as unreachable, nothing lost."""
    result = replay(capture, "--to", closed_port_url(), "--retries", "2", "--batch-size", "1")
    assert result.exit_code == 4, result.output
    assert "cannot connect" in result.output
    run, deliveries = last_run(capture)
    assert run["status"] == "unreachable" and run["delivered"] == 0
    assert [d["status"] for d in deliveries] == ["unreachable", "not_sent", "not_sent"]
    assert deliveries[0]["attempts"] == 3 and deliveries[0]["reason"] == "connection refused"


def test_5xx_until_retries_run_out_is_failed(capture: Path) -> None:
    """A target that keeps answering 503 gets the bounded number of retries; the events fail (exit 3)."""
    with ScriptedTarget([Reply(503, b"busy")]) as target:
        result = replay(capture, "--to", target.url, "--retries", "3")
    assert result.exit_code == 3
    assert len(target.arrivals) == 4
    run, deliveries = last_run(capture)
    assert run["errors"] == {"HTTP 503": 3}
    assert {d["error"] for d in deliveries} == {"HTTP 503: busy"}


def test_ctrl_c_records_the_run_as_interrupted(capture: Path) -> None:
    """SIGINT during a paced replay exits 130 and the run so far is recorded as interrupted."""
    with ScriptedTarget() as target:
        proc = subprocess.Popen(
            [sys.executable, "-m", "debugger", "replay", "--db", str(capture), "--to", target.url, "--rate", "1"],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not target.arrivals and time.monotonic() < deadline:
            time.sleep(0.02)
        # The first event has reached the target; its answer reaches the replay a moment later, and
        # the next event is due only 1 s after the first (--rate 1): interrupt in between.
        time.sleep(0.4)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    run, deliveries = last_run(capture)
    assert run["status"] == "interrupted" and run["finished_at"] is not None
    assert [d["status"] for d in deliveries] == ["delivered"]
    assert "delivered      1" in out


def test_sigterm_records_the_run_as_interrupted(capture: Path) -> None:
    """SIGTERM (a CI job cancelled) ends a replay like Ctrl-C: exit 130, run recorded as interrupted."""
    with ScriptedTarget() as target:
        proc = subprocess.Popen(
            [sys.executable, "-m", "debugger", "replay", "--db", str(capture), "--to", target.url, "--rate", "1"],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not target.arrivals and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    run, _ = last_run(capture)
    assert run["status"] == "interrupted"


def test_nothing_to_replay_says_so(capture: Path) -> None:
    """A query that matches nothing is not an error, but says that nothing matched."""
    with ScriptedTarget() as target:
        result = replay(capture, "event:Nope", "--to", target.url)
    assert result.exit_code == 0
    assert "Nothing to replay" in result.output and target.arrivals == []


def test_credentials_in_the_url_are_refused(capture: Path) -> None:
    """user:password@ in --to is a usage error: the write key is the Basic auth."""
    result = replay(capture, "--to", "http://user:secret@127.0.0.1:9")
    assert result.exit_code == 2 and "credentials in the URL" in result.output


def test_paced_run_to_a_closed_port_does_not_wait_out_the_schedule(capture: Path) -> None:
    """Once the target is unreachable, the rest of a paced run is recorded as not sent at once."""
    started = time.monotonic()
    result = replay(capture, "--to", closed_port_url(), "--retries", "0", "--rate", "0.5", "--no-batch")
    assert result.exit_code == 4
    assert time.monotonic() - started < 3  # the schedule would take 4 s
    _, deliveries = last_run(capture)
    assert [d["status"] for d in deliveries] == ["unreachable", "not_sent", "not_sent"]


def test_ctrl_c_says_what_is_left_and_the_command_that_continues(capture: Path) -> None:
    """Interrupted after one of three events: the summary counts the two left, stderr gives the exact
    `segdbg replay --resume` command, and running that command delivers exactly those two."""
    with ScriptedTarget() as target:
        proc = subprocess.Popen(
            [sys.executable, "-m", "debugger", "replay", "--db", str(capture), "--to", target.url, "--rate", "1"],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while not target.arrivals and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.4)  # the answer to the first event is back; the second is due at 1 s
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        run, _ = last_run(capture)
        assert f"Replay to {target.url}: 1 of 3 events attempted in" in out
        assert "delivered      1" in out and "left           2  (not sent yet: --resume sends them)" in out
        command = f"segdbg replay --resume {run['id']} --db {capture}"
        assert f"Interrupted: 2 not sent yet. To continue (what was delivered is not sent again): {command}" in err
        resumed = CliRunner().invoke(cli, shlex.split(command)[1:], catch_exceptions=False)
        assert resumed.exit_code == 0, resumed.output
    assert [m["messageId"] for a in target.arrivals for m in a.body["batch"]] == ["m0", "m1", "m2"]
    assert "Replayed 2 events" in resumed.output and "1 delivered before it was resumed" in resumed.output


def test_a_failing_run_reports_its_rate_over_the_events_it_sent(server: ServerThread, db_path: Path) -> None:
    """Ten events paced at 20/s to a target that answers 400: none delivered, and the rate is ten
    events over the time taken (it was left out, computed from the zero delivered)."""
    batch = [{"type": "track", "userId": "u", "event": "Tested", "messageId": f"m{i}"} for i in range(10)]
    assert http(f"{server.url}/v1/batch", body={"writeKey": "wk_test", "batch": batch}).status == 200
    with ScriptedTarget([BAD_REQUEST]) as target:
        result = replay(db_path, "--to", target.url, "--rate", "20", "--no-batch")
    assert result.exit_code == 3, result.output
    found = re.search(r"10 of 10 events attempted in ([\d.]+) s \(([\d,]+) events/s\)", result.output)
    assert found is not None, result.output
    seconds, rate = float(found[1]), int(found[2].replace(",", ""))
    assert 0.4 <= seconds < 2 and abs(rate - 10 / seconds) <= 0.05 * 10 / seconds + 1
    assert "not delivered  10  (10 failed, 0 not sent)" in result.output
    run, _ = last_run(db_path)
    hint = f"10 not delivered. To retry them (what was delivered is not sent again): segdbg replay --resume {run['id']}"
    assert hint in result.output


def test_an_unreachable_target_counts_only_the_event_tried(capture: Path) -> None:
    """A closed port, one event per request: one event was tried, two never sent; the command to continue follows."""
    result = replay(capture, "--to", closed_port_url(), "--retries", "0", "--no-batch")
    assert result.exit_code == 4
    assert "1 of 3 events attempted" in result.output
    assert "not delivered  3  (1 failed, 2 not sent)" in result.output
    run, _ = last_run(capture)
    assert (
        "The target could not be reached: 3 not delivered. To continue (what was delivered is not sent again): "
        f"segdbg replay --resume {run['id']} --db {capture}"
    ) in result.output


def test_the_command_to_continue_asks_for_the_write_key_again(capture: Path) -> None:
    """A run sent with --write-key: the key is not printed (nor stored); the command asks for it again."""
    result = replay(capture, "--to", closed_port_url(), "--retries", "0", "--write-key", "wk_secret_123")
    assert result.exit_code == 4
    run, _ = last_run(capture)
    assert (
        f"segdbg replay --resume {run['id']} --db {capture} --write-key KEY with the same --write-key" in result.output
    )
    assert "wk_secret_123" not in result.output
