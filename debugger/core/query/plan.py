"""Pure planning of a search: the statements that read a query's matches in an id range.

Given how far the background FTS index got (its watermark), a range of ids splits in two
disjoint parts: ids at or below the watermark are found through ``events_fts`` (a free-text
or JSON-value term gives a MATCH every matching row satisfies), ids above it by scanning
``events``. Both re-check every row with the exact SQL of :func:`debugger.core.query.sql.compile`, so
the split never changes the results, only what is read. No I/O here: :mod:`debugger.store.reads`
reads the watermark and runs the statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from debugger.core.query import language as q
from debugger.core.query import sql as query_sql

FTS_TABLE = "events_fts"
#: What `segdbg events` and friends show unless told otherwise: what Segment would forward.
DEFAULT_STATUSES = ("ok",)


@dataclass(frozen=True, slots=True)
class Part:
    """One statement's share of a search: the matches in a disjoint id range.

    Attributes:
        source: the FROM clause (``events``, or the FTS table joined to it).
        where: the WHERE clause, range and filter included.
        params: its parameters.
        key: the id column to order by (the FTS rowid when the index drives, so FTS5 walks
            its doclist in order and a LIMIT stops it early).
    """

    source: str
    where: str
    params: tuple[Any, ...]
    key: str

    @property
    def indexed(self) -> bool:
        """Whether this part is read through the FTS index."""
        return self.source != "events"

    def select(
        self, columns: Sequence[str], *, newest: bool = False, limit: int | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """``SELECT`` of ``columns`` (of ``events``) in id order; ``newest``: descending."""
        cols = ", ".join(f"events.{c}" for c in columns)
        limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
        order = "DESC" if newest else "ASC"
        return (
            f"SELECT {cols} FROM {self.source} WHERE {self.where} ORDER BY {self.key} {order}{limit_sql}",
            self.params,
        )

    def count(self, cap: int | None = None) -> tuple[str, tuple[Any, ...]]:
        """How many rows match (at most ``cap``: the count stops reading there)."""
        limit_sql = f" LIMIT {int(cap)}" if cap is not None else ""
        return f"SELECT count(*) FROM (SELECT 1 FROM {self.source} WHERE {self.where}{limit_sql})", self.params


def index_match(query: q.Query | None, watermark: int) -> str | None:
    """The FTS MATCH to drive a search with, when that beats the plain plan (``None``: scan).

    An exact ``user:``/``id:`` is narrower through its own index; an index that has not
    covered anything yet has nothing to offer.
    """
    if query is None or query.selective or watermark <= 0:
        return None
    return query_sql.text_match(query)


def plan(
    query: q.Query | None,
    *,
    now: datetime,
    statuses: Iterable[str] | None = None,
    after_id: int = 0,
    before_id: int | None = None,
    watermark: int = 0,
) -> list[Part]:
    """The parts that together read every match with ``after_id < id < before_id``, oldest range first.

    Args:
        query: the parsed filter (``None``: everything).
        now: the instant relative times count back from.
        statuses: only these statuses (``None``: all).
        after_id: only ids above this.
        before_id: only ids below this (``None``: no upper bound).
        watermark: the FTS index covers ids up to here (0: it covers nothing).

    Returns:
        At most two parts, in ascending id order; none when the range is empty.
    """
    upper = before_id - 1 if before_id is not None else None  # the highest id wanted
    if upper is not None and upper <= after_id:
        return []
    filters, params = _filters(query, now, statuses)
    match = index_match(query, watermark)
    if match is None:
        return [_scan(after_id, upper, filters, params)]
    parts = []
    if after_id < watermark:
        top = watermark if upper is None else min(upper, watermark)
        # The bounds are on the FTS rowid so FTS5 seeks to them instead of filtering its doclist.
        where = [f"{FTS_TABLE} MATCH ?", f"{FTS_TABLE}.rowid > ?", f"{FTS_TABLE}.rowid <= ?", *filters]
        parts.append(
            Part(
                f"{FTS_TABLE} CROSS JOIN events ON events.id = {FTS_TABLE}.rowid",
                " AND ".join(where),
                (match, after_id, top, *params),
                f"{FTS_TABLE}.rowid",
            )
        )
    if upper is None or upper > watermark:
        parts.append(_scan(max(after_id, watermark), upper, filters, params))
    return parts


def _scan(after_id: int, upper: int | None, filters: list[str], params: list[Any]) -> Part:
    # One lower and one upper bound, computed here: given two (`id > 0 AND id > 900`) SQLite
    # may seek on the weaker one and filter the rows in between.
    where, bounds = ["events.id > ?"], [after_id]
    if upper is not None:
        where.append("events.id <= ?")
        bounds.append(upper)
    return Part("events", " AND ".join([*where, *filters]), (*bounds, *params), "events.id")


def _filters(query: q.Query | None, now: datetime, statuses: Iterable[str] | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if statuses is not None:
        wanted = list(statuses)
        # `ok` is most rows: `+` keeps the planner on the other indexes (or the id order) then;
        # without it, `status != 'ok'` lets it use the partial index events_not_ok.
        ok = "ok" in wanted
        where.append(f"{'+' if ok else ''}events.status IN ({','.join('?' * len(wanted))})")
        if not ok:
            where.append("events.status != 'ok'")
        params += wanted
    if query is not None and query.terms:
        sql, values = query_sql.compile(query, now=now)
        where.append(sql)
        params += values
    return where, params


def view_statuses(query: q.Query | None, show_all: bool = False) -> tuple[str, ...] | None:
    """The default view (docs/protocol.md §10, case 8): only ``ok`` unless ``--all`` or a ``status:`` term."""
    if show_all or (query is not None and query.has_status_term):
        return None
    return DEFAULT_STATUSES
