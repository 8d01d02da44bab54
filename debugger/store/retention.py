"""Retention: ``serve --max-events N`` / ``--max-age 7d``, applied by the writer on its idle time.

What a deletion keeps consistent (all inside the transaction that deletes the events):

- **Pinned events are never deleted** (``events.pinned``), whatever their age or position.
- **requests**: a request row stays while any of its events remains (a pinned event keeps its
  HTTP view); requests without events (rejected bodies, pixels) go once they are older than
  the oldest event kept.
- **duplicate_of**: a duplicate whose first copy is deleted keeps its ``duplicate`` status
  and its problem text, and its pointer becomes NULL (it would point at nothing).
- **sources**: ``event_count``/``request_count`` count what the capture holds, so they go
  down with the rows; ``first_seen``/``last_seen`` and labels are history and stay.
- **The search index**: ``events_fts`` is contentless; removing a row from it costs as much
  as indexing it (measured ~0.6 ms per row in small transactions), so deleted rows stay in it
  as stale entries. They are harmless: every index hit is joined to ``events`` and re-checked,
  and a deleted id is never reused (AUTOINCREMENT). ``meta.fts_stale`` counts them and
  ``segdbg vacuum`` rebuilds the index without them.
- **Replay runs and deliveries** are kept: they are the record of what was sent.

The horizon is cheap to find: ids are dense and follow arrival order, so "the newest N" is
``max(id) - N + 1`` and "younger than 7d" is a bisection over ids.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from debugger.core.query import sql as query_sql
from debugger.core.query.language import Query
from debugger.core.query.sql import relative_span
from debugger.core.timefmt import format_timestamp
from debugger.store.index import STALE_KEY, WATERMARK_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Policy:
    """How much a capture keeps: the newest ``max_events`` events and those younger than
    ``max_age``, plus every pinned event. ``None`` means no limit of that kind."""

    max_events: int | None = None
    max_age: timedelta | None = None

    @property
    def active(self) -> bool:
        """Whether anything is ever deleted."""
        return self.max_events is not None or self.max_age is not None

    def describe(self) -> str:
        """``the newest 100,000 events and the last 7 days (pinned events always)``."""
        parts = []
        if self.max_events is not None:
            parts.append(f"the newest {self.max_events:,} event{'s' if self.max_events != 1 else ''}")
        if self.max_age is not None:
            parts.append(f"the last {describe_age(self.max_age)}")
        return (" and ".join(parts) + " (pinned events always)") if parts else "everything"


def describe_age(age: timedelta) -> str:
    """``7 days``, ``12 hours``, ``90 seconds``: the largest whole unit (days at most)."""
    seconds = int(age.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def parse_age(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w``, ``90s`` (the units of the filter language's ``after:``).

    Raises:
        ValueError: with a message naming the accepted forms.
    """
    try:
        span = relative_span(text.strip())
    except OverflowError:
        span = None
    if span is None or span <= timedelta(0):
        raise ValueError(f"{text!r} is not a duration; use e.g. 90s, 30m, 12h, 7d or 2w.")
    return span


def first_id_since(conn: sqlite3.Connection, table: str, since: str) -> int | None:
    """The first id of ``table`` (``events`` or ``requests``) received at or after ``since``,
    by bisecting ids (they follow arrival order; no index on ``received_at`` is needed)."""
    bounds = conn.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()
    if bounds[0] is None:
        return None
    low, high = bounds[0], bounds[1] + 1
    while low < high:
        middle = (low + high) // 2
        row = conn.execute(
            f"SELECT id, received_at FROM {table} WHERE id >= ? ORDER BY id LIMIT 1", (middle,)
        ).fetchone()
        if row is None or row[1] >= since:
            high = middle
        else:
            low = row[0] + 1
    return low if low <= bounds[1] else None


@dataclass(frozen=True, slots=True)
class Horizon:
    """Unpinned events with ``id < events`` go; requests with ``id < requests`` go once no event refers to them."""

    events: int
    requests: int


