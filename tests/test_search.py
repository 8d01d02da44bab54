"""Full-history search: the background index, exact results at any index lag, the default view, reset."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from debugger.core.protocol import Envelope, Event, build_event
from debugger.core.query import language as q
from debugger.core.query import plan
from debugger.store import capture, index, migrations, reads
from debugger.store import writer as store_writer
from debugger.store.stats import reset, stats

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WORDS = ["espresso", "lamp", "shoes", "zanzibar", "Ünïcode", 'say "hi"', "ab"]


def _events(count: int, start: int = 0) -> list[Event]:
    out = []
    for n in range(start, start + count):
        message: dict[str, Any] = {
            "type": "track" if n % 3 else "identify",
            "messageId": f"m{n}",
            "userId": f"u{n % 7}" if n % 11 else None,
            "event": f"Event {n % 4}",
            "properties": {"word": WORDS[n % len(WORDS)], "n": n, "items": [{"sku": f"s{n % 5}"}]},
        }
        envelope = Envelope(write_key="wk", received_at=NOW - timedelta(seconds=1000 - n))
        out.append(build_event(message, envelope, new_id=lambda: "x"))
    return out


def _fill(path: Path, count: int, *, indexer: index.Indexer | None = None) -> None:
    writer = store_writer.EventWriter(path, idle_task=indexer).start()
    try:
        writer.submit(None, _events(count)).result(timeout=30)
    finally:
        writer.close()


QUERIES = [
    "espresso",
    "ESPRESSO",
    "zanzibar",
    '"say \\"hi\\""',
    "ÜNïCODE",
    "ab",
    "-lamp",
    "espresso -type:identify",
    "properties.word:lamp",
    "properties.word:lamp,shoes",
    "properties.items.sku:s3",
    "properties.word:*resso",
    "user:u3 lamp",
    "status:invalid",
    "properties.n:>50 shoes",
    "nothing-here",
]


def _results(conn: Any, text: str, **kwargs: Any) -> list[int]:
    parsed = q.parse(text)
    return [
        e["id"]
        for e in reads.iter_events(conn, query=parsed, now=NOW, statuses=plan.view_statuses(parsed, True), **kwargs)
    ]


def test_results_do_not_depend_on_how_far_the_index_got(tmp_path: Path) -> None:
    """The same query gives the same rows, pages and counts with the index empty, half built and complete."""
    path = tmp_path / "c.db"
    _fill(path, 120)
    conn = capture.connect(path)
    try:
        assert index.index_state(conn) == index.IndexState(0, 120)
        expected = {text: _results(conn, text) for text in QUERIES}
        pages = {text: _results(conn, text, limit=3, newest=True) for text in QUERIES}
        counts = {text: reads.count_events(conn, query=q.parse(text), now=NOW) for text in QUERIES}
        assert (
            expected["espresso"] and expected["zanzibar"] and expected["ÜNïCODE"]
        )  # ASCII letters fold; others match as written
        assert expected["ESPRESSO"] == expected["espresso"]
        indexer = index.Indexer(step=10, rows_per_commit=1000, min_steps=6)
        indexer(conn, lambda: True)  # busy: only the minimum steps
        assert index.index_state(conn) == index.IndexState(60, 120)
        for _ in range(2):
            for text in QUERIES:
                assert _results(conn, text) == expected[text], text
                assert _results(conn, text, limit=3, newest=True) == pages[text], text
                assert _results(conn, text, limit=2) == expected[text][:2], text
                assert reads.count_events(conn, query=q.parse(text), now=NOW) == counts[text], text
                assert reads.count_events(conn, query=q.parse(text), now=NOW, cap=2) == min(2, counts[text]), text
            assert index.catch_up(conn) in (0, 60)
        assert index.index_state(conn) == index.IndexState(120, 120)
    finally:
        conn.close()


def test_the_index_serves_free_text_once_built(tmp_path: Path) -> None:
    """With the index complete, a free-text first page walks the FTS table (not a table scan)."""
    path = tmp_path / "c.db"
    _fill(path, 30)
    conn = capture.connect(path)
    try:
        index.catch_up(conn)
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        rows = list(reads.iter_events(conn, query=q.parse("zanzibar"), now=NOW, limit=5, newest=True))
        conn.set_trace_callback(None)
        assert [r["stored"]["properties"]["word"] for r in rows] == ["zanzibar"] * 4
        assert any("events_fts MATCH" in s for s in statements)
    finally:
        conn.close()


def _plan(conn: Any, run: Any) -> str:
    """The query plan of the last statement ``run`` executes."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    run()
    conn.set_trace_callback(None)
    return " | ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + statements[-1]))


