"""Per-test scopes (docs/ci.md, "Per-test scopes, parallel CI"): a scope is a write key, read with ``scope:``,
``--scope``, ``scope=`` or the ``segdbg_scope`` fixture, so tests sharing one server see only their own events."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from click.testing import CliRunner
from segment.analytics import Client

from debugger.cli import cli
from debugger.core.query.language import FieldTerm, Pattern, canonical, parse
from debugger.core.query.scope import ScopeError, check_name, key_for_test, scoped_text, split
from debugger.pytest_plugin import ExpectationFailed, Segdbg, SegdbgScope
from debugger.server.app import ServerThread
from tests.helpers import ServeProcess, cli_env, http

API = "/debugger/api"
#: For the pytest runs in a subprocess: only the plugins named with -p load, not every one this venv has
#: (pytest-textual-snapshot alone imports Textual in each of the 8 xdist workers: seconds of CPU each).
LEAN = cli_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")


def send(url: str, key: str, *messages: dict[str, Any]) -> None:
    """One batch sent with write key ``key``, as a client library would."""
    answer = http(url + "/v1/batch", body={"writeKey": key, "batch": list(messages)})
    assert answer.status == 200, answer.body


def track(event: str, user: str = "u1", **properties: Any) -> dict[str, Any]:
    """A track message."""
    return {"type": "track", "event": event, "userId": user, "properties": properties}


def get(server: ServerThread, path: str) -> Any:
    answer = http(server.url + API + path, "GET")
    return answer.status, answer.json()


def two_tests_same_events(server: ServerThread) -> None:
    """Two scopes (and one unscoped source) send the same event names: what a shared CI server sees."""
    send(server.url, "test-a", track("Order Completed", total=10), track("Signed Up"))
    send(server.url, "test-b", track("Order Completed", total=20), track("Order Completed", total=30))
    send(server.url, "website", track("Order Completed", total=40))


# ---------------------------------------------------------------------------------------------- the language
def test_scope_is_a_field_of_the_language_and_round_trips() -> None:
    """`scope:NAME` is a keyword term; a name with query syntax in it stays literal through scoped_text."""
    assert parse("scope:test-a").terms == (FieldTerm("scope", (Pattern(("test-a",)),)),)
    weird = 'key with "quotes", * and spaces'
    text = scoped_text('event:"Order Completed"', weird)
    assert text.startswith('event:"Order Completed" scope:')  # the user's words first: error offsets unchanged
    assert parse(text).terms[-1] == FieldTerm("scope", (Pattern((weird,)),))
    assert parse(canonical(parse(text))) == parse(text)
    assert scoped_text("", "k") == "scope:k" and scoped_text("x", None) == "x"
    inside, rest = split(parse("event:A scope:k -scope:j"))
    assert canonical(inside) == "scope:k" and canonical(rest) == "event:A -scope:j"


def test_bad_scope_names_are_refused_with_the_reason() -> None:
    for name, reason in (("", "cannot be empty"), ("  ", "cannot be empty"), ("a\nb", "control"), ("k" * 201, "200")):
        with pytest.raises(ScopeError, match=reason):
            check_name(name)


def test_generated_keys_differ_by_run_worker_and_test_and_are_stable_within_a_run() -> None:
    keys = {
        key_for_test("run1", "gw0", "t.py::a"),
        key_for_test("run2", "gw0", "t.py::a"),
        key_for_test("run1", "gw1", "t.py::a"),
        key_for_test("run1", "gw0", "t.py::b"),
    }
    assert len(keys) == 4 and all(k.startswith("test-") and len(k) == 21 for k in keys)
    assert key_for_test("run1", "gw0", "t.py::a") == key_for_test("run1", "gw0", "t.py::a")


# ---------------------------------------------------------------------------------------------- the HTTP API
def test_api_reads_only_the_scope(server: ServerThread) -> None:
    """scope= on events, wait and stats: only that write key's events, never a label's or another key's."""
    two_tests_same_events(server)
    status, page = get(server, "/events?scope=test-b&q=" + quote('event:"Order Completed"'))
    assert status == 200 and [e["stored"]["properties"]["total"] for e in page["events"]] == [20, 30]
    assert {e["write_key"] for e in page["events"]} == {"test-b"}
    status, waited = get(server, "/wait?scope=test-a&count=1&timeout=0&q=" + quote('event:"Order Completed"'))
    assert waited["ok"] is True and waited["count"] == 1 and waited["query"].endswith("scope:test-a")
    _, unscoped = get(server, "/wait?count=1&timeout=0&q=" + quote('event:"Order Completed"'))
    assert unscoped["ok"] is False and unscoped["count"] == 4  # what a global read sees
    status, stats = get(server, "/stats?scope=test-b")
    assert status == 200
    assert stats == {
        "scope": "test-b",
        "events": 2,
        "requests": 1,
        "by_type": {"track": 2},
        "by_status": {"ok": 2},
        "first_received_at": stats["first_received_at"],
        "last_received_at": stats["last_received_at"],
        "newest_id": 4,
    }
    assert get(server, "/stats?scope=nobody")[1]["events"] == 0
    _, schema = get(server, "/schema?scope=test-a")
    assert sorted((e["name"], e["count"]) for e in schema["events"]) == [("Order Completed", 1), ("Signed Up", 1)]
    assert "sources" in get(server, "/stats")[1]  # without scope=: the whole capture, as before


