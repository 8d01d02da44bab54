"""The capture file's helpers (debugger.store.capture): bulk inserts and the start-up integrity check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from debugger.store import capture
from debugger.store.rows import write_error

INSERT = "INSERT INTO t (a, b, c) VALUES (?,?,?)"


@pytest.mark.parametrize("count", [0, 1, capture.BULK_ROWS - 1, capture.BULK_ROWS, capture.BULK_ROWS + 1, 250])
def test_insert_many_stores_exactly_what_executemany_would(count: int) -> None:
    """Multi-row statements across chunk boundaries: the same rows, in order, NULLs and bytes included."""
    rows = [(n, None if n % 3 else f"v{n}", bytes([n % 256])) for n in range(count)]
    bulk, plain = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for conn in (bulk, plain):
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c BLOB)")
    capture.insert_many(bulk, INSERT, rows)
    plain.executemany(INSERT, rows)
    query = "SELECT id, a, b, c FROM t ORDER BY id"
    assert bulk.execute(query).fetchall() == plain.execute(query).fetchall()
    assert len(bulk.execute(query).fetchall()) == count


def test_integrity_check_passes_a_sound_capture_and_skips_a_big_one(tmp_path: Path) -> None:
    """A sound capture is checked and passes; one over the size budget is not checked (start-up stays fast)."""
    path = tmp_path / "c.db"
    capture.migrate(path)
    assert capture.check_integrity(path) is True
    assert capture.check_integrity(path, max_bytes=10) is False
    assert capture.check_integrity(tmp_path / "new.db") is False  # nothing there yet: nothing to check


def test_a_failed_write_says_what_the_client_and_the_user_can_do(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    locked = write_error(path, sqlite3.OperationalError("database is locked"))
    assert locked == f"{path} is locked by another process; the client should retry (database is locked)."
    assert write_error(path, sqlite3.OperationalError("database is busy")).startswith(f"{path} is locked")
    assert write_error(path, sqlite3.OperationalError("database or disk is full")) == (
        f"{path}: the disk (or the capture's size limit) is full; free space and the client's retry will land."
    )
    assert write_error(path, ValueError("boom")) == f"could not write to {path}: boom"
