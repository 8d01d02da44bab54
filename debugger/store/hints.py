"""Why a query found nothing: the same query with the case of its values corrected, when that matches.

Values match case-sensitively (docs/search.md), so ``event:"order completed"`` finds nothing in
a capture full of ``Order Completed``. When a query matches nothing, :func:`case_hint` looks
for values that differ only in case among the newest :data:`WINDOW` events, and returns the
corrected query if it matches. Cheap by construction: callers ask only after a count of 0, and
each term reads at most :data:`WINDOW` rows of one column.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from debugger.core.pretty.render import inert
from debugger.core.query import language as q
from debugger.store.reads import count_events

#: How many of the newest events are searched for a value in another case.
WINDOW = 50_000
#: The columns a keyword term compares (``user`` looks at two).
_COLUMNS = {
    "event": ("name",),
    "user": ("user_id", "anonymous_id"),
    "source": ("write_key",),
    "lib": ("library_name",),
    "id": ("message_id",),
}


def _json_path(path: tuple[str, ...]) -> str | None:
    """A SQLite JSON path literal for ``path`` (``None`` when a key holds a double quote)."""
    if any('"' in segment for segment in path):
        return None
    text = "$" + "".join(f'."{segment}"' for segment in path)
    return "'" + text.replace("'", "''") + "'"


def _expressions(term: q.Term) -> tuple[str, ...]:
    if isinstance(term, q.FieldTerm):
        return _COLUMNS.get(term.name, ())
    if isinstance(term, q.PathTerm):
        literal = _json_path(term.path)
        return (f"json_extract(stored, {literal})",) if literal else ()
    return ()


def _other_case(conn: sqlite3.Connection, expressions: Iterable[str], value: str) -> str | None:
    """A stored value equal to ``value`` but for case, among the newest WINDOW events."""
    for expr in expressions:
        row = conn.execute(
            f"SELECT v FROM (SELECT {expr} AS v FROM events ORDER BY id DESC LIMIT ?)"
            " WHERE typeof(v) = 'text' AND lower(v) = lower(?) AND v != ? LIMIT 1",
            (WINDOW, value, value),
        ).fetchone()
        if row is not None:
            return str(row[0])
    return None


def case_hint(
    conn: sqlite3.Connection, query: q.Query, *, now: datetime, statuses: Iterable[str] | None
) -> q.Query | None:
    """``query`` with values recased as the capture has them, if that query matches; else ``None``.

    Only exact values of positive ``event: user: source: lib: id:`` terms and JSON-path terms
    are tried (a pattern with ``*``, a comparison, free text and negated terms are left alone).
    """
    changed = False
    terms: list[q.Term] = []
    for term in query.terms:
        expressions = () if term.negated else _expressions(term)
        if not expressions or not isinstance(term, q.FieldTerm | q.PathTerm):
            terms.append(term)
            continue
        values: list[q.Value] = []
        for value in term.values:
            exact = value.exact if isinstance(value, q.Pattern) else None
            found = _other_case(conn, expressions, exact) if exact else None
            if found is not None:
                changed = True
                values.append(q.Pattern((found,)))
            else:
                values.append(value)
        terms.append(dataclasses.replace(term, values=tuple(values)))  # type: ignore[arg-type]
    if not changed:
        return None
    recased = q.Query(tuple(terms))
    return recased if count_events(conn, query=recased, now=now, statuses=statuses, cap=1) else None


def case_hint_text(recased: str) -> str:
    """The hint printed under "no match" (``recased``: the corrected query, canonical)."""
    return f"hint: values are case-sensitive; `{inert(recased, 300)}` matches (free text is not case-sensitive)."
