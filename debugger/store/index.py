"""The full-text search index (FTS5, trigram): built in the background, rebuilt on demand.

- **Indexing is off the ack path** (docs/architecture.md §2). :class:`Indexer` is the writer's idle task: it
  copies ``events.stored`` into the contentless trigram table ``events_fts`` in small
  transactions, between ingest commits, and records how far it got in ``meta.fts_watermark``.
  Reads stay exact whatever the lag (:mod:`debugger.store.reads`).
- **Rebuild** (`segdbg vacuum`): retention leaves index entries of deleted events behind
  (counted in ``meta.fts_stale``); :func:`rebuild_steps` builds a fresh table beside the live
  one in short transactions and swaps it in.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from debugger.core.query.plan import FTS_TABLE

#: ``meta`` key: every event id up to this one is in the index.
WATERMARK_KEY = "fts_watermark"
#: ``meta`` key: index entries of events retention deleted since the last rebuild.
STALE_KEY = "fts_stale"
#: ``meta`` key: how far an interrupted rebuild got.
REBUILD_KEY = "fts_rebuild_mark"
#: The table a rebuild fills before it replaces the live index.
NEXT_TABLE = "events_fts_next"
#: Rows indexed per rebuild transaction (~0.2 ms each on the 2-core dev box).
REBUILD_STEP = 5000


@dataclass(frozen=True, slots=True)
class IndexState:
    """How far the search index got: ``lag`` events are not indexed yet (they are scanned)."""

    watermark: int
    newest: int

    @property
    def lag(self) -> int:
        """Events stored but not yet in the index."""
        return max(0, self.newest - self.watermark)


def index_state(conn: sqlite3.Connection) -> IndexState | None:
    """The index watermark and the newest event id; ``None`` when the capture has no index."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (WATERMARK_KEY,)).fetchone()
    if row is None:
        return None
    newest = conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0
    return IndexState(int(row[0]), newest)


class Indexer:
    """The writer's idle task: index pending events in short transactions.

    A job that arrives while the indexer works waits for the current step and the commit of
    the rows indexed so far, so both are kept small: ``step`` rows per INSERT … SELECT (the
    writer is asked between steps whether a job waits) and at most ``rows_per_commit`` rows
    per transaction (FTS5 writes its pending terms at COMMIT, at a cost that grows with them).
    Measured on the 2-core dev box: 8 rows ≈ 1–2 ms, a 64-row commit ≈ 1 ms.

    Args:
        step: rows per INSERT … SELECT.
        rows_per_commit: rows per transaction at most.
        min_steps: steps done even when busy, so the index moves under sustained load too.
    """

    def __init__(
        self,
        *,
        step: int = 8,
        rows_per_commit: int = 64,
        min_steps: int = 1,
        merge_pages: int = 16,
        merge_budget: float = 0.02,
    ) -> None:
        self.step, self.rows_per_commit, self.min_steps = step, rows_per_commit, min_steps
        self.merge_pages, self.merge_budget = merge_pages, merge_budget
        self.indexed = 0
        self.seconds = 0.0

    def __call__(self, conn: sqlite3.Connection, busy: Callable[[], bool]) -> bool:
        """Index one short transaction's worth, or until a job is waiting; returns whether work remains."""
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        try:
            state = index_state(conn)
            if state is None:
                conn.execute("COMMIT")
                return False
            mark, steps, limit = state.watermark, 0, state.watermark + self.rows_per_commit
            while mark < min(state.newest, limit) and (steps < self.min_steps or not busy()):
                upto = min(mark + self.step, state.newest, limit)
                conn.execute(
                    f"INSERT INTO {FTS_TABLE}(rowid, stored) SELECT id, stored FROM events"
                    " WHERE id > ? AND id <= ? AND stored IS NOT NULL",
                    (mark, upto),
                )
                mark, steps = upto, steps + 1
            if steps:
                conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(mark), WATERMARK_KEY))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.indexed += mark - state.watermark
        more = mark < state.newest
        if not busy():
            more = self.merge(conn, busy) or more
        self.seconds += time.perf_counter() - started
        return more

    def merge(self, conn: sqlite3.Connection, busy: Callable[[], bool] = lambda: False) -> bool:
        """Merge FTS5 segments a few pages at a time while idle; returns whether more merging is due.

        Each 64-row commit adds a small segment, and a free-text query reads every segment:
        left alone, a server-built index of 1M events answered in 140–340 ms instead of ~3 ms.
        The table has ``automerge=0`` so FTS5 never merges inside a commit (that showed as
        ack-latency spikes); instead this merges in 16-page rounds, stopping when a job waits
        or after ``merge_budget`` seconds.
        """
        started = time.perf_counter()
        while not busy() and time.perf_counter() - started < self.merge_budget:
            before = conn.total_changes
            conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('merge', ?)", (self.merge_pages,))
            if conn.total_changes - before <= 1:  # the command itself counts as one change
                return False
        return True


