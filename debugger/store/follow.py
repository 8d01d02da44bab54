"""Reading a capture while something else writes it (docs/architecture.md §2: the follower).

:class:`CaptureReader` owns one read connection and is called from worker threads only, one
call at a time (a lock guards it). ``PRAGMA data_version`` says whether another connection
committed; a rowid cursor says what is new. The UI keeps the cursor and hands it in.

Every search read goes through :mod:`debugger.store.reads` (the one indexed read path): free text
is found through the FTS index for the rows it covers and by scanning only the rows above its
watermark. Unlike ``segdbg events``, the TUI is the debugger stream, so it shows every status.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from debugger.core.pacing import sample
from debugger.core.query.language import Query
from debugger.store import capture, reads


@dataclass(frozen=True, slots=True)
class Search:
    """A search as entered: the parsed query and the instant its relative times (``after:10m``) count from."""

    query: Query
    now: datetime


#: The active search; ``None`` is everything.
Where = Search | None

#: The TUI shows every status (it is the debugger stream); `segdbg events` shows only ok by default.
ALL_STATUSES = None


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts over a range of events: all, by status, with problems, and sources."""

    events: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    with_problems: int = 0
    sources: int = 0

    def plus(self, other: Totals) -> Totals:
        """These totals with a later range added (sources are a current count, not a sum)."""
        merged = dict(self.by_status)
        for status, count in other.by_status.items():
            merged[status] = merged.get(status, 0) + count
        return Totals(self.events + other.events, merged, self.with_problems + other.with_problems, other.sources)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A full load: the newest ``cap`` matching events, oldest first."""

    events: tuple[dict[str, Any], ...]
    matches: int | None  # None: not counted (the caller counts afterwards, with position(where, cursor))
    cursor: int
    totals: Totals  # of the events after ``since``
    since: int = 0


@dataclass(frozen=True, slots=True)
class Increment:
    """What arrived after ``after``: a sample of the new matches and the counts behind it."""

    after: int
    cursor: int
    events: tuple[dict[str, Any], ...]
    new_matches: int
    totals: Totals
    reset: bool = False  # rows vanished (the capture was reset): reload instead


class CaptureReader:
    """Synchronous reads of one capture, for worker threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            capture.migrate(self.path)
            self._conn = capture.connect(self.path)
        return self._conn

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file."""
        with self._lock:
            return int(self._db().execute("PRAGMA data_version").fetchone()[0])

    def snapshot(self, where: Where, cap: int, *, since: int = 0, count: bool = True) -> Snapshot:
        """The newest ``cap`` matching events, and the totals of the events after ``since``
        (0: the whole capture, a scan of every row; a caller keeping running totals passes its cursor).

        ``count=False`` leaves a search's match count out (``matches`` is ``None``): counting
        every match of a common word takes far longer than its newest page.
        """
        with self._lock:
            db = self._db()
            cursor = reads.newest_id(db)
            totals = self._totals(db, since if since <= cursor else 0, cursor)
            events = tuple(reads.iter_events(db, **_search(where), before_id=cursor + 1, limit=cap, newest=True))
            matches: int | None = None
            if where is None:  # no search: the count is not shown, and a full count is a scan
                matches = totals.events if since == 0 else 0
            elif count:
                matches = reads.count_events(db, **_search(where), before_id=cursor + 1)
            return Snapshot(events, matches, cursor, totals, since if since <= cursor else 0)

    def increment(self, after: int, where: Where, budget: int, include: Sequence[int] = ()) -> Increment:
        """Events after ``after``: all matches when they fit in ``budget``, else an even sample
        that always holds the newest match and the ids in ``include`` that match ``where``
        (a pasted event the search does not match is not shown in the searched list).

        ``budget`` 0 counts without reading rows (the stream is paused).
        """
        with self._lock:
            db = self._db()
            newest = reads.newest_id(db)
            if newest < after:
                return Increment(after, newest, (), 0, Totals(), reset=True)
            if newest == after:
                return Increment(after, after, (), 0, Totals(sources=self._sources(db)))
            totals = self._totals(db, after, newest)
            span: dict[str, Any] = {"after_id": after, "before_id": newest + 1}
            matches = totals.events if where is None else reads.count_events(db, **_search(where), **span)
            forced = self._matching(db, where, [i for i in include if after < i <= newest]) if matches else []
            if budget <= 0 or matches == 0:
                wanted: list[int] = forced
            else:
                rows = list(reads.select_rows(db, ("id", "request_id"), **_search(where), **span))
                ids = sample(rows, budget)
                wanted = sorted({*ids, *forced})
            return Increment(after, newest, self._rows(db, wanted), matches, totals)

    @staticmethod
    def _matching(db: sqlite3.Connection, where: Where, ids: list[int]) -> list[int]:
        """Those of ``ids`` that match ``where`` (one read over their id range: pasted ids are adjacent)."""
        if where is None or not ids:
            return ids
        rows = reads.select_rows(db, ("id",), **_search(where), after_id=min(ids) - 1, before_id=max(ids) + 1)
        found = {row[0] for row in rows}
        return [i for i in ids if i in found]

    def count(self, where: Where) -> int:
        """How many events match ``where`` in the whole capture."""
        with self._lock:
            return reads.count_events(self._db(), **_search(where))

    def neighbour(self, where: Where, event_id: int, older: bool) -> dict[str, Any] | None:
        """The next matching event before (``older``) or after ``event_id``."""
        with self._lock:
            if older:
                rows = reads.iter_events(self._db(), **_search(where), before_id=event_id, limit=1, newest=True)
            else:
                rows = reads.iter_events(self._db(), **_search(where), after_id=event_id, limit=1)
            found = list(rows)
        return found[0] if found else None

    def position(self, where: Where, event_id: int) -> int:
        """How many matching events have an id up to ``event_id`` (the match's number)."""
        with self._lock:
            return reads.count_events(self._db(), **_search(where), before_id=event_id + 1)

    def request(self, request_id: int) -> dict[str, Any] | None:
        """The ``requests`` row that carried an event."""
        with self._lock:
            return reads.get_request(self._db(), request_id)

    def _rows(self, db: sqlite3.Connection, ids: Sequence[int]) -> tuple[dict[str, Any], ...]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            out += [
                reads.from_row(r)
                for r in db.execute(f"SELECT {_COLUMNS} FROM events WHERE id IN ({marks}) ORDER BY id", chunk)
            ]
        return tuple(out)

    def _totals(self, db: sqlite3.Connection, after: int, upto: int) -> Totals:
        by_status: dict[str, int] = {}
        problems = 0
        for status, count, flagged in db.execute(
            "SELECT status, count(*), sum(problems IS NOT NULL OR status != 'ok') FROM events"
            " WHERE id > ? AND id <= ? GROUP BY status",
            (after, upto),
        ):
            by_status[status] = count
            problems += int(flagged or 0)
        return Totals(sum(by_status.values()), by_status, problems, self._sources(db))

    @staticmethod
    def _sources(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT count(*) FROM sources WHERE event_count > 0").fetchone()[0])


_COLUMNS = ", ".join(reads.EVENT_COLUMNS)


def _search(where: Where) -> dict[str, Any]:
    """The keyword arguments of :mod:`debugger.store.reads` reads for the active search."""
    if where is None:
        return {"statuses": ALL_STATUSES}
    return {"query": where.query, "now": where.now, "statuses": ALL_STATUSES}
