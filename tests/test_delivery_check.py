"""`segdbg delivery-check` (docs/faults.md): real clients under `--fault '503 30%'` deliver every event exactly once
and the check proves it; test doubles that give up, retry with a new messageId, resend what was accepted, or
ignore Retry-After are each caught."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, web
from click.testing import CliRunner, Result
from segment.analytics.client import Client as SegmentClient

from debugger.cli import cli
from debugger.core.delivery import Attempt, Sent, backoff_shape, judge
from debugger.core.exitcode import ExitCode
from debugger.core.fault import parse_rule
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.chromium import LOOPBACK_ONLY, PageServer, browsing
from tests.helpers import ROOT, basic, events, http, requests_rows

NODE = ROOT / "tests" / "node"


def check(db: Path, *args: str) -> tuple[Result, dict[str, Any]]:
    """Run `segdbg delivery-check --format json` on a capture; the result and its JSON."""
    result = CliRunner().invoke(cli, ["delivery-check", "--db", str(db), "--format", "json", *args])
    return result, orjson.loads(result.output) if result.output.startswith("{") else {}


def faulty(db: Path, *rules: str, seed: int = 7) -> ServerThread:
    """A real server on loopback whose ingest misbehaves by these rules."""
    return ServerThread(Settings(db=db, port=0, faults=tuple(parse_rule(r) for r in rules), fault_seed=seed))


def faulted_count(db: Path) -> int:
    return sum(1 for r in requests_rows(db) if r["fault"] is not None)


def track(seq: int, message_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": "u-double",
        "event": "Tick",
        "properties": {"seq": seq},
        "messageId": message_id or str(uuid.uuid4()),
        "timestamp": f"2024-05-01T12:00:{seq % 60:02d}.000Z",
        "context": {"library": {"name": "double", "version": "1.0"}},
    }


def post(url: str, batch: list[dict[str, Any]], key: str = "wk-double") -> int:
    return http(f"{url}/v1/batch", body={"batch": batch}, headers={"Authorization": basic(key)}).status


def test_segment_analytics_python_under_30_percent_503s_delivers_every_event_exactly_once(db_path: Path) -> None:
    """The real segment-analytics-python, batches of 10, its own retries: 100 tracks, all stored once, and the
    check says exactly once for all 100 (and saw the refused attempts)."""
    errors: list[Any] = []
    with faulty(db_path, "503 30%") as server:
        client = SegmentClient(
            "wk-py", host=server.url, upload_size=10, max_retries=10, on_error=lambda e, b: errors.append(e)
        )
        for seq in range(100):
            client.track("u-py", "Tick", {"seq": seq})
        client.flush()
        client.shutdown()
    assert errors == []
    assert faulted_count(db_path) >= 2  # the rule really refused some batches
    stored = events(db_path, statuses=["ok"])
    assert sorted(e["stored"]["properties"]["seq"] for e in stored) == list(range(100))
    result, report = check(db_path, "--sequence", "properties.seq")
    assert result.exit_code == ExitCode.OK, result.output
    (client_report,) = report["clients"]
    assert client_report["library"].startswith("analytics-python")
    assert client_report["exactly_once"] == 100
    assert client_report["refused_attempts"] == faulted_count(db_path)
    assert (client_report["never"], client_report["more_than_once"], client_report["new_message_id"]) == ([], [], [])
    assert client_report["backoff_s"]  # the refused batches were retried


def test_analytics_node_under_30_percent_503s_delivers_every_event_exactly_once(db_path: Path) -> None:
    """The real @segment/analytics-node (tests/node/deliver.js), batches of 10: 60 tracks all stored once."""
    assert (NODE / "node_modules" / "@segment" / "analytics-node").is_dir(), "run `npm ci --prefix tests/node`"
    with faulty(db_path, "503 30%", seed=1) as server:
        done = subprocess.run(
            ["node", str(NODE / "deliver.js"), server.url, "wk-node", "60", "10"],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"errors": []}
    assert faulted_count(db_path) >= 1
    assert sorted(e["stored"]["properties"]["seq"] for e in events(db_path, statuses=["ok"])) == list(range(60))
    result, report = check(db_path)
    assert result.exit_code == ExitCode.OK, result.output
    (client_report,) = report["clients"]
    assert client_report["library"].startswith("@segment/analytics-node")
    assert (client_report["exactly_once"], client_report["never"]) == (60, [])


def test_a_client_that_gives_up_after_one_failure_is_caught(db_path: Path) -> None:
    """A double that sends ten batches of five and never resends a refused one: the refused batches' events are
    reported as never arrived, by messageId and by the client's own sequence, and the check exits 3."""
    with faulty(db_path, "503 every 3") as server:
        statuses = [post(server.url, [track(b * 5 + i) for i in range(5)]) for b in range(10)]
    assert statuses == [200, 200, 503] * 3 + [200]
    result, report = check(db_path)
    assert result.exit_code == ExitCode.FAILED, result.output
    (client_report,) = report["clients"]
    assert (client_report["exactly_once"], len(client_report["never"]), client_report["ok"]) == (35, 15, False)
    assert report["ok"] is False
    text = CliRunner().invoke(cli, ["delivery-check", "--db", str(db_path)])
    assert text.exit_code == ExitCode.FAILED
    assert "never arrived (refused, never sent again): 15" in text.output
    assert "1 of 1 client lost or repeated events." in text.output


