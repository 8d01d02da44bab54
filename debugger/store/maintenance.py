"""Capture maintenance for `segdbg vacuum`: retention now, the search index rebuilt, VACUUM, file sizes.

Every step that writes is a short transaction of its own (or, for ``VACUUM``, no transaction),
so the same functions run on a file directly or on a running server's writer thread (the
server's ``POST /debugger/api/vacuum`` hands them to :meth:`debugger.store.reads.EventWriter.call`
one at a time, and ingest interleaves).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debugger.store.index import REBUILD_STEP, has_index, optimize_steps, rebuild_pending, rebuild_steps, stale_entries
from debugger.store.retention import Retention


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
            "bytes_after": None
            if self.after is None
            else {"db": self.after.db, "wal": self.after.wal, "total": self.after.total},
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
        resuming = run(rebuild_pending)
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
