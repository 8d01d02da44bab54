"""`segdbg pin`/`unpin`/`vacuum` and `serve --max-events/--max-age` as a user runs them."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from debugger.cli import cli
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from debugger.store.retention import Policy
from tests.helpers import ROOT, ServeProcess, events, http, integrity, run_segdbg


def _send(url: str, count: int, prefix: str = "e", word: str = "plain") -> None:
    for start in range(0, count, 100):
        batch = [
            {
                "type": "track",
                "event": f"E{i}",
                "userId": "u",
                "messageId": f"{prefix}{i}",
                "properties": {"word": word, "pad": "x" * 400},
            }
            for i in range(start, min(count, start + 100))
        ]
        assert http(url + "/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A capture of 300 events written by a real server."""
    path = tmp_path / "c.db"
    with ServerThread(Settings(db=path, port=0)) as server:
        _send(server.url, 300)
    return path


def _pinned(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM events WHERE pinned = 1 ORDER BY id")]


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_pin_ids_ranges_and_unpin(capture: Path) -> None:
    """pin takes 12, #12 and ranges; unpin and pin --off undo it; events shows the pin."""
    result = invoke("pin", "3", "#7", "10-12", "--db", str(capture))
    assert result.exit_code == 0, result.output
    assert "Pinned #3, #7, #10, #11, #12; retention keeps them." in result.output
    assert _pinned(capture) == [3, 7, 10, 11, 12]
    assert invoke("unpin", "7", "--db", str(capture)).exit_code == 0
    assert invoke("pin", "--off", "10", "--db", str(capture)).exit_code == 0
    assert _pinned(capture) == [3, 11, 12]
    table = run_segdbg("events", "pinned:true", "--db", str(capture))
    assert table.returncode == 0
    rows = [line.split() for line in table.stdout.splitlines()[1:]]
    assert [row[:2] for row in rows] == [["📌", "3"], ["📌", "11"], ["📌", "12"]]
    record = orjson.loads(run_segdbg("events", "id:e2", "--format", "jsonl", "--db", str(capture)).stdout)
    assert record["pinned"] is True


def test_pin_a_missing_event_is_an_error_that_still_pins_the_rest(capture: Path) -> None:
    """Unknown ids are named (exit 1); the ids that exist are pinned anyway."""
    result = CliRunner().invoke(cli, ["pin", "5", "9999", "--db", str(capture)])
    assert result.exit_code == 1
    assert "Pinned #5" in result.output and "no event #9999" in result.output
    assert _pinned(capture) == [5]


def test_pin_by_query_and_usage_errors(capture: Path) -> None:
    """--match pins what a filter selects; no ids is a usage error pointing at `events pinned:true`; bad ids too."""
    result = invoke("pin", "--match", "event:E1*", "--db", str(capture))
    assert result.exit_code == 0, result.output
    assert "Pinned 111 events matching the query." in result.output  # E1, E10-E19, E100-E199
    assert len(_pinned(capture)) == 111
    empty = invoke("pin", "--db", str(capture))
    assert empty.exit_code == 2 and "pinned:true" in empty.output
    bad = invoke("pin", "abc", "--db", str(capture))
    assert bad.exit_code == 2 and "'abc' is not an event id" in bad.output
    bad_query = invoke("pin", "--match", "evnt:x", "--db", str(capture))
    assert bad_query.exit_code == 2 and "did you mean `event:`" in bad_query.output


def test_vacuum_applies_retention_rebuilds_the_index_and_shrinks_the_file(capture: Path) -> None:
    """vacuum --max-events on a file: deletes what the policy drops (not the pinned), drops stale
    index entries, VACUUMs, and prints sizes before and after; the file passes integrity_check."""
    invoke("pin", "1", "--db", str(capture))
    result = invoke("vacuum", "--db", str(capture), "--max-events", "50")
    assert result.exit_code == 0, result.output
    assert "Retention, keeping the newest 50 events (pinned events always): deleted 249 events" in result.output
    assert "Size: " in result.output and " → " in result.output
    assert len(events(capture)) == 51
    before, after = (float(x.split()[0]) for x in result.output.split("Size: ")[1].split(" (")[0].split(" → "))
    assert after < before
    assert integrity(capture) == "ok"
    again = invoke("vacuum", "--db", str(capture))
    assert again.exit_code == 0 and "Retention" not in again.output


def test_vacuum_drops_stale_index_entries_left_by_the_server(tmp_path: Path) -> None:
    """Events a --max-events server deleted stay as stale index entries until vacuum; search never shows them."""
    from debugger.store import capture, index

    path = tmp_path / "s.db"
    with ServerThread(Settings(db=path, port=0)) as server:
        _send(server.url, 200, word="zanzibar")
        _send(server.url, 100, prefix="late", word="espresso")
    conn = capture.connect(path)
    index.catch_up(conn)  # indexed before retention gets to them (a long-running server's usual state)
    conn.close()
    with ServerThread(Settings(db=path, port=0, retention=Policy(max_events=100))):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(events(path)) > 100:
            time.sleep(0.05)
    assert len(events(path)) == 100
    assert run_segdbg("events", "zanzibar", "--db", str(path)).stdout.count("E") == 0
    stats = orjson.loads(run_segdbg("stats", "--db", str(path), "--format", "json").stdout)
    stale = stats["search_index"]["stale"]
    assert stale > 0
    result = invoke("vacuum", "--db", str(path))
    assert result.exit_code == 0, result.output
    assert f"{stale:,} entries of deleted events dropped" in result.output
    stats = orjson.loads(run_segdbg("stats", "--db", str(path), "--format", "json").stdout)
    assert stats["search_index"]["stale"] == 0
    assert len(orjson.loads(run_segdbg("events", "espresso", "--db", str(path), "--format", "json").stdout)) == 100


@pytest.mark.slow
def test_vacuum_while_a_server_runs_goes_through_the_server(tmp_path: Path) -> None:
    """vacuum --db on a capture a live `segdbg serve` writes: the server does it, ingest keeps being
    answered 200 throughout, nothing acknowledged is lost, and the file stays sound."""
    path = tmp_path / "live.db"
    server = ServeProcess(path, "--quiet", "--max-events", "500")
    try:
        _send(server.url, 1500)
        import threading

        acked: list[str] = []
        stop = threading.Event()

        def keep_sending() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                reply = http(
                    server.url + "/v1/track",
                    body={"writeKey": "wk", "type": "track", "event": "During", "userId": "u", "messageId": f"d{n}"},
                )
                assert reply.status == 200
                acked.append(f"d{n}")

        sender = threading.Thread(target=keep_sending)
        sender.start()
        result = run_segdbg("vacuum", "--db", str(path), timeout=120)
        stop.set()
        sender.join(10)
        assert result.returncode == 0, result.stderr
        assert "it does the vacuum" in result.stderr
        assert "Size: " in result.stdout
        assert acked
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    stored = {e["message_id"] for e in events(path)}
    assert {m for m in acked[-400:]} <= stored  # the newest acknowledged are kept by --max-events 500
    assert integrity(path) == "ok"


def test_vacuum_refuses_clearly_when_the_noted_server_does_not_answer(capture: Path) -> None:
    """A live process noted as the capture's server that does not answer: exit 4 with what to do."""
    with sqlite3.connect(capture) as conn:
        import os

        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?)",
            (f"server:{os.getpid()}", orjson.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9"}).decode()),
        )
    result = run_segdbg("vacuum", "--db", str(capture))
    assert result.returncode == 4
    assert "cannot reach http://127.0.0.1:9" in result.stderr and "segdbg vacuum --db" in result.stderr