def test_a_gap_in_the_clients_own_sequence_is_reported_as_never_arrived(db_path: Path) -> None:
    """Events dropped before they were ever sent leave no attempt; --sequence finds them by the client's counter."""
    with faulty(db_path, "503 route:/v1/nothing") as server:
        post(server.url, [track(seq) for seq in (0, 1, 2, 5, 6)])
    result, report = check(db_path, "--sequence", "properties.seq")
    assert result.exit_code == ExitCode.FAILED
    assert report["clients"][0]["sequence_gaps"] == [3.0, 4.0]
    assert check(db_path)[0].exit_code == ExitCode.OK  # without the counter nothing says they existed


def test_retries_with_a_new_message_id_are_flagged_and_counted_once_per_event(db_path: Path) -> None:
    """A double that rebuilds a refused batch with new messageIds (flagged; each event still arrived once), then
    resends an accepted one with a new messageId (flagged, and more than once) and one as it was (more than once)."""
    with faulty(db_path, "503 first 1") as server:
        first = [track(0, "m-0"), track(1, "m-1")]
        assert post(server.url, first) == 503
        assert post(server.url, [{**m, "messageId": m["messageId"] + "-retry"} for m in first]) == 200
        assert post(server.url, [track(2, "m-2"), track(3, "m-3")]) == 200
        assert post(server.url, [track(2, "m-2"), track(3, "m-3-again")]) == 200
    result, report = check(db_path)
    assert result.exit_code == ExitCode.FAILED
    (client_report,) = report["clients"]
    assert client_report["new_message_id"] == [
        {"ids": ["m-0", "m-0-retry"], "arrived": 1},
        {"ids": ["m-1", "m-1-retry"], "arrived": 1},
        {"ids": ["m-3", "m-3-again"], "arrived": 2},
    ]
    assert client_report["more_than_once"] == ["m-2", "m-3 = m-3-again"]
    assert (client_report["messages"], client_report["exactly_once"], client_report["never"]) == (4, 2, [])
    # Normal searches never see the refused copies: only what was accepted is an event.
    assert sorted(e["message_id"] for e in events(db_path, statuses=["ok", "duplicate"])) == [
        "m-0-retry",
        "m-1-retry",
        "m-2",
        "m-2",
        "m-3",
        "m-3-again",
    ]


