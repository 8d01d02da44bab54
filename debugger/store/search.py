"""Full-history search: the background FTS5 index and the reads every caller filters through.

- **Indexing is off the ack path** (DESIGN §2). :class:`Indexer` is the writer's idle task: it
  copies ``events.stored`` into the contentless trigram table ``events_fts`` in small
  transactions, between ingest commits, and records how far it got in ``meta.fts_watermark``.
- **Results never depend on the lag.** Rows at or below the watermark are found through the
  index, rows above it by scanning, and every row is re-checked with the exact SQL of
  :func:`debugger.core.query.sql.compile` (the index is only a necessary condition). The statements
  are planned by the pure :mod:`debugger.core.query.plan`.
- **One read path for every caller**: `events`, `expect`, the HTTP API, `check`/`schema`,
  replay's selection and the TUI (its search, match count, n/N and follow increments) all
  read through :func:`select_rows` / :func:`select_events` / :func:`count_events` with an
  ``after_id``/``before_id`` window, so nobody scans the table for free text the index covers.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from debugger.core.query import language as q
from debugger.core.query.sql import compile_terms
from debugger.core.query.plan import FTS_TABLE, Part, index_match, plan
from debugger.store.reads import EVENT_COLUMNS, from_row, now_utc

log = logging.getLogger(__name__)

WATERMARK_KEY = "fts_watermark"
_SELECT = ", ".join(f"events.{c}" for c in EVENT_COLUMNS)


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
        self, *, step: int = 8, rows_per_commit: int = 64, min_steps: int = 1, merge_pages: int = 16, merge_budget: float = 0.02
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


def _parts(
    conn: sqlite3.Connection, query: q.Query | None, now: datetime | None, statuses: Iterable[str] | None,
    after_id: int, before_id: int | None,
) -> list[Part]:
    watermark = 0
    if index_match(query, 1) is not None:  # only a text term makes the index worth a look
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (WATERMARK_KEY,)).fetchone()
        watermark = int(row[0]) if row is not None else 0
    return plan(
        query, now=now if now is not None else now_utc(), statuses=statuses, after_id=after_id, before_id=before_id,
        watermark=watermark,
    )


def select_rows(
    conn: sqlite3.Connection,
    columns: Sequence[str],
    *,
    query: q.Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """``columns`` of the matching events with ``after_id < id < before_id``, oldest first;
    with ``newest`` the last ``limit`` of them (still oldest first).

    Lazy: the index part is walked in id order, so a common word stops after one page and a
    rare one reads only its own rows. ``newest=True, limit=1`` is the previous match before a
    cursor, ``after_id=cursor, limit=1`` the next one.
    """
    parts = _parts(conn, query, now, statuses, after_id, before_id)
    if newest:
        parts.reverse()
    remaining = limit
    kept: list[tuple[Any, ...]] = []
    for part in parts:
        if remaining is not None and remaining <= 0:
            break
        sql, params = part.select(columns, newest=newest, limit=remaining)
        for row in conn.execute(sql, params):
            if newest:
                kept.append(row)
            else:
                yield row
            if remaining is not None:
                remaining -= 1
    if newest:
        yield from reversed(kept)


def select_events(
    conn: sqlite3.Connection,
    *,
    query: q.Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> Iterator[dict[str, Any]]:
    """Matching events oldest first; with ``newest`` the last ``limit`` of them (still oldest first)."""
    for row in select_rows(
        conn, EVENT_COLUMNS, query=query, now=now, statuses=statuses, after_id=after_id, before_id=before_id,
        limit=limit, newest=newest,
    ):
        yield from_row(row)


def count_events(
    conn: sqlite3.Connection,
    *,
    query: q.Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    cap: int | None = None,
) -> int:
    """How many events match with ``after_id < id < before_id`` (at most ``cap``, to bound the time on huge captures)."""
    total = 0
    for part in _parts(conn, query, now, statuses, after_id, before_id):
        if cap is not None and total >= cap:
            break
        sql, params = part.count(cap - total if cap is not None else None)
        total += int(conn.execute(sql, params).fetchone()[0])
    return total


def matching_sql(
    conn: sqlite3.Connection,
    columns: Sequence[str],
    *,
    query: q.Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    before_id: int | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """One unordered ``SELECT`` of ``columns`` of every match with ``id < before_id`` (the parts
    joined by UNION ALL), to aggregate over: ``SELECT count(*), min(x) FROM (<sql>)``."""
    parts = _parts(conn, query, now, statuses, 0, before_id)
    cols = ", ".join(f"events.{c}" for c in columns)
    sql = " UNION ALL ".join(f"SELECT {cols} FROM {p.source} WHERE {p.where}" for p in parts)
    return sql, tuple(v for p in parts for v in p.params)


@dataclass(frozen=True, slots=True)
class NearMiss:
    """An event that satisfies some of a query's terms: which ones it failed."""

    event: dict[str, Any]
    failed: tuple[str, ...]
    matched: int


def closest_events(
    conn: sqlite3.Connection,
    query: q.Query,
    *,
    now: datetime,
    statuses: Iterable[str] | None,
    limit: int = 5,
    window: int = 5000,
) -> list[NearMiss]:
    """Among the newest ``window`` events, those satisfying the most terms (the default status counts as one)."""
    terms = compile_terms(query, now=now)
    if statuses is not None:
        wanted = list(statuses)
        terms.append((f"status:{','.join(wanted)}", f"(events.status IN ({','.join('?' * len(wanted))}))", wanted))
    if not terms:
        return []
    score = " + ".join(f"coalesce({sql}, 0)" for _, sql, _ in terms)
    flags = ", ".join(f"coalesce({sql}, 0)" for _, sql, _ in terms)
    params = [p for _, _, ps in terms for p in ps]
    sql = (
        f"SELECT * FROM (SELECT {_SELECT}, {flags}, {score} AS score FROM"
        f" (SELECT * FROM events ORDER BY id DESC LIMIT {int(window)}) AS events)"
        f" ORDER BY score DESC, id DESC LIMIT {int(limit)}"
    )
    out = []
    width = len(EVENT_COLUMNS)
    for row in conn.execute(sql, params + params):
        hits = row[width : width + len(terms)]
        failed = tuple(label for (label, _, _), hit in zip(terms, hits, strict=True) if not hit)
        out.append(NearMiss(from_row(row[:width]), failed, len(terms) - len(failed)))
    return out
