"""`segdbg replay --resume`: a run that stopped (failures, Ctrl-C, a kill) continues without re-sending
what it recorded as delivered; what it refuses and why."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.core.protocol import Envelope, build_event
from debugger.core.replay.planning import DEFAULT_BATCH_SIZE
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from debugger.store import capture, index, runs
from debugger.store import writer as store_writer
from debugger.store.clock import now_utc
from tests.helpers import events
from tests.sinks import Reply, ScriptedTarget

FAIL = Reply(500, b'{"success":false}')


def _capture(path: Path, count: int, key: str = "wk") -> None:
    writer = store_writer.EventWriter(path).start()
    batch = [
        build_event(
            {"type": "track", "event": f"E{i}", "userId": "u", "messageId": f"m{i}"},
            Envelope(write_key=key, received_at=now_utc()),
            new_id=lambda: "x",
        )
        for i in range(count)
    ]
    writer.submit(None, batch).result(timeout=30)
    writer.close()


def replay(db: Path, *args: str) -> Result:
    """`segdbg replay --db DB ARGS` in-process, no retries."""
    return CliRunner().invoke(cli, ["replay", "--db", str(db), "--retries", "0", *args], catch_exceptions=False)


def _sent_ids(target: ScriptedTarget, start: int = 0) -> list[str]:
    return [m["messageId"] for a in target.arrivals[start:] for m in a.body["batch"]]


def _run(db: Path, run_id: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with capture.reader(db) as conn:
        run = runs.get_run(conn, run_id) if run_id else runs.list_runs(conn)[0]
        assert run is not None
        return run, list(runs.iter_deliveries(conn, run["id"]))


def _forget(db: Path, run_id: int, keep: int, pid: int) -> None:
    """What a SIGKILL leaves: the run still `running` (by a dead process), only ``keep`` deliveries recorded."""
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM deliveries WHERE run_id = ? AND seq >= ?", (run_id, keep))
        conn.execute("UPDATE runs SET status = 'running', finished_at = NULL, pid = ? WHERE id = ?", (pid, run_id))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def test_resume_sends_only_what_was_not_delivered(tmp_path: Path) -> None:
    """A run that failed half-way: --resume sends the failed events only, in order, and the run ends
    delivered with one delivery per event and unique sequence numbers."""
    db = tmp_path / "c.db"
    _capture(db, 50)
    with ScriptedTarget([Reply(), Reply(), FAIL]) as target:
        first = replay(db, "--to", target.url, "--batch-size", "10")
        assert first.exit_code == 3
        assert len(_sent_ids(target)) == 50
        target.script = (Reply(),)
        seen = len(target.arrivals)
        resumed = replay(db, "--resume")
        assert resumed.exit_code == 0, resumed.output
        assert "Resuming run #1" in resumed.output
        assert _sent_ids(target, seen) == [f"m{i}" for i in range(20, 50)]
    run, deliveries = _run(db)
    assert (run["status"], run["delivered"], run["failed"], run["total"]) == ("delivered", 50, 0, 50)
    assert sorted(d["event_id"] for d in deliveries) == list(range(1, 51))
    assert len({d["seq"] for d in deliveries}) == 50
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert replay(db, "--resume").output.strip().endswith("already delivered every event; nothing to resume.")


def test_a_killed_run_resumes_with_the_same_new_message_ids(tmp_path: Path) -> None:
    """--new-message-ids: an event acknowledged but not yet recorded when the run was killed is sent again
    with the id it had (the target de-duplicates it); nothing recorded as delivered is sent again."""
    db = tmp_path / "c.db"
    _capture(db, 30)
    with ServerThread(Settings(db=tmp_path / "target.db", port=0)) as target:
        assert replay(db, "--to", target.url, "--batch-size", "5", "--new-message-ids").exit_code == 0
        first_ids = {e["message_id"] for e in events(target.settings.db)}
        _forget(db, 1, keep=12, pid=_dead_pid())  # 12 recorded; 18 acknowledged but "lost" by the kill
        resumed = replay(db, "--resume", "1")
        assert resumed.exit_code == 0, resumed.output
        stored = events(target.settings.db)
    copies = Counter(e["message_id"] for e in stored)
    assert set(copies) == first_ids  # the same 30 ids: no new id for a re-sent event
    _, deliveries = _run(db)
    recorded_first = {d["sent_message_id"] for d in deliveries if d["seq"] < 12}
    assert all(copies[m] == 1 for m in recorded_first)  # recorded as delivered: sent once
    assert sum(1 for n in copies.values() if n == 2) == 18  # the window: sent twice, second is a duplicate
    assert Counter(e["status"] for e in stored) == {"ok": 30, "duplicate": 18}


def test_events_stored_after_the_run_started_are_not_part_of_it(tmp_path: Path) -> None:
    """A capture that keeps growing (a live server): resuming covers the events the run was started on."""
    db = tmp_path / "c.db"
    _capture(db, 10)
    with ScriptedTarget([Reply(), FAIL]) as target:
        assert replay(db, "--to", target.url, "--batch-size", "5").exit_code == 3
        _capture(db, 5)  # ids 11-15 arrive later
        target.script = (Reply(),)
        seen = len(target.arrivals)
        assert replay(db, "--resume").exit_code == 0
        assert _sent_ids(target, seen) == [f"m{i}" for i in range(5, 10)]


def test_resume_reads_free_text_and_relative_times_as_the_run_did(tmp_path: Path) -> None:
    """A run of `zebra after:1h` over a half-indexed capture: resuming sends exactly the matching events
    it had not delivered, in order (indexed and not-yet-indexed alike), and none stored later."""
    db = tmp_path / "c.db"
    writer = store_writer.EventWriter(db).start()

    def add(first: int, count: int) -> None:
        batch = [
            build_event(
                {
                    "type": "track",
                    "event": f"{'Zebra' if i % 2 else 'Plain'} Seen",
                    "userId": "u",
                    "messageId": f"m{i}",
                },
                Envelope(write_key="wk", received_at=now_utc()),
                new_id=lambda: "x",
            )
            for i in range(first, first + count)
        ]
        writer.submit(None, batch).result(timeout=30)

    add(0, 30)
    writer.close()
    with closing(sqlite3.connect(db)) as conn, conn:
        index.Indexer(step=20, rows_per_commit=20)(conn, lambda: True)  # m0-m19 indexed, m20-m29 not yet
        assert index.index_state(conn).watermark == 20  # type: ignore[union-attr]
    with ScriptedTarget([Reply(), FAIL]) as target:
        assert replay(db, "--to", target.url, "--batch-size", "4", "zebra", "after:1h").exit_code == 3
        assert _sent_ids(target)[:4] == ["m1", "m3", "m5", "m7"]
        writer = store_writer.EventWriter(db).start()
        add(30, 6)  # stored after the run started
        writer.close()
        target.script = (Reply(),)
        seen = len(target.arrivals)
        assert replay(db, "--resume").exit_code == 0
        assert _sent_ids(target, seen) == [f"m{i}" for i in range(9, 30, 2)]


def test_resume_with_dry_run_shows_what_is_left(tmp_path: Path) -> None:
    """--resume --dry-run prints the requests that would continue the run and sends nothing."""
    db = tmp_path / "c.db"
    _capture(db, 10)
    with ScriptedTarget([Reply(), FAIL]) as target:
        replay(db, "--to", target.url, "--batch-size", "4")
        seen = len(target.arrivals)
        result = replay(db, "--resume", "--dry-run")
        assert len(target.arrivals) == seen
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [m["messageId"] for line in lines for m in line["body"]["batch"]] == [f"m{i}" for i in range(4, 10)]


def test_resume_refuses_what_it_cannot_continue(tmp_path: Path) -> None:
    """No run, a run being sent by a live process, extra options, a missing or different write key: a clear error."""
    db = tmp_path / "c.db"
    _capture(db, 4)
    assert "no replay run 'last'" in replay(db, "--resume").output
    with ScriptedTarget([FAIL]) as target:
        assert replay(db, "--to", target.url, "--write-key", "wk_staging").exit_code == 3
        missing = replay(db, "--resume")
        assert missing.exit_code == 1 and "give the same --write-key" in missing.output
        wrong = replay(db, "--resume", "--write-key", "other")
        assert wrong.exit_code == 1 and "not the --write-key run #1 was sent with" in wrong.output
        extra = replay(db, "--resume", "--rate", "5", "type:track")
        assert extra.exit_code == 2 and "drop QUERY, --rate" in extra.output
        with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as other:
            try:
                with sqlite3.connect(db) as conn:
                    conn.execute("UPDATE runs SET status = 'running', pid = ? WHERE id = 1", (other.pid,))
                busy = replay(db, "--resume", "--write-key", "wk_staging")
                assert busy.exit_code == 1 and f"still being sent by process {other.pid}" in busy.output
            finally:
                other.kill()
        target.script = (Reply(),)
        ok = replay(db, "--resume", "--write-key", "wk_staging")
        assert ok.exit_code == 0, ok.output
        assert target.arrivals[-1].body["writeKey"] == "wk_staging"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET resume = NULL")
        conn.execute("UPDATE deliveries SET status = 'failed'")
    old = replay(db, "--resume", "--write-key", "wk_staging")
    assert old.exit_code == 1 and "older segdbg" in old.output


def test_the_run_records_who_sends_it_and_how_to_resume(tmp_path: Path) -> None:
    """runs.pid is the sending process; runs.resume holds the bounded selection and options, no write key."""
    db = tmp_path / "c.db"
    _capture(db, 3)
    with ScriptedTarget([Reply()]) as target:
        replay(db, "--to", target.url, "--write-key", "secret-key", "type:track")
    with sqlite3.connect(db) as conn:
        pid, resume = conn.execute("SELECT pid, resume FROM runs").fetchone()
    assert pid == os.getpid()
    assert "secret-key" not in resume
    spec = orjson.loads(resume)
    assert spec["upto"] == 3 and spec["selection"]["upto"] == 3
    assert spec["selection"]["query"] == "type:track" and spec["selection"]["statuses"] == ["ok"]
    assert datetime.fromisoformat(spec["selection"]["now"]).tzinfo is not None  # what after:1h counts from
    assert spec["options"]["batch_size"] == DEFAULT_BATCH_SIZE and spec["write_key"]


@pytest.mark.parametrize("name", ["replay"])
def test_resume_is_in_help_and_readme(name: str) -> None:
    """--resume is in `replay --help` (with examples) and in the README."""
    from tests.helpers import ROOT

    help_text = CliRunner().invoke(cli, [name, "--help"]).output
    assert "--resume" in help_text and "segdbg replay --resume" in help_text
    assert "segdbg replay --resume" in (ROOT / "README.md").read_text()
