"""A fault harness: SIGKILL a real `segdbg serve` at random points under mixed load, restart it, repeat.

Shared by ``tests/test_faults.py`` (a few kills, inside the suite's time budget) and
``bench/faults.py`` (as many as you like, by hand). The claim it checks: every event that was
answered 200 is in the database after any number of kills, and the file stays sound.
"""

from __future__ import annotations

import gzip
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from tests.helpers import ServeProcess, events, http, integrity


@dataclass
class FaultReport:
    """What a harness run did and found."""

    kills: int = 0
    requests: int = 0
    acknowledged: set[str] = field(default_factory=set)
    lost: set[str] = field(default_factory=set)
    integrity: str = ""

    def summary(self) -> str:
        """The one line for docs/performance.md."""
        return f"{self.kills} kills, {len(self.acknowledged):,} acknowledged events, {len(self.lost)} lost, integrity {self.integrity}"


def _sender(
    url: str, prefix: str, kind: str, acked: set[str], lock: threading.Lock, stop: threading.Event, counter: list[int]
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        if kind == "single":
            ids = [f"{prefix}-{n}"]
            body = orjson.dumps(
                {"writeKey": "faults", "type": "track", "event": "Tick", "userId": "u", "messageId": ids[0]}
            )
            path, headers = "/v1/track", {}
        else:
            ids = [f"{prefix}-{n}-{i}" for i in range(50)]
            batch = [
                {"type": "identify", "userId": f"u{i}", "traits": {"n": n}, "messageId": m} for i, m in enumerate(ids)
            ]
            body = orjson.dumps({"writeKey": "faults", "batch": batch, "sentAt": "2026-01-01T00:00:00Z"})
            path, headers = "/v1/batch", {}
            if kind == "gzip":
                body, headers = gzip.compress(body), {"Content-Encoding": "gzip"}
        try:
            reply = http(url + path, body=body, headers=headers, timeout=5)
        except OSError:
            return  # the server is gone: this request was never acknowledged
        with lock:
            counter[0] += 1
            if reply.status == 200:
                acked.update(ids)


def run(db: Path, *, kills: int, seed: int, min_delay: float = 0.2, max_delay: float = 1.0) -> FaultReport:
    """Kill and restart the server ``kills`` times under load; then check every acknowledged event."""
    rng = random.Random(seed)
    report = FaultReport()
    lock = threading.Lock()
    counter = [0]
    for round_number in range(kills):
        server = ServeProcess(db, "--quiet")
        stop = threading.Event()
        kinds = ("single", "batch", "gzip", "single")
        threads = [
            threading.Thread(
                target=_sender,
                args=(server.url, f"r{round_number}-t{i}", kind, report.acknowledged, lock, stop, counter),
            )
            for i, kind in enumerate(kinds)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(min_delay, max_delay))
        server.stop(signal.SIGKILL)
        report.kills += 1
        stop.set()
        for thread in threads:
            thread.join(10)
    final = ServeProcess(db, "--quiet")  # recovery on restart, then a clean stop
    final.stop()
    report.requests = counter[0]
    stored = {e["message_id"] for e in events(db)}
    report.lost = report.acknowledged - stored
    report.integrity = integrity(db)
    return report
