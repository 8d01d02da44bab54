"""The one indexed read path (search.py) as the TUI and replay use it: pure planning at the
watermark, results identical to the plain compiled query at any index lag, and, once the index
has caught up, a rare word costs the same on a capture twice the size (no table scan)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from debugger.core.protocol import Envelope, Event, build_event
from debugger.core.query import language as q
from debugger.core.query import sql as query_sql
from debugger.core.query.plan import plan
from debugger.core.replay.selection import Selection
from debugger.store import capture, index, reads
from debugger.store import writer as store_writer
from debugger.store.follow import CaptureReader, Search
from debugger.store.selection import selected_events, selection_stats

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RARE = "quokka"
WORDS = ["espresso", "lamp", "shoes", "zanzibar"]


def _events(count: int, *, start: int = 0, rare_every: int = 0) -> list[Event]:
    out = []
    for n in range(start, start + count):
        message: dict[str, Any] = {
            "type": "track" if n % 3 else "identify",
            "messageId": f"m{n}",
            "userId": f"u{n % 7}" if n % 11 else None,  # every 11th has no id: stored invalid
            "event": f"Event {n % 4}",
            "properties": {"word": WORDS[n % len(WORDS)], "n": n},
        }
        if rare_every and n % rare_every == rare_every // 2:
            message["properties"]["note"] = f"a {RARE} was here"
        envelope = Envelope(write_key="wk", received_at=NOW - timedelta(seconds=100_000 - n))
        out.append(build_event(message, envelope, new_id=lambda: "x"))
    return out


def _add(path: Path, events: list[Event]) -> list[int]:
    writer = store_writer.EventWriter(path).start()
    try:
        return writer.submit(None, events).result(timeout=30).event_ids
    finally:
        writer.close()


def _index_to(conn: sqlite3.Connection, mark: int) -> None:
    """Index exactly up to ``mark`` (a real partial index, as a busy server leaves it)."""
    state = index.index_state(conn)
    assert state is not None
    if mark > state.watermark:
        rows = mark - state.watermark
        index.Indexer(step=rows, rows_per_commit=rows)(conn, lambda: True)
    assert index.index_state(conn).watermark == mark  # type: ignore[union-attr]


def _oracle(
    conn: sqlite3.Connection, text: str, statuses: tuple[str, ...] | None, lo: int = 0, hi: int | None = None
) -> list[int]:
    """The plain compiled query over the whole table: what every indexed read must equal."""
    sql, params = query_sql.compile(q.parse(text), now=NOW)
    where = [f"({sql})", "id > ?"]
    params = [*params, lo]
    if hi is not None:
        where.append("id < ?")
        params.append(hi)
    if statuses is not None:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        params += statuses
    return [r[0] for r in conn.execute(f"SELECT id FROM events WHERE {' AND '.join(where)} ORDER BY id", params)]


# ------------------------------------------------------------------------------ pure planning


def test_the_plan_splits_a_range_at_the_watermark() -> None:
    """Ids up to the watermark are read through the index, the rest by scanning; empty sides are left out."""
    text = q.parse(RARE)

    def shape(**kwargs: Any) -> list[tuple[bool, tuple[Any, ...]]]:
        # (indexed?, the id bounds each part reads) — the bounds are the parameters before the filter's.
        out = []
        for part in plan(text, now=NOW, **kwargs):
            out.append(
                (part.indexed, part.params[1:3] if part.indexed else part.params[: 2 if "<=" in part.where else 1])
            )
        return out

    assert shape(watermark=100) == [(True, (0, 100)), (False, (100,))]
    assert shape(watermark=100, after_id=40, before_id=61) == [(True, (40, 60))]  # below the mark: index only
    assert shape(watermark=100, after_id=150) == [(False, (150,))]  # a follower's new rows: scan only
    assert shape(watermark=100, after_id=90, before_id=111) == [(True, (90, 100)), (False, (100, 110))]
    assert shape(watermark=0) == [(False, (0,))]  # nothing indexed yet
    assert plan(text, now=NOW, watermark=100, after_id=5, before_id=6) == []  # an empty range reads nothing


@pytest.mark.parametrize(
    "text", ["", "type:track", "user:u3 quokka", "id:m1 quokka", "ab", "-quokka", "properties.n:>5"]
)
def test_queries_the_index_cannot_narrow_are_scanned(text: str) -> None:
    """No text of 3+ characters, negated text, or an exact user:/id: (narrower by its own index): one scan."""
    parts = plan(q.parse(text), now=NOW, watermark=1000)
    assert [p.indexed for p in parts] == [False]


# --------------------------------------------------------------------- exact at any index lag

QUERIES = [
    "quokka",
    "QUOKKA zanzibar",
    "properties.note:*quokka*",
    "lamp -type:identify",
    "status:invalid quokka",
    "type:track",
]


def test_every_read_equals_the_compiled_query_at_any_lag(tmp_path: Path) -> None:
    """Pages, neighbours, counts and aggregates in any id window give the plain query's rows, wherever the watermark is."""
    path = tmp_path / "c.db"
    _add(path, _events(150, rare_every=9))
    conn = capture.connect(path)
    windows = [(0, None), (0, 40), (37, 90), (64, None), (100, 151), (149, None), (10, 11)]
    try:
        for mark in (0, 1, 64, 100, 149, 150):
            _index_to(conn, mark)
            for text in QUERIES:
                parsed = q.parse(text)
                for statuses in (None, ("ok",)):
                    everything = _oracle(conn, text, statuses)
                    assert everything or text == "status:invalid quokka" and statuses == ("ok",)
                    for lo, hi in windows:
                        expected = _oracle(conn, text, statuses, lo, hi)
                        kw: dict[str, Any] = {
                            "query": parsed,
                            "now": NOW,
                            "statuses": statuses,
                            "after_id": lo,
                            "before_id": hi,
                        }
                        label = (mark, text, statuses, lo, hi)
                        assert [r[0] for r in reads.select_rows(conn, ("id",), **kw)] == expected, label
                        assert [r[0] for r in reads.select_rows(conn, ("id",), **kw, limit=3, newest=True)] == expected[
                            -3:
                        ], label
                        assert [r[0] for r in reads.select_rows(conn, ("id",), **kw, limit=2)] == expected[:2], label
                        assert reads.count_events(conn, **kw) == len(expected), label
                        assert reads.count_events(conn, **kw, cap=2) == min(2, len(expected)), label
                    sql, params = reads.matching_sql(conn, ("id",), query=parsed, now=NOW, statuses=statuses)
                    assert sorted(r[0] for r in conn.execute(sql, params)) == everything, (mark, text)
    finally:
        conn.close()


