"""Sequences (funnels) and the count operators of `expect`: CLI, API and fixture, against a real server
fed by the real segment-analytics-python library (docs/ci.md, "Sequences")."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from click.testing import CliRunner, Result
from segment.analytics import Client

from debugger.cli import cli
from debugger.core.query.sequence import Hit, evaluate, identity_of, within_ms
from debugger.pytest_plugin import ExpectationFailed, Segdbg
from debugger.server.app import ServerThread
from tests.helpers import cli_env, events, http

STEPS = ('event:"Product Added"', 'event:"Checkout Started"', 'event:"Order Completed"')


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _funnel(host: str, key: str = "wk_shop") -> datetime:
    """Two users through the shop with the real library: user_done does all three steps,
    user_skip never starts checkout, user_swap completes the order before starting checkout."""
    base = datetime.now(UTC) - timedelta(minutes=5)
    analytics = Client(key, host=host, sync_mode=True)
    plan = [
        ("user_done", "Product Added", 0),
        ("user_done", "Checkout Started", 30),
        ("user_done", "Order Completed", 60),
        ("user_skip", "Product Added", 5),
        ("user_skip", "Order Completed", 65),
        ("user_swap", "Product Added", 10),
        ("user_swap", "Order Completed", 20),
        ("user_swap", "Checkout Started", 40),
    ]
    for user, name, offset in plan:
        analytics.track(user, name, {"sku": "45790-32"}, timestamp=base + timedelta(seconds=offset))
    return base


def _stamp(db: Path, user: str, name: str) -> tuple[int, str]:
    row = next(e for e in events(db) if e["user_id"] == user and e["name"] == name)
    return row["id"], row["timestamp"]


# --- the pure matching -------------------------------------------------------------------------


def _hit(i: int, at: int, who: str, *steps: int) -> Hit:
    return Hit(i, at, f"t{at}", who, frozenset(steps))


def test_evaluate_judges_each_identity_and_says_why_it_stopped() -> None:
    hits = [
        _hit(1, 0, "a", 0),
        _hit(2, 10, "a", 1),
        _hit(3, 20, "a", 2),  # a: complete
        _hit(4, 0, "b", 0),
        _hit(5, 10, "b", 2),  # b: step 2 missing
        _hit(6, 0, "c", 0),
        _hit(7, 5, "c", 2),
        _hit(8, 9, "c", 1),  # c: step 3 came before step 2
        _hit(9, 0, "d", 0),
        _hit(10, 10, "d", 1),
        _hit(11, 5000, "d", 2),  # d: step 3 too late for a 1 s window
        _hit(12, 0, "e", 1),  # e: never did step 1
    ]
    funnel = evaluate(hits, 3, 1000)
    assert [p.identity for p in funnel.completed] == ["a"]
    why = {p.identity: p for p in funnel.incomplete}
    assert (why["b"].reason, why["b"].missing, why["b"].other) == ("missing", 1, None)
    assert (
        why["b"].explain(STEPS)
        == 'b: step 2 `event:"Checkout Started"` is missing after step 1 `event:"Product Added"` at t0 (#4)'
    )
    assert why["c"].reason == "out_of_order" and why["c"].missing == 2 and why["c"].other is not None
    assert why["c"].explain(STEPS).endswith('at t5 (#7) came before step 2 `event:"Checkout Started"` at t9 (#8)')
    assert why["d"].reason == "too_late" and "came 5 s after step 1 at t0 (#9)" in why["d"].explain(STEPS)
    assert why["e"].explain(STEPS) == 'e: never did step 1 `event:"Product Added"` (it did step 2 at t0 (#12))'
    # Furthest along first: c and d reached step 2, b step 1, e nothing.
    assert [p.identity for p in funnel.incomplete][-1] == "e"
    assert evaluate(hits, 3, None).completed[-1].identity == "d"  # no window: d completes


def test_evaluate_takes_the_earliest_next_step_and_never_reuses_an_event() -> None:
    # A later start completes within the window even though the first one does not.
    late_start = [_hit(1, 0, "a", 0), _hit(2, 9000, "a", 0), _hit(3, 9500, "a", 1)]
    assert evaluate(late_start, 2, 1000).completed[0].chain == [late_start[1], late_start[2]]
    # One event matching both steps does not fill both.
    both = [_hit(1, 0, "a", 0, 1)]
    assert evaluate(both, 2, None).incomplete[0].reason == "missing"
    # Equal timestamps: arrival (id) order decides.
    tie = [_hit(2, 0, "a", 1), _hit(1, 0, "a", 0)]
    assert evaluate(tie, 2, None).completed


def test_identity_and_window_parsing() -> None:
    assert identity_of("user", "u1", "a1", "wk") == "u1"
    assert identity_of("user", None, "a1", "wk") == "a1"
    assert identity_of("userId", None, "a1", "wk") is None
    assert identity_of("anonymousId", "u1", "a1", "wk") == "a1"
    assert identity_of("source", "u1", "a1", "wk") == "wk"
    with pytest.raises(ValueError, match="per must be one of"):
        identity_of("device", "u1", None, None)
    assert within_ms("10m") == 600_000 and within_ms("30s") == 30_000
    for bad in ("ten minutes", "0s", "-5m", ""):
        with pytest.raises(ValueError, match="not a duration"):
            within_ms(bad)


def test_progress_reads_as_json_and_one_line_with_human_durations() -> None:
    hits = [_hit(1, 0, "a", 0), _hit(2, 10, "a", 1), _hit(3, 20, "a", 2), _hit(4, 0, "b", 0)]
    hits += [_hit(6, 0, "c", 0), _hit(7, 5, "c", 2), _hit(8, 9, "c", 1)]
    hits += [_hit(9, 0, "d", 0), _hit(10, 10, "d", 1), _hit(11, 5000, "d", 2)]
    funnel = evaluate(hits, 3, 1000)
    (done,) = funnel.completed
    assert done.explain(STEPS) == "a: all 3 steps, t0 (#1) → t20 (#3)"
    assert done.to_json(STEPS)["missing_step"] is None and done.to_json(STEPS)["other"] is None
    # Closest first: d and c reached step 2 (d active most recently), then b.
    assert [p.identity for p in funnel.incomplete] == ["d", "c", "b"]
    d, c, b = funnel.incomplete
    assert b.to_json(STEPS) == {
        "identity": "b",
        "complete": False,
        "reached": 1,
        "reason": "missing",
        "missing_step": 2,
        "chain": [{"id": 4, "timestamp": "t0", "step": 1}],
        "other": None,
        "message": b.explain(STEPS),
    }
    assert c.to_json(STEPS)["other"] == {"id": 7, "timestamp": "t5", "step": 3}
    assert c.to_json(STEPS)["chain"] == [
        {"id": 6, "timestamp": "t0", "step": 1},
        {"id": 8, "timestamp": "t9", "step": 2},
    ]
    assert d.explain(STEPS) == (
        'd: step 3 `event:"Order Completed"` at t5000 (#11) came 5 s after step 1 at t0 (#9), beyond the window'
    )
    assert evaluate([_hit(1, 0, "z", 0)], 1, None).completed[0].to_json(["x"])["reached"] == 1
    with pytest.raises(ValueError, match="at least one step"):
        evaluate(hits, 0, None)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0 ms"),
        (999, "999 ms"),
        (1000, "1 s"),
        (1500, "1.5 s"),
        (9949, "9.9 s"),
        (9950, "10 s"),
        (42_000, "42 s"),
        (59_499, "59 s"),
        (59_500, "1m"),
        (723_000, "12m 3s"),
        (7_200_000, "2h"),
        (7_500_000, "2h 5m"),
    ],
)
def test_a_late_step_says_how_late_in_human_units(ms: int, text: str) -> None:
    hits = [_hit(1, 0, "a", 0), _hit(2, ms, "a", 1)]
    (progress,) = evaluate(hits, 2, -1).incomplete
    assert progress.reason == "too_late"
    assert progress.explain(["one", "two"]) == (
        f"a: step 2 `two` at t{ms} (#2) came {text} after step 1 at t0 (#1), beyond the window"
    )


def test_identities_are_text_and_empty_ones_are_left_out() -> None:
    assert identity_of("user", "", "a1", "wk") == "a1"
    assert identity_of("user", "", "", "wk") is None
    assert identity_of("userId", 5, None, None) == "5"
    assert identity_of("source", "u", "a", "") is None
    with pytest.raises(ValueError, match="not a duration; use e.g. 30s, 10m, 2h or 1d."):
        within_ms("99999999999999d")
    assert within_ms(" 2h ") == 7_200_000


# --- CLI, API and fixture on a real server -------------------------------------------------------


@pytest.mark.slow
def test_expect_sequence_passes_for_one_user_and_names_the_others_missing_step(
    server: ServerThread, db_path: Path
) -> None:
    """The real library sends the funnel; `expect --sequence` holds for user_done and, asked for
    three identities, fails naming user_skip's missing step and user_swap's out-of-order one, with timestamps."""
    _funnel(server.url)
    ok = _run(
        "expect", "--sequence", *STEPS, "--per", "user", "--within", "10m", "--db", str(db_path), "--timeout", "5"
    )
    assert ok.exit_code == 0, ok.output
    assert "1 identity did the 3 steps in order (at least 1 identity expected)" in ok.output

    started = time.monotonic()
    failed = _run(
        "expect",
        "--sequence",
        *STEPS,
        "--at-least",
        "3",
        "--within",
        "10m",
        "--db",
        str(db_path),
        "--timeout",
        "0.5",
        "--json",
    )
    assert failed.exit_code == 3, failed.output
    assert time.monotonic() - started < 10
    added_id, added_at = _stamp(db_path, "user_skip", "Product Added")
    assert (
        f'user_skip: step 2 `event:"Checkout Started"` is missing after step 1 `event:"Product Added"` '
        f"at {added_at} (#{added_id})"
    ) in failed.output
    order_id, order_at = _stamp(db_path, "user_swap", "Order Completed")
    checkout_id, checkout_at = _stamp(db_path, "user_swap", "Checkout Started")
    assert (
        f'user_swap: step 3 `event:"Order Completed"` at {order_at} (#{order_id}) came before '
        f'step 2 `event:"Checkout Started"` at {checkout_at} (#{checkout_id})'
    ) in failed.output
    assert "Expected at least 3 identities (per user)" in failed.output
    result = orjson.loads(failed.stdout_bytes.splitlines()[0])
    assert result["count"] == 1 and result["completed"][0]["identity"] == "user_done"
    skip = next(p for p in result["closest"] if p["identity"] == "user_skip")
    assert skip["missing_step"] == 2 and skip["reason"] == "missing" and skip["chain"][0]["timestamp"] == added_at

    # A window shorter than user_done's minute: nobody completes, and the answer says it came too late.
    short = _run("expect", "--sequence", *STEPS, "--within", "45s", "--db", str(db_path), "--timeout", "0")
    assert short.exit_code == 3
    assert 'user_done: step 3 `event:"Order Completed"`' in short.output and "came 1m after step 1" in short.output


def test_expect_sequence_over_the_api(server: ServerThread, db_path: Path) -> None:
    """`expect --sequence --url` and GET /debugger/api/sequence judge the same way, and bad input is a 400."""
    _funnel(server.url)
    over_http = _run("expect", "--sequence", *STEPS, "--within", "10m", "--url", server.url, "--timeout", "5")
    assert over_http.exit_code == 0, over_http.output
    failed = _run("expect", "--sequence", *STEPS, "--count", "2", "--url", server.url, "--timeout", "0")
    assert failed.exit_code == 3 and "user_skip: step 2" in failed.output

    query = urlencode([("step", 'event:"Product Added"'), ("step", 'event:"Order Completed"')])
    answer = http(f"{server.url}/debugger/api/sequence?{query}&per=userId&at_least=3&timeout=0", "GET").json()
    assert answer["ok"] is True and answer["count"] == 3 and answer["expected"] == "at least 3 identities"
    answer = http(f"{server.url}/debugger/api/sequence?{query}&per=source&timeout=0", "GET").json()
    assert answer["count"] == 1 and answer["completed"][0]["identity"] == "wk_shop"
    for params, why in (
        ("step=type:track", "at least two `step`"),
        (f"{query}&per=device", "`per` must be one of"),
        (f"{query}&within=soon", "`within`"),
        (f"{query}&between=5", "`between` must be LOW,HIGH"),
        (urlencode([("step", 'event:"open'), ("step", "type:track")]), "step 1:"),
    ):
        refused = http(f"{server.url}/debugger/api/sequence?{params}&timeout=0", "GET")
        assert refused.status == 400 and why in refused.json()["message"], (params, refused.json())


def test_expect_sequence_usage_errors(db_path: Path) -> None:
    assert _run("expect", "--sequence", 'event:"Product Added"', "--db", str(db_path)).exit_code == 2
    assert "--within" in _run("expect", "--sequence", *STEPS, "--within", "soon", "--db", str(db_path)).output
    assert _run("expect", "type:track", "--per", "user", "--db", str(db_path)).exit_code == 2
    assert _run("expect", "--sequence", *STEPS, "--per", "device", "--db", str(db_path)).exit_code == 2


def test_count_operators_exit_codes(server: ServerThread, db_path: Path) -> None:
    """--at-most and --between: 0 when the count is in range, 3 (at once, not after the timeout)
    when more than allowed already matched, 2 for bounds in the wrong order or combined operators."""
    _funnel(server.url)  # 3 "Product Added", 3 "Order Completed", 2 "Checkout Started"
    db = str(db_path)
    added = 'event:"Product Added"'
    assert _run("expect", added, "--at-most", "3", "--db", db, "--timeout", "0").exit_code == 0
    assert _run("expect", added, "--between", "2", "5", "--db", db, "--timeout", "0").exit_code == 0
    started = time.monotonic()
    too_many = _run("expect", added, "--at-most", "2", "--db", db, "--timeout", "30")
    assert too_many.exit_code == 3 and "Expected at most 2 events" in too_many.output and "found 3" in too_many.output
    above = _run("expect", added, "--between", "1", "2", "--db", db, "--timeout", "30")
    assert above.exit_code == 3 and "between 1 and 2 events" in above.output
    assert time.monotonic() - started < 20  # hopeless: neither waited its 30 s
    below = _run("expect", added, "--between", "4", "5", "--db", db, "--timeout", "0")
    assert below.exit_code == 3 and "found 3" in below.output
    assert _run("expect", added, "--between", "5", "2", "--db", db).exit_code == 2
    assert _run("expect", added, "--at-most", "2", "--count", "1", "--db", db).exit_code == 2
    # Over HTTP the same operators go as at_most= and between=LOW,HIGH.
    assert _run("expect", added, "--at-most", "2", "--url", server.url, "--timeout", "0").exit_code == 3
    assert _run("expect", added, "--between", "2", "3", "--url", server.url, "--timeout", "0").exit_code == 0
    wait = http(f"{server.url}/debugger/api/wait?q=type:track&between=2,5&timeout=0", "GET").json()
    assert wait["ok"] is False and wait["count"] == 8 and wait["expected"] == "between 2 and 5 events"
    assert http(f"{server.url}/debugger/api/wait?q=type:track&at_most=8&timeout=0", "GET").json()["ok"] is True
    assert http(f"{server.url}/debugger/api/wait?q=type:track&between=5,2", "GET").status == 400


def test_fixture_expect_sequence_and_count_operators(segdbg: Segdbg) -> None:
    """The pytest fixture: expect_sequence returns the completed chains or fails naming the missing step;
    expect takes at_most and between."""
    _funnel(segdbg.url, segdbg.write_key)
    result: dict[str, Any] = segdbg.expect_sequence(*STEPS, within="10m")
    assert [p["identity"] for p in result["completed"]] == ["user_done"]
    with pytest.raises(ExpectationFailed) as failed:
        segdbg.expect_sequence(*STEPS, at_least=2, timeout=0.2)
    assert 'user_skip: step 2 `event:"Checkout Started"` is missing' in str(failed.value)
    with pytest.raises(ExpectationFailed, match="came before"):
        segdbg.expect_sequence(*STEPS, between=(3, 3), timeout=0)
    assert len(segdbg.expect('event:"Order Completed"', at_most=3)) == 3
    assert len(segdbg.expect("type:track", between=(2, 8))) == 8
    started = time.monotonic()
    with pytest.raises(ExpectationFailed, match="Expected at most 1 event"):
        segdbg.expect('event:"Order Completed"', at_most=1, timeout=10)
    with pytest.raises(ExpectationFailed, match="at most 0 identities"):
        segdbg.expect_sequence(*STEPS, at_most=0, timeout=10)
    assert time.monotonic() - started < 5  # both fail at once: more already matched than allowed
    with pytest.raises(ValueError, match="per must be one of"):
        segdbg.expect_sequence(*STEPS, per="device")


@pytest.mark.slow
def test_expect_sequence_waits_for_the_steps_to_arrive(server: ServerThread, db_path: Path) -> None:
    """Started before the app sends, `expect --sequence` waits (waking on commits) and exits 0 once the last step lands;
    the fixture's expect_sequence does the same while the library's background thread delivers."""
    waiting = subprocess.Popen(
        [sys.executable, "-m", "debugger", "expect", "--sequence", *STEPS, "--db", str(db_path), "--timeout", "30"],
        env=cli_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # let it start watching an empty capture: it must wait, not find
    assert waiting.poll() is None
    started = time.monotonic()
    _funnel(server.url)
    _, errors = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, errors
    assert "1 identity did the 3 steps in order" in errors
    assert time.monotonic() - started < 15  # woke on the commit, not at the timeout


def test_fixture_expect_sequence_waits_for_background_delivery(segdbg: Segdbg) -> None:
    analytics = Client(segdbg.write_key, host=segdbg.url, upload_interval=0.05)
    for user in ("a", "b"):
        for step in ("Product Added", "Checkout Started", "Order Completed"):
            analytics.track(user, step, {"sku": "1"})
    result = segdbg.expect_sequence(*STEPS, count=2, timeout=20)
    assert sorted(p["identity"] for p in result["completed"]) == ["a", "b"]
    analytics.shutdown()
