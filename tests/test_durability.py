"""Acknowledged means stored: SIGKILL mid-stream loses nothing that was answered 200; SIGTERM drains."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import orjson
import pytest

from debugger.server.app import ServerThread
from tests.helpers import ServeProcess, events, http, integrity

pytestmark = pytest.mark.slow


def _sender(url: str, prefix: str, acked: list[str], stop: threading.Event, batch: int) -> None:
    """Send until told to stop or the server dies; remember every messageId answered 200."""
    n = 0
    while not stop.is_set():
        ids = [f"{prefix}-{n}-{i}" for i in range(batch)]
        n += 1
        body = {
            "writeKey": "crash",
            "batch": [{"type": "track", "event": "Tick", "userId": "u", "messageId": m} for m in ids],
        }
        try:
            reply = http(f"{url}/v1/batch", body=orjson.dumps(body), timeout=5)
        except OSError:
            return
        if reply.status == 200:
            acked.extend(ids)


def test_sigkill_while_clients_send_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """Kill -9 under concurrent load, restart: every acked event is there and the file is sound."""
    db = tmp_path / "crash.db"
    server = ServeProcess(db, "--quiet")
    acked: list[list[str]] = [[] for _ in range(4)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_sender, args=(server.url, f"c{i}", acked[i], stop, 1 if i % 2 else 25))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while sum(len(a) for a in acked) < 3000 and time.monotonic() < deadline:
        threads[0].join(0.05)
    server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(10)
    acknowledged = {m for a in acked for m in a}
    assert len(acknowledged) >= 3000

    restarted = ServeProcess(db, "--quiet")
    try:
        assert (
            http(f"{restarted.url}/v1/track", body={"writeKey": "crash", "userId": "u", "event": "After"}).status == 200
        )
    finally:
        code, _, _ = restarted.stop()
    assert code == 0
    stored_ids = {e["message_id"] for e in events(db)}
    assert acknowledged <= stored_ids, f"{len(acknowledged - stored_ids)} acknowledged events lost"
    assert integrity(db) == "ok"


def test_sigterm_drains_and_prints_a_summary(tmp_path: Path) -> None:
    """SIGTERM: in-flight work is committed, the process exits 0 with a summary line."""
    db = tmp_path / "term.db"
    server = ServeProcess(db)
    for i in range(5):
        assert http(f"{server.url}/v1/track", body={"writeKey": "k", "userId": "u", "event": f"E{i}"}).status == 200
    code, out, err = server.stop(signal.SIGTERM)
    assert code == 0
    assert "Stopped. 5 requests · 5 events (5 ok)" in err
    assert out.count("POST") == 5 and "/v1/track" in out  # one line per request, headless
    assert len(events(db)) == 5 and integrity(db) == "ok"


def test_quiet_prints_no_request_lines(tmp_path: Path) -> None:
    """--quiet: no per-request lines, still the summary."""
    server = ServeProcess(tmp_path / "q.db", "--quiet")
    http(f"{server.url}/v1/track", body={"writeKey": "k", "userId": "u", "event": "E"})
    code, out, err = server.stop(signal.SIGINT)
    assert code == 0 and out == ""
    assert "1 requests · 1 events" in err


def test_a_stalled_client_gets_408_and_its_partial_body_is_kept(tmp_path: Path) -> None:
    """Slowloris: headers sent, body promised but stalled → 408 after the body timeout, recorded."""
    import socket

    from debugger.server.app import ServerThread
    from debugger.server.settings import Settings
    from tests.helpers import requests_rows

    with (
        ServerThread(Settings(db=tmp_path / "s.db", port=0, body_timeout=0.5)) as server,
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b'{"batch": [')
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"code":"request_timeout"' in answer
    [request] = requests_rows(tmp_path / "s.db")
    assert request["status"] == 408 and request["body"] == b'{"batch": ['


def test_remote_bind_needs_allow_remote(tmp_path: Path) -> None:
    """--host 0.0.0.0 without --allow-remote is refused (usage error) before anything listens."""
    from tests.helpers import run_segdbg

    result = run_segdbg("serve", "--headless", "--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "r.db"))
    assert result.returncode == 2 and "--allow-remote" in result.stderr
    assert not (tmp_path / "r.db").exists()


def test_write_key_allowlist_on_a_running_server(tmp_path: Path) -> None:
    """serve --write-key K: K is stored, any other key is a 400 and recorded."""
    from tests.helpers import requests_rows

    server = ServeProcess(tmp_path / "w.db", "--write-key", "mine", "--write-key", "also-mine")
    try:
        assert http(f"{server.url}/v1/track", body={"writeKey": "mine", "userId": "u", "event": "E"}).status == 200
        rejected = http(f"{server.url}/v1/track", body={"writeKey": "stranger", "userId": "u", "event": "E"})
        assert rejected.status == 400 and rejected.json()["code"] == "invalid_write_key"
    finally:
        _, _, err = server.stop()
    assert "Accepting only write keys: also-mine, mine" in err
    assert [(e["write_key"], e["status"]) for e in events(tmp_path / "w.db")] == [
        ("mine", "ok"),
        ("stranger", "rejected"),
    ]
    assert [r["status"] for r in requests_rows(tmp_path / "w.db")] == [200, 400]


def test_a_client_that_disconnects_mid_body_is_recorded(server: ServerThread) -> None:
    """The connection closes half-way through the body: nothing crashes, what arrived is kept."""
    import socket
    import time

    from tests.helpers import requests_rows

    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b'{"batch":[')
    deadline = time.monotonic() + 10
    while not requests_rows(server.settings.db) and time.monotonic() < deadline:
        time.sleep(0.02)
    [request] = requests_rows(server.settings.db)
    assert (request["status"], request["code"], request["body"]) == (400, "client_disconnected", b'{"batch":[')


def test_a_full_database_answers_503_and_recovers(tmp_path: Path) -> None:
    """Disk full (max_page_count): 503 store_unavailable with Retry-After, no corruption; later writes land."""
    from debugger.server.app import ServerThread
    from debugger.server.settings import Settings

    db = tmp_path / "full.db"
    big = {
        "writeKey": "k",
        "batch": [
            {"type": "track", "userId": "u", "event": "E", "properties": {"blob": "x" * 20_000}} for _ in range(20)
        ],
    }
    with ServerThread(Settings(db=db, port=0, max_pages=60)) as server:
        answers = [http(f"{server.url}/v1/batch", body=big) for _ in range(5)]
        assert answers[-1].status == 503
        assert answers[-1].json()["code"] == "store_unavailable" and "full" in answers[-1].json()["message"]
        assert answers[-1].headers["retry-after"] == "1"
        small = http(f"{server.url}/v1/track", body={"writeKey": "k", "userId": "u", "event": "Small"})
    acked = sum(a.status == 200 for a in answers) * 20 + (small.status == 200)
    assert len(events(db)) == acked
    assert integrity(db) == "ok"


def test_a_database_locked_by_another_process_answers_503(tmp_path: Path) -> None:
    """Another process holds the write lock past the timeout: 503, then normal service once released."""
    import sqlite3

    from debugger.server.app import ServerThread
    from debugger.server.settings import Settings

    db = tmp_path / "locked.db"
    with ServerThread(Settings(db=db, port=0, lock_timeout=0.2)) as server:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        blocked = http(f"{server.url}/v1/track", body={"writeKey": "k", "userId": "u", "event": "Blocked"})
        other.execute("ROLLBACK")
        other.close()
        after = http(f"{server.url}/v1/track", body={"writeKey": "k", "userId": "u", "event": "After"})
    assert blocked.status == 503 and "locked" in blocked.json()["message"]
    assert after.status == 200
    assert [e["name"] for e in events(db)] == ["After"] and integrity(db) == "ok"
