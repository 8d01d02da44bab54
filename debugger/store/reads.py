"""Reading a capture: the one read path every caller filters through, and rows as dicts.

- **Results never depend on the index lag.** Rows at or below the FTS watermark
  (:mod:`debugger.store.index`) are found through the index, rows above it by scanning, and
  every row is re-checked with the exact SQL of :func:`debugger.core.query.sql.compile` (the
  index is only a necessary condition). The statements are planned by the pure
  :mod:`debugger.core.query.plan`.
- **One read path for every caller**: `events`, `expect`, the HTTP API, `check`/`schema`,
  replay's selection and the TUI (its search, match count, n/N and follow increments) all
  read through :func:`select_rows` / :func:`iter_events` / :func:`count_events` with an
  ``after_id``/``before_id`` window, so nobody scans the table for free text the index covers.

Each caller brings its own connection (WAL: readers never block the writer).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from debugger.core.query import language as q
from debugger.core.query import scope
from debugger.core.query.plan import Part, index_match, plan
from debugger.core.query.sql import compile as compile_sql
from debugger.core.query.sql import compile_terms
from debugger.store.clock import now_utc
from debugger.store.index import WATERMARK_KEY

EVENT_COLUMNS = (
    "id",
    "request_id",
    "received_at",
    "write_key",
    "type",
    "name",
    "user_id",
    "anonymous_id",
    "message_id",
    "timestamp",
    "library_name",
    "library_version",
    "status",
    "duplicate_of",
    "problems",
    "raw",
    "stored",
    "pinned",
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


def events_page(
    conn: sqlite3.Connection,
    *,
    query: q.Query | None,
    now: datetime | None,
    statuses: Iterable[str] | None,
    after_id: int = 0,
    limit: int | None = None,
    newest: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """A page of :func:`iter_events` and the newest event id, read in one snapshot so they agree
    (a cursor may skip to that id when the page came back short)."""
    conn.execute("BEGIN")
    try:
        events = list(
            iter_events(conn, query=query, now=now, statuses=statuses, after_id=after_id, limit=limit, newest=newest)
        )
        top = newest_id(conn)
    finally:
        conn.execute("COMMIT")  # a read transaction: this only ends the snapshot
    return events, top


def get_event(conn: sqlite3.Connection, event_id: int) -> dict[str, Any] | None:
    """One event by id, as :func:`from_row` gives it."""
    row = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE id = ?", (event_id,)).fetchone()
    return from_row(row) if row is not None else None


def term_results(conn: sqlite3.Connection, event_id: int, query: q.Query, *, now: datetime) -> list[bool]:
    """Whether each term of ``query`` holds for one event, by the term's own SQL (the SQL every search re-checks with)."""
    terms = compile_terms(query, now=now)
    if not terms:
        return []
    flags = ", ".join(f"coalesce({sql}, 0)" for _, sql, _ in terms)
    params = [p for _, _, ps in terms for p in ps]
    row = conn.execute(f"SELECT {flags} FROM events WHERE id = ?", (*params, event_id)).fetchone()
    return [bool(v) for v in row] if row is not None else [False] * len(terms)


def newest_id(conn: sqlite3.Connection) -> int:
    """The newest event id (0 for an empty capture): the cursor followers and counters read up to."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


def event_count(conn: sqlite3.Connection) -> int:
    """How many events the capture holds, all statuses (e.g. a progress bar's total)."""
    return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def source_labels(conn: sqlite3.Connection) -> dict[str, str]:
    """Source labels by write key (sources without a label are left out)."""
    return {key: label for key, label in conn.execute("SELECT write_key, label FROM sources") if label}


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


_SELECT = ", ".join(f"events.{c}" for c in EVENT_COLUMNS)


def _parts(
    conn: sqlite3.Connection,
    query: q.Query | None,
    now: datetime | None,
    statuses: Iterable[str] | None,
    after_id: int,
    before_id: int | None,
) -> list[Part]:
    watermark = 0
    if index_match(query, 1) is not None:  # only a text term makes the index worth a look
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (WATERMARK_KEY,)).fetchone()
        watermark = int(row[0]) if row is not None else 0
    return plan(
        query,
        now=now if now is not None else now_utc(),
        statuses=statuses,
        after_id=after_id,
        before_id=before_id,
        watermark=watermark,
    )


