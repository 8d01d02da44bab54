"""The promises the docs make, each pinned by a test that fails when the guarantee breaks.

Each test names the promise (and the page that makes it). They were checked by planting the bug
each one is about and watching the test fail (the commit that added a test says which):

- a 200 only after COMMIT (docs/capture.md "Writing", docs/architecture.md §2);
- the 24-hour window of the duplicate-messageId rule (docs/protocol.md §6);
- a gzip bomb costs almost nothing: bounded memory and time (docs/protocol.md, docs/security.md);
- `expect` and the API's waits wake on each commit (docs/ci.md);
- replay's verdict for every status docs/replay.md names ("Retries");
- every credential header docs/security.md names is masked wherever the request is kept or shown;
- the connection caps: per address and in all (docs/security.md).
"""

from __future__ import annotations

import re
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from debugger.cli import cli
from debugger.core.http import bodies
from debugger.core.http.limits import WIRE_LIMIT
from debugger.core.http.model import RequestRecord
from debugger.core.protocol import DUPLICATE_WINDOW, MAX_BATCH_BYTES, Envelope, build_event
from debugger.core.replay.retry import DELIVERED, FAILED, RETRY, verdict
from debugger.server.app import ServerThread
from debugger.server.keys import guard_key, writer_key
from debugger.server.settings import Settings
from debugger.store import capture
from debugger.store import writer as store_writer
from tests.helpers import ROOT, basic, events, http, integrity, request_record, requests_rows
from tests.sinks import Reply, ScriptedTarget

TRACK = {"writeKey": "wk", "userId": "u1", "event": "Signed Up"}
DOCS = ROOT / "docs"


# --- A 200 only after COMMIT ---------------------------------------------------------------


def _fail_every_commit(server: ServerThread) -> None:
    """Make every COMMIT of the server's writer fail, for real: a deferred foreign key that each
    new event row violates. The inserts succeed; only COMMIT refuses."""
    assert server.app is not None
    writer = server.app[writer_key]

    def enforce(conn: Any) -> None:
        conn.execute("PRAGMA foreign_keys = ON")  # only outside a transaction

    writer.call(enforce, transaction=False).result(timeout=10)

    def gate(conn: Any) -> None:
        conn.execute("CREATE TABLE gate_parent (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE gate (id INTEGER REFERENCES gate_parent(id) DEFERRABLE INITIALLY DEFERRED)")
        conn.execute("CREATE TRIGGER gate_each_event AFTER INSERT ON events BEGIN INSERT INTO gate VALUES (1); END")

    writer.call(gate).result(timeout=10)


def _open_the_gate(server: ServerThread) -> None:
    assert server.app is not None
    server.app[writer_key].call(lambda conn: conn.execute("DROP TRIGGER gate_each_event")).result(timeout=10)


def test_a_commit_that_fails_is_never_acknowledged(server: ServerThread) -> None:
    """COMMIT fails after the rows were inserted: the client hears 503 store_unavailable with
    Retry-After (so it keeps the events and retries), never 200; nothing half-written stays; the
    retry lands once the capture can commit again. (Planted bug caught: resolving the request's
    future before COMMIT.)"""
    _fail_every_commit(server)
    batch = {"writeKey": "wk", "batch": [{**TRACK, "messageId": f"m{i}"} for i in range(3)]}
    answers = [http(f"{server.url}/v1/batch", body=batch) for _ in range(2)]
    for answer in answers:
        assert answer.status == 503, answer.body
        assert answer.json()["code"] == "store_unavailable"
        assert "FOREIGN KEY" in answer.json()["message"] and answer.headers["retry-after"] == "1"
    assert events(server.settings.db, statuses=None) == [] and requests_rows(server.settings.db) == []
    _open_the_gate(server)
    assert http(f"{server.url}/v1/batch", body=batch).status == 200
    assert [e["message_id"] for e in events(server.settings.db)] == ["m0", "m1", "m2"]
    assert integrity(server.settings.db) == "ok"


def test_requests_sharing_a_failed_group_all_hear_503(server: ServerThread) -> None:
    """Many requests in flight share commit groups; when COMMIT fails every one of them is told
    (none is acknowledged because a neighbour's rows were written first)."""
    _fail_every_commit(server)
    statuses: list[int] = []

    def send(n: int) -> None:
        statuses.append(http(f"{server.url}/v1/track", body={**TRACK, "messageId": f"p{n}"}).status)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [503] * 12
    assert events(server.settings.db, statuses=None) == []