def age_edge(conn: sqlite3.Connection, policy: Policy, now: datetime) -> int:
    """The first event id younger than ``max_age`` (0 without an age limit)."""
    if policy.max_age is None:
        return 0
    since = first_id_since(conn, "events", format_timestamp(now - policy.max_age))
    if since is not None:
        return since
    return int(conn.execute("SELECT coalesce(max(id), -1) + 1 FROM events").fetchone()[0])


def horizon(conn: sqlite3.Connection, policy: Policy, now: datetime, *, by_age: int | None = None) -> Horizon:
    """Where retention cuts the capture now (0: nothing to delete).

    Args:
        by_age: :func:`age_edge` computed a moment ago (it moves slowly; this saves the bisection).
    """
    top = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    keep_from = 0
    if top is not None and policy.max_events is not None:
        keep_from = max(keep_from, top - policy.max_events + 1)
    cutoff = format_timestamp(now - policy.max_age) if policy.max_age is not None else None
    if top is not None and cutoff is not None:
        keep_from = max(keep_from, by_age if by_age is not None else age_edge(conn, policy, now))
    request_from = 0
    if keep_from:
        row = conn.execute(
            "SELECT request_id FROM events WHERE id >= ? AND request_id IS NOT NULL ORDER BY id LIMIT 1", (keep_from,)
        ).fetchone()
        if row is not None:
            request_from = row[0]
    if not request_from and cutoff is not None:  # no event kept to compare with: requests by their own age
        request_from = (
            first_id_since(conn, "requests", cutoff)
            or (conn.execute("SELECT coalesce(max(id), 0) + 1 FROM requests").fetchone()[0])
        )
    return Horizon(keep_from, request_from)


@dataclass(slots=True)
class Swept:
    """What one step deleted."""

    events: int = 0
    requests: int = 0
    more: bool = False


def delete_events(conn: sqlite3.Connection, keep_from: int, *, limit: int = 500) -> int:
    """Delete the oldest ``limit`` unpinned events below ``keep_from`` (inside the caller's
    transaction), keeping duplicates, sources and the index bookkeeping consistent; returns
    how many went. (The scan passes over the pinned rows below the edge: few, by nature.)
    """
    rows = conn.execute(
        "SELECT id, request_id, write_key FROM events WHERE id < ? AND pinned = 0 ORDER BY id LIMIT ?",
        (keep_from, limit),
    ).fetchall()
    if not rows:
        return 0
    low, high = rows[0][0], rows[-1][0]
    conn.execute("DELETE FROM events WHERE id >= ? AND id <= ? AND pinned = 0", (low, high))
    # A duplicate's first copy is always older than it, so only pointers into this range can dangle.
    conn.execute(
        "UPDATE events SET duplicate_of = NULL WHERE duplicate_of >= ? AND duplicate_of <= ?"
        " AND NOT EXISTS (SELECT 1 FROM events AS first WHERE first.id = events.duplicate_of)",
        (low, high),
    )
    per_key = Counter(key for _, _, key in rows if key is not None)
    conn.executemany(
        "UPDATE sources SET event_count = max(0, event_count - ?) WHERE write_key = ?",
        [(count, key) for key, count in per_key.items()],
    )
    _count_stale(conn, [row[0] for row in rows])
    return len(rows)


def _count_stale(conn: sqlite3.Connection, ids: list[int]) -> None:
    mark = conn.execute("SELECT value FROM meta WHERE key = ?", (WATERMARK_KEY,)).fetchone()
    if mark is None:
        return
    stale = sum(1 for i in ids if i <= int(mark[0]))
    if stale:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
            (STALE_KEY, str(stale), stale),
        )


