"""The capture store: one SQLite file in WAL mode, one writer thread, readers on their own connections.

Guarantees (DESIGN §2–§3):

- **One writer.** :class:`EventWriter` owns the only write connection on its own thread and
  commits in groups (everything queued, up to ``max_rows`` rows, per transaction).
- **Ack after commit.** :meth:`EventWriter.submit` returns a future that resolves only after
  the rows are committed; the server answers 200 after awaiting it.
- **Nothing lost.** Every request that reached an ingest route is a ``requests`` row (the body
  kept when it was rejected); every message is an ``events`` row, ``ok``, ``invalid`` or
  ``duplicate`` (pointing at its first copy within 24 h, keyed by write key + messageId).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlite_utils

from debugger.protocol import DUPLICATE, DUPLICATE_WINDOW, OK, WARNING, Event, Problem
from debugger.query import Query
from debugger.timefmt import format_timestamp, parse_timestamp
from debugger.wire import RequestRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION_KEY = "schema_version"
APPLICATION_ID = 0x53474442  # "SGDB": marks the file as a segdbg capture


class StoreError(Exception):
    """The database cannot be opened or written; the message says why in one line."""


def _migration_1(db: sqlite_utils.Database) -> None:
    db["sources"].create(
        {
            "write_key": str,
            "label": str,
            "first_seen": str,
            "last_seen": str,
            "event_count": int,
            "request_count": int,
        },
        pk="write_key",
        not_null={"event_count", "request_count"},
        defaults={"event_count": 0, "request_count": 0},
    )
    db["requests"].create(
        {
            "id": int,
            "received_at": str,
            "method": str,
            "path": str,
            "query_string": str,
            "remote_addr": str,
            "headers": str,
            "kind": str,
            "write_key": str,
            "content_type": str,
            "content_encoding": str,
            "wire_size": int,
            "body_size": int,
            "status": int,
            "code": str,
            "message": str,
            "event_count": int,
            "body": bytes,
        },
        pk="id",
        not_null={"received_at", "method", "path", "status"},
    )
    db["events"].create(
        {
            "id": int,
            "request_id": int,
            "received_at": str,
            "write_key": str,
            "type": str,
            "name": str,
            "user_id": str,
            "anonymous_id": str,
            "message_id": str,
            "timestamp": str,
            "library_name": str,
            "library_version": str,
            "status": str,
            "duplicate_of": int,
            "problems": str,
            "raw": str,
            "stored": str,
        },
        pk="id",
        not_null={"received_at", "status"},
        foreign_keys=[("request_id", "requests", "id")],
    )
    db["events"].create_index(["message_id"], index_name="events_message_id")
    db["events"].create_index(["type", "name"], index_name="events_type_name")
    db["events"].create_index(["user_id"], index_name="events_user_id")
    db["events"].create_index(["anonymous_id"], index_name="events_anonymous_id")
    db["events"].create_index(["request_id"], index_name="events_request_id")


def _migration_replay(db: sqlite_utils.Database) -> None:
    """`segdbg replay` runs: one ``runs`` row per run, one ``replay_requests`` row per HTTP
    request it made, one ``deliveries`` row per event (DESIGN §3). Failed deliveries keep the
    three views of Segment's Event Delivery: the message sent (``deliveries.sent``), the
    request made and the response received (``replay_requests`` bodies and headers)."""
    db["runs"].create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "target": str,
            "query": str,
            "options": str,
            "status": str,
            "exit_code": int,
            "total": int,
            "delivered": int,
            "failed": int,
            "not_sent": int,
            "retried": int,
            "requests": int,
            "duration_s": float,
            "p50_ms": float,
            "p95_ms": float,
            "p99_ms": float,
            "drift_p99_ms": float,
            "errors": str,
        },
        pk="id",
        not_null={"started_at", "target", "status"},
    )
    db["replay_requests"].create(
        {
            "id": int,
            "run_id": int,
            "seq": int,
            "method": str,
            "url": str,
            "headers": str,
            "body": bytes,
            "body_size": int,
            "event_count": int,
            "outcome": str,
            "http_status": int,
            "reason": str,
            "error": str,
            "latency_ms": float,
            "attempts": int,
            "attempt_log": str,
            "sent_at": str,
            "drift_ms": float,
            "response_headers": str,
            "response_body": bytes,
        },
        pk="id",
        not_null={"run_id", "seq", "outcome"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    # One b-tree keyed (run, event position): a replay records tens of thousands of rows a second.
    db.execute(
        """CREATE TABLE deliveries (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            seq INTEGER NOT NULL,
            request_id INTEGER REFERENCES replay_requests(id),
            event_id INTEGER,
            type TEXT,
            name TEXT,
            message_id TEXT,
            sent_message_id TEXT,
            status TEXT NOT NULL,
            http_status INTEGER,
            reason TEXT,
            error TEXT,
            latency_ms FLOAT,
            attempts INTEGER,
            sent TEXT,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID"""
    )
    db["replay_requests"].create_index(["run_id", "seq"], index_name="replay_requests_run")


def _migration_search(db: sqlite_utils.Database) -> None:
    """Search (issue 3): never-reused event ids, indexes for the filters, the FTS5 text index.

    Indexes cost ingest, so only these: ``type`` and ``name`` (replacing ``(type, name)``),
    and the partial ``events_not_ok``; ``received_at`` has none (ids follow arrival order).

    - ``events`` is rebuilt with ``AUTOINCREMENT`` so ids stay monotonic across ``reset``
      (followers and ``?after=`` cursors would otherwise miss new rows). The rebuild copies
      the table's current SQL, so columns added by other migrations survive.
    - ``events_fts`` is a contentless trigram index of ``stored`` (detail=none keeps it small;
      every match is re-checked exactly), filled in the background up to ``fts_watermark``.
    """
    conn = db.conn
    table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()[0]
    if "AUTOINCREMENT" not in table_sql.upper():
        new_sql, replaced = re.subn(r'("id"|\[id\]|\bid\b)\s+INTEGER\s+PRIMARY\s+KEY', r"\1 INTEGER PRIMARY KEY AUTOINCREMENT", table_sql, count=1, flags=re.IGNORECASE)
        if replaced:
            indexes = [r[0] for r in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
            )]
            conn.execute(re.sub(r'^CREATE TABLE\s+("events"|\[events\]|events)', 'CREATE TABLE "events_rebuilt"', new_sql))
            conn.execute('INSERT INTO "events_rebuilt" SELECT * FROM "events"')
            conn.execute('DROP TABLE "events"')
            conn.execute('ALTER TABLE "events_rebuilt" RENAME TO "events"')
            for index_sql in indexes:
                conn.execute(index_sql)
    # One column each, so rows with an equal value are in id order and a first page (newest
    # 50) reads 50 index entries: with (type, name), `type:track` sorted every track first.
    conn.execute('DROP INDEX IF EXISTS "events_type_name"')
    for name, columns in (("events_type", "type"), ("events_name", "name")):
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "events" ({columns})')
    # The few invalid/duplicate rows, for the "N hidden" counts and stats. Partial, so that no
    # `status = 'ok'` query can be planned on it (a full status index made the writer's own
    # duplicate check scan every ok row: ingest fell to a third). Queries repeat the
    # condition `status != 'ok'` to use it.
    conn.execute("CREATE INDEX IF NOT EXISTS events_not_ok ON events(status) WHERE status != 'ok'")
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(stored, content='', tokenize='trigram', detail='none')"
    )
    # Segments are merged on the writer's idle time (search.Indexer.merge), never inside a
    # commit, where FTS5's automerge showed as ack-latency spikes.
    conn.execute("INSERT INTO events_fts(events_fts, rank) VALUES ('automerge', 0)")
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('fts_watermark', '0')")


def _migration_retention(db: sqlite_utils.Database) -> None:
    """Retention and resumable replays (issue 7).

    - ``events.pinned``: pinned events are exempt from ``--max-events``/``--max-age``;
      ``events_pinned`` (partial: only pinned rows) serves ``pinned:true`` and the pin lists.
    - ``events_duplicate_of`` (partial: only duplicates) lets retention clear the pointers
      to a first copy it deletes without scanning the table.
    - ``runs.pid`` and ``runs.resume``: who is sending a run, and what ``replay --resume``
      needs to continue it (the selection: canonical query, statuses and its instant; the plan options, the id bound).
    """
    conn = db.conn
    conn.execute("ALTER TABLE events ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")
    conn.execute("CREATE INDEX IF NOT EXISTS events_pinned ON events(id) WHERE pinned = 1")
    conn.execute("CREATE INDEX IF NOT EXISTS events_duplicate_of ON events(duplicate_of) WHERE duplicate_of IS NOT NULL")
    conn.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    conn.execute("ALTER TABLE runs ADD COLUMN resume TEXT")


#: Applied in order; the index + 1 is the schema version a database reaches.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _migration_1, _migration_replay, _migration_search, _migration_retention,
)


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with the pragmas every segdbg connection uses."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL: a commit survives a process crash (SIGKILL); only an OS crash or power
            # loss can lose the last transactions. FULL would fsync every group commit.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -32768")  # 32 MB: index pages stay hot under load
            conn.execute("PRAGMA foreign_keys = OFF")
    except sqlite3.DatabaseError as exc:
        raise StoreError(_open_error(path, exc)) from exc
    return conn


def _open_error(path: Path | str, exc: sqlite3.DatabaseError) -> str:
    if "not a database" in str(exc):
        return f"{path}: not a SQLite database (or it is corrupt); give segdbg its own file with --db."
    return f"{path}: cannot open the capture ({exc})."


#: Captures up to this size are checked (``PRAGMA quick_check``, about a second) when a server opens them.
CHECK_BYTES = 256 * 1024 * 1024

RECOVER_HINT = (
    "Recover what SQLite can still read with `sqlite3 {path} .recover | sqlite3 recovered.db`, "
    "or start a new capture with --db NEW.db."
)


def damaged(path: Path | str, detail: str) -> str:
    """The message for a capture SQLite reports as damaged."""
    return f"{path}: the capture is damaged ({detail}); segdbg will not write to it. " + RECOVER_HINT.format(path=path)


def check_integrity(path: Path | str, max_bytes: int = CHECK_BYTES) -> bool:
    """``PRAGMA quick_check`` of a capture of at most ``max_bytes``; returns whether it was checked.

    Raises:
        StoreError: the capture is damaged (the message says how to recover what is left).
    """
    file = Path(path)
    if not file.exists() or file.stat().st_size > max_bytes:
        return False
    with closing(connect(file, readonly=True)) as conn:
        try:
            problems = [" ".join(str(row[0]).split()) for row in conn.execute("PRAGMA quick_check(1)")]
        except sqlite3.DatabaseError as exc:
            raise StoreError(_open_error(file, exc) if "not a database" in str(exc) else damaged(file, str(exc))) from exc
    if problems != ["ok"]:
        raise StoreError(damaged(file, "; ".join(problems)))
    return True


def migrate(path: Path | str) -> int:
    """Create or upgrade the schema; returns the schema version.

    Raises:
        StoreError: the file is not SQLite, belongs to another application, or is newer
            than this segdbg understands.
    """
    with closing(connect(path)) as conn:
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(_open_error(path, exc)) from exc
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables and "meta" not in tables):
            raise StoreError(
                f"{path}: this SQLite file belongs to another application; "
                "give segdbg its own file with --db."
            )
        db = sqlite_utils.Database(conn)
        if "meta" not in tables:
            db["meta"].create({"key": str, "value": str}, pk="key")
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA_VERSION_KEY,)).fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{path}: schema version {version} is newer than this segdbg ({len(MIGRATIONS)}); upgrade segdbg."
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with db.atomic():
                step(db)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (SCHEMA_VERSION_KEY, str(number))
                )
            log.info("migrated %s to schema %d", path, number)
        if app_id != APPLICATION_ID:  # a write: skipped when set, so opening a capture to read never waits for a lock
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        return len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one submitted job became: the request row id and each event's id and status."""

    request_id: int | None
    event_ids: tuple[int, ...]
    statuses: tuple[str, ...]


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

_INSERT_REQUEST = """INSERT INTO requests (id, received_at, method, path, query_string, remote_addr, headers, kind,
 write_key, content_type, content_encoding, wire_size, body_size, status, code, message, event_count, body)
 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""
_INSERT_EVENT = """INSERT INTO events (id, request_id, received_at, write_key, type, name, user_id, anonymous_id,
 message_id, timestamp, library_name, library_version, status, duplicate_of, problems, raw, stored)
 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""
_UPSERT_SOURCE = """INSERT INTO sources (write_key, first_seen, last_seen, event_count, request_count)
 VALUES (?,?,?,?,?) ON CONFLICT(write_key) DO UPDATE SET last_seen = excluded.last_seen,
 event_count = event_count + excluded.event_count, request_count = request_count + excluded.request_count"""


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
        self._sequence = self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone() is not None
        # Checkpoints (copying the WAL back and fsyncing) run on their own thread and
        # connection, so a commit never waits for one: see _checkpoint_loop.
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")
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
                        self._call(conn, nxt)  # type: ignore[arg-type]
                    break
                jobs.append(nxt)  # type: ignore[arg-type]
                rows += len(nxt.events)  # type: ignore[union-attr]
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
            error = StoreError(_write_error(self.path, exc))
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
        """Insert a group of jobs with one executemany per table; ids are assigned here.

        Ids are explicit (``max(id) + 1`` read inside this IMMEDIATE transaction, so no other
        writer can interleave) because a duplicate must point at a first copy that may be in
        the same group.
        """
        # The next ids are remembered between transactions and re-read only when another
        # connection (a TUI paste, `segdbg reset --db`, ...) committed in between: data_version
        # changes for exactly that, and this IMMEDIATE transaction holds the write lock now.
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if self._next_ids is not None and version == self._data_version:
            next_request, next_event = self._next_ids
        else:
            next_request = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM requests").fetchone()[0]
            # Never below the highest id ever used (AUTOINCREMENT's counter): after a reset,
            # followers and ?after= cursors must still see the next events as new.
            next_event = conn.execute(
                "SELECT max(coalesce((SELECT max(id) FROM events), 0),"
                " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)) + 1"
                if self._sequence
                else "SELECT coalesce(max(id), 0) + 1 FROM events"
            ).fetchone()[0]
        self._data_version = version
        all_events = [event for job in jobs for event in job.events]
        firsts = _first_copies(conn, all_events) if all_events else {}
        request_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        results: list[WriteResult] = []
        dumps = orjson.dumps
        for job in jobs:
            request_id = None
            r = job.record
            if r is not None:
                request_id = next_request
                next_request += 1
                request_rows.append(
                    (
                        request_id, r.received_at, r.method, r.path, r.query_string, r.remote_addr,
                        dumps(r.headers).decode(), r.kind, r.write_key, r.content_type, r.content_encoding,
                        r.wire_size, r.body_size, r.status, r.code, r.message, len(job.events), r.body,
                    )
                )
            ids: list[int] = []
            statuses: list[str] = []
            for event in job.events:
                row_id = next_event
                next_event += 1
                status, problems, duplicate_of = event.status, event.problems, None
                if status == OK and event.message_id is not None:
                    key = (event.write_key, event.message_id)
                    first = firsts.get(key)
                    if first is None:
                        firsts[key] = (row_id, event.received_at)
                    else:
                        status, duplicate_of = DUPLICATE, first[0]
                        problems = (*problems, _duplicate_problem(first))
                event_rows.append(
                    (
                        row_id, request_id, event.received_at, event.write_key, event.type, event.name,
                        event.user_id, event.anonymous_id, event.message_id, event.timestamp,
                        event.library_name, event.library_version, status, duplicate_of,
                        dumps([p.to_dict() for p in problems]).decode() if problems else None,
                        event.raw.decode("utf-8", "replace"), dumps(event.stored).decode(),
                    )
                )
                ids.append(row_id)
                statuses.append(status)
            results.append(WriteResult(request_id, tuple(ids), tuple(statuses)))
        self._pending_ids = (next_request, next_event)
        if request_rows:
            conn.executemany(_INSERT_REQUEST, request_rows)
        if event_rows:
            conn.executemany(_INSERT_EVENT, event_rows)
        self._update_sources(conn, jobs)
        return results

    def _update_sources(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        seen: dict[str, list[Any]] = {}
        for job in jobs:
            for event in job.events:
                if event.write_key is not None:
                    entry = seen.get(event.write_key)
                    if entry is None:
                        entry = seen[event.write_key] = [event.received_at, event.received_at, 0, 0]
                    entry[1] = event.received_at
                    entry[2] += 1
            record = job.record
            if record is not None and record.write_key is not None:
                entry = seen.setdefault(record.write_key, [record.received_at, record.received_at, 0, 0])
                entry[3] += 1
        if seen:
            conn.executemany(_UPSERT_SOURCE, [(key, *values) for key, values in seen.items()])


def _write_error(path: Path, exc: Exception) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another process; the client should retry ({text})."
    if "full" in text:
        return f"{path}: the disk (or the capture's size limit) is full; free space and the client's retry will land."
    return f"could not write to {path}: {text}"


def _settle(settled: list[tuple[asyncio.Future[WriteResult], Any]]) -> None:
    """On the waiting loop: resolve every future of one commit group."""
    for future, result in settled:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _first_copies(
    conn: sqlite3.Connection, events: Sequence[Event]
) -> dict[tuple[str | None, str | None], tuple[int, str]]:
    """The first stored ``ok`` copy of each (write key, messageId) seen in the last 24 hours."""
    candidates = {e.message_id for e in events if e.status == OK and e.message_id is not None}
    if not candidates:
        return {}
    newest = max(e.received_at for e in events)
    since_dt = parse_timestamp(newest)
    since = format_timestamp(since_dt - DUPLICATE_WINDOW) if since_dt is not None else newest
    found: dict[tuple[str | None, str | None], tuple[int, str]] = {}
    ordered = sorted(candidates)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row_id, write_key, message_id, received_at in conn.execute(
            f"SELECT id, write_key, message_id, received_at FROM events WHERE message_id IN ({marks})"
            " AND status = 'ok' AND received_at >= ? ORDER BY id",
            (*chunk, since),
        ):
            found.setdefault((write_key, message_id), (row_id, received_at))
    return found


def _duplicate_problem(first: tuple[int, str]) -> Problem:
    return Problem(
        "duplicate_message_id",
        "messageId",
        f"Same messageId as event #{first[0]} received at {first[1]}; Segment drops repeats within 24 h.",
        WARNING,
    )


# ---------------------------------------------------------------------------------------------
# Reads: each caller brings its own connection (WAL: readers never block the writer).

EVENT_COLUMNS = (
    "id", "request_id", "received_at", "write_key", "type", "name", "user_id", "anonymous_id",
    "message_id", "timestamp", "library_name", "library_version", "status", "duplicate_of",
    "problems", "raw", "stored", "pinned",
)


def from_row(row: Sequence[Any]) -> dict[str, Any]:
    """An ``events`` row as a dict, with ``problems``, ``raw`` and ``stored`` decoded."""
    event = dict(zip(EVENT_COLUMNS, row, strict=True))
    event["problems"] = orjson.loads(event["problems"]) if event["problems"] else []
    event["pinned"] = bool(event["pinned"])
    for key in ("raw", "stored"):
        try:
            event[key] = orjson.loads(event[key]) if event[key] is not None else None
        except orjson.JSONDecodeError:
            pass  # raw text that was not valid UTF-8 JSON stays a string, as received
    return event


@contextmanager
def reader(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A short-lived read connection to an existing capture."""
    if not Path(path).exists():
        raise StoreError(f"{path}: no such capture; start `segdbg serve` or pass --db PATH.")
    migrate(path)
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


def iter_events(
    conn: sqlite3.Connection,
    *,
    query: Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> Iterator[dict[str, Any]]:
    """Events oldest first (or the newest ``limit`` of them, still oldest first).

    Args:
        conn: a read connection.
        query: a parsed filter (:mod:`debugger.query`); searched through the FTS index when
            it helps, with exact results whatever the index lag.
        now: the instant relative times in ``query`` (``after:10m``) count back from; default: the clock.
        statuses: only these statuses (see :func:`debugger.search.view_statuses` for the default view).
        after_id: only ids above this (a cursor); ``before_id``: only ids below this (paging back).
        limit: at most this many; ``newest``: the last ``limit`` rather than the first.
    """
    from debugger.search import select_events

    return select_events(
        conn, query=query, now=now, statuses=statuses, after_id=after_id, before_id=before_id, limit=limit, newest=newest
    )


def count_events(
    conn: sqlite3.Connection,
    *,
    query: Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    cap: int | None = None,
) -> int:
    """How many events :func:`iter_events` would give (at most ``cap``)."""
    from debugger.search import count_events as count

    return count(conn, query=query, now=now, statuses=statuses, after_id=after_id, before_id=before_id, cap=cap)


def get_request(conn: sqlite3.Connection, request_id: int) -> dict[str, Any] | None:
    """One ``requests`` row as a dict, headers decoded."""
    cursor = conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    request = dict(zip([c[0] for c in cursor.description], row, strict=True))
    request["headers"] = orjson.loads(request["headers"]) if request["headers"] else []
    return request


def status_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many events have each status."""
    return {status: count for status, count in conn.execute("SELECT status, count(*) FROM events GROUP BY status")}


def default_db_path(option: str | None, environ: dict[str, str]) -> Path:
    """``--db PATH``, else ``$SEGDBG_DB``, else ``./segdbg.db`` (DESIGN §3)."""
    return Path(option or environ.get("SEGDBG_DB") or "segdbg.db")


def now_utc() -> datetime:
    """The server clock; the one place the store layer reads it (kept out of the pure core)."""
    from datetime import UTC

    return datetime.now(UTC)
