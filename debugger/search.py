"""Full-history search: the background FTS5 index and the reads every caller filters through.

- **Indexing is off the ack path** (DESIGN §2). :class:`Indexer` is the writer's idle task: it
  copies ``events.stored`` into the contentless trigram table ``events_fts`` in small
  transactions, between ingest commits, and records how far it got in ``meta.fts_watermark``.
- **Results never depend on the lag.** Rows at or below the watermark are found through the
  index, rows above it by scanning, and every row is re-checked with the exact SQL of
  :func:`debugger.query.compile` (the index is only a necessary condition).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from debugger import query as q
from debugger.store import EVENT_COLUMNS, from_row, now_utc

log = logging.getLogger(__name__)

FTS_TABLE = "events_fts"
WATERMARK_KEY = "fts_watermark"
#: What `segdbg events` and friends show unless told otherwise: what Segment would forward.
DEFAULT_STATUSES = ("ok",)
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


def view_statuses(query: q.Query | None, show_all: bool = False) -> tuple[str, ...] | None:
    """The default view (PROTOCOL §10 case 8): only ``ok`` unless ``--all`` or a ``status:`` term."""
    if show_all or (query is not None and query.has_status_term):
        return None
    return DEFAULT_STATUSES


def _where(
    query: q.Query | None, now: datetime | None, statuses: Iterable[str] | None, after_id: int, before_id: int | None
) -> tuple[list[str], list[Any]]:
    where, params = ["events.id > ?"], [after_id]
    if before_id is not None:
        where.append("events.id < ?")
        params.append(before_id)
    if statuses is not None:
        wanted = list(statuses)
        # `ok` is most rows: `+` keeps the planner on the other indexes (or the id order) then;
        # without it, `status != 'ok'` lets it use the partial index events_not_ok.
        ok = "ok" in wanted
        where.append(f"{'+' if ok else ''}events.status IN ({','.join('?' * len(wanted))})")
        if not ok:
            where.append("events.status != 'ok'")
        params += wanted
    if query is not None and query.terms:
        sql, values = q.compile(query, now=now if now is not None else now_utc())
        where.append(sql)
        params += values
    return where, params


def _use_index(conn: sqlite3.Connection, query: q.Query | None) -> tuple[str, int] | None:
    """The FTS MATCH and watermark to drive the search with, when that beats the plain plan."""
    if query is None or query.selective:
        return None  # an exact user:/id: is narrower through its own index
    match = q.text_match(query)
    if match is None:
        return None
    state = index_state(conn)
    if state is None or state.watermark == 0:
        return None
    return match, state.watermark


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
    where, params = _where(query, now, statuses, after_id, before_id)
    fts = _use_index(conn, query)
    order = "DESC" if newest else "ASC"
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    if fts is None:
        sql = f"SELECT {_SELECT} FROM events WHERE {' AND '.join(where)} ORDER BY events.id {order}{limit_sql}"
        parts = [(sql, params)]
    else:
        match, mark = fts
        # Above the watermark: scan. At or below it: walk the index in id order, lazily, so a
        # common word stops after one page and a rare one reads only its own rows.
        scan = f"SELECT {_SELECT} FROM events WHERE events.id > {mark} AND {' AND '.join(where)} ORDER BY events.id {order}{limit_sql}"
        indexed = (
            f"SELECT {_SELECT} FROM {FTS_TABLE} CROSS JOIN events ON events.id = {FTS_TABLE}.rowid"
            f" WHERE {FTS_TABLE} MATCH ? AND {FTS_TABLE}.rowid <= {mark} AND {' AND '.join(where)}"
            f" ORDER BY {FTS_TABLE}.rowid {order}{limit_sql}"
        )
        parts = [(scan, params), (indexed, [match, *params])]
        if not newest:
            parts.reverse()
    rows: list[dict[str, Any]] = []
    remaining = limit
    for sql, values in parts:
        if remaining is not None and remaining <= 0:
            break
        if remaining is not None and remaining != limit:
            sql = sql.rsplit(" LIMIT ", 1)[0] + f" LIMIT {int(remaining)}"
        for row in conn.execute(sql, values):
            event = from_row(row)
            if newest:
                rows.append(event)
            else:
                yield event
            if remaining is not None:
                remaining -= 1
    if newest:
        yield from reversed(rows)


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
    """How many events match (at most ``cap``, to bound the time on huge captures)."""
    where, params = _where(query, now, statuses, after_id, before_id)
    fts = _use_index(conn, query)
    limit = f" LIMIT {int(cap)}" if cap is not None else ""
    if fts is None:
        return int(conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM events WHERE {' AND '.join(where)}{limit})", params).fetchone()[0])
    match, mark = fts
    total = int(conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM events WHERE events.id > {mark} AND {' AND '.join(where)}{limit})", params
    ).fetchone()[0])
    if cap is not None:
        if total >= cap:
            return total
        limit = f" LIMIT {int(cap - total)}"
    return total + int(conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {FTS_TABLE} CROSS JOIN events ON events.id = {FTS_TABLE}.rowid"
        f" WHERE {FTS_TABLE} MATCH ? AND {FTS_TABLE}.rowid <= {mark} AND {' AND '.join(where)}{limit})",
        [match, *params],
    ).fetchone()[0])


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
    terms = q.compile_terms(query, now=now)
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
