"""What an event holds where a query term looks: the ``(was "EUR")`` of a near miss, and a query explained.

`expect` failures list the closest events and the terms each one fails (docs/ci.md); this
module says, for each failed term, the value the event had there, so
``fails: properties.currency:GBP (was "EUR")`` needs no second look. :func:`explain` does the
same for every term of a query on one event (``segdbg query --explain``), and goes inside an
FQL statement condition by condition. Pure: works on the exported form of an event
(:func:`debugger.core.pretty.export.export_record`); whether each term held is computed by the
store with the term's own SQL and passed in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from debugger.core.query import fql
from debugger.core.query.language import (
    FieldTerm,
    FqlTerm,
    HasTerm,
    PathTerm,
    Query,
    Term,
    TextTerm,
    TimeTerm,
    canonical,
)

#: The longest value shown; longer ones end in ``…``.
LIMIT = 60
#: The exported-record key a keyword term reads (``user`` and ``problem`` are read apart).
_FIELD_KEYS = {
    "type": "type",
    "event": "name",
    "source": "write_key",
    "lib": "library",
    "status": "status",
    "id": "message_id",
    "pinned": "pinned",
    "scope": "write_key",
}


def values_at(document: Any, path: tuple[str, ...]) -> list[Any]:
    """The non-null values at ``path`` in ``document``; an array on the way means each of its elements,
    as the filter language reads it (``properties.products.sku`` looks into every product)."""
    found = [document]
    for segment in path:
        step: list[Any] = []
        for node in found:
            items = node if isinstance(node, list) else [node]
            step += [item[segment] for item in items if isinstance(item, dict) and item.get(segment) is not None]
        found = step
    return found


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= LIMIT else text[: LIMIT - 1] + "…"


def seen(term: Term, event: Mapping[str, Any]) -> str | None:
    """What ``event`` (an export record) has where ``term`` looks, for a failure message:
    ``"EUR"``, ``absent``, ``"a", "b"`` (several values); ``None`` for free text (nothing to point at).
    """
    if isinstance(term, TextTerm):
        return None
    if isinstance(term, FqlTerm):
        return fql_seen(term.expr, event.get("stored"))
    if isinstance(term, PathTerm):
        values = values_at(event.get("stored"), term.path)
    elif isinstance(term, HasTerm):
        values = [v for path in term.paths for v in values_at(event.get("stored"), path)]
    elif isinstance(term, TimeTerm):
        values = [event.get("received_at")]
    elif isinstance(term, FieldTerm) and term.name == "problem":
        values = [p.get("code") for p in event.get("problems") or [] if isinstance(p, dict)]
        return ", ".join(_show(v) for v in values) if values else "no problems"
    elif isinstance(term, FieldTerm) and term.name == "user":
        ids = [(label, event.get(key)) for label, key in (("userId", "user_id"), ("anonymousId", "anonymous_id"))]
        return ", ".join(f"{label} {_show(v)}" for label, v in ids if v is not None) or "absent"
    else:
        values = [event.get(_FIELD_KEYS[term.name])] if term.name in _FIELD_KEYS else []
    values = [v for v in values if v is not None]
    if not values:
        return "absent"
    return ", ".join(_show(v) for v in values[:3]) + (f" (+{len(values) - 3} more)" if len(values) > 3 else "")


def fql_seen(expr: fql.Expr, document: Any) -> str:
    """The values an FQL condition reads, path by path: ``event = "Signed Up", properties.plan absent``.

    FQL paths do not look into arrays, so this is :func:`debugger.core.query.fql.lookup`, not :func:`values_at`.
    """
    shown = []
    for path in dict.fromkeys(p.parts for p in fql.paths(expr)):
        value = fql.lookup(document, path)
        shown.append(f"{fql.path_text(path)} {'absent' if value is None else '= ' + _show(value)}")
    return ", ".join(shown) or "no field read"


@dataclass(frozen=True, slots=True)
class Step:
    """One term of a query, or one condition inside an FQL term, judged on one event.

    Attributes:
        text: the term (canonical) or the FQL condition.
        held: whether it held for the event.
        seen: what the event has where it looks (``None``: free text, nothing to point at).
        depth: 0 for a term, 1 and more for the conditions inside an FQL statement.
    """

    text: str
    held: bool
    seen: str | None
    depth: int = 0


def explain(query: Query, event: Mapping[str, Any], held: Sequence[bool]) -> list[Step]:
    """Each term of ``query`` on ``event`` (an export record): whether it held (``held``, from the store's SQL,
    one per term) and the value seen; an FQL term is followed by its conditions, evaluated on the stored message."""
    steps = []
    for term, ok in zip(query.terms, held, strict=True):
        steps.append(Step(canonical(Query((term,))), ok, seen(term, event)))
        if isinstance(term, FqlTerm):
            steps += list(_fql_steps(term.expr, event.get("stored"), 1, top=True))
    return steps


def _fql_steps(expr: fql.Expr, document: Any, depth: int, *, top: bool = False) -> Iterator[Step]:
    if isinstance(expr, fql.Logic):
        if not top:  # a group inside the statement: its own line, its conditions under it
            yield Step(f"( {fql.canonical(expr)} )", fql.matches(expr, document), None, depth)
        for operand in expr.operands:
            yield from _fql_steps(operand, document, depth + (not top))
    elif isinstance(expr, fql.Not) and isinstance(expr.operand, fql.Logic):
        yield Step(f"!( {fql.canonical(expr.operand)} )", fql.matches(expr, document), None, depth)
        yield from _fql_steps(expr.operand, document, depth + 1)
    else:
        yield Step(fql.canonical(expr), fql.matches(expr, document), fql_seen(expr, document), depth)