# --- The duplicate window --------------------------------------------------------------------


T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _copy(received: datetime, message_id: str = "same") -> tuple[RequestRecord, list[Any]]:
    record = request_record(received)
    message = {"type": "track", "event": "Paid", "userId": "u", "messageId": message_id}
    return record, [build_event(message, Envelope(write_key="wk", received_at=received), new_id=lambda: "x")]


@pytest.mark.parametrize(
    ("after", "expected"), [(timedelta(hours=23, minutes=59), "duplicate"), (timedelta(hours=24, minutes=1), "ok")]
)
def test_a_repeated_message_id_is_a_duplicate_within_24_hours_only(
    tmp_path: Path, after: timedelta, expected: str
) -> None:
    """Segment drops a repeated messageId within 24 h: the copy at 23 h 59 m is a duplicate of the
    first, the copy at 24 h 1 m is a new event. (Planted bug caught: the window removed.)"""
    assert DUPLICATE_WINDOW == timedelta(hours=24)
    writer = store_writer.EventWriter(tmp_path / "d.db").start()
    try:
        writer.submit(*_copy(T0)).result(timeout=10)
        writer.submit(*_copy(T0 + after)).result(timeout=10)
    finally:
        writer.close()
    conn = capture.connect(tmp_path / "d.db")
    try:
        rows = conn.execute("SELECT id, status, duplicate_of FROM events ORDER BY id").fetchall()
    finally:
        conn.close()
    assert rows == [(1, "ok", None), (2, expected, 1 if expected == "duplicate" else None)]


# --- A gzip bomb costs nothing -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """100 MB of zeros, gzipped (about 100 KB on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1024 * 1024)
    out = [packer.compress(chunk) for _ in range(100)]
    out.append(packer.flush())
    return b"".join(out)


def test_inflating_a_100_mb_bomb_stays_within_the_limit_in_memory_and_time(bomb: bytes) -> None:
    """The inflater stops one byte past the limit: a 100 MB bomb costs a few MB and milliseconds,
    not 100 MB and a second. (Planted bug caught: inflating without the limit.)"""
    assert len(bomb) < 200_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        data = bodies.inflate(bomb, "gzip", WIRE_LIMIT)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(data) == WIRE_LIMIT + 1
    assert peak < 4 * WIRE_LIMIT + len(bomb), f"peak {peak:,} bytes"
    assert seconds < 0.5, f"{seconds:.2f} s"


def test_a_bomb_sent_to_the_server_is_a_quick_recorded_400(server: ServerThread, bomb: bytes) -> None:
    """The server answers the bomb payload_too_large at once and records the request; the next
    request is served as usual."""
    started = time.monotonic()
    answer = http(
        f"{server.url}/v1/batch",
        body=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json", "Authorization": basic("wk")},
    )
    assert time.monotonic() - started < 2
    assert answer.status == 400, answer.body  # Segment answers 400 payload_too_large (docs/protocol.md)
    assert answer.json()["code"] == "payload_too_large"
    assert f"the limit is {MAX_BATCH_BYTES:,} bytes after decompression" in answer.json()["message"]
    [rejected] = events(server.settings.db, statuses=["rejected"])
    assert len(rejected["raw"]) <= 64 * 1024
    assert http(f"{server.url}/v1/track", body=TRACK).status == 200


# --- Waits wake on commit ----------------------------------------------------------------------


def _commit_while_waiting(
    server: ServerThread, name: str, wait: Any, *, head_start: float = 0.4
) -> tuple[Any, float, float]:
    """Start ``wait()`` in a thread, let it begin waiting, commit an event called ``name``, and
    return what ``wait`` returned, how long after the commit it returned, and how long it waited."""
    result: dict[str, Any] = {}

    def run() -> None:
        begun = time.monotonic()
        result["value"] = wait()
        result["done"] = time.monotonic()
        result["waited"] = result["done"] - begun

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(head_start)
    assert http(f"{server.url}/v1/track", body={**TRACK, "event": name}).status == 200
    committed = time.monotonic()  # the 200 comes after COMMIT
    thread.join(15)
    assert not thread.is_alive(), "the wait never returned"
    return result["value"], result["done"] - committed, result["waited"]


