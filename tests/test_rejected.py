"""Issue 15, item 1: a request refused whole is a first-class row (status ``rejected``) in every
view: the filter language, `events`, `expect` (the README's CI recipe), the debugger API,
`stats`, the `serve` summary, HAR exports, and never a replay (docs/protocol.md §3.4).

Real parts: a real server on a loopback port, a real SQLite file, the CLI as a subprocess.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import orjson
import pytest

from debugger.core.pacing import RateHistory
from debugger.core.query import language as q
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import ROOT, ServeProcess, basic, events, gz, http, requests_rows, run_segdbg

GOOD = {"type": "track", "event": "Signed Up", "userId": "u1", "writeKey": "web-dev"}


def _capture_with_a_rejection(server: ServerThread) -> None:
    """One good event, then a body cut off mid-JSON (400 invalid_json), then a wrong path (404)."""
    assert http(f"{server.url}/v1/track", body=GOOD).status == 200
    assert http(f"{server.url}/v1/batch", body=b'{"writeKey":"web-dev","batch":[{"type":').status == 400
    assert http(f"{server.url}/v1/v1/track", body=GOOD).status == 404


def test_the_filter_language_reaches_rejected_rows(server: ServerThread) -> None:
    """status:rejected, code:, http.status: (with comparisons) select the refused requests; the
    default view hides them and says so; --all shows them with their status and reason."""
    _capture_with_a_rejection(server)
    db = str(server.settings.db)

    def ids(query: str, *extra: str) -> list[int]:
        result = run_segdbg("events", query, "--db", db, "--format", "jsonl", *extra)
        assert result.returncode == 0, result.stderr
        return [orjson.loads(line)["id"] for line in result.stdout.splitlines()]

    assert ids("status:rejected") == [2, 3]
    assert ids("code:invalid_json") == [2]
    assert ids("http.status:404") == [3]
    assert ids("http.status:>=400") == [2, 3]
    assert ids("http.status:200") == [1]
    assert ids("status:ok,rejected -http.status:200") == [2, 3]
    assert ids("") == [1]
    table = run_segdbg("events", "--db", db)
    assert "2 rejected hidden" in table.stderr.replace(",", "")
    shown = run_segdbg("events", "--all", "--db", db, "--limit", "10")
    assert "✗ 400 invalid_json" in shown.stdout and "✗ 404 not_found" in shown.stdout
    assert "POST /v1/batch" in shown.stdout


def test_code_and_http_status_parse_print_and_lift_the_default_view() -> None:
    """`code:` and `http.status:` round-trip through the canonical form, and a positive one asks
    for rows by their reason, so the ok-only default does not hide what it names."""
    for text in ("code:invalid_json", "http.status:>=400", "http.status:4*,200", "-code:x"):
        assert q.canonical(q.parse(text)) == text
    assert q.parse("code:invalid_json").has_status_term
    assert q.parse("http.status:400").has_status_term
    assert not q.parse("-code:invalid_json").has_status_term
    assert "rejected" in q.canonical(q.parse("status:REJECTED"))


def test_the_readme_ci_recipe_fails_on_a_rejected_request_and_names_it(server: ServerThread) -> None:
    """The README's `expect ... --none` line, run as written (with --url for --db): exit 3, and the
    output names the request, its status and its code."""
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("segdbg expect") and "--none" in x)
    query = re.search(r"expect '([^']+)' --none", line)
    assert query is not None and "rejected" in query.group(1)
    sent = run_segdbg("send", str(ROOT / "sample_events/invalid/invalid-json.json"), "--to", server.url)
    assert sent.returncode == 3
    result = run_segdbg("expect", query.group(1), "--none", "--url", server.url, "--timeout", "1")
    assert result.returncode == 3, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "REJECTED" in out and "400 invalid_json" in out and "POST /v1/" in out
    clean = run_segdbg("expect", query.group(1), "--none", "--db", str(server.settings.db), "--timeout", "0")
    assert clean.returncode == 3  # the same verdict from the file


def test_api_and_stats_count_rejected_requests(server: ServerThread) -> None:
    """The debugger API lists a rejected row with its refusal; stats count it by code and keep
    it out of the types and libraries."""
    _capture_with_a_rejection(server)
    listed = http(f"{server.url}/debugger/api/events?q={quote('status:rejected')}", "GET").json()
    rows = listed["events"]
    assert [r["stored"]["rejected"]["status"] for r in rows] == [400, 404]
    assert rows[0]["raw"] == '{"writeKey":"web-dev","batch":[{"type":'
    stats = http(f"{server.url}/debugger/api/stats", "GET").json()
    assert stats["by_status"] == {"ok": 1, "rejected": 2}
    assert stats["rejected"] == {"requests": 2, "by_code": {"invalid_json": 1, "not_found": 1}}
    assert stats["by_type"] == {"track": 1}
    assert [lib["events"] for lib in stats["libraries"]] == [1]
    table = run_segdbg("stats", "--db", str(server.settings.db))
    assert "rejected requests, by code" in table.stdout and "invalid_json" in table.stdout


def test_a_refused_body_is_filed_under_the_key_its_header_or_query_carries(server: ServerThread) -> None:
    """A body that cannot be read (bad JSON, too large) still came with a key in its Basic header, its
    ?writeKey= or a Bearer token: the rejected row is that source's, so a test's scope (its write key)
    sees its own refused request and stats count it under the source."""
    assert http(f"{server.url}/v1/batch", body=b"{oops", headers={"Authorization": basic("scope-a")}).status == 400
    assert http(f"{server.url}/v1/batch?writeKey=scope-b", body=b"{oops").status == 400
    assert http(f"{server.url}/v1/batch", body=b"{oops", headers={"Authorization": "Bearer scope-c"}).status == 400
    assert http(f"{server.url}/v1/batch", body=b"{oops").status == 400  # no key anywhere: no source
    rejected = events(server.settings.db, statuses=["rejected"])
    assert [r["write_key"] for r in rejected] == ["scope-a", "scope-b", "scope-c", None]
    scoped = run_segdbg(
        "events", "--db", str(server.settings.db), "scope:scope-a", "status:rejected", "--format", "jsonl"
    )
    assert [orjson.loads(line)["write_key"] for line in scoped.stdout.splitlines()] == ["scope-a"]


def test_a_gzip_rejection_shows_the_inflated_body(server: ServerThread) -> None:
    """A gzip body that is not JSON: Raw (the row's ``raw``) shows the text, the request keeps the bytes."""
    body = gz(b"not json at all")
    assert http(f"{server.url}/v1/batch", body=body, headers={"Content-Encoding": "gzip"}).status == 400
    [row] = events(server.settings.db)
    assert row["raw"] == "not json at all"
    assert requests_rows(server.settings.db)[0]["body"] == body


def test_har_export_has_one_entry_per_request_as_it_arrived(server: ServerThread, tmp_path: Path) -> None:
    """HAR: a batch of three is one entry (not three), the URL carries the port it arrived on, a
    rejected request is there with its body and the answer; sending the HAR to another server
    reproduces both: the accepted messages and the refusal."""
    batch = {"writeKey": "web-dev", "batch": [dict(GOOD, event=f"E{i}", messageId=f"m{i}") for i in range(3)]}
    assert http(f"{server.url}/v1/batch", body=batch).status == 200
    assert http(f"{server.url}/v1/batch", body=b'{"writeKey":"web-dev","batch":[').status == 400
    result = run_segdbg("events", "--all", "--format", "har", "--db", str(server.settings.db))
    assert result.returncode == 0, result.stderr
    entries = orjson.loads(result.stdout)["log"]["entries"]
    assert len(entries) == 2
    accepted, rejected = entries
    port = urlsplit(server.url).port
    assert {urlsplit(e["request"]["url"]).port for e in entries} == {port}
    assert accepted["response"]["status"] == 200 and [e["id"] for e in accepted["_segdbg"]["events"]] == [1, 2, 3]
    assert len(orjson.loads(accepted["request"]["postData"]["text"])["batch"]) == 3
    assert rejected["request"]["postData"]["text"] == '{"writeKey":"web-dev","batch":['
    assert rejected["response"]["status"] == 400
    assert orjson.loads(rejected["response"]["content"]["text"])["code"] == "invalid_json"
    har = tmp_path / "capture.har"
    har.write_text(result.stdout)
    with ServerThread(Settings(db=tmp_path / "again.db", port=0)) as again:
        resent = run_segdbg("send", str(har), "--to", again.url)
        assert resent.returncode == 3  # the refused request is refused again
        rows = events(again.settings.db)
    assert [(r["status"], r["name"]) for r in rows] == [("ok", "E0"), ("ok", "E1"), ("ok", "E2"), ("rejected", None)]


def test_jsonl_export_round_trip_skips_rejected_rows_with_a_reason(server: ServerThread, tmp_path: Path) -> None:
    """A rejected row in a jsonl export holds no message: `send` says so instead of sending its body."""
    _capture_with_a_rejection(server)
    export = run_segdbg("events", "--all", "--format", "jsonl", "--db", str(server.settings.db))
    path = tmp_path / "all.jsonl"
    path.write_text(export.stdout)
    with ServerThread(Settings(db=tmp_path / "again.db", port=0)) as again:
        resent = run_segdbg("send", str(path), "--to", again.url)
        rows = events(again.settings.db)
    assert [r["status"] for r in rows] == ["ok"]
    assert "a rejected request holds no message" in resent.stdout + resent.stderr


def test_replay_never_sends_a_rejected_row(server: ServerThread) -> None:
    """Even asked for by status, a rejected row is not replayed (there is no message)."""
    _capture_with_a_rejection(server)
    db = str(server.settings.db)
    result = run_segdbg("replay", "status:rejected", "--to", server.url, "--db", db, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would send 0 of 0 events" in result.stderr or "No stored event" in result.stderr, result.stderr
    every = run_segdbg("replay", "status:ok,rejected", "--to", server.url, "--db", db, "--dry-run")
    assert "would send 1 of 1 events" in every.stderr
    assert "invalid_json" not in every.stdout


def test_the_headless_summary_counts_rejected_requests(tmp_path: Path) -> None:
    """`serve --headless`: the line for a refused request says so; the summary counts it apart."""
    server = ServeProcess(tmp_path / "h.db")
    try:
        assert http(f"{server.url}/v1/track", body=GOOD).status == 200
        assert http(f"{server.url}/v1/track", body=b"{").status == 400
    finally:
        _, out, err = server.stop()
    assert "1 requests rejected" not in err
    assert "Stopped. 2 requests · 1 events (1 ok) · 1 rejected" in err
    assert "invalid_json" in out and "1 event (1 rejected)" not in out


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        ([(0, 10, 0, 0)], [("█", "accepted")]),
        ([(0, 10, 0, 0), (10, 1, 0, 2)], [("█", "accepted"), ("▃", "rejected")]),
        ([(0, 4, 4, 0)], [("█", "problems")]),
    ],
)
def test_the_rate_history_marks_each_bucket_with_the_worst_arrival(
    arrivals: list[tuple[float, int, int, int]], expected: list[tuple[str, str]]
) -> None:
    """The header's sparkline: height against the busiest bucket, colour by the worst thing in it."""
    history = RateHistory(bucket=10, buckets=len(expected))
    for at, accepted, problems, rejected in arrivals:
        history.add(at, accepted, problems, rejected)
    assert history.spark(arrivals[-1][0]) == expected
    assert history.spark(arrivals[-1][0] + 10 * len(expected))[-1] == (" ", "")  # old buckets age out