def test_the_tui_reader_finds_the_same_matches_at_any_lag(tmp_path: Path) -> None:
    """The TUI's snapshot, n/N neighbours, match numbers and follower increments equal the plain query (every status)."""
    path = tmp_path / "c.db"
    _add(path, _events(120, rare_every=7))
    conn = capture.connect(path)
    reader = CaptureReader(path)
    where = Search(q.parse(RARE), NOW)
    try:
        for mark in (0, 50, 120):
            _index_to(conn, mark)
            expected = _oracle(conn, RARE, None)
            assert any(e > mark for e in expected) or mark == 120
            snap = reader.snapshot(where, 4, since=120)
            assert [e["id"] for e in snap.events] == expected[-4:] and snap.matches == len(expected)
            assert reader.count(where) == len(expected)
            for index, event_id in enumerate(expected):
                older = reader.neighbour(where, event_id, older=True)
                newer = reader.neighbour(where, event_id, older=False)
                assert (older and older["id"]) == (expected[index - 1] if index else None)
                assert (newer and newer["id"]) == (expected[index + 1] if index + 1 < len(expected) else None)
                assert reader.position(where, event_id) == index + 1
            inc = reader.increment(30, where, budget=1000)
            assert [e["id"] for e in inc.events] == [e for e in expected if e > 30] and inc.new_matches == len(
                inc.events
            )
    finally:
        reader.close()
        conn.close()


# ------------------------------------------------------------------- bounded reads once indexed


