"""The capture file: opening it with segdbg's pragmas, refusing files that are not ours or are
damaged, and bringing its schema up to date."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from debugger.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

SCHEMA_VERSION_KEY = "schema_version"
APPLICATION_ID = 0x53474442  # "SGDB": marks the file as a segdbg capture


class StoreError(Exception):
    """The database cannot be opened or written; the message says why in one line."""


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


#: Captures up to this size are checked (``PRAGMA quick_check``: 0.4 s for 230 MB on the dev machine) when a server opens them.
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
            raise StoreError(
                _open_error(file, exc) if "not a database" in str(exc) else damaged(file, str(exc))
            ) from exc
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
                f"{path}: this SQLite file belongs to another application; give segdbg its own file with --db."
            )
        db = sqlite_utils.Database(conn)
        if "meta" not in tables:
            db.table("meta").create({"key": str, "value": str}, pk="key")
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA_VERSION_KEY,)).fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{path}: schema version {version} is newer than this segdbg ({len(MIGRATIONS)}); upgrade segdbg."
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with db.atomic():
                step(db)
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (SCHEMA_VERSION_KEY, str(number)))
            log.info("migrated %s to schema %d", path, number)
        if app_id != APPLICATION_ID:  # a write: skipped when set, so opening a capture to read never waits for a lock
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        return len(MIGRATIONS)


def create_schema(conn: sqlite3.Connection) -> None:
    """The capture's whole schema in an empty database that is not a capture file (an in-memory one:
    :mod:`debugger.store.matcher`); :func:`migrate` does the same for a capture, step by step."""
    db = sqlite_utils.Database(conn)
    db.table("meta").create({"key": str, "value": str}, pk="key")
    for step in MIGRATIONS:
        step(db)


#: Rows per statement in :func:`insert_many`.
BULK_ROWS = 100
_bulk_sql: dict[tuple[str, int], str] = {}


def insert_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany`` for one ``INSERT … VALUES (?, …)`` as multi-row statements of up to
    :data:`BULK_ROWS` rows.

    The same rows, but one statement step per hundred rows instead of one per row: each step
    gives the interpreter lock up and waits to get it back, which, with other busy threads in the
    process (a replay plans, sends and records at once), costs far more than the insert itself.
    """
    if not rows:
        return
    head, _, values = sql.rpartition("VALUES")
    one = values.strip()
    for start in range(0, len(rows), BULK_ROWS):
        chunk = rows[start : start + BULK_ROWS]
        key = (sql, len(chunk))
        text = _bulk_sql.get(key)
        if text is None:
            text = _bulk_sql[key] = f"{head}VALUES {','.join([one] * len(chunk))}"
        conn.execute(text, [value for row in chunk for value in row])


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