def test_a_killed_servers_note_does_not_stop_vacuum(capture: Path) -> None:
    """A note left by a server that no longer exists (SIGKILL) is ignored: vacuum works on the file."""
    with sqlite3.connect(capture) as conn:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('server:999999999', ?)",
            (orjson.dumps({"pid": 999999999, "url": "http://127.0.0.1:9"}).decode(),),
        )
    result = invoke("vacuum", "--db", str(capture))
    assert result.exit_code == 0, result.output


def test_serve_with_retention_says_what_it_keeps_and_rejects_bad_limits(tmp_path: Path) -> None:
    """serve prints its retention policy; a bad --max-age or --max-events is a usage error."""
    server = ServeProcess(tmp_path / "r.db", "--max-events", "1000", "--max-age", "7d")
    code, _, err = server.stop()
    assert code == 0
    assert "Retention: keeping the newest 1,000 events and the last 7 days (pinned events always)" in err
    bad = run_segdbg("serve", "--headless", "--db", str(tmp_path / "x.db"), "--max-age", "7 days")
    assert bad.returncode == 2 and "use e.g. 90s, 30m, 12h, 7d or 2w" in bad.stderr
    zero = run_segdbg("serve", "--headless", "--db", str(tmp_path / "x.db"), "--max-events", "0")
    assert zero.returncode == 2


@pytest.mark.parametrize("name", ["pin", "unpin", "vacuum"])
def test_command_has_help_with_examples_and_is_in_the_readme(name: str) -> None:
    """`segdbg NAME --help` shows examples, the group lists it, and the README documents it with an example."""
    help_text = CliRunner().invoke(cli, [name, "--help"]).output
    assert "Examples:" in help_text and f"segdbg {name} " in help_text
    assert name in CliRunner().invoke(cli, ["--help"]).output
    readme = (ROOT / "README.md").read_text()
    assert f"| `segdbg {name} " in readme and f"\nsegdbg {name} " in readme


def test_the_vacuum_api_checks_its_input_and_answers_with_sizes(tmp_path: Path) -> None:
    """POST /debugger/api/vacuum: JSON only, limits validated (400 with the reason), and the answer
    carries what was deleted and the sizes; `vacuum --url` prints them."""
    path = tmp_path / "api.db"
    with ServerThread(Settings(db=path, port=0)) as server:
        _send(server.url, 200)
        url = server.url + "/debugger/api/vacuum"
        assert http(url, body=b"{}", headers={"Content-Type": "text/plain"}).status == 415
        bad = http(url, body={"max_events": 0}, headers={"Content-Type": "application/json"})
        assert bad.status == 400 and "max_events" in bad.json()["message"]
        assert http(url, body={"max_age_s": "7d"}, headers={"Content-Type": "application/json"}).status == 400
        good = http(url, body={"max_events": 50}, headers={"Content-Type": "application/json"}, timeout=60)
        assert good.status == 200, good.body
        answer = good.json()
        assert answer["deleted"]["events"] == 150 and answer["bytes_after"]["total"] > 0
        result = run_segdbg("vacuum", "--url", server.url, "--max-age", "1h")
        assert result.returncode == 0, result.stderr
        assert "Retention, keeping the last 1 hour" in result.stdout and "Size: " in result.stdout
        assert len(events(path)) == 50
