"""Acknowledged means stored: SIGKILL mid-stream loses nothing that was answered 200; SIGTERM drains."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import orjson
import pytest

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
    while sum(len(a) for a in acked) < 3000:
        threads[0].join(0.05)
    server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(10)
    acknowledged = {m for a in acked for m in a}
    assert len(acknowledged) >= 3000

    restarted = ServeProcess(db, "--quiet")
    try:
        assert http(f"{restarted.url}/v1/track", body={"writeKey": "crash", "userId": "u", "event": "After"}).status == 200
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