def test_api_near_misses_come_from_the_scope_only(server: ServerThread) -> None:
    """A failed scoped wait shows the scope's own closest events, not another test's event that only fails scope:."""
    two_tests_same_events(server)
    _, waited = get(server, "/wait?scope=test-a&timeout=0&q=" + quote('event:"Order Completed" properties.total:>15'))
    assert waited["ok"] is False and waited["count"] == 0
    assert {c["event"]["write_key"] for c in waited["closest"]} == {"test-a"}
    assert all(not any(f.startswith("scope:") for f in c["failed"]) for c in waited["closest"])
    assert ["properties.total:>15"] in [c["failed"] for c in waited["closest"]]


def test_api_refuses_an_empty_or_bad_scope(server: ServerThread) -> None:
    for route in ("events", "wait", "stats", "schema"):
        status, body = get(server, f"/{route}?scope=&timeout=0")
        assert status == 400 and body["code"] == "invalid_parameter" and "scope" in body["message"], route
    status, body = get(server, "/events?scope=" + quote("a\x01b"))
    assert status == 400 and "control" in body["message"]


# ------------------------------------------------------------------------------------------------------- CLI
def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_cli_scope_on_events_expect_and_check(server: ServerThread) -> None:
    """--scope on events, expect (--db and --url) and check reads only that write key's events."""
    two_tests_same_events(server)
    db = str(server.settings.db)
    listed = invoke("events", 'event:"Order Completed"', "--scope", "test-b", "--format", "jsonl", "--db", db)
    assert listed.exit_code == 0, listed.output
    rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert [r["write_key"] for r in rows] == ["test-b", "test-b"]
    for where in (("--db", db), ("--url", server.url)):
        held = invoke(
            "expect", 'event:"Order Completed"', "--count", "1", "--scope", "test-a", "--timeout", "0", *where
        )
        assert held.exit_code == 0, held.output
        failed = invoke("expect", "event:Order*", "--count", "1", "--scope", "test-b", "--timeout", "0", *where)
        assert failed.exit_code == 3 and "found 2" in failed.output, failed.output
        assert "scope:test-b" in failed.output
    send(server.url, "test-c", track("order_completed"))  # breaks Title Case naming: only in scope test-c
    assert invoke("check", "--scope", "test-a", "--rules", "naming", "--db", db).exit_code == 0
    flagged = invoke("check", "--scope", "test-c", "--rules", "naming", "--format", "jsonl", "--db", db)
    assert flagged.exit_code == 3 and "order_completed" in flagged.stdout


def test_cli_refuses_an_empty_scope(server: ServerThread) -> None:
    for command in ("events", "expect", "check"):
        done = invoke(command, "type:track", "--scope", "", "--db", str(server.settings.db))
        assert done.exit_code == 2 and "cannot be empty" in done.output, (command, done.output)


# ---------------------------------------------------------------------------------------------- the fixture
def test_the_scope_fixture_sees_only_its_own_events(segdbg_scope: SegdbgScope, segdbg_server: Segdbg) -> None:
    """Without --segdbg-url the fixture scopes the session's server; another scope's same events stay out,
    the closest misses shown on failure are its own, and nothing is reset."""
    assert segdbg_scope.write_key.startswith("test-") and segdbg_scope.url == segdbg_server.url
    other = segdbg_server.scope()
    for scope, total in ((segdbg_scope, 120.5), (other, 99.0), (other, 130.0)):
        analytics = Client(scope.write_key, host=scope.url, sync_mode=True)
        analytics.track("user_42", "Order Completed", {"total": total})
    [order] = segdbg_scope.expect('event:"Order Completed"', count=1)
    assert order["write_key"] == segdbg_scope.write_key and order["stored"]["properties"]["total"] == 120.5
    assert len(other.expect('event:"Order Completed"', count=2)) == 2
    with pytest.raises(ExpectationFailed) as failed:
        segdbg_scope.expect('event:"Order Completed" properties.total:>125', timeout=0.2)
    message = str(failed.value)
    assert "found 0" in message and "(was 120.5)" in message and other.write_key not in message
    assert len(segdbg_server.events('event:"Order Completed"')) >= 3  # the other scope's are still there


