"""Capture maintenance for `segdbg vacuum`: rebuild the search index, VACUUM, file sizes, and
knowing whether a server is writing the capture right now.

Every step that writes is a short transaction of its own (or, for ``VACUUM``, no transaction),
so the same functions run on a file directly or on a running server's writer thread (the
server's ``POST /debugger/api/vacuum`` hands them to :meth:`debugger.store.reads.EventWriter.call`
one at a time, and ingest interleaves).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from debugger.store.retention import STALE_KEY, WATERMARK_KEY

FTS_TABLE = "events_fts"
NEXT_TABLE = "events_fts_next"
REBUILD_KEY = "fts_rebuild_mark"
SERVER_PREFIX = "server:"
#: Rows indexed per rebuild transaction (~0.2 ms each on the 2-core dev box).
REBUILD_STEP = 5000


@dataclass(frozen=True, slots=True)
class Sizes:
    """The capture's bytes on disk: the database file and its write-ahead log."""

    db: int
    wal: int

    @property
    def total(self) -> int:
        """Both files together."""
        return self.db + self.wal


def sizes(path: Path) -> Sizes:
    """How big the capture is on disk now."""
    wal = Path(f"{path}-wal")
    return Sizes(path.stat().st_size if path.exists() else 0, wal.stat().st_size if wal.exists() else 0)


def human(size: int) -> str:
    """``12.3 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} GB"


# ------------------------------------------------------------------------------- index rebuild
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


def vacuum(conn: sqlite3.Connection) -> None:
    """``VACUUM`` (outside any transaction), then fold the WAL back into the file.

    VACUUM copies the whole capture through a temporary database: on disk, whatever the
    connection's ``temp_store`` (the writer keeps its small temporary data in memory).
    """
    previous = conn.execute("PRAGMA temp_store").fetchone()[0]
    conn.execute("PRAGMA temp_store = FILE")
    try:
        conn.execute("VACUUM")
    finally:
        conn.execute(f"PRAGMA temp_store = {int(previous)}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# ---------------------------------------------------------------------------- running servers
def register_server(conn: sqlite3.Connection, pid: int, url: str, policy: dict[str, Any]) -> None:
    """Note in the capture that server ``pid`` at ``url`` writes it (inside a transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
        (f"{SERVER_PREFIX}{pid}", orjson.dumps({"pid": pid, "url": url, "retention": policy}).decode()),
    )


def unregister_server(conn: sqlite3.Connection, pid: int) -> None:
    """Remove the note at a clean stop (a killed server's note is found stale by its pid)."""
    conn.execute("DELETE FROM meta WHERE key = ?", (f"{SERVER_PREFIX}{pid}",))


def running_servers(conn: sqlite3.Connection, alive: Callable[[int], bool] | None = None) -> list[dict[str, Any]]:
    """The servers noted in the capture whose process still exists."""
    check = alive or pid_alive
    found = []
    for key, value in conn.execute("SELECT key, value FROM meta WHERE key LIKE ?", (SERVER_PREFIX + "%",)):
        try:
            entry = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("pid"), int) and check(entry["pid"]):
            found.append(entry)
    return found


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


# ------------------------------------------------------------------------------------ vacuum
Run = Callable[[Callable[[sqlite3.Connection], Any]], Any]


@dataclass(slots=True)
class VacuumReport:
    """What `segdbg vacuum` did: sizes before and after, rows deleted, index entries dropped."""

    before: Sizes
    after: Sizes | None = None
    events: int = 0
    requests: int = 0
    stale: int = 0
    reindexed: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's answer (and ``--format json``)."""
        return {
            "deleted": {"events": self.events, "requests": self.requests},
            "index": {"stale_removed": self.stale if self.reindexed is not None else 0, "reindexed": self.reindexed},
            "bytes_before": {"db": self.before.db, "wal": self.before.wal, "total": self.before.total},
            "bytes_after": None if self.after is None else {"db": self.after.db, "wal": self.after.wal, "total": self.after.total},
        }


def vacuum_capture(
    run: Run,
    path: Path,
    policy: Any,
    now: Any,
    *,
    reindex: bool = False,
    progress: Callable[[str, int], None] = lambda what, n: None,
) -> VacuumReport:
    """Retention now, the index rebuilt without stale entries (or just merged), then ``VACUUM``.

    Args:
        run: runs a function on the write connection, outside any transaction (directly, or
            on a server's writer thread); every step is a short transaction of its own.
        path: the capture file (for the sizes).
        policy: a :class:`debugger.store.retention.Policy` (inactive: nothing deleted).
        now: the instant ``max_age`` counts back from.
        reindex: rebuild the index even when it holds no stale entries.
        progress: called with ``("events", n)`` and ``("index", n)`` as steps finish.
    """
    from debugger.store.retention import Retention

    report = VacuumReport(before=sizes(path))
    if policy.active:
        task = Retention(policy, clock=lambda: now, chunk=1000, rows_per_commit=REBUILD_STEP, check_every=3600)
        while True:
            swept = run(lambda conn: task.step_once(conn, REBUILD_STEP))
            report.events += swept.events
            report.requests += swept.requests
            progress("events", swept.events)
            if not swept.more:
                break
    if run(has_index):
        report.stale = run(stale_entries)
        resuming = run(lambda conn: conn.execute("SELECT 1 FROM meta WHERE key = ?", (REBUILD_KEY,)).fetchone() is not None)
        if report.stale or reindex or resuming:
            steps: list[Iterator[int]] = []

            def advance(conn: sqlite3.Connection) -> int | None:
                if not steps:
                    steps.append(rebuild_steps(conn))
                return next(steps[0], None)

            report.reindexed = 0
            while (copied := run(advance)) is not None:
                report.reindexed += copied
                progress("index", copied)
        merging: list[Iterator[None]] = []

        def merge(conn: sqlite3.Connection) -> bool:
            if not merging:
                merging.append(optimize_steps(conn))
            return next(merging[0], True) is None

        while run(merge):
            pass
    run(vacuum)
    report.after = sizes(path)
    return report
