"""Whether a request's events match a query before they are stored: ``--fault ... where QUERY``
(docs/faults.md). The events are written, as the writer writes them, into an in-memory database with
the capture's own schema, and the query is judged there by the same SQL every read runs, so a scope
means exactly what the same query means in `segdbg events`. Nothing touches the capture file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from debugger.core.http.model import RequestRecord
from debugger.core.protocol import Event
from debugger.core.query.language import Query, parse
from debugger.core.query.sql import compile as compile_sql
from debugger.store.capture import create_schema
from debugger.store.clock import now_utc
from debugger.store.rows import write_group


@dataclass(slots=True)
class _Job:
    record: RequestRecord | None
    events: Sequence[Event]


class EventMatcher:
    """Judges one request's events against queries; one in-memory database, reused (not thread-safe:
    use it from one thread, the server's loop)."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", isolation_level=None)
        create_schema(self._conn)
        self._parsed: dict[str, Query] = {}  # each rule's query, read once (compiled per request: `after:10m`)

    def any_matches(self, query: str, record: RequestRecord | None, events: Sequence[Event]) -> bool:
        """Whether some of ``events`` (whatever their status) matches ``query`` (the filter language)."""
        if not events:
            return False
        parsed = self._parsed.get(query)
        if parsed is None:
            parsed = self._parsed[query] = parse(query)
        sql, params = compile_sql(parsed, now=now_utc())
        conn = self._conn
        conn.execute("BEGIN")
        try:
            (result,), _ = write_group(conn, [_Job(record, events)], (1, 1))
            marks = ",".join("?" * len(result.event_ids))
            found = conn.execute(
                f"SELECT 1 FROM events WHERE id IN ({marks}) AND ({sql}) LIMIT 1", [*result.event_ids, *params]
            ).fetchone()
        finally:
            conn.execute("ROLLBACK")
        return found is not None

    def close(self) -> None:
        """Let go of the in-memory database."""
        self._conn.close()