def test_the_scope_fixture_reads_a_shared_server_given_by_url(server: ServerThread, tmp_path: Path) -> None:
    """--segdbg-url: the fixture reads through that server's API (no server of its own), with the same answers:
    its scope only, the closest misses, a bad query as QueryError."""
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            f"""
            import pytest
            from segment.analytics import Client
            from debugger.core.query.language import QueryError
            from debugger.pytest_plugin import ExpectationFailed

            def test_reads_its_scope(segdbg_scope):
                assert segdbg_scope.url == {server.url!r}
                for key in (segdbg_scope.write_key, "someone-else"):
                    Client(key, host=segdbg_scope.url, sync_mode=True).track("u1", "Signed Up", {{"plan": "pro"}})
                [event] = segdbg_scope.expect('event:"Signed Up"', count=1)
                assert event["write_key"] == segdbg_scope.write_key and "findings" not in event
                assert [e["name"] for e in segdbg_scope.events()] == ["Signed Up"]
                with pytest.raises(ExpectationFailed, match='properties.plan:free .was "pro"'):
                    segdbg_scope.expect("properties.plan:free", timeout=0.2)
                with pytest.raises(QueryError, match="Unknown field"):
                    segdbg_scope.events("nope:1")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "debugger.pytest_plugin"]
        + [f"--segdbg-url={server.url}/", "test_user.py"],
        env=LEAN,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    stored = {e["write_key"] for e in http(server.url + API + "/events", "GET").json()["events"]}
    assert stored == {"someone-else", next(k for k in stored if k.startswith("test-"))}


def test_a_shared_server_that_does_not_answer_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text("def test_x(segdbg_scope):\n    segdbg_scope.events()\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "debugger.pytest_plugin",
            "test_user.py",
        ],
        env={**LEAN, "SEGDBG_TEST_URL": "http://127.0.0.1:9"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no segdbg server answers at http://127.0.0.1:9 (--segdbg-url / $SEGDBG_TEST_URL)" in done.stdout


# ------------------------------------------------------------------------- 8 xdist workers, one segdbg serve
WORKER_TESTS = '''
import json
import os
import time
import urllib.request

from segment.analytics import Client

WORKERS = 8


def everyone_sent(url, name, n):
    """A barrier: wait until all 8 workers stored their `name` events, so each read below runs while the
    other workers' same-named events are in the shared capture."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        q = urllib.request.quote(f'event:"{name}"')
        with urllib.request.urlopen(f"{url}/debugger/api/events?limit=1000&q={q}") as answer:
            if len(json.load(answer)["events"]) >= n * WORKERS:
                return
        time.sleep(0.05)
    raise AssertionError("the other workers never sent")


def test_checkout(segdbg_scope):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    analytics = Client(segdbg_scope.write_key, host=segdbg_scope.url, upload_interval=0.05)
    for n in range(3):
        analytics.track(worker, "Order Completed", {"n": n, "worker": worker})
    analytics.identify(worker, {"plan": "pro"})
    analytics.flush()
    everyone_sent(segdbg_scope.url, "Order Completed", 3)
    orders = segdbg_scope.expect('event:"Order Completed"', count=3)
    assert {e["stored"]["properties"]["worker"] for e in orders} == {worker}
    segdbg_scope.expect("type:identify", count=1)
    assert [e["type"] for e in segdbg_scope.events()] == ["track"] * 3 + ["identify"]
    analytics.shutdown()


def test_signup(segdbg_scope):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    analytics = Client(segdbg_scope.write_key, host=segdbg_scope.url, sync_mode=True)
    analytics.track(worker, "Signed Up", {"worker": worker})
    everyone_sent(segdbg_scope.url, "Signed Up", 1)
    [event] = segdbg_scope.expect('event:"Signed Up"', count=1)
    assert event["user_id"] == worker
    segdbg_scope.expect('event:"Order Completed"', none=True)  # this test's scope sent none
'''


@pytest.mark.slow
def test_eight_xdist_workers_share_one_segdbg_serve(tmp_path: Path) -> None:
    """8 pytest-xdist workers (each running every test: --dist each) against ONE real `segdbg serve`, all sending
    the same event names at the same time; every test sees exactly its own counts, with no reset."""
    (tmp_path / "test_shop.py").write_text(textwrap.dedent(WORKER_TESTS))
    serve = ServeProcess(tmp_path / "shared.db", "--quiet")
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "xdist", "-n", "8"]
            + ["-p", "debugger.pytest_plugin", "--dist", "each", f"--segdbg-url={serve.url}", "test_shop.py"],
            env=LEAN,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
        stats = http(serve.url + API + "/stats", "GET").json()
    finally:
        serve.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "16 passed" in done.stdout, done.stdout
    assert stats["by_type"] == {"track": 32, "identify": 8}  # 8 workers × (3 + 1 tracks, 1 identify), one capture
    keys = [s["write_key"] for s in stats["sources"]]
    assert len(keys) == 16 and all(k.startswith("test-") for k in keys)  # one scope per test per worker
    assert took < 60, took
