"""The CI primitives from the command line: `segdbg expect`, `stats` and `reset`, against real servers."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from debugger.cli import cli
from debugger.server.app import ServerThread
from tests.helpers import ServeProcess, cli_env, events, http, run_segdbg

APP = textwrap.dedent(
    """
    # A tiny "app": the real segment-analytics-python library, pointed at segdbg.
    import sys
    import segment.analytics as analytics

    analytics.write_key = "wk_ci"
    analytics.host = sys.argv[1]
    analytics.identify("user_42", {"email": "ann@acme.com", "plan": "pro"})
    analytics.track("user_42", "Product Added", {"sku": "45790-32", "price": 19})
    analytics.track("user_42", "Order Completed", {"total": 120.5, "currency": "USD",
                    "products": [{"sku": "45790-32", "price": 19, "quantity": 2}]})
    analytics.flush()
    analytics.shutdown()
    """
)


def _free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed again: nothing listens there


@pytest.mark.slow
def test_ci_expect_waits_for_a_real_app_without_sleeping(tmp_path: Path) -> None:
    """An app using segment-analytics-python sends; `expect` blocks until its events are stored, then exits 0.

    A second expectation that cannot hold exits 3 and shows the closest events it saw.
    """
    db = tmp_path / "ci.db"
    serve = ServeProcess(db, "--quiet")
    try:
        script = tmp_path / "app.py"
        script.write_text(APP)
        app = subprocess.Popen(
            [sys.executable, str(script), serve.url], env=cli_env(), stderr=subprocess.PIPE, text=True
        )
        # Started while the app is still running: expect must wait for the events, not find them.
        waited = run_segdbg(
            "expect",
            'event:"Order Completed" properties.total:>100',
            "--count",
            "1",
            "--timeout",
            "30",
            "--db",
            str(db),
        )
        over_http = run_segdbg(
            "expect", "type:identify user:user_42 traits.plan:pro", "--timeout", "30", "--url", serve.url
        )
        _, app_errors = app.communicate(timeout=30)
        assert app.returncode == 0, app_errors
        assert waited.returncode == 0, waited.stderr
        assert "1 matching (exactly 1 event expected)" in waited.stderr
        assert over_http.returncode == 0, over_http.stderr

        failed = run_segdbg(
            "expect", 'event:"Order Completed" properties.currency:EUR', "--timeout", "0.5", "--db", str(db)
        )
        assert failed.returncode == 3
        assert (
            'Expected at least 1 event matching `event:"Order Completed" properties.currency:EUR`; found 0'
            in failed.stderr
        )
        assert "Closest events seen" in failed.stderr
        assert "Order Completed" in failed.stderr and "fails: properties.currency:EUR" in failed.stderr

        too_many = run_segdbg("expect", "user:user_42", "--count", "1", "--timeout", "30", "--url", serve.url, "--json")
        assert too_many.returncode == 3  # 3 events already: it fails at once instead of waiting 30 s
        result = orjson.loads(too_many.stdout)
        assert result["count"] == 3 and result["seconds"] < 10
        assert "Matching events" in too_many.stderr
    finally:
        code, _, err = serve.stop()
    assert code == 0, err


def test_expect_on_a_database_file_wakes_on_commits(server: ServerThread, db_path: Path) -> None:
    """--db: expect returns as soon as another process commits the awaited event (data_version)."""
    http(server.url + "/v1/track", body={"writeKey": "wk", "userId": "u", "event": "First"})
    waiting = subprocess.Popen(
        [sys.executable, "-m", "debugger", "expect", "event:Second", "--timeout", "30", "--db", str(db_path)],
        env=cli_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    http(server.url + "/v1/track", body={"writeKey": "wk", "userId": "u", "event": "Second"})
    _, errors = waiting.communicate(timeout=30)
    assert waiting.returncode == 0 and "1 matching" in errors


def invoke(*args: str) -> Any:
    """Run the CLI in-process (exit codes included)."""
    return CliRunner().invoke(cli, list(args))


def test_expect_conditions_and_exit_codes(server: ServerThread, db_path: Path) -> None:
    """--count, --at-least, --none and --all each decide as documented; invalid events count only when asked."""
    batch = [
        {"type": "track", "event": "Paid", "userId": "u"},
        {"type": "track", "event": "Paid", "userId": "u"},
        {"type": "track", "event": "Paid"},
    ]  # the last has no ids: invalid
    http(server.url + "/v1/batch", body={"writeKey": "wk", "batch": batch})
    db = ("--db", str(db_path))
    assert invoke("expect", "event:Paid", "--count", "2", *db).exit_code == 0
    assert invoke("expect", "event:Paid", "--at-least", "2", *db).exit_code == 0
    assert invoke("expect", "event:Paid", "--count", "3", "--all", *db).exit_code == 0
    assert invoke("expect", "event:Paid status:invalid", "--count", "1", *db).exit_code == 0
    assert invoke("expect", "status:invalid", "--none", *db).exit_code == 3
    assert invoke("expect", "event:Refunded", "--none", *db).exit_code == 0
    assert invoke("expect", "event:Paid", "--count", "1", "--timeout", "30", *db).exit_code == 3
    near = invoke("expect", "event:Paid user:u properties.total:>0", "--timeout", "0", *db)
    assert near.exit_code == 3 and "fails: properties.total:>0" in near.stderr


def test_expect_usage_errors_and_unreachable_servers(db_path: Path, tmp_path: Path) -> None:
    """Bad queries and conflicting options exit 2; a missing capture 1; an unreachable --url 4."""
    assert invoke("expect", "tpye:track", "--db", str(db_path)).exit_code == 2
    assert invoke("expect", "x", "--count", "1", "--none", "--db", str(db_path)).exit_code == 2
    assert invoke("expect", "x", "--db", str(db_path), "--url", "http://127.0.0.1:1").exit_code == 2
    missing = invoke("expect", "x", "--db", str(tmp_path / "nope.db"))
    assert missing.exit_code == 1 and "no such capture" in missing.output
    down = invoke("expect", "x", "--url", _free_port_url(), "--timeout", "1")
    assert down.exit_code == 4 and "cannot reach" in down.stderr
    assert invoke("stats", "--url", _free_port_url()).exit_code == 4
    assert invoke("reset", "--url", _free_port_url(), "--yes").exit_code == 4


def test_stats_command(server: ServerThread, db_path: Path) -> None:
    """`segdbg stats` prints counts by type, status, source and library, from the file or the server."""
    batch = [
        {
            "type": "track",
            "event": "A",
            "userId": "u",
            "context": {"library": {"name": "analytics.js", "version": "next-1.84.1"}},
        },
        {"type": "identify", "userId": "u"},
        {"type": "track", "event": "B"},
    ]
    http(server.url + "/v1/batch", body={"writeKey": "wk_stats", "batch": batch})
    table = invoke("stats", "--db", str(db_path))
    assert table.exit_code == 0
    for text in (
        "3 events from 1 requests",
        "by type",
        "track",
        "by status",
        "invalid",
        "wk_stats",
        "analytics.js next-1.84.1",
    ):
        assert text in table.output
    data = orjson.loads(invoke("stats", "--url", server.url, "--format", "json").stdout)
    assert data["by_status"] == {"ok": 2, "invalid": 1} and data["by_type"] == {"track": 2, "identify": 1}


def test_reset_command(server: ServerThread, db_path: Path) -> None:
    """`segdbg reset` empties the capture through the server (--url) or the file (--db)."""
    http(server.url + "/v1/track", body={"writeKey": "wk", "userId": "u", "event": "A"})
    through_server = invoke("reset", "--url", server.url, "--yes")
    assert through_server.exit_code == 0 and "Deleted 1 event" in through_server.stderr
    assert events(db_path) == []
    http(server.url + "/v1/track", body={"writeKey": "wk", "userId": "u", "event": "B"})
    direct = invoke("reset", "--db", str(db_path), "--yes")
    assert direct.exit_code == 0 and "Deleted 1 event" in direct.stderr
    http(server.url + "/v1/track", body={"writeKey": "wk", "userId": "u", "event": "C"})
    assert [(e["id"], e["name"]) for e in events(db_path)] == [(3, "C")]


def test_a_failed_expectation_shows_the_values_the_near_misses_had(server: ServerThread, db_path: Path) -> None:
    """Each failing term of a near miss says what the event had there: `(was "EUR")`, `(absent)`, the user ids."""
    order = {"type": "track", "event": "Order Completed", "userId": "u_1", "properties": {"currency": "EUR"}}
    order["properties"]["products"] = [{"sku": "a-1"}, {"sku": "b-2"}]
    http(server.url + "/v1/batch", body={"writeKey": "wk", "batch": [order]})
    failed = invoke(
        "expect",
        'event:"Order Completed" properties.currency:GBP properties.total:>0 user:u_2 properties.products.sku:c-3',
        "--timeout",
        "0",
        "--db",
        str(db_path),
    )
    assert failed.exit_code == 3
    fails = next(line for line in failed.stderr.splitlines() if "fails: " in line)
    assert 'properties.currency:GBP (was "EUR")' in fails
    assert "properties.total:>0 (absent)" in fails
    assert 'user:u_2 (was userId "u_1")' in fails
    assert 'properties.products.sku:c-3 (was "a-1", "b-2")' in fails
    assert "event:" not in fails  # the term it satisfies is not listed
    over_http = invoke("expect", "properties.currency:GBP", "--timeout", "0", "--url", server.url, "--json")
    [miss] = orjson.loads(over_http.stdout)["closest"]
    assert miss["failed"] == ["properties.currency:GBP"] and miss["was"] == ['"EUR"']


def test_reset_without_a_terminal_refuses_unless_yes(server: ServerThread, db_path: Path) -> None:
    """No terminal to ask (a script, CI): `reset` without --yes deletes nothing and says to pass --yes (exit 2)."""
    http(server.url + "/v1/track", body={"writeKey": "wk", "userId": "u", "event": "A"})
    for where in (("--url", server.url), ("--db", str(db_path))):
        refused = invoke("reset", *where)
        assert refused.exit_code == 2, refused.output
        assert "no terminal to ask" in refused.stderr and "--yes" in refused.stderr
        assert len(events(db_path)) == 1
    assert invoke("reset", "--url", server.url, "-y").exit_code == 0
    assert events(db_path) == []


def test_reset_on_a_terminal_asks_first(server: ServerThread, db_path: Path) -> None:
    """On a terminal `reset` asks; answering n deletes nothing (exit 130, as an interrupt), y deletes."""
    http(server.url + "/v1/track", body={"writeKey": "wk", "userId": "u", "event": "A"})
    for answer, left in ((b"n\n", 1), (b"y\n", 0)):
        leader, follower = pty.openpty()
        try:
            asking = subprocess.Popen(
                [sys.executable, "-m", "debugger", "reset", "--url", server.url],
                stdin=follower,
                stdout=follower,
                stderr=follower,
                env=cli_env(),
            )
            os.close(follower)
            seen = b""
            while b"Delete every captured event" not in seen:
                assert select.select([leader], [], [], 30)[0], seen
                seen += os.read(leader, 1024)
            os.write(leader, answer)
            asking.wait(timeout=30)
        finally:
            os.close(leader)
        assert asking.returncode == (130 if left else 0)
        assert len(events(db_path)) == left


def test_a_query_that_matches_only_in_another_case_gets_a_hint(server: ServerThread, db_path: Path) -> None:
    """No match for `event:"order completed"` while "Order Completed" is stored: events and expect say which
    query matches; no hint when recasing would not match either, or when something matched."""
    order = {"type": "track", "event": "Order Completed", "userId": "U_1", "properties": {"currency": "EUR"}}
    http(server.url + "/v1/batch", body={"writeKey": "wk", "batch": [order]})
    db = ("--db", str(db_path))
    listed = invoke("events", 'event:"order completed" properties.currency:eur', *db)
    assert listed.exit_code == 0 and "No stored event matches that query." in listed.stderr
    assert 'hint: values are case-sensitive; `event:"Order Completed" properties.currency:EUR` matches' in (
        listed.stderr
    )
    assert "hint" not in invoke("events", 'event:"order completed" user:u_2', *db).stderr  # still nothing
    assert "hint" not in invoke("events", 'event:"Order Completed"', *db).stderr
    assert "hint" not in invoke("events", "event:Refunded", *db).stderr
    assert "user:U_1" in invoke("events", "user:u_1", *db).stderr
    on_file = invoke("expect", 'event:"order completed"', "--timeout", "0", *db)
    assert on_file.exit_code == 3 and 'hint: values are case-sensitive; `event:"Order Completed"` matches' in (
        on_file.stderr
    )
    over_http = invoke("expect", 'event:"order completed"', "--timeout", "0", "--url", server.url, "--json")
    assert orjson.loads(over_http.stdout)["recased"] == 'event:"Order Completed"'
    assert "hint: values are case-sensitive" in over_http.stderr
