"""The capture's schema as a sequence of migrations (docs/capture.md); :func:`debugger.store.capture.migrate` applies them."""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlite_utils


def _migration_1(db: sqlite_utils.Database) -> None:
    db.table("sources").create(
        {"write_key": str, "label": str, "first_seen": str, "last_seen": str, "event_count": int, "request_count": int},
        pk="write_key",
        not_null={"event_count", "request_count"},
        defaults={"event_count": 0, "request_count": 0},
    )
    db.table("requests").create(
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
    db.table("events").create(
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
    db.table("events").create_index(["message_id"], index_name="events_message_id")
    db.table("events").create_index(["type", "name"], index_name="events_type_name")
    db.table("events").create_index(["user_id"], index_name="events_user_id")
    db.table("events").create_index(["anonymous_id"], index_name="events_anonymous_id")
    db.table("events").create_index(["request_id"], index_name="events_request_id")


def _migration_replay(db: sqlite_utils.Database) -> None:
    """`segdbg replay` runs: one ``runs`` row per run, one ``replay_requests`` row per HTTP
    request it made, one ``deliveries`` row per event (docs/capture.md). Failed deliveries keep the
    three views of Segment's Event Delivery: the message sent (``deliveries.sent``), the
    request made and the response received (``replay_requests`` bodies and headers)."""
    db.table("runs").create(
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
    db.table("replay_requests").create(
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
    db.table("replay_requests").create_index(["run_id", "seq"], index_name="replay_requests_run")


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
        new_sql, replaced = re.subn(
            r'("id"|\[id\]|\bid\b)\s+INTEGER\s+PRIMARY\s+KEY',
            r"\1 INTEGER PRIMARY KEY AUTOINCREMENT",
            table_sql,
            count=1,
            flags=re.IGNORECASE,
        )
        if replaced:
            indexes = [
                r[0]
                for r in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
                )
            ]
            conn.execute(
                re.sub(r'^CREATE TABLE\s+("events"|\[events\]|events)', 'CREATE TABLE "events_rebuilt"', new_sql)
            )
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
    conn.execute(
        "CREATE INDEX IF NOT EXISTS events_duplicate_of ON events(duplicate_of) WHERE duplicate_of IS NOT NULL"
    )
    conn.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    conn.execute("ALTER TABLE runs ADD COLUMN resume TEXT")


def _migration_extracted(db: sqlite_utils.Database) -> None:
    """``context.app.version`` kept beside each message (core.query.extracted): ``app_version`` holds
    what ``json_extract`` gives (no type affinity, so a number stays a number), ``app_version_type``
    what ``json_type`` gives, or ``json``: read the message. That is its default, so rows written
    before (and rows not written by the writer) are read from their message."""
    conn = db.conn
    conn.execute("ALTER TABLE events ADD COLUMN app_version")
    conn.execute("ALTER TABLE events ADD COLUMN app_version_type TEXT DEFAULT 'json'")


def _migration_forward(db: sqlite_utils.Database) -> None:
    """Forwarding (issue 18, `serve --forward`): ``runs.kind`` tells a replay run (``replay``) from the
    deliveries one serve session made to one upstream (``forward``, docs/forward.md)."""
    db.conn.execute("ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'replay'")


def _migration_faults(db: sqlite_utils.Database) -> None:
    """Fault injection (issue 18, docs/faults.md): ``requests.fault`` names the ``--fault`` rule that
    answered a request (``NULL`` for every ordinary one). A refused request keeps its body, so the events
    it carried are read from there by ``delivery-check``; they are never ``events`` rows of their own."""
    db.conn.execute("ALTER TABLE requests ADD COLUMN fault TEXT")
    db.conn.execute("CREATE INDEX IF NOT EXISTS requests_fault ON requests(id) WHERE fault IS NOT NULL")


#: Applied in order; the index + 1 is the schema version a database reaches.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _migration_1,
    _migration_replay,
    _migration_search,
    _migration_retention,
    _migration_extracted,
    _migration_forward,
    _migration_faults,
)
