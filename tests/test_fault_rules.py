"""`serve --fault RULE` (docs/faults.md): the rule grammar and its errors, the choice of a rule, and each kind of
fault on a real server: recorded as such with its body, its events never counted as arrived."""

from __future__ import annotations

import http.client as httpclient
import socket
import threading
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from debugger.cli import cli
from debugger.cli.child import ChildServer
from debugger.core.fault import DEFAULT_HOLD, RESET, SLOW, STATUS, TIMEOUT, Rule, RuleError, Target, parse_rule, pick
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import ServeProcess, basic, events, http, requests_rows

TRACK = {"type": "track", "userId": "u1", "event": "Signed Up", "writeKey": "wk"}
BATCH = {"batch": [TRACK, {**TRACK, "event": "Second"}]}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("503 30%", Rule("503 30%", STATUS, status=503, percent=30.0)),
        ("429 retry-after=2 every 5", Rule("429 retry-after=2 every 5", STATUS, status=429, retry_after=2.0, every=5)),
        ("slow 2s", Rule("slow 2s", SLOW, seconds=2.0)),
        ("slow 250ms", Rule("slow 250ms", SLOW, seconds=0.25)),
        ("reset after-body", Rule("reset after-body", RESET)),
        ("reset", Rule("reset", RESET)),
        ("timeout", Rule("timeout", TIMEOUT, seconds=DEFAULT_HOLD)),
        ("timeout 1m", Rule("timeout 1m", TIMEOUT, seconds=60.0)),
        (
            "503 30% route:/v1/batch",
            Rule("503 30% route:/v1/batch", STATUS, status=503, percent=30.0, scopes=(("route", "/v1/batch"),)),
        ),
        (
            '503 30% where event:"Order Completed"  properties.total:>100',
            Rule(
                '503 30% where event:"Order Completed"  properties.total:>100',
                STATUS,
                status=503,
                percent=30.0,
                where='event:"Order Completed" properties.total:>100',
            ),
        ),
        (
            "  500   lib:analytics-python source:web-* first 3 ",
            Rule(
                "500 lib:analytics-python source:web-* first 3",
                STATUS,
                status=500,
                first=3,
                scopes=(("lib", "analytics-python"), ("source", "web-*")),
            ),
        ),
    ],
)
def test_rules_read_as_written(text: str, want: Rule) -> None:
    """Each example of docs/faults.md reads to the rule it says (extra spaces are tidied in the text kept)."""
    assert parse_rule(text) == want


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the rule is empty"),
        ("404", "404 is not a status to fault with"),
        ("200 30%", "200 is not a status to fault with"),
        ("boom", "'boom' is not a fault"),
        ("slow", "`slow` needs a time"),
        ("slow fast", "`slow` needs a time"),
        ("503 130%", "130% is not a chance"),
        ("503 x%", "x% is not a chance"),
        ("503 every", "`every` needs a whole number"),
        ("503 every 0", "`every` needs a whole number"),
        ("503 30% every 2", "give one of N%, every N or first N"),
        ("slow 1s retry-after=2", "retry-after=SECONDS (whole seconds) goes with a status"),
        ("429 retry-after=1.5", "retry-after=SECONDS (whole seconds)"),
        ("503 path:/v1/batch", "path:/v1/batch is not a scope; use route:PATH, source:KEY or lib:NAME"),
        ("503 route:[a", "route:[a: the pattern is malformed"),
        ("503 sometimes", "'sometimes' is not understood here"),
    ],
)
def test_bad_rules_say_which_word_and_show_examples(text: str, says: str) -> None:
    """A bad rule is an error naming the word at fault, followed by examples of good rules."""
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    assert says in str(caught.value)
    assert "Examples: '503 30%'" in str(caught.value)


def test_serve_refuses_a_bad_rule_as_a_usage_error(tmp_path: Path) -> None:
    """`segdbg serve --fault 'boom'` exits 2 with the rule's error before listening."""
    result = CliRunner().invoke(cli, ["serve", "--headless", "--db", str(tmp_path / "c.db"), "--fault", "boom"])
    assert result.exit_code == 2
    assert "bad --fault rule 'boom'" in result.output


def test_pick_counts_per_rule_and_draws_only_for_percentages() -> None:
    """every N fires on each Nth matching request, first N on the first N, N% on a draw below N/100; rules are
    tried in order and a rule whose scope does not hold neither counts nor draws."""
    rules = [parse_rule("503 route:/v1/track first 1"), parse_rule("429 every 2"), parse_rule("500 50%")]
    draws = iter([0.7, 0.2, 0.9])
    seen = [0, 0, 0]
    batch, track = Target("/v1/batch", "wk", ()), Target("/v1/track", "wk", ())
    chosen = [pick(rules, t, seen, lambda: next(draws)) for t in (track, track, batch, batch, batch)]
    assert [r.text if r else None for r in chosen] == [
        "503 route:/v1/track first 1",  # the first matching request
        None,  # rule 2 sees its 1st, rule 3 draws 0.7
        "429 every 2",  # rule 1's scope fails: not counted; rule 2's 2nd
        "500 50%",  # rule 2's 3rd; rule 3 draws 0.2
        "429 every 2",  # rule 2's 4th: no draw taken
    ]
    assert seen == [2, 4, 2]


