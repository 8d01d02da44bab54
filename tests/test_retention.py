"""Retention: what --max-events/--max-age delete, what they keep consistent, and that the writer does it on idle time."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from debugger.core.protocol import Envelope, Event, build_event
from debugger.core.query import language as q
from debugger.core.timefmt import format_timestamp
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from debugger.store import capture, index, reads
from debugger.store import writer as store_writer
from debugger.store.retention import Chain, Policy, Retention, apply, describe_age, horizon, parse_age
from tests.helpers import http, integrity, request_record

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _event(n: int, received: datetime, *, key: str = "wk", message_id: str | None = None, word: str = "plain") -> Event:
    message = {
        "type": "track",
        "event": f"E{n}",
        "userId": "u",
        "messageId": message_id or f"m{n}",
        "properties": {"word": word},
    }
    return build_event(message, Envelope(write_key=key, received_at=received), new_id=lambda: "x")


def _fill(
    path: Path,
    requests: int,
    per_request: int,
    *,
    start: datetime = NOW,
    step: timedelta = timedelta(minutes=1),
    indexer: Any = None,
    word: Any = None,
) -> None:
    """``requests`` requests of ``per_request`` events each, one a minute apart, oldest first."""
    writer = store_writer.EventWriter(path, idle_task=indexer).start()
    n = 0
    try:
        for r in range(requests):
            at = start + step * r
            events = []
            for _ in range(per_request):
                n += 1
                events.append(_event(n, at, word=word(n) if word else "plain"))
            writer.submit(request_record(at), events).result(timeout=30)
    finally:
        writer.close()


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A capture of 10 requests × 10 events, 1 minute apart, read and written directly."""
    path = tmp_path / "c.db"
    _fill(path, 10, 10)
    connection = capture.connect(path)
    yield connection
    connection.close()


def _ids(conn: sqlite3.Connection, table: str = "events") -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def _pin(conn: sqlite3.Connection, *ids: int) -> None:
    conn.executemany("UPDATE events SET pinned = 1 WHERE id = ?", [(i,) for i in ids])


def test_max_events_keeps_the_newest_n_plus_every_pinned_event(conn: sqlite3.Connection) -> None:
    """--max-events 25: the newest 25 events stay, and so do pinned ones however old; the rest go."""
    _pin(conn, 3, 50)
    deleted, _ = apply(conn, Policy(max_events=25), NOW, step=7)
    assert _ids(conn) == [3, 50, *range(76, 101)]
    assert deleted == 100 - 27
    assert conn.execute("SELECT count(*) FROM events WHERE pinned = 1").fetchone()[0] == 2


def test_a_request_stays_while_any_of_its_events_remains(conn: sqlite3.Connection) -> None:
    """Requests whose events all went are deleted; a pinned event keeps its request (its HTTP view) and so
    does a request only partly past the edge; a rejected request (no events) older than the edge goes."""
    writer = store_writer.EventWriter(Path(conn.execute("PRAGMA database_list").fetchone()[2])).start()
    writer.submit(request_record(NOW + timedelta(minutes=10), status=400), []).result(
        timeout=30
    )  # request 11, rejected
    writer.submit(
        request_record(NOW + timedelta(minutes=11)), [_event(101 + i, NOW + timedelta(minutes=11)) for i in range(5)]
    ).result(timeout=30)
    writer.close()
    _pin(conn, 15)  # request 2
    apply(conn, Policy(max_events=8), NOW)  # keeps 98..105: 3 of request 10, 5 of request 12
    assert _ids(conn) == [15, *range(98, 106)]
    assert _ids(conn, "requests") == [2, 10, 11, 12]  # 11 is newer than the oldest event kept
    apply(conn, Policy(max_events=5), NOW)
    assert _ids(conn) == [15, *range(101, 106)]
    assert _ids(conn, "requests") == [2, 12]
    assert reads.get_request(conn, 2) is not None