@pytest.mark.parametrize(
    ("text", "statuses", "expected"),
    [
        ('event:"Event 1"', ("ok",), "events_name"),  # not the status index: nearly every row is ok
        ("type:identify", ("ok",), "events_type"),
        ("user:u3", ("ok",), "events_user_id"),
        ("", ("invalid",), "events_not_ok"),  # the hidden-events count: a few rows, by index
        ("status:ok event:x", None, "events_name"),
    ],
)
def test_filters_use_their_index(tmp_path: Path, text: str, statuses: tuple[str, ...] | None, expected: str) -> None:
    """Each first page and count is planned on the index that narrows it (no full scans of a big capture)."""
    path = tmp_path / "c.db"
    _fill(path, 30)
    conn = capture.connect(path)
    try:
        page = _plan(
            conn, lambda: list(reads.iter_events(conn, query=q.parse(text), statuses=statuses, limit=5, newest=True))
        )
        count = _plan(conn, lambda: reads.count_events(conn, query=q.parse(text), statuses=statuses))
    finally:
        conn.close()
    assert expected in page and expected in count, (page, count)


def test_the_server_indexes_in_the_background(tmp_path: Path) -> None:
    """A writer with the indexer catches the index up on its own, between commits."""
    path = tmp_path / "c.db"
    indexer = index.Indexer()
    writer = store_writer.EventWriter(path, idle_task=indexer).start()
    try:
        writer.submit(None, _events(50)).result(timeout=30)
        deadline = time.monotonic() + 10
        conn = capture.connect(path)
        while index.index_state(conn).lag and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)  # the indexer runs on its own; nothing to wake us
        assert index.index_state(conn) == index.IndexState(50, 50)
        conn.close()
    finally:
        writer.close()
    assert indexer.indexed == 50


def test_background_work_yields_to_ingest(tmp_path: Path) -> None:
    """An idle task is interrupted as soon as a write is queued: acks never wait for the index."""
    running = threading.Event()
    calls = []

    def slow_task(conn: Any, busy: Any) -> bool:
        running.set()
        while not busy():  # endless background work, until a job arrives
            time.sleep(0.001)
        calls.append(1)
        return True

    writer = store_writer.EventWriter(tmp_path / "c.db", idle_task=slow_task).start()
    try:
        assert running.wait(5)
        started = time.monotonic()
        writer.submit(None, _events(1)).result(timeout=5)
        assert time.monotonic() - started < 1.0
        assert calls
    finally:
        writer.close()


def test_background_work_leaves_gaps_for_other_processes(tmp_path: Path) -> None:
    """While the index catches up, another connection (reset --db, a migration) still gets the write lock."""

    def hog(conn: Any, busy: Any) -> bool:  # endless background transactions of 10 ms each
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(0.01)
        conn.execute("COMMIT")
        return True

    path = tmp_path / "c.db"
    writer = store_writer.EventWriter(path, idle_task=hog).start()
    other = capture.connect(path)
    try:
        other.execute("PRAGMA busy_timeout = 2000")
        for _ in range(5):
            other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if starved for 2 s
            other.execute("COMMIT")
        with capture.reader(path) as conn:  # opening a capture to read takes no write lock at all
            assert list(reads.iter_events(conn)) == []
    finally:
        other.close()
        writer.close()


