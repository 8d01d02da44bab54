"""Shared by `check` and `schema`: pick the events a QUERY selects, with a progress bar on long reads."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

#: Show a progress bar (on a terminal) when at least this many events are read.
PROGRESS_FROM = 20_000


def select(conn: sqlite3.Connection, parsed: Any) -> Iterator[dict[str, Any]]:
    """Every event (all statuses) the query selects, oldest first."""
    from debugger.store import reads  # lazily: the store loads sqlite_utils, and `segdbg --help` imports this

    # The store's indexed read path: free text uses the FTS index up to its watermark.
    yield from reads.iter_events(conn, query=parsed, now=datetime.now(UTC))


@contextmanager
def progress(total: int, what: str) -> Iterator[Any]:
    """A callable ``advance(n)``: a rich progress bar on stderr for long reads on a terminal, else a no-op."""
    if total < PROGRESS_FROM or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.advance(task, n)