def select_rows(
    conn: sqlite3.Connection,
    columns: Sequence[str],
    *,
    query: q.Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """``columns`` of the matching events with ``after_id < id < before_id``, oldest first;
    with ``newest`` the last ``limit`` of them (still oldest first).

    Lazy: the index part is walked in id order, so a common word stops after one page and a
    rare one reads only its own rows. ``newest=True, limit=1`` is the previous match before a
    cursor, ``after_id=cursor, limit=1`` the next one.
    """
    parts = _parts(conn, query, now, statuses, after_id, before_id)
    if newest:
        parts.reverse()
    remaining = limit
    kept: list[tuple[Any, ...]] = []
    for part in parts:
        if remaining is not None and remaining <= 0:
            break
        sql, params = part.select(columns, newest=newest, limit=remaining)
        for row in conn.execute(sql, params):
            if newest:
                kept.append(row)
            else:
                yield row
            if remaining is not None:
                remaining -= 1
    if newest:
        yield from reversed(kept)


def iter_events(
    conn: sqlite3.Connection,
    *,
    query: q.Query | None = None,
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
        query: a parsed filter (:mod:`debugger.core.query.language`); searched through the FTS index when
            it helps, with exact results whatever the index lag.
        now: the instant relative times in ``query`` (``after:10m``) count back from; default: the clock.
        statuses: only these statuses (see :func:`debugger.core.query.plan.view_statuses` for the default view).
        after_id: only ids above this (a cursor); ``before_id``: only ids below this (paging back).
        limit: at most this many; ``newest``: the last ``limit`` rather than the first.
    """
    for row in select_rows(
        conn,
        EVENT_COLUMNS,
        query=query,
        now=now,
        statuses=statuses,
        after_id=after_id,
        before_id=before_id,
        limit=limit,
        newest=newest,
    ):
        yield from_row(row)


def count_events(
    conn: sqlite3.Connection,
    *,
    query: q.Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    cap: int | None = None,
) -> int:
    """How many events match with ``after_id < id < before_id`` (at most ``cap``, to bound the time on huge captures)."""
    total = 0
    for part in _parts(conn, query, now, statuses, after_id, before_id):
        if cap is not None and total >= cap:
            break
        sql, params = part.count(cap - total if cap is not None else None)
        total += int(conn.execute(sql, params).fetchone()[0])
    return total


def matching_ids(
    conn: sqlite3.Connection, ids: Collection[int], query: q.Query, *, now: datetime | None = None
) -> set[int]:
    """Which of the events ``ids`` match ``query``, whatever their status (`serve --forward-only`):
    the same read path and exact SQL as every search, over the window the ids span."""
    if not ids:
        return set()
    rows = select_rows(conn, ("id",), query=query, now=now, after_id=min(ids) - 1, before_id=max(ids) + 1)
    return {row[0] for row in rows} & set(ids)


def matching_sql(
    conn: sqlite3.Connection,
    columns: Sequence[str],
    *,
    query: q.Query | None = None,
    now: datetime | None = None,
    statuses: Iterable[str] | None = None,
    before_id: int | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """One unordered ``SELECT`` of ``columns`` of every match with ``id < before_id`` (the parts
    joined by UNION ALL), to aggregate over: ``SELECT count(*), min(x) FROM (<sql>)``."""
    parts = _parts(conn, query, now, statuses, 0, before_id)
    cols = ", ".join(f"events.{c}" for c in columns)
    sql = " UNION ALL ".join(f"SELECT {cols} FROM {p.source} WHERE {p.where}" for p in parts)
    return sql, tuple(v for p in parts for v in p.params)


@dataclass(frozen=True, slots=True)
class NearMiss:
    """An event that satisfies some of a query's terms: which ones it failed."""

    event: dict[str, Any]
    failed: tuple[str, ...]
    matched: int


def closest_events(
    conn: sqlite3.Connection,
    query: q.Query,
    *,
    now: datetime,
    statuses: Iterable[str] | None,
    limit: int = 5,
    window: int = 5000,
) -> list[NearMiss]:
    """Among the newest ``window`` events, those satisfying the most terms (the default status counts as one).

    A ``scope:`` term bounds the window instead of being scored: a near miss is one of the scope's own events.
    """
    inside, query = scope.split(query)
    bound, bound_params = compile_sql(inside, now=now)
    terms = _judged_terms(query, now, statuses)
    if not terms:
        return []
    score = " + ".join(f"coalesce({sql}, 0)" for _, sql, _ in terms)
    flags = ", ".join(f"coalesce({sql}, 0)" for _, sql, _ in terms)
    params = [p for _, _, ps in terms for p in ps]
    sql = (
        f"SELECT * FROM (SELECT {_SELECT}, {flags}, {score} AS score FROM"
        f" (SELECT * FROM events WHERE {bound} ORDER BY id DESC LIMIT {int(window)}) AS events)"
        f" ORDER BY score DESC, id DESC LIMIT {int(limit)}"
    )
    return [_near_miss(row, terms) for row in conn.execute(sql, params + params + bound_params)]


def judge_event(
    conn: sqlite3.Connection, query: q.Query, event_id: int, *, now: datetime, statuses: Iterable[str] | None
) -> NearMiss | None:
    """Event ``event_id`` against each term of ``query`` (the default status counts as one, a ``scope:`` term too):
    which terms it fails, with the same SQL a search runs; ``None`` when there is no such event."""
    terms = _judged_terms(query, now, statuses)
    flags = "".join(f", coalesce({sql}, 0)" for _, sql, _ in terms)
    params = [p for _, _, ps in terms for p in ps]
    row = conn.execute(f"SELECT {_SELECT}{flags} FROM events WHERE events.id = ?", [*params, event_id]).fetchone()
    return _near_miss(row, terms) if row is not None else None


def _judged_terms(
    query: q.Query, now: datetime, statuses: Iterable[str] | None
) -> list[tuple[str, str, Sequence[Any]]]:
    """Each term's label and SQL, and the view's status term (when a status view applies)."""
    terms: list[tuple[str, str, Sequence[Any]]] = list(compile_terms(query, now=now))
    if statuses is not None:
        wanted = list(statuses)
        terms.append((f"status:{','.join(wanted)}", f"(events.status IN ({','.join('?' * len(wanted))}))", wanted))
    return terms


def _near_miss(row: Sequence[Any], terms: Sequence[tuple[str, str, Sequence[Any]]]) -> NearMiss:
    width = len(EVENT_COLUMNS)
    hits = row[width : width + len(terms)]
    failed = tuple(label for (label, _, _), hit in zip(terms, hits, strict=True) if not hit)
    return NearMiss(from_row(row[:width]), failed, len(terms) - len(failed))