@pytest.mark.parametrize("route", ["wait", "events"])
def test_api_long_polls_wake_on_commit(server: ServerThread, route: str) -> None:
    """GET /debugger/api/wait and /events?wait= return within half a second of the COMMIT they
    wait for, three times in a row (a poll every few seconds cannot). (Planted bug caught: the
    notifier not fired by the writer, or polling every 3 s.)"""
    for n in range(3):
        name = f"Woke {route} {n}"
        if route == "wait":
            url = f"{server.url}/debugger/api/wait?q=event:%22{name.replace(' ', '%20')}%22&count=1&timeout=10"
        else:
            after = max([e["id"] for e in events(server.settings.db, statuses=None)] or [0])
            url = f"{server.url}/debugger/api/events?after={after}&wait=10"
        answer, after_commit, waited = _commit_while_waiting(server, name, lambda url=url: http(url, "GET", timeout=20))
        assert answer.status == 200, answer.body
        body = answer.json()
        if route == "wait":
            assert body["ok"] and body["count"] == 1
        else:
            assert [e["name"] for e in body["events"]] == [name]
        assert waited > 0.3, "it returned before the event was sent: the test proves nothing"
        assert after_commit < 0.5, f"returned {after_commit:.2f} s after the commit"


def test_expect_on_a_file_wakes_on_commit(server: ServerThread) -> None:
    """`segdbg expect --db` (another process's commit, seen through PRAGMA data_version) returns
    within half a second of the commit. (Planted bug caught: polling every 3 s.)"""
    for n in range(2):
        name = f"Filed {n}"
        argv = ["expect", "--db", str(server.settings.db), f'event:"{name}"', "--timeout", "10", "--json"]
        result, after_commit, waited = _commit_while_waiting(
            server, name, lambda argv=argv: CliRunner().invoke(cli, argv, catch_exceptions=False)
        )
        assert result.exit_code == 0, result.output
        assert orjson.loads(result.stdout.splitlines()[0])["count"] == 1
        assert waited > 0.3, "it returned before the event was sent: the test proves nothing"
        assert after_commit < 0.5, f"returned {after_commit:.2f} s after the commit"


# --- Replay's verdict for every status the docs name ------------------------------------------


def _documented_verdicts() -> dict[int, str]:
    """The statuses docs/replay.md's Retries section names, with the verdict it gives each."""
    text = (DOCS / "replay.md").read_text()
    section = text.split("## Retries", 1)[1].split("\n## ", 1)[0]
    bullets = {line[2:].split(" ", 1)[0]: line for line in section.splitlines() if line.startswith("- ")}
    retried = next(line for line in section.splitlines() if line.startswith("- 5xx"))
    permanent = {int(n) for n in re.findall(r"\d{3}", retried.split("(but", 1)[1].split(")", 1)[0])}
    retried_4xx = {int(n) for n in re.findall(r"\b4\d\d\b", retried)}
    assert "2xx" in bullets and "429" in bullets and permanent and retried_4xx, section
    assert "Any other 4xx is a failed delivery" in section
    table: dict[int, str] = {}
    for status in range(200, 600):
        if 200 <= status < 300:
            table[status] = DELIVERED
        elif status == 429 or status in retried_4xx or (status >= 500 and status not in permanent):
            table[status] = RETRY
        elif 400 <= status < 500 or status in permanent:
            table[status] = FAILED
    return table


def test_every_status_gets_the_verdict_the_docs_give() -> None:
    """Each status from 200 to 599 that docs/replay.md classifies gets that verdict (the docs are
    read, not copied). (Planted bug caught: 410 or 460 no longer retried.)"""
    table = _documented_verdicts()
    assert {410, 460, 408, 429, 501, 505, 511} <= table.keys()
    wrong = {status: verdict(status) for status, expected in table.items() if verdict(status) != expected}
    assert wrong == {}
    assert verdict(None) == RETRY  # "network errors are retried"


@pytest.fixture
def one_event(server: ServerThread, db_path: Path) -> Path:
    assert http(f"{server.url}/v1/track", body={**TRACK, "messageId": "r1"}).status == 200
    return db_path


