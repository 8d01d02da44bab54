"""The one writer of a capture: a thread that owns the write connection and commits in groups.

Guarantees (docs/architecture.md §2, docs/capture.md):

- **One writer.** :class:`EventWriter` owns the only write connection on its own thread and
  commits in groups (everything queued, up to ``max_rows`` rows, per transaction).
- **Ack after commit.** :meth:`EventWriter.submit` returns a future that resolves only after
  the rows are committed; the server answers 200 after awaiting it.
- **Nothing lost.** Every request that reached an ingest route is a ``requests`` row (the body
  kept when it was rejected); every message is an ``events`` row, ``ok``, ``invalid`` or
  ``duplicate`` (pointing at its first copy within 24 h, keyed by write key + messageId).

This module is the thread, its queue and its policies (grouping, idle work, checkpoints);
how a group of jobs becomes rows is :mod:`debugger.store.rows`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from debugger.core.http.model import RequestRecord
from debugger.core.protocol import Event
from debugger.store.capture import StoreError, check_integrity, connect, migrate
from debugger.store.rows import WriteResult, next_ids, write_error, write_group

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    record: RequestRecord | None
    events: Sequence[Event]
    future: Future[WriteResult] | asyncio.Future[WriteResult]
    loop: asyncio.AbstractEventLoop | None = None


@dataclass(slots=True)
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: Future[Any]
    transaction: bool = True


_STOP = object()
_NOTHING = object()  # no job taken from the queue yet
T = TypeVar("T")
#: An idle task runs its own short transactions and says whether it has more to do.
IdleTask = Callable[[sqlite3.Connection, Callable[[], bool]], bool]


class EventWriter:
    """The one thread that writes: group commit, then resolve each job's future.

    Args:
        path: the database file (migrated before the writer starts).
        max_rows: how many event rows one transaction may hold before it commits.
        checkpoint_every: seconds between WAL checkpoints (run on their own thread).
        lock_timeout: seconds to wait for another process's lock before failing the jobs.
        max_pages: a cap on the capture's size in SQLite pages (None: the disk is the limit).
        idle_task: background work (the search index) run between jobs when the queue is
            empty, and at least every ``idle_every`` seconds under sustained load. It is
            given a ``busy()`` probe so it can stop as soon as a job is waiting.
        idle_every: the longest the idle task waits while the writer is busy.
        idle_grace: how long the queue must stay empty before the idle task runs: a steady
            stream of small requests leaves the queue empty for a moment after every commit,
            and an index step taken then would make the next requests wait for it. An idle
            task whose ``urgent`` attribute is true (retention past its slack) runs in every
            such moment instead.
        idle_pause: the gap left between two idle-task transactions, so other processes
            (`segdbg reset --db`, a migration) get the write lock while the index catches up.
        idle_wake: with nothing arriving, run the idle task again after this many seconds
            (retention by age has work even when no event comes); ``None``: only after commits.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_rows: int = 5000,
        checkpoint_every: float = 0.5,
        lock_timeout: float = 5.0,
        max_pages: int | None = None,
        idle_task: IdleTask | None = None,
        idle_every: float = 0.5,
        idle_grace: float = 0.005,
        idle_pause: float = 0.005,
        idle_wake: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.lock_timeout = lock_timeout
        self.max_pages = max_pages
        self.checkpoint_every = checkpoint_every
        self.idle_task = idle_task
        self.idle_every = idle_every
        self.idle_grace = idle_grace
        self.idle_pause = idle_pause
        self.idle_wake = idle_wake
        self._listeners: list[Callable[[], None]] = []
        self._sequence = False
        self._next_ids: tuple[int, int] | None = None
        self._pending_ids: tuple[int, int] | None = None
        self._data_version = -1
        self._queue: queue.SimpleQueue[_Job | _Call | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="segdbg-writer", daemon=True)
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="segdbg-checkpoint", daemon=True)
        self._checkpoint_wanted = threading.Event()
        self._closing = False
        self._last_checkpoint = 0.0
        self._conn: sqlite3.Connection | None = None
        self.committed_events = 0
        self.committed_requests = 0
        self.transactions = 0

    def start(self, *, check: bool = False) -> EventWriter:
        """Migrate the schema, open the write connection and start the threads; with ``check``,
        first refuse a damaged capture (:func:`check_integrity`)."""
        if check:
            check_integrity(self.path)
        migrate(self.path)
        self._conn = connect(self.path)
        self._sequence = (
            self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone() is not None
        )
        # Checkpoints (copying the WAL back and fsyncing) run on their own thread and
        # connection, so a commit never waits for one: see _checkpoint_loop.
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        # A group's multi-row INSERT keeps a statement journal; past 64 KB SQLite spills it to a
        # temporary file, created and unlinked in /tmp within the transaction (strace during
        # bench/soak.py: ~100 a second). In memory, the writer's system time fell from 0.13 to
        # 0.08 of a CPU in that soak. Bounded by one group's pages; VACUUM, which copies the whole
        # capture, switches back to files (maintenance.vacuum).
        self._conn.execute("PRAGMA temp_store = MEMORY")
        self._conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")
        if self.max_pages is not None:
            self._conn.execute(f"PRAGMA max_page_count = {int(self.max_pages)}")
        self._thread.start()
        self._checkpointer.start()
        return self

    def submit(self, record: RequestRecord | None, events: Sequence[Event]) -> Future[WriteResult]:
        """Queue a request record and its events; the future resolves after COMMIT."""
        future: Future[WriteResult] = Future()
        self._queue.put(_Job(record, events, future))
        return future

    async def write(self, record: RequestRecord | None, events: Sequence[Event]) -> WriteResult:
        """Queue a job from an event loop and wait for its COMMIT.

        All the loop's jobs in one commit group are settled by a single thread-safe callback:
        one wake-up of the loop per group instead of one per request.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        self._queue.put(_Job(record, events, future, loop))
        return await future

    def call(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> Future[T]:
        """Run ``fn(conn)`` on the writer thread inside one transaction (maintenance, reset).

        With ``transaction=False`` ``fn`` runs outside any transaction and manages its own
        (``VACUUM`` cannot run inside one); ingest waits meanwhile, it is not refused.
        """
        future: Future[T] = Future()
        self._queue.put(_Call(fn, future, transaction))
        return future

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` on the writer thread after every commit (keep it quick)."""
        self._listeners.append(listener)

    def close(self, timeout: float | None = 30) -> None:
        """Write everything already queued, then stop the threads and close the connection."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        self._closing = True
        self._checkpoint_wanted.set()
        if self._checkpointer.is_alive():
            self._checkpointer.join(timeout)
        if self._conn is not None and not self._thread.is_alive():
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # readers still open: the WAL is simply kept
                log.info("final checkpoint skipped: %s", exc)
            self._conn.close()
            self._conn = None

    def _checkpoint_loop(self) -> None:
        conn = connect(self.path)
        try:
            while True:
                self._checkpoint_wanted.wait()
                self._checkpoint_wanted.clear()
                if self._closing:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    log.warning("checkpoint failed (will retry): %s", exc)
        finally:
            conn.close()

    def _run(self) -> None:
        assert self._conn is not None
        conn = self._conn
        idle_pending = self.idle_task is not None  # catch up on what earlier runs left
        last_idle = time.monotonic()
        first: object = None
        while True:
            first = _NOTHING
            if idle_pending:
                overdue = time.monotonic() - last_idle > self.idle_every
                if not overdue and not getattr(self.idle_task, "urgent", False):
                    try:  # a lull, not the gap between two requests of a steady stream
                        first = self._queue.get(timeout=self.idle_grace)
                    except queue.Empty:
                        pass
                if first is _NOTHING and (overdue or self._queue.empty()):
                    idle_pending = self._idle(conn)
                    last_idle = time.monotonic()
                    try:  # a short gap before the next idle transaction; a job ends it at once
                        first = self._queue.get(timeout=self.idle_pause)
                    except queue.Empty:
                        continue
            if first is not _NOTHING:
                pass
            elif self.idle_task is not None and self.idle_wake is not None:
                try:
                    first = self._queue.get(timeout=self.idle_wake)
                except queue.Empty:  # quiet for a while: time alone may have made work (retention by age)
                    idle_pending = True
                    continue
            else:
                first = self._queue.get()
            if first is _STOP:
                break
            if isinstance(first, _Call):
                self._call(conn, first)
                idle_pending = self.idle_task is not None
                continue
            jobs: list[_Job] = [first]  # type: ignore[list-item]
            rows = len(jobs[0].events)
            stopping = False
            while rows < self.max_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or isinstance(nxt, _Call):
                    self._commit(conn, jobs)
                    jobs = []
                    if nxt is _STOP:
                        stopping = True
                    else:
                        self._call(conn, cast(_Call, nxt))
                    break
                job = cast(_Job, nxt)
                jobs.append(job)
                rows += len(job.events)
            if jobs:
                self._commit(conn, jobs)
            idle_pending = self.idle_task is not None
            if stopping:
                break

    def _idle(self, conn: sqlite3.Connection) -> bool:
        assert self.idle_task is not None
        try:
            return self.idle_task(conn, lambda: not self._queue.empty())
        except Exception:  # noqa: BLE001 - background work must never stop ingest
            log.exception("background task failed; it will retry after the next commit")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False

    def _call(self, conn: sqlite3.Connection, call: _Call) -> None:
        try:
            if call.transaction:
                conn.execute("BEGIN IMMEDIATE")
            result = call.fn(conn)
            if call.transaction:
                conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            call.future.set_exception(exc)
            return
        self._next_ids = None  # maintenance (reset, ...) may have changed the tables
        call.future.set_result(result)
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the writer
                log.exception("commit listener failed")

    def _commit(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            results: list[WriteResult | BaseException] = list(self._write_jobs(conn, jobs))
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear about the failure
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if len(jobs) > 1 and not isinstance(exc, sqlite3.OperationalError):
                # One bad row must not fail the requests that shared its group: write each alone,
                # so only the job that cannot be written answers 503. (A full disk or a lock is
                # an OperationalError that would fail each of them again: not retried.)
                for job in jobs:
                    self._commit(conn, [job])
                return
            log.exception("write failed; %d requests answered with an error", len(jobs))
            error = StoreError(write_error(self.path, exc))
            results = [error] * len(jobs)
            self._next_ids = None
        else:
            self._next_ids = self._pending_ids
            self.transactions += 1
            for job in jobs:
                self.committed_events += len(job.events)
                self.committed_requests += job.record is not None
            now = time.monotonic()
            if now - self._last_checkpoint >= self.checkpoint_every:
                self._last_checkpoint = now
                self._checkpoint_wanted.set()
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WriteResult], Any]]] = {}
        for job, result in zip(jobs, results, strict=True):
            if job.loop is None:
                future = job.future
                assert isinstance(future, Future)
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            else:
                by_loop.setdefault(job.loop, []).append((job.future, result))  # type: ignore[arg-type]
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                log.debug("a loop closed before its writes were acknowledged")
        self._notify()

    def _write_jobs(self, conn: sqlite3.Connection, jobs: list[_Job]) -> list[WriteResult]:
        """Insert a group of jobs (:func:`debugger.store.rows.write_group`) inside this transaction."""
        # The next ids are remembered between transactions and re-read only when another
        # connection (a TUI paste, `segdbg reset --db`, ...) committed in between: data_version
        # changes for exactly that, and this IMMEDIATE transaction holds the write lock now.
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if self._next_ids is not None and version == self._data_version:
            ids = self._next_ids
        else:
            ids = next_ids(conn, sequence=self._sequence)
        self._data_version = version
        results, self._pending_ids = write_group(conn, jobs, ids)
        return results


def _settle(settled: list[tuple[asyncio.Future[WriteResult], Any]]) -> None:
    """On the waiting loop: resolve every future of one commit group."""
    for future, result in settled:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