def test_sources_count_what_the_capture_holds(conn: sqlite3.Connection) -> None:
    """A source's event and request counts go down with the rows; its first/last seen and label are history."""
    conn.execute("UPDATE sources SET label = 'Web'")
    apply(conn, Policy(max_events=30), NOW)
    key, label, events, requests, first_seen = conn.execute(
        "SELECT write_key, label, event_count, request_count, first_seen FROM sources"
    ).fetchone()
    assert (key, label, events, requests) == ("wk", "Web", 30, 3)
    assert first_seen == format_timestamp(NOW)
    assert events == conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert requests == conn.execute("SELECT count(*) FROM requests").fetchone()[0]


def test_a_duplicate_loses_its_pointer_when_its_first_copy_goes(tmp_path: Path) -> None:
    """duplicate_of never points at nothing: cleared when the first copy is deleted, kept when it is pinned."""
    path = tmp_path / "d.db"
    writer = store_writer.EventWriter(path).start()
    at = NOW
    for n, mid in enumerate(["a", "b", "x1", "x2", "a", "b"], start=1):
        writer.submit(request_record(at), [_event(n, at, message_id=mid)]).result(timeout=30)
    writer.close()
    conn = capture.connect(path)
    assert conn.execute("SELECT id, duplicate_of FROM events WHERE status = 'duplicate' ORDER BY id").fetchall() == [
        (5, 1),
        (6, 2),
    ]
    _pin(conn, 2)
    apply(conn, Policy(max_events=3), NOW)  # 1 goes, 2 is pinned
    assert conn.execute("SELECT id, status, duplicate_of FROM events ORDER BY id").fetchall() == [
        (2, "ok", None),
        (4, "ok", None),
        (5, "duplicate", None),
        (6, "duplicate", 2),
    ]
    problems = reads.from_row(
        conn.execute(f"SELECT {', '.join(reads.EVENT_COLUMNS)} FROM events WHERE id = 5").fetchone()
    )["problems"]
    assert problems[0]["code"] == "duplicate_message_id"  # still says why Segment would drop it
    conn.close()


def test_max_age_deletes_what_is_older_than_the_duration(tmp_path: Path) -> None:
    """--max-age 1h at 12:00 deletes events received before 11:00, pinned ones excepted."""
    path = tmp_path / "a.db"
    _fill(path, 10, 2, start=NOW - timedelta(minutes=150), step=timedelta(minutes=15))  # 9:30 … 11:45
    conn = capture.connect(path)
    _pin(conn, 1)
    apply(conn, Policy(max_age=timedelta(hours=1)), NOW)
    times = [r[0][11:16] for r in conn.execute("SELECT received_at FROM events ORDER BY id")]
    assert times == ["09:30", "11:00", "11:00", "11:15", "11:15", "11:30", "11:30", "11:45", "11:45"]
    apply(conn, Policy(max_age=timedelta(hours=1)), NOW + timedelta(days=1))  # everything old now
    assert _ids(conn) == [1]
    assert _ids(conn, "requests") == [1]
    conn.close()


def test_both_limits_apply_and_the_stricter_wins(conn: sqlite3.Connection) -> None:
    """--max-events and --max-age together: an event must satisfy both to stay."""
    edge = horizon(conn, Policy(max_events=50, max_age=timedelta(minutes=3)), NOW + timedelta(minutes=10))
    assert edge.events == 71  # the last 3 minutes (requests 8-10) is stricter than the newest 50
    assert horizon(conn, Policy(max_events=5, max_age=timedelta(minutes=3)), NOW + timedelta(minutes=10)).events == 96


def test_stale_index_entries_never_show_and_vacuum_rebuild_drops_them(tmp_path: Path) -> None:
    """Deleted events stay in the contentless index as stale entries: searches never return them, the
    stale count says how many, and the rebuild (segdbg vacuum) leaves an index with only live rows."""

    path = tmp_path / "f.db"
    _fill(path, 10, 10, word=lambda n: "zanzibar" if n <= 40 else "espresso")
    conn = capture.connect(path)
    index.catch_up(conn)
    apply(conn, Policy(max_events=50), NOW)
    assert index.stale_entries(conn) == 50
    hits = [e["id"] for e in reads.iter_events(conn, query=q.parse("zanzibar"), now=NOW)]
    assert hits == []
    assert reads.count_events(conn, query=q.parse("espresso"), now=NOW) == 50
    fts_rows = conn.execute("SELECT count(*) FROM events_fts_docsize").fetchone()[0]
    assert fts_rows == 100  # the 50 deleted are still in the index
    copied = sum(index.rebuild_steps(conn, step=7))
    assert copied == 50
    assert index.stale_entries(conn) == 0
    assert conn.execute("SELECT count(*) FROM events_fts_docsize").fetchone()[0] == 50
    conn.execute("INSERT INTO events_fts(events_fts, rank) VALUES ('integrity-check', 0)")
    assert reads.count_events(conn, query=q.parse("espresso"), now=NOW) == 50
    assert [e["id"] for e in reads.iter_events(conn, query=q.parse("espresso"), now=NOW, limit=3)] == [51, 52, 53]
    conn.close()