def test_a_failing_background_task_does_not_stop_ingest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """If indexing raises, the error is logged and events are still written and acknowledged."""

    def broken(conn: Any, busy: Any) -> bool:
        raise RuntimeError("index is broken")

    writer = store_writer.EventWriter(tmp_path / "c.db", idle_task=broken, idle_grace=0.0).start()
    try:
        result = writer.submit(None, _events(2)).result(timeout=5)
        assert len(result.event_ids) == 2
    finally:
        writer.close()
    assert "background task failed" in caplog.text


def test_the_idle_task_waits_for_a_lull_not_the_gap_between_two_requests(tmp_path: Path) -> None:
    """A client sending event after event leaves the queue empty for a moment after each commit; the
    index step must not run in every such moment (the next request would wait for it), only once
    the queue stayed empty for ``idle_grace``."""
    ran: list[int] = []
    lull = threading.Event()

    def task(conn: Any, busy: Any) -> bool:
        ran.append(len(ran))
        lull.set()
        return False

    writer = store_writer.EventWriter(tmp_path / "c.db", idle_task=task, idle_grace=0.5, idle_every=60).start()
    try:
        for n in range(20):  # one request at a time, each waiting for its commit
            writer.submit(None, _events(1, start=n)).result(timeout=5)
        during = len(ran)
        assert lull.wait(5)  # ... and it runs once the stream stops
    finally:
        writer.close()
    assert during <= 1  # at most the start-up catch-up, never once per commit


def test_default_view_hides_invalid_events_unless_the_query_asks(tmp_path: Path) -> None:
    """Only ok events by default (docs/protocol.md §10, case 8); a status: term or --all lifts the default."""
    assert plan.view_statuses(q.parse("type:track")) == ("ok",)
    assert plan.view_statuses(q.parse("type:track"), show_all=True) is None
    assert plan.view_statuses(q.parse("status:invalid")) is None
    assert plan.view_statuses(q.parse("-status:ok")) is None
    path = tmp_path / "c.db"
    _fill(path, 22)
    conn = capture.connect(path)
    try:
        default = reads.count_events(conn, query=q.parse(""), now=NOW, statuses=plan.view_statuses(q.parse("")))
        invalid = reads.count_events(
            conn, query=q.parse("status:invalid"), now=NOW, statuses=plan.view_statuses(q.parse("status:invalid"))
        )
        assert (default, invalid) == (20, 2)  # m0 and m11 have no user id
    finally:
        conn.close()


def test_paging_back_and_forth(tmp_path: Path) -> None:
    """after_id continues a cursor; before_id pages back through older matches."""
    path = tmp_path / "c.db"
    _fill(path, 40)
    conn = capture.connect(path)
    try:
        newest = [e["id"] for e in reads.iter_events(conn, query=q.parse("lamp"), now=NOW, limit=2, newest=True)]
        older = [
            e["id"]
            for e in reads.iter_events(conn, query=q.parse("lamp"), now=NOW, limit=2, newest=True, before_id=newest[0])
        ]
        everything = _results(conn, "lamp")
        assert older + newest == everything[-4:]
        assert [
            e["id"] for e in reads.iter_events(conn, query=q.parse("lamp"), now=NOW, after_id=everything[1])
        ] == everything[2:]
    finally:
        conn.close()