@pytest.mark.parametrize("status", [410, 460, 511])
def test_a_real_replay_follows_the_documented_verdict(one_event: Path, status: int) -> None:
    """End to end against a real target: 410 and 460 are retried and then delivered; 511 fails at
    once."""
    expected = _documented_verdicts()[status]
    with ScriptedTarget([Reply(status, b'{"success":false}'), Reply(200)]) as target:
        result = CliRunner().invoke(
            cli, ["replay", "--db", str(one_event), "--backoff", "0.01", "--to", target.url], catch_exceptions=False
        )
    attempts = len(target.arrivals)
    if expected == RETRY:
        assert (result.exit_code, attempts) == (0, 2), result.output
    else:
        assert expected == FAILED and attempts == 1 and result.exit_code != 0, result.output


# --- Every credential header masked ----------------------------------------------------------


def _documented_credentials() -> list[str]:
    """The header names docs/security.md's Credentials section says are masked."""
    section = (DOCS / "security.md").read_text().split("## Credentials", 1)[1].split("\n## ", 1)[0]
    sentence = section.split("masked", 1)[0]
    names = re.findall(r"`([A-Za-z-]+)`", sentence)
    assert names, section
    return names


def test_every_credential_header_the_docs_name_is_masked_everywhere(server: ServerThread, db_path: Path) -> None:
    """Authorization, Proxy-Authorization and Cookie (whatever docs/security.md lists, in any
    letter case) never reach the capture, the API's request view or a HAR export. (Planted bug
    caught: Proxy-Authorization not masked.)"""
    names = _documented_credentials()
    assert {"Authorization", "Proxy-Authorization", "Cookie"} <= set(names)
    secrets = {name: f"Secret-{n}-s3cr3t" for n, name in enumerate(names)}
    headers = [(name.lower() if n % 2 else name, f"Basic {secret}") for n, (name, secret) in enumerate(secrets.items())]
    assert http(f"{server.url}/v1/track", body=TRACK, headers=headers).status == 200
    [row] = requests_rows(db_path)
    stored = {name.lower(): value for name, value in row["headers"]}
    for name in names:
        assert stored[name.lower()] in ("••••••", "Basic ••••••"), (name, stored[name.lower()])
    [event] = events(db_path)
    api = http(f"{server.url}/debugger/api/events/{event['id']}", "GET")
    har = CliRunner().invoke(cli, ["events", "--db", str(db_path), "--format", "har"], catch_exceptions=False)
    with capture.reader(db_path) as conn:
        dump = "\n".join(conn.iterdump())
    for where, text in (("capture", dump), ("api", api.body.decode()), ("har", har.output)):
        leaked = [secret for secret in secrets.values() if secret in text]
        assert leaked == [], f"{where} holds {leaked}"


# --- The connection caps -------------------------------------------------------------------------


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[ServerThread]:
    settings = Settings(db=tmp_path / "caps.db", port=0, peer_connections=6, max_connections=8)
    with ServerThread(settings) as running:
        yield running


def test_the_global_connection_cap_holds_across_addresses(capped: ServerThread) -> None:
    """Connections from two addresses, each under the per-address cap, still may not exceed the
    total: the longest-idle are closed, and a real client still gets its 200. (Planted bug
    caught: the global cap dropped.)"""
    assert capped.app is not None
    guard = capped.app[guard_key]
    socks: list[socket.socket] = []
    try:
        for source in ("127.0.0.1", "127.0.0.2"):
            for _ in range(5):
                sock = socket.create_connection(("127.0.0.1", capped.port), timeout=10, source_address=(source, 0))
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers begun, never finished
                socks.append(sock)
        deadline = time.monotonic() + 5
        while guard.closed < 2 and time.monotonic() < deadline:  # accepts lag behind connects
            time.sleep(0.02)
        assert guard.open_connections("127.0.0.1") <= 6 and guard.open_connections("127.0.0.2") <= 6
        assert guard.closed == 2 and guard.open_connections() == 8
        assert http(f"{capped.url}/v1/track", body=TRACK).status == 200
    finally:
        for sock in socks:
            sock.close()
    assert [e["name"] for e in events(capped.settings.db)] == ["Signed Up"]