def test_replay_runs_and_deliveries_are_kept(conn: sqlite3.Connection) -> None:
    """Retention never touches the record of what a replay sent, even for events it deletes."""
    conn.execute("INSERT INTO runs (id, started_at, target, status) VALUES (1, '2024-05-01', 'http://x', 'delivered')")
    conn.executemany(
        "INSERT INTO deliveries (run_id, seq, event_id, status) VALUES (1, ?, ?, 'delivered')",
        [(i, i + 1) for i in range(100)],
    )
    apply(conn, Policy(max_events=1), NOW)
    assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 100
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_each_call_is_one_transaction_that_yields_to_waiting_jobs(conn: sqlite3.Connection) -> None:
    """One call: chunks until a job waits (one chunk at least), at most rows_per_commit; over the
    limit by more than the slack, at least half the backlog (and busy_rows) before yielding; then
    it says it is done."""
    task = Retention(Policy(max_events=10), clock=lambda: NOW, chunk=5, rows_per_commit=30, busy_rows=15, slack=100)
    assert task(conn, lambda: True) is True
    assert task.deleted_events == 5  # within the slack: one chunk, then the waiting job goes first
    assert task(conn, lambda: False) is True
    assert task.deleted_events == 35  # idle: a full transaction
    hurried = Retention(Policy(max_events=10), clock=lambda: NOW, chunk=5, rows_per_commit=30, busy_rows=15, slack=20)
    assert hurried(conn, lambda: True) is True
    assert hurried.deleted_events == 30  # 55 past the edge, more than the slack: half of it (in chunks) even when busy
    assert hurried.urgent and not task.urgent  # 25 still past the edge: more than hurried's slack, within task's
    for _ in range(100):  # each call deletes a transaction's worth; 90 rows need a handful
        if not task(conn, lambda: False):
            break
    assert task.deleted_events + hurried.deleted_events == 90
    assert not conn.in_transaction
    assert task(conn, lambda: False) is False  # within the policy: nothing to do