class Meter:
    """Counts SQLite VM steps on a connection, in tens (the progress handler's count restarts with each
    statement, so a coarser step would miss short ones), and the statements run."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.ticks, self.statements = conn, 0, []

    def __call__(self, run: Callable[[], object]) -> int:
        def tick() -> int:
            self.ticks += 1
            return 0

        self.ticks = 0
        self.conn.set_progress_handler(tick, 10)
        self.conn.set_trace_callback(self.statements.append)
        try:
            run()
        finally:
            self.conn.set_progress_handler(None, 0)
            self.conn.set_trace_callback(None)
        return self.ticks


def test_an_indexed_rare_word_reads_only_its_rows(tmp_path: Path) -> None:
    """With the index caught up, the TUI's search, count and n/N and replay's selection of a rare word cost
    the same on a capture four times the size, while the plain compiled query's scan grows with it."""
    path = tmp_path / "c.db"
    _add(path, _events(2000, rare_every=1000))  # 2 rare events
    _add(path, _events(1, start=2000, rare_every=1))  # and a third, the newest
    conn = capture.connect(path)
    reader = CaptureReader(path)
    where = Search(q.parse(RARE), NOW)
    selection = Selection(q.parse(RARE), NOW, ("ok",))

    def costs() -> tuple[int, int, list[str]]:  # indexed reads, the plain scan (in 10s of VM steps); statements
        index.catch_up(conn)
        cursor = conn.execute("SELECT max(id) FROM events").fetchone()[0]
        matches, replayed = _oracle(conn, RARE, None), _oracle(conn, RARE, ("ok",))
        assert len(matches) == 3
        measured = Meter(reader._db())  # the reader's own connection, as its worker threads use it

        def tui_reads() -> None:
            snap = reader.snapshot(where, 500, since=cursor)  # what entering a search loads
            assert [e["id"] for e in snap.events] == matches and snap.matches == 3
            assert reader.neighbour(where, matches[-1], older=True)["id"] == matches[-2]  # type: ignore[index]
            assert reader.neighbour(where, matches[0], older=False)["id"] == matches[1]  # type: ignore[index]
            assert reader.position(where, matches[1]) == 2

        replay = Meter(conn)

        def replay_reads() -> None:
            assert [e["id"] for e in selected_events(conn, selection)] == replayed
            assert selection_stats(conn, selection)[0] == len(replayed)

        sql, params = query_sql.compile(q.parse(RARE), now=NOW)
        plain = Meter(conn)(
            lambda: conn.execute(f"SELECT id FROM events WHERE {sql} ORDER BY id DESC LIMIT 500", params).fetchall()
        )
        indexed = measured(tui_reads) + replay(replay_reads)
        return indexed, plain, measured.statements + replay.statements

    try:
        small, small_plain, statements = costs()
        assert sum("events_fts MATCH" in s for s in statements) >= 6  # page, count, n, N, position, replay
        _add(path, _events(6000, start=3000))  # four times the rows, no new match
        big, big_plain, _ = costs()
        print(f"indexed reads {small} → {big}; plain scan {small_plain} → {big_plain} (tens of VM steps)")
        assert big_plain > 3.5 * small_plain  # a scan grows with the capture...
        assert big < 1.15 * small, (small, big)  # ...the indexed reads do not
    finally:
        reader.close()
        conn.close()


# -------------------------------------------------------------------------------- replay


def test_replay_of_free_text_sends_exactly_the_matches_while_the_index_lags(tmp_path: Path) -> None:
    """`segdbg replay WORD` on a half-indexed capture delivers every accepted match, indexed or not, in order."""
    from click.testing import CliRunner

    from debugger.cli import cli
    from debugger.server.app import ServerThread
    from debugger.server.settings import Settings

    path = tmp_path / "c.db"
    _add(path, _events(200, rare_every=10))
    conn = capture.connect(path)
    _index_to(conn, 90)
    expected = [e["message_id"] for e in reads.iter_events(conn, statuses=("ok",)) if RARE in str(e["stored"])]
    assert len(expected) > 10 and any(int(m[1:]) >= 90 for m in expected) and any(int(m[1:]) < 90 for m in expected)
    conn.close()
    with ServerThread(Settings(db=tmp_path / "target.db", port=0)) as target:
        result = CliRunner().invoke(
            cli, ["replay", RARE.upper(), "--db", str(path), "--to", target.url], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert f"delivered      {len(expected)}" in result.output
    conn = capture.connect(tmp_path / "target.db")
    try:
        assert [e["message_id"] for e in reads.iter_events(conn)] == expected
    finally:
        conn.close()