async def test_the_tui_shows_a_rejected_request_as_a_row_with_its_reason(db_path: Path) -> None:
    """Pilot: the stream has a REJECTED row `POST /v1/batch  ✗ 400 invalid_json`; Pretty says what
    was refused and why, Raw shows the body, Problems the verdict; the header counts it apart and
    its sparkline marks the bucket red."""
    from debugger.core.http import model
    from debugger.tui.widgets.event_detail import EventDetail
    from debugger.tui.widgets.event_list import EventList
    from debugger.tui.widgets.json_tree import JsonTree
    from debugger.tui.widgets.status import HeaderBar
    from tests.tui_support import fill, main_screen, make_app, plain, settle, track

    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        bad = model.IncomingRequest(method="POST", path="/v1/batch", body=b'{"batch": [', remote="127.0.0.1")
        fill(db_path, [track(2), bad])
        screen.poll()
        await settle(pilot)
        stream = screen.query_one(EventList)
        row = stream.events[stream.order[-1]]
        cells = [c.plain for c in stream.cells(row)]
        assert cells[1:3] == ["REJECTED", "POST /v1/batch"] and cells[5] == "✗ 400 invalid_json"
        header = screen.query_one(HeaderBar).text
        assert "2 events" in header.plain and "1 request rejected" in header.plain
        spark = [span for span in header.spans if span.style == "bold red" and header.plain[span.start] in "▁▂▃▄▅▆▇█"]
        assert spark, header.plain  # the current bucket holds a rejection: drawn red
        detail = screen.query_one(EventDetail)
        pretty = plain(screen.query_one("#detail-pretty").content)
        assert "✗ 400 invalid_json" in pretty and "POST /v1/batch" in pretty and '{"batch": [' in pretty
        await pilot.press("2")
        await settle(pilot)
        tree = detail.query_one(JsonTree)
        assert "body as received" in str(tree.root.label) and '{"batch": [' in str(tree.root.label) + " ".join(
            str(n.label) for n in tree.root.children
        )
        await pilot.press("4")
        await settle(pilot)
        problems = plain(detail.query_one("#detail-problems").content)
        assert "refused whole" in problems and "invalid_json" in problems
        assert "missing_type" not in problems  # lint does not judge a refusal as a message
