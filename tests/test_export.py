"""`segdbg events [QUERY]` in every format, and exports re-imported with `segdbg send` (or run, for curl)."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from debugger.cli import cli
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import basic, events, http

MESSAGES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    # (path, body, headers): the shapes real clients send
    (
        "/v1/batch",
        {
            "writeKey": "wk_py",
            "sentAt": "2024-05-01T12:00:01.500000+00:00",
            "batch": [
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": "u1",
                    "messageId": "py-1",
                    "timestamp": "2024-05-01T12:00:00.000+00:00",
                    "properties": {
                        "total": 120.5,
                        "products": [{"sku": "45790-32", "price": 19}],
                        "note": '=HYPERLINK("x")',
                    },
                    "context": {"library": {"name": "analytics-python", "version": "2.3.4"}},
                },
                {"type": "identify", "userId": "u1", "messageId": "py-2", "traits": {"email": "ann@acme.com"}},
            ],
        },
        {},
    ),
    (
        "/v1/p",
        {
            "anonymousId": "anon-1",
            "messageId": "ajs-1",
            "name": "Pricing",
            "sentAt": "2024-05-01T12:00:03.000Z",
            "timestamp": "2024-05-01T12:00:02.900Z",
            "properties": {"path": "/pricing"},
            "context": {"library": {"name": "analytics.js", "version": "next-1.84.1"}},
        },
        {"Authorization": basic("wk_web"), "Content-Type": "text/plain"},
    ),
    ("/v1/track", {"writeKey": "wk_web", "event": "No ids", "messageId": "bad-1"}, {}),
    (
        "/v1/track",
        {
            "writeKey": "wk_web",
            "userId": "+1-555-0100",
            "event": "Signed Up",
            "messageId": "py-1",
            "properties": {"bidi": "\u202egnp.exe"},
        },
        {},
    ),
]
COMPARED = ("type", "name", "user_id", "anonymous_id", "message_id", "write_key", "status", "library_name")


def _fill(server: ServerThread) -> None:
    for path, body, headers in MESSAGES:
        assert http(server.url + path, body=body, headers=headers).status == 200


@pytest.fixture
def second_server(tmp_path: Path) -> Iterator[ServerThread]:
    """Another real segdbg with its own capture: where exports are re-imported."""
    with ServerThread(Settings(db=tmp_path / "second.db", port=0)) as running:
        yield running


def run(*args: str) -> Any:
    """Run the CLI in-process and return click's result."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _essence(event: dict[str, Any]) -> dict[str, Any]:
    stored = dict(event["stored"])
    for noise in ("receivedAt", "sentAt", "timestamp", "originalTimestamp"):
        stored.pop(noise, None)
    return {**{k: event[k] for k in COMPARED}, "stored": stored}


@pytest.mark.parametrize("fmt", ["jsonl", "json", "har"])
def test_exports_reimport_to_the_same_events(
    server: ServerThread, second_server: ServerThread, db_path: Path, tmp_path: Path, fmt: str
) -> None:
    """Export with --all, send the file to a fresh server: the same events, statuses, properties and original times."""
    _fill(server)
    result = run("events", "--all", "--format", fmt, "--db", str(db_path))
    assert result.exit_code == 0, result.output
    export = tmp_path / f"capture.{'json' if fmt == 'json' else fmt}"
    export.write_bytes(result.stdout_bytes)
    sent = run("send", str(export), "--to", second_server.url)
    assert sent.exit_code == 0, sent.output
    before, after = events(db_path), events(second_server.settings.db)
    assert [_essence(e) for e in after] == [_essence(e) for e in before]
    for old, new in zip(before, after, strict=True):  # client times survive; a missing one becomes the arrival time
        assert new["stored"]["originalTimestamp"] == old["stored"].get("originalTimestamp", old["stored"]["timestamp"])
    if fmt != "har":  # HAR re-sends each event without sentAt: its timestamp is exactly the original
        return
    assert [e["stored"]["timestamp"] for e in after[:2]] == [
        "2024-05-01T12:00:00.000Z",
        before[1]["stored"]["timestamp"],
    ]


def test_curl_format_re_sends_each_event(server: ServerThread, second_server: ServerThread, db_path: Path) -> None:
    """Each line of --format curl is a shell command that stores the same event on the target server."""
    _fill(server)
    result = run("events", "type:track", "--format", "curl", "--to", second_server.url, "--db", str(db_path))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("curl -sS ") for line in lines)
    assert "\u202e" not in result.stdout  # bidi override escaped, never raw on a terminal
    for line in lines:
        done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and orjson.loads(done.stdout) == {"success": True}
    copied = events(second_server.settings.db)
    assert [_essence(e) for e in copied] == [
        _essence(e) for e in events(db_path, statuses=["ok"]) if e["type"] == "track"
    ]
    assert copied[1]["stored"]["properties"]["bidi"] == "\u202egnp.exe"  # the value itself is unchanged


