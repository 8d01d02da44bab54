"""A fault harness for `segdbg replay`: SIGKILL the replay process at random points while it sends
into a second real segdbg server, `--resume` it, repeat until the run is done.

Shared by ``tests/test_replay_faults.py`` (a few kills, inside the suite's time budget) and
``bench/replay_faults.py`` (as many as you like, by hand). The claims it checks:

- every event of the capture arrives at the target;
- nothing recorded as delivered is sent again: before each resume the harness notes which
  events the capture records as delivered and how many copies of each the target holds; after
  it, none of those has a new copy;
- events the target acknowledged just before a kill, not yet recorded, may arrive twice with
  the same messageId (the at-least-once window): counted, and the target marks them duplicate;
- the capture passes ``integrity_check`` and the run ends ``delivered``, one row per event.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from debugger.core.protocol import Envelope, build_event
from debugger.store import writer as store_writer
from tests.helpers import ServeProcess, cli_env, integrity


@dataclass
class ReplayFaultReport:
    """What a harness run did and found."""

    kills: int = 0
    resumes: int = 0
    events: int = 0
    delivered: int = 0
    arrived: int = 0
    resent_after_recorded: set[str] = field(default_factory=set)
    window: int = 0  # events sent again because the kill came between the answer and the record
    missing: set[str] = field(default_factory=set)
    integrity: str = ""
    status: str = ""
    delivery_rows: int = 0

    def summary(self) -> str:
        """The one line for docs/performance.md."""
        return (
            f"{self.kills} kills, {self.delivered:,} delivered, {len(self.resent_after_recorded)} re-sent-after-recorded"
            f" ({self.window} re-sent in the at-least-once window, deduplicated by messageId), "
            f"{len(self.missing)} missing, integrity {self.integrity}"
        )


def make_capture(path: Path, count: int, seed: int) -> None:
    """``count`` track events (ids m0…) in a fresh capture, written like the server writes them."""
    rng = random.Random(seed)
    writer = store_writer.EventWriter(path).start()
    try:
        for start in range(0, count, 500):
            batch = [
                build_event(
                    {
                        "type": "track",
                        "event": f"E{rng.randrange(20)}",
                        "userId": f"u{rng.randrange(300)}",
                        "messageId": f"m{i}",
                        "properties": {"n": i, "pad": "x" * rng.randrange(200)},
                    },
                    Envelope(write_key="wk_faults", received_at=datetime.now(UTC)),
                    new_id=lambda: "x",
                )
                for i in range(start, min(count, start + 500))
            ]
            writer.submit(None, batch).result(timeout=30)
    finally:
        writer.close()


def _copies(target_db: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{target_db}?mode=ro", uri=True)
    try:
        return Counter(r[0] for r in conn.execute("SELECT message_id FROM events"))
    except sqlite3.OperationalError:  # the target has not created its tables yet
        return Counter()
    finally:
        conn.close()


def _recorded(source: Path) -> set[str]:
    conn = sqlite3.connect(source)
    try:
        return {r[0] for r in conn.execute("SELECT message_id FROM deliveries WHERE status = 'delivered'")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def _started(source: Path, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait until ``proc`` owns the newest run (it has planned and begun sending); ``False`` if it exited first."""
    while time.monotonic() < deadline and proc.poll() is None:
        conn = sqlite3.connect(source)
        try:
            row = conn.execute("SELECT pid FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            row = None
        finally:
            conn.close()
        if row is not None and row[0] == proc.pid:
            return True
        time.sleep(0.01)
    return False


def _has_run(source: Path) -> bool:
    conn = sqlite3.connect(source)
    try:
        return conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None
    finally:
        conn.close()


def _replay(source: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "debugger", "replay", "--db", str(source), *args],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run(
    workdir: Path,
    *,
    events: int,
    kills: int,
    seed: int,
    rate: float = 3000.0,
    min_delay: float = 0.0,
    max_delay: float = 0.8,
    timeout: float = 180.0,
) -> ReplayFaultReport:
    """Replay ``events`` events at ``rate``/s into a real target, killing the replay ``kills`` times
    (a random moment each, first run and resumes alike), resuming until the run completes."""
    rng = random.Random(seed)
    source, target_db = workdir / "source.db", workdir / "target.db"
    make_capture(source, events, seed)
    report = ReplayFaultReport(events=events)
    target = ServeProcess(target_db, "--quiet")
    deadline = time.monotonic() + timeout
    try:
        proc = _replay(source, "--to", target.url, "--rate", str(rate), "--batch-size", "20")
        snapshot: tuple[set[str], Counter[str]] | None = None  # before the running resume: recorded, copies
        while True:
            if report.kills < kills and _started(source, proc, deadline):
                try:  # a random moment while it sends (process start-up time varies with the machine's load)
                    proc.wait(rng.uniform(min_delay, max_delay))
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    report.kills += 1
            proc.wait(max(1.0, deadline - time.monotonic()))
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
            if snapshot is not None:
                recorded, before = snapshot
                after = _copies(target_db)
                report.resent_after_recorded |= {m for m in recorded if after[m] > before[m]}
            if proc.returncode == 0:
                break
            if proc.returncode != -signal.SIGKILL or time.monotonic() > deadline:
                raise RuntimeError(f"replay exited {proc.returncode}: {err}")
            snapshot = (_recorded(source), _copies(target_db))
            if _has_run(source):
                report.resumes += 1
                proc = _replay(source, "--resume")
            else:  # killed before the run was recorded: nothing was sent, start it again
                proc = _replay(source, "--to", target.url, "--rate", str(rate), "--batch-size", "20")
    finally:
        target.stop()
    copies = _copies(target_db)
    report.arrived = len(copies)
    report.window = sum(n - 1 for n in copies.values() if n > 1)
    report.missing = {f"m{i}" for i in range(events)} - set(copies)
    report.integrity = integrity(source)
    conn = sqlite3.connect(source)
    try:
        report.status = conn.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
        report.delivered = conn.execute(
            "SELECT count(DISTINCT event_id) FROM deliveries WHERE status = 'delivered'"
        ).fetchone()[0]
        report.delivery_rows = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    finally:
        conn.close()
    return report