def test_the_writer_applies_retention_on_idle_time(tmp_path: Path) -> None:
    """A writer with retention keeps the capture at the cap while events keep coming (chained with the indexer)."""
    path = tmp_path / "w.db"
    task = Chain(Retention(Policy(max_events=40), clock=lambda: NOW, chunk=25), index.Indexer())
    writer = store_writer.EventWriter(path, idle_task=task).start()
    try:
        for r in range(30):
            writer.submit(request_record(NOW), [_event(r * 10 + i, NOW) for i in range(10)]).result(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _count(path) > 40:
            time.sleep(0.02)
    finally:
        writer.close()
    assert _count(path) == 40
    assert integrity(path) == "ok"


def test_retention_by_age_runs_without_new_events(tmp_path: Path) -> None:
    """With idle_wake, events that age past --max-age are deleted even when nothing arrives."""
    path = tmp_path / "age.db"
    _fill(path, 5, 2)
    clock = [NOW + timedelta(minutes=5)]
    task = Retention(Policy(max_age=timedelta(minutes=10)), clock=lambda: clock[0], check_every=0)
    writer = store_writer.EventWriter(path, idle_task=task, idle_wake=0.05).start()
    try:
        time.sleep(0.2)
        assert _count(path) == 10  # nothing is old yet
        clock[0] = NOW + timedelta(minutes=12, seconds=30)  # requests at 12:00, 12:01, 12:02 are now too old
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _count(path) > 4:
            time.sleep(0.02)
    finally:
        writer.close()
    assert _count(path) == 4


def _count(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("SELECT count(*) FROM events").fetchone()[0])


def test_an_urgent_idle_task_does_not_wait_for_a_lull(tmp_path: Path) -> None:
    """A steady stream never leaves the writer a lull (``idle_grace``); an idle task that says it is
    urgent (retention past its slack) still runs in the moment after each commit."""

    class Urgent:
        urgent = True

        def __init__(self) -> None:
            self.ran = threading.Event()

        def __call__(self, conn: sqlite3.Connection, busy: object) -> bool:
            self.ran.set()
            return True

    task = Urgent()
    writer = store_writer.EventWriter(tmp_path / "w.db", idle_task=task, idle_grace=30, idle_every=60).start()
    try:
        for r in range(5):
            writer.submit(request_record(NOW), [_event(r, NOW)]).result(timeout=30)
            task.ran.clear()
            writer.submit(request_record(NOW), [_event(100 + r, NOW)]).result(timeout=30)
            assert task.ran.wait(5)  # not after the 30 s lull
    finally:
        writer.close()


def test_a_server_with_max_events_stays_bounded_and_answers_200(tmp_path: Path) -> None:
    """The real server with --max-events 15: every request is acknowledged, the capture ends at 15 events."""
    path = tmp_path / "s.db"
    with ServerThread(Settings(db=path, port=0, retention=Policy(max_events=15))) as server:
        for n in range(12):
            batch = [{"type": "track", "event": "Tick", "userId": "u", "messageId": f"s{n}-{i}"} for i in range(5)]
            assert http(server.url + "/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _count(path) > 15:
            time.sleep(0.02)
        assert _count(path) == 15
        stats = http(server.url + "/debugger/api/stats", method="GET").json()
    assert stats["events"] == 15 and stats["requests"] == 3
    assert stats["sources"][0]["events"] == 15


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600)]
)
def test_durations_use_the_filter_languages_units(text: str, seconds: int) -> None:
    """--max-age takes 90s/30m/12h/7d/2w, like after: in the filter language."""
    assert parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["7", "7 days", "0d", "-1d", "1y", "", "99999999999w"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    """A bad duration is a clear error naming the accepted forms."""
    with pytest.raises(ValueError, match="90s, 30m, 12h, 7d or 2w"):
        parse_age(text)


def test_policy_descriptions_read_naturally() -> None:
    """The serve banner and vacuum say what is kept in words."""
    assert Policy(max_events=100_000, max_age=timedelta(days=7)).describe() == (
        "the newest 100,000 events and the last 7 days (pinned events always)"
    )
    assert describe_age(timedelta(hours=12)) == "12 hours"
    assert describe_age(timedelta(seconds=90)) == "90 seconds"
    assert not Policy().active


def test_the_writer_keeps_temporary_data_in_memory_but_vacuums_through_files(tmp_path: Path) -> None:
    """The writer's statement journals stay in memory (no temporary file per commit); a VACUUM run
    by the writer (the server's `segdbg vacuum`) still copies the capture through files, not RAM,
    and leaves the writer as it was."""
    from debugger.store import maintenance

    path = tmp_path / "t.db"
    _fill(path, 5, 20)
    writer = store_writer.EventWriter(path).start()
    try:

        def temp_store(conn: sqlite3.Connection) -> int:
            return int(conn.execute("PRAGMA temp_store").fetchone()[0])

        assert writer.call(temp_store).result(timeout=30) == 2  # MEMORY
        statements: list[str] = []

        def vacuum(conn: sqlite3.Connection) -> None:
            conn.set_trace_callback(statements.append)
            try:
                maintenance.vacuum(conn)
            finally:
                conn.set_trace_callback(None)

        writer.call(vacuum, transaction=False).result(timeout=30)
        assert statements.index("PRAGMA temp_store = FILE") < statements.index("VACUUM")
        assert writer.call(temp_store).result(timeout=30) == 2
        writer.submit(request_record(NOW + timedelta(hours=1)), [_event(101, NOW + timedelta(hours=1))]).result(
            timeout=30
        )
    finally:
        writer.close()
    conn = capture.connect(path)
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 101
    assert integrity(path) == "ok"
    conn.close()