def delete_requests(conn: sqlite3.Connection, keep_from: int, *, limit: int = 500) -> int:
    """Delete the oldest ``limit`` requests below ``keep_from`` that no event refers to; returns how many."""
    gone = conn.execute(
        "SELECT id, write_key FROM requests WHERE id < ?"
        " AND NOT EXISTS (SELECT 1 FROM events WHERE events.request_id = requests.id) ORDER BY id LIMIT ?",
        (keep_from, limit),
    ).fetchall()
    if gone:
        conn.executemany("DELETE FROM requests WHERE id = ?", [(i,) for i, _ in gone])
        per_key = Counter(key for _, key in gone if key is not None)
        conn.executemany(
            "UPDATE sources SET request_count = max(0, request_count - ?) WHERE write_key = ?",
            [(count, key) for key, count in per_key.items()],
        )
    return len(gone)


class Retention:
    """The writer's idle task for a :class:`Policy`: delete in short transactions, never in the ack path.

    Like the search indexer, each call is one transaction of small chunks, and the ``busy()``
    probe is asked between chunks: a request that arrives waits for one chunk (``chunk``
    rows, ~10 ms) and the commit, not for the whole backlog. A transaction holds at most
    ``rows_per_commit`` rows; the writer calls again after its short idle pause, so other
    processes get the lock in between.

    When the capture is over its limit by more than ``slack`` (ingest outran retention, e.g.
    a sustained flood that keeps the writer busy), each call deletes at least ``busy_rows``
    (half the backlog, up to ``rows_per_commit``) before yielding, so the capture stays
    bounded; acknowledgements then wait up to one such bite (~0.1–0.3 s). The age edge (a bisection over ids) is recomputed at most every
    ``check_every`` seconds; the count edge is ``max(id) - N + 1`` and always current.

    Args:
        policy: what to keep.
        clock: the wall clock (``max_age`` counts back from it).
        chunk: rows per DELETE; the busy probe is asked between chunks.
        rows_per_commit: rows per transaction at most.
        busy_rows: rows per call at least while the capture is over the limit by more than ``slack``.
        slack: rows over the limit tolerated before retention takes priority (default: a
            tenth of ``max_events``, at least 1,000).
        check_every: seconds between two bisections for the age edge.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        clock: Callable[[], datetime],
        chunk: int = 100,
        rows_per_commit: int = 5000,
        busy_rows: int = 2000,
        slack: int | None = None,
        check_every: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy, self.clock, self.monotonic = policy, clock, monotonic
        self.chunk, self.rows_per_commit, self.busy_rows = chunk, rows_per_commit, busy_rows
        self.slack = slack if slack is not None else max(1000, (policy.max_events or 0) // 10)
        self.check_every = check_every
        self.deleted_events = 0
        self.deleted_requests = 0
        self.seconds = 0.0
        self._age: tuple[float, int] | None = None  # (when, edge)
        #: Over the limit by more than the slack after the last call: the writer then runs this
        #: task whenever its queue is empty, not only after a lull (see EventWriter idle_grace).
        self.urgent = policy.active  # not known until the first call: look at the first chance

    def __call__(self, conn: sqlite3.Connection, busy: Callable[[], bool]) -> bool:
        """Delete what the policy no longer keeps, one transaction; returns whether more remains."""
        if not self.policy.active:
            return False
        started = time.perf_counter()
        swept = self.step_once(conn, self.rows_per_commit, busy=busy)
        self.seconds += time.perf_counter() - started
        return swept.more

    def step_once(self, conn: sqlite3.Connection, limit: int, *, busy: Callable[[], bool] | None = None) -> Swept:
        """One transaction: find the horizon, delete up to ``limit`` events in chunks (stopping
        early when ``busy()`` says a job waits), then requests no event refers to any more."""
        swept = Swept()
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = self.clock()
            by_age = None
            if self.policy.max_age is not None:
                tick = self.monotonic()
                if self._age is None or tick - self._age[0] >= self.check_every:
                    self._age = (tick, age_edge(conn, self.policy, now))
                by_age = self._age[1]
            edge = horizon(conn, self.policy, now, by_age=by_age)
            oldest = conn.execute("SELECT min(id) FROM events").fetchone()[0] or edge.events
            over = edge.events - oldest  # about how many rows are past the edge (pinned ones aside)
            # Within the slack, a waiting job goes first after one chunk; beyond it, retention
            # takes bigger bites (the more behind, the bigger) so a flood cannot grow the capture unbounded.
            at_least = self.chunk if over <= self.slack else max(self.busy_rows, min(over // 2, limit))
            exhausted = False
            while swept.events < limit:
                if busy is not None and swept.events >= at_least and busy():
                    break
                wanted = min(self.chunk, limit - swept.events)
                n = delete_events(conn, edge.events, limit=wanted)
                swept.events += n
                if n < wanted:  # nothing older is left to delete
                    exhausted = True
                    break
            self.urgent = over - swept.events > self.slack
            if exhausted:
                swept.requests = delete_requests(conn, edge.requests, limit=self.rows_per_commit)
                swept.more = swept.requests >= self.rows_per_commit
            else:
                swept.more = True
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.deleted_events += swept.events
        self.deleted_requests += swept.requests
        return swept


def apply(
    conn: sqlite3.Connection,
    policy: Policy,
    now: datetime,
    *,
    step: int = 5000,
    progress: Callable[[int], Any] | None = None,
) -> tuple[int, int]:
    """Apply a policy now, to completion, on this connection (``segdbg vacuum``); returns
    ``(events, requests)`` deleted. Each step is its own short transaction, so a running
    server's writer is never kept waiting long."""
    task = Retention(policy, clock=lambda: now, chunk=step, rows_per_commit=step, check_every=0)
    while True:
        swept = task.step_once(conn, step)
        if progress is not None and swept.events:
            progress(swept.events)
        if not swept.more:
            return task.deleted_events, task.deleted_requests