def test_retry_after_is_judged_from_the_gap_to_the_next_attempt(db_path: Path) -> None:
    """429 retry-after=1 on the first request: a double that comes back at once is reported as not honouring it
    (and fails with --require-retry-after); waiting the second out is honoured."""
    with faulty(
        db_path, "429 retry-after=1 first 1 source:wk-hasty", "429 retry-after=1 first 1 source:wk-patient"
    ) as server:
        for key, wait in (("wk-hasty", 0.0), ("wk-patient", 1.1)):
            batch = [track(0, f"{key}-0")]
            reply = http(f"{server.url}/v1/batch", body={"batch": batch}, headers={"Authorization": basic(key)})
            assert (reply.status, reply.headers["retry-after"]) == (429, "1")
            time.sleep(wait)
            assert post(server.url, batch, key) == 200
    result, report = check(db_path)
    assert result.exit_code == ExitCode.OK, result.output  # everything arrived once
    honoured = {c["write_key"]: c["retry_after_honoured"] for c in report["clients"]}
    assert honoured == {"wk-hasty": False, "wk-patient": True}
    strict, _ = check(db_path, "--require-retry-after")
    assert strict.exit_code == ExitCode.FAILED


def test_an_empty_capture_is_said_so(db_path: Path) -> None:
    """No attempts at all: a clear line, exit 0 (nothing was lost)."""
    with faulty(db_path, "503 30%"):
        pass
    result = CliRunner().invoke(cli, ["delivery-check", "--db", str(db_path)])
    assert result.exit_code == 0
    assert "No delivery attempts" in result.output


@pytest.mark.parametrize("bad", ["--sequence", "properties..seq"])
def test_a_bad_sequence_path_is_a_usage_error(db_path: Path, bad: str) -> None:
    """`--sequence properties..seq` names no field: a usage error, exit 2."""
    with faulty(db_path, "503 30%"):
        pass
    args = ["delivery-check", "--db", str(db_path), "--sequence"] + ([bad] if bad != "--sequence" else [])
    assert CliRunner().invoke(cli, args).exit_code == ExitCode.USAGE


AJS = NODE / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
BROWSER_PAGE = """<!doctype html><title>shop</title><script>
window.analytics = [];
window.analytics._writeKey = "wk-browser";
window.analytics._cdn = location.origin;  // the chunks and the settings come through the page's server
for (let seq = 0; seq < %(count)d; seq++) window.analytics.push(["track", "Tick", {seq: seq}]);
</script><script src="/sdk.js"></script>"""


def ajs_page(segdbg: str, count: int) -> PageServer:
    """The shop: its page, analytics.js's standalone bundle and chunks, and Segment's settings relayed from segdbg
    (so analytics.js loads the settings segdbg answers, which point it at segdbg)."""

    async def chunk(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        return web.FileResponse(AJS / name) if "/" not in name and (AJS / name).is_file() else web.Response(status=404)

    async def settings(request: web.Request) -> web.StreamResponse:
        async with ClientSession() as session, session.get(f"{segdbg}{request.path}") as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status, content_type="application/json")

    routes = [("/analytics-next/bundles/{name}", chunk), ("/v1/projects/{key}/settings", settings)]
    return PageServer(BROWSER_PAGE % {"count": count}, AJS / "standalone.js", routes)


@pytest.mark.slow
def test_analytics_js_in_chromium_under_30_percent_503s_delivers_every_event_exactly_once(
    db_path: Path, tmp_path: Path
) -> None:
    """The real analytics.js (standalone bundle) in headless Chromium, its own retry queue: 20 tracks, each stored
    once, and the check says so. Only loopback resolves: nothing leaves the machine."""
    assert (AJS / "standalone.js").is_file(), "run `npm ci --prefix tests/node`"
    count = 20
    with faulty(db_path, "503 30%", seed=2) as server, ajs_page(server.url, count) as shop:
        with browsing(f"http://127.0.0.1:{shop.port}/", tmp_path / "profile", *LOOPBACK_ONLY) as chromium:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and len(events(db_path, statuses=["ok", "duplicate"])) < count:
                time.sleep(0.1)
            time.sleep(0.5)  # a late duplicate would show here
    stored = events(db_path, statuses=["ok", "duplicate"])
    assert sorted(e["stored"]["properties"]["seq"] for e in stored) == list(range(count)), chromium.log
    assert faulted_count(db_path) >= 2
    result, report = check(db_path, "--sequence", "properties.seq")
    assert result.exit_code == ExitCode.OK, result.output
    (client_report,) = report["clients"]
    assert client_report["library"].startswith("analytics.js")
    assert (client_report["exactly_once"], client_report["never"], client_report["more_than_once"]) == (count, [], [])