def test_scopes_match_the_route_the_write_key_and_any_library_by_glob() -> None:
    """route: is the path, source: the write key, lib: any of the request's library names; all must hold."""
    rule = parse_rule("503 route:/v1/* source:web-* lib:analytics-*")
    hit = Target("/v1/batch", "web-dev", ("analytics-python", "other"))
    assert pick([rule], hit, [0], lambda: 0.0) is rule
    for miss in (
        Target("/beacon/v1/batch", "web-dev", ("analytics-python",)),
        Target("/v1/batch", "ios-dev", ("analytics-python",)),
        Target("/v1/batch", None, ("analytics-python",)),
        Target("/v1/batch", "web-dev", ("rudder",)),
    ):
        assert pick([rule], miss, [0], lambda: 0.0) is None


def faulty(db: Path, *rules: str, seed: int = 1) -> ServerThread:
    return ServerThread(Settings(db=db, port=0, faults=tuple(parse_rule(r) for r in rules), fault_seed=seed))


def test_a_status_fault_is_answered_recorded_with_its_body_and_stored_as_no_event(db_path: Path) -> None:
    """503: Segment-shaped error body, CORS kept; the request row names the rule, keeps the body and the code
    fault_injected; one rejected row stands for it; no event of it is ok, so searches and expect never see it."""
    origin = {"Origin": "http://localhost:3000", "Authorization": basic("wk")}
    with faulty(db_path, "503 first 1") as server:
        refused = http(f"{server.url}/v1/batch", body=BATCH, headers=origin)
        accepted = http(f"{server.url}/v1/batch", body=BATCH, headers=origin)
    assert (refused.status, refused.json()["code"]) == (503, "fault_injected")
    assert "--fault '503 first 1'" in refused.json()["message"]
    assert refused.headers["access-control-allow-origin"] == origin["Origin"]
    assert accepted.status == 200
    first, second = requests_rows(db_path)
    assert (first["status"], first["code"], first["fault"]) == (503, "fault_injected", "503 first 1")
    assert first["body"] is not None and b'"Signed Up"' in first["body"]
    assert (second["status"], second["fault"]) == (200, None)
    stored = events(db_path)
    assert [(e["status"], e["request_id"]) for e in stored] == [
        ("rejected", first["id"]),
        ("ok", second["id"]),
        ("ok", second["id"]),
    ]
    default = CliRunner().invoke(cli, ["events", "--db", str(db_path), "--format", "jsonl"])
    assert default.exit_code == 0
    assert [line.count('"status":"ok"') for line in default.output.splitlines() if line.startswith("{")] == [1, 1]
    assert "1 rejected hidden" in default.output
    expect = CliRunner().invoke(cli, ["expect", "event:Second", "--count", "1", "--db", str(db_path), "--timeout", "0"])
    assert expect.exit_code == 0, expect.output
    stats = CliRunner().invoke(cli, ["stats", "--db", str(db_path), "--format", "json"])
    assert orjson.loads(stats.output)["rejected"] == {"requests": 1, "by_code": {"fault_injected": 1}}


def test_a_where_query_faults_only_requests_holding_a_matching_event(db_path: Path) -> None:
    """`where QUERY` scopes a rule by the filter language (or FQL), judged by the store's own SQL on the
    request's events before they are stored: any event of the request may match."""
    order = {**TRACK, "event": "Order Completed", "properties": {"total": 120}}
    small = {**order, "properties": {"total": 5}}
    rules = ('503 where event:"Order Completed" properties.total:>100', '500 where fql:event = "Refund"')
    with faulty(db_path, *rules) as server:
        replies = [
            http(f"{server.url}/v1/batch", body={"batch": batch})
            for batch in ([TRACK, order], [small], [TRACK], [{**TRACK, "event": "Refund"}], [order])
        ]
    assert [r.status for r in replies] == [503, 200, 200, 500, 503]
    assert [row["fault"] for row in requests_rows(db_path)] == [rules[0], None, None, rules[1], rules[0]]
    stored = [(e["name"], e["status"]) for e in events(db_path)]
    assert ("Order Completed", "ok") in stored and ("Signed Up", "ok") in stored  # the unmatched ones arrived