def catch_up(conn: sqlite3.Connection, *, optimize_after: bool = True) -> int:
    """Index everything pending now, on this connection (tools, benchmarks); returns the count.

    Unlike the writer's idle indexing this runs big transactions, then (by default) merges the
    index into one segment, which makes free-text queries several times faster.
    """
    indexer = Indexer(step=2000, rows_per_commit=20_000, merge_pages=2000, merge_budget=60.0)
    while indexer(conn, lambda: False):
        pass
    if optimize_after and indexer.indexed:
        optimize(conn)
    return indexer.indexed


def optimize(conn: sqlite3.Connection) -> None:
    """Merge the whole FTS index into one segment (≈ 30 s per million events; blocks writers meanwhile)."""
    conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")


def has_index(conn: sqlite3.Connection) -> bool:
    """Whether the capture has the full-text index (schema 3 and later)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (FTS_TABLE,)).fetchone() is not None


def stale_entries(conn: sqlite3.Connection) -> int:
    """Index entries of events retention deleted (harmless, but they take room)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (STALE_KEY,)).fetchone()
    return int(row[0]) if row else 0


def rebuild_steps(conn: sqlite3.Connection, step: int = REBUILD_STEP) -> Iterator[int]:
    """Rebuild the index from the events that exist, one short transaction per ``next()``.

    A new table is filled up to the live index's watermark (which a running server keeps
    moving: the rebuild chases it), then swapped in by name and merged into one segment.
    Interrupted, it continues where it stopped on the next run. Yields rows indexed per step.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {NEXT_TABLE} USING fts5(stored, content='', tokenize='trigram', detail='none')"
        )
        conn.execute(f"INSERT INTO {NEXT_TABLE}({NEXT_TABLE}, rank) VALUES ('automerge', 0)")
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, '0')", (REBUILD_KEY,))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            mark = int(conn.execute("SELECT value FROM meta WHERE key = ?", (REBUILD_KEY,)).fetchone()[0])
            watermark = int(conn.execute("SELECT value FROM meta WHERE key = ?", (WATERMARK_KEY,)).fetchone()[0])
            if mark >= watermark:
                conn.execute(f"DROP TABLE {FTS_TABLE}")
                conn.execute(f"ALTER TABLE {NEXT_TABLE} RENAME TO {FTS_TABLE}")
                conn.execute("DELETE FROM meta WHERE key = ?", (REBUILD_KEY,))
                conn.execute("UPDATE meta SET value = '0' WHERE key = ?", (STALE_KEY,))
                conn.execute("COMMIT")
                return
            upto = min(mark + step, watermark)
            copied = conn.execute(
                f"INSERT INTO {NEXT_TABLE}(rowid, stored) SELECT id, stored FROM events"
                " WHERE id > ? AND id <= ? AND stored IS NOT NULL",
                (mark, upto),
            ).rowcount
            conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(upto), REBUILD_KEY))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        yield copied


def optimize_steps(conn: sqlite3.Connection, pages: int = 256) -> Iterator[None]:
    """Merge the index's segments a few pages per transaction until one is left."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('merge', ?)", (-pages,))
            done = conn.total_changes - before <= 1
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        if done:
            return
        yield


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def rebuild_pending(conn: sqlite3.Connection) -> bool:
    """Whether a rebuild was started and not finished (the next vacuum carries it on)."""
    return conn.execute("SELECT 1 FROM meta WHERE key = ?", (REBUILD_KEY,)).fetchone() is not None


def clear_index(conn: sqlite3.Connection) -> None:
    """Empty the index when the capture is reset (inside the caller's transaction).

    Nothing is stale any more, a half-done `vacuum` rebuild starts over, and the watermark
    moves to the last id handed out: event ids keep counting up after a reset.
    """
    conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
    conn.execute(f"DROP TABLE IF EXISTS {NEXT_TABLE}")
    conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (STALE_KEY, REBUILD_KEY))
    top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(top[0] if top else 0), WATERMARK_KEY))