def test_reset_empties_the_capture_and_ids_keep_counting(tmp_path: Path) -> None:
    """After reset no event remains, the index is empty, and new events get higher ids than any before."""
    path = tmp_path / "c.db"
    writer = store_writer.EventWriter(path, idle_task=index.Indexer()).start()
    try:
        before = writer.submit(None, _events(5)).result(timeout=30)
        assert writer.call(reset).result(timeout=30) == 5
        after = writer.submit(None, _events(2, start=100)).result(timeout=30)
    finally:
        writer.close()
    assert min(after.event_ids) > max(before.event_ids)
    conn = capture.connect(path)
    try:
        assert [e["message_id"] for e in reads.iter_events(conn)] == ["m100", "m101"]
        assert _results(conn, "espresso") == []  # nothing stale left in the index
        index.catch_up(conn)
        assert _results(conn, "shoes") == [after.event_ids[0]]
        assert stats(conn, now=NOW)["sources"][0]["events"] == 2
    finally:
        conn.close()


def test_migration_keeps_existing_rows_and_makes_ids_monotonic(tmp_path: Path) -> None:
    """Upgrading a schema-1 capture keeps its events and indexes, and adds AUTOINCREMENT and the FTS table."""
    import sqlite_utils

    path = tmp_path / "old.db"
    conn = capture.connect(path)
    db = sqlite_utils.Database(conn)
    db["meta"].create({"key": str, "value": str}, pk="key")
    migrations.MIGRATIONS[0](db)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute(
        "INSERT INTO events (id, received_at, status, stored) VALUES (7, '2024-01-01T00:00:00.000Z', 'ok', '{\"a\":\"zanzibar\"}')"
    )
    conn.close()
    assert capture.migrate(path) == len(migrations.MIGRATIONS)
    conn = capture.connect(path)
    try:
        table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        assert "AUTOINCREMENT" in table_sql
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"events_message_id", "events_user_id", "events_type", "events_name", "events_not_ok"} <= names
        assert "events_type_name" not in names
        assert _results(conn, "zanzibar") == [7]
        config = dict(conn.execute("SELECT k, v FROM events_fts_config").fetchall())
        assert config["automerge"] == 0  # merging only on idle time
        index.catch_up(conn)
        assert index.Indexer().merge(conn) is False  # catch_up left nothing to merge
        conn.execute("DELETE FROM events")
        conn.execute("INSERT INTO events (received_at, status) VALUES ('x', 'ok')")
        assert conn.execute("SELECT max(id) FROM events").fetchone()[0] == 8
    finally:
        conn.close()


def test_closest_events_name_the_terms_they_fail(tmp_path: Path) -> None:
    """Near misses rank by how many terms they satisfy and list the failing ones (default status included)."""
    path = tmp_path / "c.db"
    _fill(path, 22)
    conn = capture.connect(path)
    try:
        misses = reads.closest_events(
            conn, q.parse("properties.word:espresso user:u0 properties.n:<1"), now=NOW, statuses=("ok",), limit=5
        )
        by_id = {m.event["message_id"]: m for m in misses}
        assert misses[0].failed == ("properties.n:<1",) and misses[0].matched == 3  # m21, m14, m7: newest first
        assert [m.event["message_id"] for m in misses[:3]] == ["m21", "m14", "m7"]
        assert by_id["m0"].failed == ("user:u0", "status:ok")  # m0 has no user id, so it is invalid
    finally:
        conn.close()


def test_stats_count_by_type_status_source_and_library(tmp_path: Path) -> None:
    """stats() gives totals per type, status, source and library, the last minute's rate and the index lag."""
    path = tmp_path / "c.db"
    _fill(path, 22)
    conn = capture.connect(path)
    try:
        data = stats(conn, now=NOW - timedelta(seconds=1000 - 12 - 60))  # the last minute holds m12…m21
    finally:
        conn.close()
    assert data["events"] == 22
    assert data["by_type"] == {"track": 14, "identify": 8}
    assert data["by_status"] == {"ok": 20, "invalid": 2}
    assert data["sources"][0]["write_key"] == "wk" and data["sources"][0]["events"] == 22
    assert data["libraries"] == [{"name": None, "version": None, "events": 22}]
    assert data["last_minute"] == {"events": 10, "per_second": 0.17}
    assert data["search_index"] == {"indexed_up_to": 0, "lag": 22, "stale": 0}