def test_csv_has_one_row_per_event_and_defuses_formulas(server: ServerThread, db_path: Path) -> None:
    """CSV: a header and a row per event; payload text a spreadsheet would evaluate is prefixed with '."""
    _fill(server)
    result = run("events", "--format", "csv", "--db", str(db_path))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["name"] for r in rows] == ["Order Completed", "", "Pricing", "Signed Up"]
    assert orjson.loads(rows[0]["properties"])["total"] == 120.5
    assert rows[3]["user_id"] == "'+1-555-0100"  # would run as a formula in a spreadsheet
    assert "=HYPERLINK" in rows[0]["properties"]  # inside JSON it is inert
    run_all = run("events", "--all", "--format", "csv", "--db", str(db_path))
    invalid = next(r for r in csv.DictReader(io.StringIO(run_all.stdout)) if r["status"] == "invalid")
    assert invalid["problems"] == "no_user_anon_id"


def test_query_argument_filters_every_format(server: ServerThread, db_path: Path) -> None:
    """The QUERY argument selects the same events in the table and in exports; status: lifts the default view."""
    _fill(server)
    table = run("events", 'event:"Order Completed"', "--db", str(db_path))
    assert "Order Completed" in table.output and "Pricing" not in table.output
    jsonl = run("events", "properties.products.sku:45790-32", "--format", "jsonl", "--db", str(db_path))
    assert [orjson.loads(line)["message_id"] for line in jsonl.stdout_bytes.splitlines()] == ["py-1"]
    hidden = run("events", "--format", "jsonl", "--db", str(db_path))
    assert (
        len(hidden.stdout_bytes.splitlines()) == 4
        and "(1 invalid hidden; add --include-problems to include them)" in hidden.stderr
    )
    invalid = run("events", "status:invalid", "--format", "jsonl", "--db", str(db_path))
    assert [orjson.loads(line)["message_id"] for line in invalid.stdout_bytes.splitlines()] == ["bad-1"]
    none = run("events", "nothing-matches-this", "--db", str(db_path))
    assert none.exit_code == 0 and "No stored event matches" in none.stderr


def test_a_bad_query_is_a_usage_error_pointing_at_the_term(server: ServerThread, db_path: Path) -> None:
    """A malformed query exits 2 and underlines the offending term."""
    _fill(server)
    result = CliRunner().invoke(cli, ["events", "type:track tpye:page", "--db", str(db_path)], standalone_mode=True)
    assert result.exit_code == 2
    assert "did you mean `type:`" in result.output
    assert "  type:track tpye:page\n             ^^^^" in result.output


def test_har_export_is_valid_har(server: ServerThread, db_path: Path) -> None:
    """The HAR document has the HAR 1.2 shape browsers and proxies load: one entry per request (the
    two-message batch is one), at the route and port it arrived on; each keeps its events' id, status, problems."""
    _fill(server)
    har = orjson.loads(run("events", "--all", "--format", "har", "--db", str(db_path)).stdout_bytes)
    assert har["log"]["version"] == "1.2" and har["log"]["creator"]["name"] == "segdbg"
    entries = har["log"]["entries"]
    assert len(entries) == len(MESSAGES) == 4
    first = entries[0]
    assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= first.keys()
    assert first["request"]["method"] == "POST" and first["request"]["url"] == server.url + "/v1/batch"
    assert [m["messageId"] for m in orjson.loads(first["request"]["postData"]["text"])["batch"]] == ["py-1", "py-2"]
    assert [e["request"]["url"].removeprefix(server.url) for e in entries] == [p for p, _, _ in MESSAGES]
    assert [e["status"] for e in entries[2]["_segdbg"]["events"]] == ["invalid"]


def test_large_exports_stream(server: ServerThread, db_path: Path, tmp_path: Path) -> None:
    """--limit caps an export; without it every matching event is written (2,000 here)."""
    batch = [{"type": "track", "event": f"E{n}", "userId": "u"} for n in range(2000)]
    assert http(server.url + "/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200
    assert len(run("events", "--format", "jsonl", "--db", str(db_path)).stdout_bytes.splitlines()) == 2000
    assert len(run("events", "--format", "jsonl", "--limit", "7", "--db", str(db_path)).stdout_bytes.splitlines()) == 7
    assert len(orjson.loads(run("events", "--format", "json", "--db", str(db_path)).stdout_bytes)) == 2000


def test_send_skips_unrelated_har_entries(second_server: ServerThread, tmp_path: Path) -> None:
    """A browser HAR: POSTs to /v1/* are re-sent as made; page loads and settings GETs are skipped."""
    body = orjson.dumps({"writeKey": "wk", "userId": "u", "event": "From HAR", "type": "track"}).decode()
    har = {
        "log": {
            "version": "1.2",
            "entries": [
                {"request": {"method": "GET", "url": "http://shop.test/index.html"}},
                {"request": {"method": "GET", "url": "https://cdn.segment.com/v1/projects/wk/settings"}},
                {"request": {"method": "POST", "url": "https://api.segment.io/v1/t", "postData": {"text": body}}},
            ],
        }
    }
    path = tmp_path / "session.har"
    path.write_bytes(orjson.dumps(har))
    result = run("send", str(path), "--to", second_server.url)
    assert result.exit_code == 0, result.output
    assert [e["name"] for e in events(second_server.settings.db)] == ["From HAR"]