class Chain:
    """Several idle tasks as one (the writer takes one). Every call runs each task once (each
    does its own bounded share when a job waits), so none starves another under load; the
    chain has more to do while any of them has."""

    def __init__(self, *tasks: Callable[[sqlite3.Connection, Callable[[], bool]], bool]) -> None:
        self.tasks = tasks

    @property
    def urgent(self) -> bool:
        """Whether any task is urgent (see :attr:`Retention.urgent`)."""
        return any(getattr(task, "urgent", False) for task in self.tasks)

    def __call__(self, conn: sqlite3.Connection, busy: Callable[[], bool]) -> bool:
        """Run every task once; returns whether any has more."""
        more = False
        for task in self.tasks:
            more = task(conn, busy) or more
        return more


# ------------------------------------------------------------------------------------ pins
def pin_event(conn: sqlite3.Connection, event_id: int, pinned: bool) -> bool:
    """Pin or unpin one event (inside the caller's transaction); whether it exists."""
    return conn.execute("UPDATE events SET pinned = ? WHERE id = ?", (int(pinned), event_id)).rowcount > 0


def set_pins(conn: sqlite3.Connection, ids: list[int], pinned: bool) -> tuple[list[int], list[int]]:
    """Pin or unpin ``ids`` in one transaction; returns ``(changed or already so, not found)``."""
    found: list[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            conn.execute(f"UPDATE events SET pinned = ? WHERE id IN ({marks})", (int(pinned), *chunk))
            found += [r[0] for r in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk)]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    present = set(found)
    return sorted(present), [i for i in dict.fromkeys(ids) if i not in present]


def pin_matching(conn: sqlite3.Connection, parsed: Query, pinned: bool, now: datetime) -> int:
    """Pin or unpin every event (any status) a query selects; returns how many."""
    sql, params = query_sql.compile(parsed, now=now)
    conn.execute("BEGIN IMMEDIATE")
    try:
        changed = conn.execute(f"UPDATE events SET pinned = ? WHERE {sql}", (int(pinned), *params)).rowcount
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return int(changed)