def test_a_refused_pixel_is_read_back_from_its_query_string(db_path: Path) -> None:
    """A pixel GET carries its message in the URL: refused, then sent again and accepted, it arrived exactly once."""
    message = {"userId": "u-px", "event": "Opened Email", "messageId": "px-1", "writeKey": "wk-px"}
    data = base64.b64encode(orjson.dumps(message)).decode()
    with faulty(db_path, "503 first 1") as server:
        statuses = [http(f"{server.url}/v1/pixel/track?data={data}", "GET").status for _ in range(2)]
    assert statuses == [503, 200]
    result, report = check(db_path)
    assert result.exit_code == ExitCode.OK, result.output
    (client_report,) = report["clients"]
    assert (client_report["write_key"], client_report["attempts"], client_report["refused_attempts"]) == ("wk-px", 2, 1)
    assert client_report["exactly_once"] == 1


def _attempt(request_id: int, second: float, accepted: bool, *ids: str, fault: str | None = None) -> Attempt:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=second)
    return Attempt(
        request_id, at, accepted, tuple(Sent(i, f"fp-{i}", "wk", "lib 1") for i in ids), 200 if accepted else 503, fault
    )


def test_the_backoff_is_the_gaps_between_a_batchs_attempts_and_their_shape() -> None:
    """A batch refused twice, then accepted, 0.5 s then 1 s apart, grew; another batch sent once has no gaps; a
    Retry-After of 2 answered by a try 1 s later was not honoured."""
    attempts = [
        _attempt(1, 0.0, False, "a", "b", fault="503 30%"),
        _attempt(2, 0.5, False, "a", "b", fault="429 retry-after=2 every 2"),
        _attempt(3, 1.5, True, "a", "b"),
        _attempt(4, 1.6, True, "c"),
    ]
    (report,) = judge(attempts)
    assert report.backoff == [[0.5, 1.0]]
    assert backoff_shape(report.backoff) == "grew"
    assert [(r.request_id, r.asked, r.waited, r.honoured) for r in report.retry_after] == [(2, 2.0, 1.0, False)]
    assert (report.attempts, report.refused, report.messages, report.exactly_once, report.failed) == (4, 2, 3, 3, False)


@pytest.mark.parametrize(
    ("gaps", "shape"),
    [
        ([], "none"),
        ([[0.2]], "single retries"),
        ([[0.5, 1.0, 2.1]], "grew"),
        ([[1.0, 1.02, 0.99]], "flat"),
        ([[2.0, 1.0, 0.4]], "shrank"),
        ([[0.5, 2.0, 0.5]], "mixed"),
        ([[0.5, 1.0], [1.0, 1.0]], "mixed"),
    ],
)
def test_backoff_shapes(gaps: list[list[float]], shape: str) -> None:
    """Each retried batch's gaps are read as growing (each ≥ 1.2× the last), flat, shrinking or mixed."""
    assert backoff_shape(gaps) == shape


def test_write_key_narrows_the_check_to_that_client(db_path: Path) -> None:
    """--write-key reads only that key's attempts: another client's lost events do not fail it."""
    with faulty(db_path, "503 source:wk-lossy") as server:
        assert post(server.url, [track(0)], "wk-lossy") == 503
        assert post(server.url, [track(1)], "wk-fine") == 200
    assert check(db_path)[0].exit_code == ExitCode.FAILED
    result, report = check(db_path, "--write-key", "wk-fine")
    assert result.exit_code == ExitCode.OK
    assert [c["write_key"] for c in report["clients"]] == ["wk-fine"]
