"""Which servers write a capture right now: each notes itself in ``meta`` while it runs.

`segdbg vacuum --db` asks a running server to do the work instead of competing for the file,
and `segdbg replay --resume` refuses a run whose process still exists.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

SERVER_PREFIX = "server:"


def register_server(conn: sqlite3.Connection, pid: int, url: str, policy: dict[str, Any]) -> None:
    """Note in the capture that server ``pid`` at ``url`` writes it (inside a transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
        (f"{SERVER_PREFIX}{pid}", orjson.dumps({"pid": pid, "url": url, "retention": policy}).decode()),
    )


def unregister_server(conn: sqlite3.Connection, pid: int) -> None:
    """Remove the note at a clean stop (a killed server's note is found stale by its pid)."""
    conn.execute("DELETE FROM meta WHERE key = ?", (f"{SERVER_PREFIX}{pid}",))


def running_servers(conn: sqlite3.Connection, alive: Callable[[int], bool] | None = None) -> list[dict[str, Any]]:
    """The servers noted in the capture whose process still exists."""
    check = alive or pid_alive
    found = []
    for _key, value in conn.execute("SELECT key, value FROM meta WHERE key LIKE ?", (SERVER_PREFIX + "%",)):
        try:
            entry = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("pid"), int) and check(entry["pid"]):
            found.append(entry)
    return found


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True
