"""The capture file's helpers (debugger.store.capture): bulk inserts and the start-up integrity check; and the rows the
single writer (debugger.store.writer, debugger.store.rows) commits."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from debugger.core.http import wire
from debugger.core.http.model import IncomingRequest, Outcome
from debugger.core.protocol import Envelope, build_event
from debugger.store import capture
from debugger.store.rows import write_error
from debugger.store.writer import EventWriter

INSERT = "INSERT INTO t (a, b, c) VALUES (?,?,?)"


@pytest.mark.parametrize("count", [0, 1, capture.BULK_ROWS - 1, capture.BULK_ROWS, capture.BULK_ROWS + 1, 250])
def test_insert_many_stores_exactly_what_executemany_would(count: int) -> None:
    """Multi-row statements across chunk boundaries: the same rows, in order, NULLs and bytes included."""
    rows = [(n, None if n % 3 else f"v{n}", bytes([n % 256])) for n in range(count)]
    bulk, plain = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for conn in (bulk, plain):
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c BLOB)")
    capture.insert_many(bulk, INSERT, rows)
    plain.executemany(INSERT, rows)
    query = "SELECT id, a, b, c FROM t ORDER BY id"
    assert bulk.execute(query).fetchall() == plain.execute(query).fetchall()
    assert len(bulk.execute(query).fetchall()) == count


def test_integrity_check_passes_a_sound_capture_and_skips_a_big_one(tmp_path: Path) -> None:
    """A sound capture is checked and passes; one over the size budget is not checked (start-up stays fast)."""
    path = tmp_path / "c.db"
    capture.migrate(path)
    assert capture.check_integrity(path) is True
    assert capture.check_integrity(path, max_bytes=10) is False
    assert capture.check_integrity(tmp_path / "new.db") is False  # nothing there yet: nothing to check


def test_a_failed_write_says_what_the_client_and_the_user_can_do(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    locked = write_error(path, sqlite3.OperationalError("database is locked"))
    assert locked == f"{path} is locked by another process; the client should retry (database is locked)."
    assert write_error(path, sqlite3.OperationalError("database is busy")).startswith(f"{path} is locked")
    assert write_error(path, sqlite3.OperationalError("database or disk is full")) == (
        f"{path}: the disk (or the capture's size limit) is full; free space and the client's retry will land."
    )
    assert write_error(path, ValueError("boom")) == f"could not write to {path}: boom"


# --- the single writer's rows -----------------------------------------------------------------------


def _outcome(body: bytes, at: datetime, key: str = "w") -> Outcome:
    headers = (("Authorization", "Basic " + base64.b64encode(f"{key}:".encode()).decode()),)
    request = IncomingRequest(method="POST", path="/v1/batch", body=body, headers=headers)
    return wire.handle(request, received_at=at, new_id=lambda: "generated")


def test_each_request_row_counts_its_messages_and_each_source_its_traffic(tmp_path: Path) -> None:
    t0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    batch = b'{"batch":[{"type":"track","event":"A","userId":"u"},{"type":"track","userId":"u"},{"type":"page"}]}'
    writer = EventWriter(tmp_path / "c.db").start()
    try:
        first = _outcome(batch, t0)
        assert writer.submit(first.record, first.events).result(timeout=10).request_id == 1
        bad = _outcome(b"{oops", t0 + timedelta(seconds=5))
        writer.submit(bad.record, bad.events).result(timeout=10)
        pasted = build_event({"type": "track", "event": "P", "userId": "u"}, Envelope("w", t0 + timedelta(seconds=9)),
                             new_id=lambda: "p")  # fmt: skip
        assert writer.submit(None, [pasted]).result(timeout=10).request_id is None
    finally:
        writer.close()
    with capture.reader(tmp_path / "c.db") as conn:
        # Three messages arrived in the batch (two invalid), none in the refused request.
        assert conn.execute("SELECT id, status, event_count FROM requests ORDER BY id").fetchall() == [
            (1, 200, 3),
            (2, 400, 0),
        ]
        rows = conn.execute("SELECT request_id, status FROM events ORDER BY id").fetchall()
        assert rows == [(1, "ok"), (1, "invalid"), (1, "invalid"), (2, "rejected"), (None, "ok")]
        assert conn.execute("SELECT typeof(request_id) FROM events WHERE id = 5").fetchone() == ("null",)
        # The refused request's body never parsed, but its Basic header named the source: counted there, its
        # rejected row too (docs/protocol.md §3.4), so the source's traffic includes what it sent and was refused.
        assert conn.execute("SELECT first_seen, last_seen, event_count, request_count FROM sources").fetchall() == [
            ("2026-12-06T10:00:00.000Z", "2026-12-06T10:00:09.000Z", 5, 2)
        ]


def test_a_call_runs_in_one_transaction_unless_it_manages_its_own(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path / "c.db").start()
    try:
        assert writer.call(lambda conn: conn.in_transaction).result(timeout=10) is True
        assert writer.call(lambda conn: conn.in_transaction, transaction=False).result(timeout=10) is False

        def fails(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO sources (write_key, first_seen, last_seen) VALUES ('x', 'a', 'b')")
            raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            writer.call(fails).result(timeout=10)
        assert writer.call(lambda conn: conn.execute("SELECT count(*) FROM sources").fetchone()[0]).result(10) == 0
    finally:
        writer.close()


def test_a_failing_idle_task_rolls_back_and_ingest_goes_on(tmp_path: Path) -> None:
    calls: list[int] = []

    def idle(conn: sqlite3.Connection, busy: object) -> bool:
        calls.append(1)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO sources (write_key, first_seen, last_seen) VALUES ('idle', 'a', 'b')")
        raise RuntimeError("index broke")

    writer = EventWriter(tmp_path / "c.db", idle_task=idle).start()
    try:
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:  # it runs once the queue is quiet
            time.sleep(0.01)
        assert calls
        outcome = _outcome(b'{"batch":[{"type":"track","event":"A","userId":"u"}]}', datetime(2026, 1, 1, tzinfo=UTC))
        assert writer.submit(outcome.record, outcome.events).result(timeout=10).statuses == ("ok",)
        keys = writer.call(lambda conn: [r[0] for r in conn.execute("SELECT write_key FROM sources")]).result(10)
        assert keys == ["w"]  # the idle task's insert was rolled back, the request's committed
    finally:
        writer.close()


def _big_batch(n: int) -> Outcome:
    items = ",".join(
        f'{{"type":"track","event":"E","userId":"u","properties":{{"p":"{"x" * 20_000}{i}"}}}}' for i in range(n)
    )
    return _outcome(f'{{"batch":[{items}]}}'.encode(), datetime(2026, 1, 1, tzinfo=UTC))


def test_a_capture_at_its_size_cap_answers_with_an_error_not_a_lost_write(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    capture.migrate(path)
    with capture.reader(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    writer = EventWriter(path, max_pages=pages + 20).start()
    try:
        outcome = _big_batch(20)
        with pytest.raises(capture.StoreError, match="full"):
            writer.submit(outcome.record, outcome.events).result(timeout=10)
    finally:
        writer.close()


async def test_a_failed_write_reaches_the_waiting_request_on_its_loop(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    capture.migrate(path)
    with capture.reader(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    writer = EventWriter(path, max_pages=pages + 20).start()
    try:
        outcome = _big_batch(20)
        with pytest.raises(capture.StoreError, match="full"):
            await asyncio.wait_for(writer.write(outcome.record, outcome.events), timeout=10)
    finally:
        writer.close()


def test_jobs_queued_before_a_call_are_committed_first_and_all_answered(tmp_path: Path) -> None:
    """A call (maintenance) arriving while a group is being gathered ends the group: its jobs commit, then the call
    runs, then the jobs behind it."""
    writer = EventWriter(tmp_path / "c.db").start()
    try:
        busy = writer.call(lambda conn: time.sleep(0.2), transaction=False)  # the queue fills meanwhile
        batch = '{{"batch":[{{"type":"track","event":"A","userId":"u","messageId":"m{}"}}]}}'
        before = [_outcome(batch.format(i).encode(), datetime(2026, 1, 1, tzinfo=UTC)) for i in range(3)]
        first = [writer.submit(o.record, o.events) for o in before]
        count = writer.call(lambda conn: conn.execute("SELECT count(*) FROM events").fetchone()[0])
        after = writer.submit(before[0].record, before[0].events)
        busy.result(timeout=10)
        assert [f.result(timeout=10).statuses for f in first] == [("ok",), ("ok",), ("ok",)]
        assert count.result(timeout=10) == 3
        assert after.result(timeout=10).request_id == 4
    finally:
        writer.close()