@pytest.mark.parametrize(
    ("text", "says"),
    [("503 where", "`where` needs a query"), ('503 where event:"x', "the query after `where` is not read")],
)
def test_a_where_scope_that_cannot_be_read_is_refused(text: str, says: str) -> None:
    with pytest.raises(RuleError, match=says):
        parse_rule(text)


def test_a_where_scope_asks_the_target_and_fails_closed_without_one() -> None:
    """The pure choice asks the server's judge with the canonical query; with no judge, the rule never fires."""
    rule = parse_rule("503 where event:Signed*  lib:x")
    asked: list[str] = []
    hit = Target("/v1/batch", "wk", (), lambda query: asked.append(query) or True)
    assert pick([rule], hit, [0], lambda: 0.0) is rule and asked == ["event:Signed* lib:x"]
    assert pick([rule], Target("/v1/batch", "wk", (), lambda query: False), [0], lambda: 0.0) is None
    assert pick([rule], Target("/v1/batch", "wk", ()), [0], lambda: 0.0) is None


def test_429_every_n_sends_retry_after_on_each_nth_request(db_path: Path) -> None:
    """429 retry-after=2 every 3: the 3rd and 6th requests get 429 with Retry-After: 2; the rest 200."""
    with faulty(db_path, "429 retry-after=2 every 3") as server:
        replies = [http(f"{server.url}/v1/track", body=TRACK) for _ in range(6)]
    assert [r.status for r in replies] == [200, 200, 429, 200, 200, 429]
    assert [r.headers.get("retry-after") for r in replies] == [None, None, "2", None, None, "2"]


def test_the_seed_makes_percentages_repeat(tmp_path: Path) -> None:
    """The same --fault-seed gives the same pattern of 503s; another seed a different one."""

    def pattern(name: str, seed: int) -> list[int]:
        with faulty(tmp_path / name, "503 50%", seed=seed) as server:
            return [http(f"{server.url}/v1/track", body=TRACK).status for _ in range(16)]

    first = pattern("a.db", 11)
    assert first == pattern("b.db", 11)
    assert first != pattern("c.db", 12)
    assert {200, 503} == set(first)


def test_slow_answers_late_and_stores_the_events_as_arrived(db_path: Path) -> None:
    """slow 300ms: the 200 comes at least 0.3 s later; the events are stored ok, the request marked with the rule."""
    with faulty(db_path, "slow 300ms") as server:
        started = time.monotonic()
        reply = http(f"{server.url}/v1/batch", body=BATCH)
        took = time.monotonic() - started
    assert reply.status == 200 and took >= 0.3
    (row,) = requests_rows(db_path)
    assert (row["status"], row["fault"], row["code"]) == (200, "slow 300ms", None)
    assert [e["status"] for e in events(db_path)] == ["ok", "ok"]


def test_reset_after_body_closes_without_an_answer_and_keeps_the_body(db_path: Path) -> None:
    """reset after-body: the client reads no status line at all; the request is recorded (status 0) with its body."""
    with faulty(db_path, "reset after-body") as server:
        with pytest.raises((httpclient.RemoteDisconnected, ConnectionResetError)):
            http(f"{server.url}/v1/batch", body=BATCH)
    (row,) = requests_rows(db_path)
    assert (row["status"], row["code"], row["fault"]) == (0, "fault_injected", "reset after-body")
    assert b'"Second"' in row["body"]
    assert [e["status"] for e in events(db_path)] == ["rejected"]


def test_timeout_holds_the_connection_then_drops_it_unanswered(db_path: Path) -> None:
    """timeout 1s: nothing comes back within the hold (a client with a shorter timeout gives up); then the
    connection is closed without an answer."""
    with faulty(db_path, "timeout 1s") as server:
        with pytest.raises(TimeoutError):
            http(f"{server.url}/v1/track", body=TRACK, timeout=0.5)
        started = time.monotonic()
        with pytest.raises((httpclient.RemoteDisconnected, ConnectionResetError)):
            http(f"{server.url}/v1/track", body=TRACK, timeout=5)
        assert 0.9 <= time.monotonic() - started < 4
    rows = requests_rows(db_path)
    assert [(r["status"], r["fault"]) for r in rows] == [(0, "timeout 1s"), (0, "timeout 1s")]
    assert [e["status"] for e in events(db_path)] == ["rejected", "rejected"]


