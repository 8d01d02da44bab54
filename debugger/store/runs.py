"""Replay runs in the capture: writing ``runs``/``replay_requests``/``deliveries``, and reading them.

:class:`RunRecorder` writes from its own thread with group commit (like the ingest writer),
so recording never blocks the sending loop or its pacing. Bodies, headers and the message as
sent are kept only for what was not delivered (Segment's Event Delivery shows these three
views for failures); a delivered event keeps its status, HTTP status, latency and attempts.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from debugger.store.capture import connect, insert_many, migrate

RUN_COLUMNS = (
    "id",
    "started_at",
    "finished_at",
    "target",
    "kind",
    "query",
    "options",
    "status",
    "exit_code",
    "total",
    "delivered",
    "failed",
    "not_sent",
    "retried",
    "requests",
    "duration_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "drift_p99_ms",
    "errors",
)
#: The ``runs`` columns from here on are the run's summary (counts and latencies); those before, what it was.
_SUMMARY_FROM = RUN_COLUMNS.index("total")
DELIVERY_COLUMNS = (
    "run_id",
    "seq",
    "request_id",
    "event_id",
    "type",
    "name",
    "message_id",
    "sent_message_id",
    "status",
    "http_status",
    "reason",
    "error",
    "latency_ms",
    "attempts",
    "sent",
)
RUNNING, INTERRUPTED = "running", "interrupted"
#: ``runs.kind``: a `segdbg replay` run, or one serve session's forwards to one upstream (`serve --forward`).
REPLAY, FORWARD = "replay", "forward"
#: How long the recorder gathers writes into one transaction.
GROUP_SECONDS = 0.05

_INSERT_REQUEST = """INSERT INTO replay_requests (run_id, seq, method, url, headers, body, body_size, event_count,
 outcome, http_status, reason, error, latency_ms, attempts, attempt_log, sent_at, drift_ms, response_headers,
 response_body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""
#: The fields of a delivery row as :meth:`RunRecorder.request` takes them.
DELIVERY_FIELDS = tuple(c for c in DELIVERY_COLUMNS if c not in ("run_id", "request_id"))
_INSERT_DELIVERY = f"""INSERT INTO deliveries (run_id, request_id, {", ".join(DELIVERY_FIELDS)})
 VALUES ({",".join("?" * (len(DELIVERY_FIELDS) + 2))})"""

Write = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class Continued:
    """Where a resumed run starts: events already delivered, the next delivery and request numbers."""

    delivered: int
    first_seq: int
    first_request: int


def reopen(conn: sqlite3.Connection, run_id: int) -> Continued:
    """Mark the run as running again (this process) and forget its non-delivered outcomes,
    which the resumed part records afresh (the requests that carried them are kept)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM deliveries WHERE run_id = ? AND status != 'delivered'", (run_id,))
        delivered, top = conn.execute(
            "SELECT count(*), coalesce(max(seq), -1) FROM deliveries WHERE run_id = ?", (run_id,)
        ).fetchone()
        top_request = conn.execute(
            "SELECT coalesce(max(seq), -1) FROM replay_requests WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        conn.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL, exit_code = NULL, pid = ? WHERE id = ?",
            (os.getpid(), run_id),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return Continued(int(delivered), int(top) + 1, int(top_request) + 1)


class RunRecorder:
    """Records one run from a background thread; :meth:`close` waits for every write.

    Args:
        path: the capture file (migrated first).
    """

    def __init__(self, path: Path | str) -> None:
        migrate(path)
        self._conn = connect(path)
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="segdbg-runs", daemon=True)
        self.error: BaseException | None = None
        self.run_id = 0
        self._pending: list[Write] = []
        self._handed_at = 0.0

    def start(
        self,
        started_at: str,
        target: str,
        query: str | None,
        options: Mapping[str, Any],
        resume: Mapping[str, Any] | None = None,
        kind: str = REPLAY,
    ) -> int:
        """Insert the ``runs`` row (status ``running``, this process, what resuming needs)
        synchronously and start the thread."""
        cursor = self._conn.execute(
            "INSERT INTO runs (started_at, target, kind, query, options, status, pid, resume) VALUES (?,?,?,?,?,?,?,?)",
            (
                started_at,
                target,
                kind,
                query,
                orjson.dumps(dict(options)).decode(),
                RUNNING,
                os.getpid(),
                orjson.dumps(dict(resume)).decode() if resume is not None else None,
            ),
        )
        assert cursor.lastrowid is not None
        self.run_id = cursor.lastrowid
        self._thread.start()
        return self.run_id

    def reopen(self, run_id: int) -> Continued:
        """Continue run ``run_id`` (``replay --resume``): see :func:`reopen`."""
        continued = reopen(self._conn, run_id)
        self.run_id = run_id
        self._thread.start()
        return continued

    def request(self, request: Mapping[str, Any] | None, deliveries: list[tuple[Any, ...]]) -> None:
        """Queue one request row (``None`` for events never sent) and its events' delivery rows.

        Args:
            request: the ``replay_requests`` row by column name.
            deliveries: one tuple per event, in :data:`DELIVERY_FIELDS` order (a tuple, not a
                dict: a replay records tens of thousands of these a second).
        """
        run_id = self.run_id

        def write(conn: sqlite3.Connection) -> None:
            request_id: int | None = None
            if request is not None:
                cursor = conn.execute(_INSERT_REQUEST, (run_id, *(request[k] for k in _REQUEST_KEYS)))
                request_id = cursor.lastrowid
            insert_many(conn, _INSERT_DELIVERY, [(run_id, request_id, *d) for d in deliveries])

        # Handed to the thread at most every GROUP_SECONDS: a paced run finishes hundreds of
        # requests a second, and waking the writer (and committing) for each would compete
        # with the sending loop's timing. Rows wait at most until the next request or finish().
        self._pending.append(write)
        now = time.monotonic()
        if now - self._handed_at >= GROUP_SECONDS:
            self._hand_over(now)

    def flush(self) -> None:
        """Hand what is waiting to the thread now (a forward run calls it on a timer: it may idle for hours)."""
        self._hand_over(time.monotonic())

    def update(self, summary: Mapping[str, Any]) -> None:
        """Queue the counts so far of a run still going (a forward run's, while serve runs)."""
        self._queue.put(self._summary_write(None, RUNNING, None, summary))

    def _hand_over(self, now: float) -> None:
        if self._pending:
            pending, self._pending = self._pending, []

            def write_all(conn: sqlite3.Connection) -> None:
                for write in pending:
                    write(conn)

            self._queue.put(write_all)
        self._handed_at = now

    def finish(self, finished_at: str, status: str, exit_code: int, summary: Mapping[str, Any]) -> None:
        """Queue the final counts; call :meth:`close` to wait for them."""
        self._hand_over(time.monotonic())
        self._queue.put(self._summary_write(finished_at, status, exit_code, summary))

    def _summary_write(
        self, finished_at: str | None, status: str, exit_code: int | None, summary: Mapping[str, Any]
    ) -> Write:
        run_id = self.run_id
        values = {k: summary.get(k) for k in RUN_COLUMNS[_SUMMARY_FROM:] if k != "errors"}
        values["errors"] = orjson.dumps(summary.get("errors") or {}).decode()

        def write(conn: sqlite3.Connection) -> None:
            assignments = ", ".join(f"{k} = ?" for k in values)
            conn.execute(
                f"UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, {assignments} WHERE id = ?",
                (finished_at, status, exit_code, *values.values(), run_id),
            )

        return write

    def close(self) -> None:
        """Write everything queued, stop the thread, close the connection."""
        self._hand_over(time.monotonic())
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            writes = [self._queue.get()]
            while True:
                try:
                    writes.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in writes:
                stopping = True
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                for write in writes:
                    if write is not None:
                        write(self._conn)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:  # kept and reported by the command; the replay itself goes on
                self.error = exc
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")


_REQUEST_KEYS = (
    "seq",
    "method",
    "url",
    "headers",
    "body",
    "body_size",
    "event_count",
    "outcome",
    "http_status",
    "reason",
    "error",
    "latency_ms",
    "attempts",
    "attempt_log",
    "sent_at",
    "drift_ms",
    "response_headers",
    "response_body",
)


# ---------------------------------------------------------------------------------------------
# Reads


def _rows(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [c[0] for c in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def _decode_run(run: dict[str, Any]) -> dict[str, Any]:
    for key in ("options", "errors"):
        run[key] = orjson.loads(run[key]) if run.get(key) else {}
    return run


def list_runs(conn: sqlite3.Connection, limit: int | None = None) -> list[dict[str, Any]]:
    """Runs, newest first."""
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
    return [_decode_run(run) for run in _rows(conn.execute(sql))]


def get_run(conn: sqlite3.Connection, run_id: int) -> dict[str, Any] | None:
    """One run, ``options`` and ``errors`` decoded."""
    found = list(_rows(conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,))))
    return _decode_run(found[0]) if found else None


def resolve_run(conn: sqlite3.Connection, ref: str, kind: str | None = None) -> int | None:
    """A run id from ``3``, ``last`` or ``prev`` (the one before the last); with ``kind``, ``last``
    and ``prev`` count only runs of that kind (``replay --resume`` never picks a forward run)."""
    if ref in ("last", "prev"):
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        ids = [r[0] for r in conn.execute(f"SELECT id FROM runs {where} ORDER BY id DESC LIMIT 2", params)]
        index = 0 if ref == "last" else 1
        return ids[index] if len(ids) > index else None
    try:
        run_id = int(ref)
    except ValueError:
        return None
    return run_id if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() else None


def iter_deliveries(conn: sqlite3.Connection, run_id: int, *, failures_only: bool = False) -> Iterator[dict[str, Any]]:
    """A run's deliveries in event order; ``sent`` decoded."""
    where = "run_id = ?" + (" AND status != 'delivered'" if failures_only else "")
    sql = f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM deliveries WHERE {where} ORDER BY seq"
    for delivery in _rows(conn.execute(sql, (run_id,))):
        delivery["sent"] = orjson.loads(delivery["sent"]) if delivery["sent"] else None
        yield delivery


def get_replay_request(conn: sqlite3.Connection, request_id: int) -> dict[str, Any] | None:
    """One request a run made, with headers, attempt log and response headers decoded."""
    found = list(_rows(conn.execute("SELECT * FROM replay_requests WHERE id = ?", (request_id,))))
    if not found:
        return None
    request = found[0]
    for key in ("headers", "attempt_log", "response_headers"):
        request[key] = orjson.loads(request[key]) if request.get(key) else []
    return request


def has_runs_table(conn: sqlite3.Connection) -> bool:
    """Whether this capture's schema has the replay tables (older files get them on migrate)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone() is not None


def failure_views(
    conn: sqlite3.Connection, delivery: Mapping[str, Any], cache: dict[int, Any] | None = None
) -> dict[str, Any]:
    """Segment's three Event Delivery views of a delivery that failed: You Sent, Request, Response.

    Args:
        conn: the capture.
        delivery: a ``deliveries`` row (``sent`` decoded).
        cache: request rows by id, so a batch's request is read once for all its events.
    """
    views: dict[str, Any] = {"you_sent": delivery.get("sent")}
    request_id = delivery.get("request_id")
    if request_id is None:
        return views
    cache = cache if cache is not None else {}
    if request_id not in cache:
        cache.clear()  # deliveries come in order: only the current batch is worth keeping
        cache[request_id] = get_replay_request(conn, request_id)
    request = cache[request_id]
    if request is None:
        return views
    views["request"] = {
        "method": request["method"],
        "url": request["url"],
        "headers": request["headers"],
        "body": _text(request["body"]),
        "sent_at": request["sent_at"],
        "attempts": request["attempt_log"],
    }
    views["response"] = {
        "status": request["http_status"],
        "headers": request["response_headers"],
        "body": _text(request["response_body"]),
    }
    return views


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def write_report(conn: sqlite3.Connection, run: Mapping[str, Any], out: Any) -> None:
    """Stream the ``--report`` JSON: the run, its summary, and every delivery (with the three
    views for those not delivered) to the binary file ``out``."""
    head = {k: run[k] for k in RUN_COLUMNS[:_SUMMARY_FROM]}
    summary = {k: run[k] for k in RUN_COLUMNS[_SUMMARY_FROM:]}
    summary["not_delivered"] = (run["failed"] or 0) + (run["not_sent"] or 0)
    out.write(b'{"run":' + orjson.dumps(head) + b',"summary":' + orjson.dumps(summary) + b',"deliveries":[')
    cache: dict[int, Any] = {}
    for index, delivery in enumerate(iter_deliveries(conn, run["id"])):
        record = {k: v for k, v in delivery.items() if k not in ("run_id", "request_id", "sent")}
        if delivery["status"] != "delivered":
            record.update(failure_views(conn, delivery, cache))
        out.write((b",\n" if index else b"\n") + orjson.dumps(record))
    out.write(b"\n]}\n")


def resume_record(conn: sqlite3.Connection, run_id: int) -> tuple[int | None, str | None, int]:
    """What resuming run ``run_id`` needs to know: the process that ran it, its resume spec
    (JSON text), and how many of its recorded deliveries were not delivered."""
    pid, resume = conn.execute("SELECT pid, resume FROM runs WHERE id = ?", (run_id,)).fetchone()
    return pid, resume, count_not_delivered(conn, run_id)


def count_not_delivered(conn: sqlite3.Connection, run_id: int) -> int:
    """How many of run ``run_id``'s recorded deliveries were not delivered."""
    return int(
        conn.execute(
            "SELECT count(*) FROM deliveries WHERE run_id = ? AND status != 'delivered'", (run_id,)
        ).fetchone()[0]
    )