def test_only_requests_that_carry_events_are_faulted(db_path: Path) -> None:
    """Settings, CORS preflights and requests refused for what they sent are answered as always."""
    with faulty(db_path, "503") as server:
        assert http(f"{server.url}/v1/projects/wk/settings", "GET").status == 200
        preflight = http(
            f"{server.url}/v1/batch",
            "OPTIONS",
            headers={"Origin": "http://a.test", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status == 204
        assert http(f"{server.url}/v1/batch", body=b"{not json").status == 400
        assert http(f"{server.url}/v1/batch", body=BATCH).status == 503
    assert [r["fault"] for r in requests_rows(db_path)] == [None, None, "503"]


def test_serve_headless_prints_the_rules_seed_and_each_fault(tmp_path: Path) -> None:
    """The start-up lines name the rules and the seed to repeat them; each faulted request's line names its rule;
    the summary counts them."""
    server = ServeProcess(tmp_path / "c.db", "--fault", "503 every 2", "--fault-seed", "5")
    try:
        statuses = [http(f"{server.url}/v1/track", body=TRACK).status for _ in range(2)]
    finally:
        code, out, err = server.stop()
    assert statuses == [200, 503] and code == 0
    assert "Faults on purpose: '503 every 2' (--fault-seed 5 repeats the draws)" in err
    assert out.splitlines()[1].endswith("fault: 503 every 2")
    assert "1 faulted on purpose" in err


def test_a_faulted_request_keeps_the_connection_usable_for_the_next(db_path: Path) -> None:
    """After a 503 the same keep-alive connection carries the client's retry (no half-read body left behind)."""
    with faulty(db_path, "503 first 1") as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            conn = httpclient.HTTPConnection(host, int(port), timeout=5)
            conn.sock = sock
            body = b'{"userId":"u","event":"E","writeKey":"wk"}'
            statuses = []
            for _ in range(2):
                conn.request("POST", "/v1/track", body=body, headers={"Content-Type": "application/json"})
                answer = conn.getresponse()
                answer.read()
                statuses.append(answer.status)
    assert statuses == [503, 200]


def test_shutdown_lets_go_of_a_held_connection_at_once(db_path: Path) -> None:
    """A `timeout 60s` hold does not keep a stopping server waiting: the client is dropped, the stop is quick."""
    server = faulty(db_path, "timeout 60s").start()
    failures: list[BaseException] = []

    def send() -> None:
        try:
            http(f"{server.url}/v1/track", body=TRACK, timeout=30)
        except (httpclient.RemoteDisconnected, ConnectionResetError) as exc:
            failures.append(exc)

    client = threading.Thread(target=send)
    client.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not requests_rows(db_path):
        time.sleep(0.02)
    started = time.monotonic()
    server.stop()
    client.join(10)
    assert time.monotonic() - started < 3
    assert len(failures) == 1
    assert [r["fault"] for r in requests_rows(db_path)] == ["timeout 60s"]


def test_the_server_the_tui_starts_gets_the_same_rules_and_seed(tmp_path: Path) -> None:
    """With a terminal, `serve` runs the server as a child: its --fault rules and --fault-seed go with it."""
    child = ChildServer.start(Settings(db=tmp_path / "k.db", port=0, faults=(parse_rule("503 every 2"),), fault_seed=4))
    try:
        statuses = [http(child.url + "/v1/track", body=TRACK).status for _ in range(4)]
    finally:
        summary = child.stop()
    assert statuses == [200, 503, 200, 503]
    assert summary is not None and "2 faulted on purpose" in summary


def test_in_a_terminal_the_tui_warns_that_faults_are_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --fault` with the TUI: the start-up warning names the rules and the seed that repeats them."""
    seen: dict[str, object] = {}
    monkeypatch.setattr("debugger.cli.commands.serve.terminal", lambda: True)
    monkeypatch.setattr(
        "debugger.cli.commands.serve._serve_with_tui",
        lambda settings, cap, plan, notice, *forward: seen.update(settings=settings, notice=notice),
    )
    args = ["serve", "--db", str(tmp_path / "c.db"), "--fault", "503 30%", "--fault-seed", "9"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert (
        seen["notice"] == "Faults on purpose: '503 30%' (--fault-seed 9 repeats the draws). Then: segdbg delivery-check"
    )
    assert [rule.text for rule in seen["settings"].faults] == ["503 30%"]  # type: ignore[attr-defined]


WORDS = st.sampled_from(
    ["503", "429", "404", "slow", "reset", "timeout", "every", "first", "2", "0", "30%", "1.5s", "retry-after=2"]
    + ["route:/v1/*", "lib:", "source:[", "after-body", "%", "ms", "x:y", "nan%", "1e9", "²", "every ²"]
)


@given(st.lists(st.one_of(WORDS, st.text(max_size=6)), max_size=6).map(" ".join))
def test_reading_a_rule_either_gives_a_rule_or_says_why(text: str) -> None:
    """Whatever is typed after --fault, the answer is a rule or a RuleError, never another exception."""
    try:
        rule = parse_rule(text)
    except RuleError as exc:
        assert str(exc).startswith("bad --fault rule")
    else:
        assert parse_rule(rule.text) == rule  # the text kept reads back to the same rule
