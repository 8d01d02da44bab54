"""segdbg's query language ⇄ Segment's FQL, where an equivalent exists (``segdbg query --to-fql/--from-fql``).

A translation is exact on the events both languages read alike, and says where they part (docs/fql.md):

- segdbg's paths look into arrays on the way (``properties.products.sku``) and match a value held
  in an array; FQL's do not, it has ``x in list`` for the last part. The translation of a value uses
  both (``p = 'x' or 'x' in p``), so the two agree whenever no array lies *before* the last part.
- segdbg's ``properties.count:42`` also matches the string ``"42"`` (and ``:true`` the string
  ``"true"``); the FQL it becomes says so too. From FQL, ``p = 42`` becomes ``p:42``, looser.
- Terms that read segdbg's own record of a request (``source: status: problem: code: scope:
  pinned: after: before: http.status:``) and free text have no FQL equivalent; ``or`` across
  fields, ``length()``, ``lowercase()`` and glob classes have no native one. These are refused
  with the reason, never approximated.

Pure: AST to AST, printed by each language's own printer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from debugger.core.protocol import TYPES
from debugger.core.query import fql, glob
from debugger.core.query.language import (
    STAR,
    Comparison,
    FieldTerm,
    FqlTerm,
    HasTerm,
    PathTerm,
    Pattern,
    Query,
    Term,
    TextTerm,
    Value,
    canonical,
)

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
ARRAYS_NOTE = (
    "segdbg looks into arrays on a path's way (properties.products.sku matches any product); FQL does not: "
    "the two agree where no array lies before the path's last part."
)
_OWN = {
    "source": "the write key or its label",
    "status": "the status segdbg gave the row",
    "problem": "the problems segdbg found",
    "code": "the problems segdbg found",
    "scope": "the write key of a test",
    "pinned": "segdbg's pins",
    "after": "the time segdbg received the event",
    "before": "the time segdbg received the event",
    "http.status": "the HTTP status segdbg answered",
}


class NoEquivalent(ValueError):
    """The query says something the other language cannot: ``message`` says what and why."""


@dataclass(frozen=True, slots=True)
class Translation:
    """A query in the other language, and where the two read events differently (``notes``)."""

    text: str
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------- to FQL
def to_fql(query: Query) -> Translation:
    """``query`` as one FQL statement.

    Raises:
        NoEquivalent: a term FQL cannot say (free text, or segdbg's own record of a request).
    """
    notes: list[str] = []
    parts = [_term_fql(term, notes) for term in query.terms]
    if not parts:
        return Translation("true")  # the empty query matches everything
    expr = parts[0] if len(parts) == 1 else fql.Logic("and", tuple(parts))
    return Translation(fql.canonical(expr), tuple(dict.fromkeys(notes)))


def _lit(value: fql.Scalar) -> fql.Literal:
    return fql.Literal(value)


def _any(alternatives: list[fql.Expr]) -> fql.Expr:
    return alternatives[0] if len(alternatives) == 1 else fql.Logic("or", tuple(alternatives))


def _term_fql(term: Term, notes: list[str]) -> fql.Expr:
    expr = _positive_fql(term, notes)
    if not term.negated:
        return expr
    if isinstance(expr, fql.Compare) and expr.op == "!=":
        return fql.Compare("=", expr.left, expr.right)  # -has:x is `x = null`, not `!( x != null )`
    return fql.Not(expr)


def _positive_fql(term: Term, notes: list[str]) -> fql.Expr:
    shown = canonical(Query((term,)))
    if isinstance(term, FqlTerm):
        return term.expr
    if isinstance(term, TextTerm):
        raise NoEquivalent(
            f"`{shown}` is free text over the whole message; FQL has no such search (contains() reads one field)."
        )
    if isinstance(term, HasTerm):
        if any(len(p) > 1 for p in term.paths):
            notes.append(ARRAYS_NOTE)
        return _any([fql.Compare("!=", fql.Path(p), _lit(None)) for p in term.paths])
    if isinstance(term, PathTerm):
        if len(term.path) > 1:
            notes.append(ARRAYS_NOTE)
        return _any([_value_fql(fql.Path(term.path), v, notes, shown) for v in term.values])
    if isinstance(term, FieldTerm) and term.name in ("type", "user", "id", "lib", "event"):
        return _any([_field_fql(term.name, v, notes) for v in term.values])
    name = term.name if isinstance(term, FieldTerm) else getattr(term, "name", "")
    raise NoEquivalent(
        f"`{shown}` reads {_OWN.get(name, 'what segdbg recorded')}, not a field of the message; FQL has no equivalent."
    )


def _field_fql(name: str, value: Pattern, notes: list[str]) -> fql.Expr:
    def equal(path: str) -> fql.Expr:
        parts = tuple(path.split("."))
        if value.is_any:
            return fql.Compare("!=", fql.Path(parts), _lit(None))
        if value.exact is not None:
            return fql.Compare("=", fql.Path(parts), _lit(value.exact))
        return fql.Call("match", (fql.Path(parts), _lit(_glob_text(value))))

    if name == "type":  # the store writes the type it resolved into the message: the two agree
        return equal("type")
    if name == "user":
        return fql.Logic("or", (equal("userId"), equal("anonymousId")))
    if name == "id":
        return equal("messageId")
    if name == "lib":
        return equal("context.library.name")
    # event: a track's `event`, a page's or screen's `name`
    return fql.Logic(
        "or",
        (
            fql.Logic("and", (fql.Compare("=", fql.Path(("type",)), _lit("track")), equal("event"))),
            fql.Logic(
                "and",
                (
                    fql.Compare("in", fql.Path(("type",)), fql.ListLiteral((_lit("page"), _lit("screen")))),
                    equal("name"),
                ),
            ),
        ),
    )


def _glob_text(pattern: Pattern) -> str:
    return "".join("*" if p is STAR else re.sub(r"([*?\[\]\\])", r"\\\1", str(p)) for p in pattern.pieces)


def _value_fql(path: fql.Path, value: Value, notes: list[str], shown: str) -> fql.Expr:
    if isinstance(value, Comparison):
        if not _NUMBER.fullmatch(value.operand):
            raise NoEquivalent(f"`{shown}` compares text; FQL's > >= < <= compare numbers only.")
        notes.append('segdbg compares numeric strings ("2.3.4" as 2.3) and array elements too; FQL numbers only.')
        number = float(value.operand) if any(c in value.operand for c in ".eE") else int(value.operand)
        return fql.Compare(value.op, path, _lit(number))
    if value.is_any:
        return fql.Compare("!=", path, _lit(None))
    exact = value.exact
    if exact is None:
        notes.append("segdbg's * also matches numbers (as text) and array elements; FQL's match() reads strings.")
        return fql.Call("match", (path, _lit(_glob_text(value))))
    if exact == "null":
        raise NoEquivalent(f"`{shown}` matches an explicit null only; FQL's null is also a missing field.")
    literals: list[fql.Scalar] = [exact]
    if exact in ("true", "false"):
        literals = [exact == "true", exact]
    elif _NUMBER.fullmatch(exact):
        number = float(exact) if any(c in exact for c in ".eE") else int(exact)
        literals = [number, exact]
    alternatives: list[fql.Expr] = [fql.Compare("=", path, _lit(v)) for v in literals]
    alternatives += [fql.Compare("in", _lit(v), path) for v in literals]
    return _any(alternatives)


# -------------------------------------------------------------------------------- from FQL
def from_fql(expr: fql.Expr) -> Translation:
    """An FQL statement as segdbg's query language.

    Raises:
        NoEquivalent: ``or`` across fields, a negated group, or a function segdbg's language lacks.
    """
    notes: list[str] = []
    terms = _terms(expr, notes)
    return Translation(canonical(Query(tuple(terms))), tuple(dict.fromkeys(notes)))


def _terms(expr: fql.Expr, notes: list[str]) -> list[Term]:
    if isinstance(expr, fql.Logic) and expr.op == "and":
        return [t for operand in expr.operands for t in _terms(operand, notes)]
    if isinstance(expr, fql.Logic):
        terms = [_terms(o, notes) for o in expr.operands]
        singles = [t[0] for t in terms if len(t) == 1 and not t[0].negated]
        if len(singles) == len(terms):
            first = singles[0]
            if isinstance(first, PathTerm):
                paths = [t for t in singles if isinstance(t, PathTerm) and t.path == first.path]
                if len(paths) == len(singles):
                    return [PathTerm(first.path, tuple(v for t in paths for v in t.values))]
            if isinstance(first, FieldTerm):
                fields = [t for t in singles if isinstance(t, FieldTerm) and t.name == first.name]
                if len(fields) == len(singles):
                    return [FieldTerm(first.name, tuple(v for t in fields for v in t.values))]
        raise NoEquivalent(
            f"`{fql.canonical(expr)}`: segdbg's terms are ANDed; `or` works only between values of one field."
        )
    if isinstance(expr, fql.Not):
        inner = _terms(expr.operand, notes)
        if len(inner) != 1:
            raise NoEquivalent(f"`{fql.canonical(expr)}`: segdbg negates one term at a time, not a group.")
        term = inner[0]
        return [_negate(term)]
    return [_leaf(expr, notes)]


def _negate(term: Term) -> Term:
    if isinstance(term, FieldTerm):
        return FieldTerm(term.name, term.values, not term.negated)
    if isinstance(term, PathTerm):
        return PathTerm(term.path, term.values, not term.negated)
    if isinstance(term, HasTerm):
        return HasTerm(term.paths, not term.negated)
    raise AssertionError(f"only path and has terms come from FQL, not {term!r}")


def _leaf(expr: fql.Expr, notes: list[str]) -> Term:
    shown = fql.canonical(expr)
    if isinstance(expr, fql.Path):
        notes.append('segdbg\'s `:true` also matches the string "true".')
        return PathTerm(_native_path(expr, shown), (Pattern(("true",)),))
    if isinstance(expr, fql.Compare):
        return _compare_term(expr, notes, shown)
    if isinstance(expr, fql.Call) and expr.name in ("contains", "match"):
        target, pattern = expr.args
        if isinstance(target, fql.Path) and isinstance(pattern, fql.Literal) and isinstance(pattern.value, str):
            notes.append("segdbg's * also matches numbers (as text) and array elements; FQL's match() reads strings.")
            if expr.name == "contains":
                return PathTerm(_native_path(target, shown), (Pattern((STAR, pattern.value, STAR)),))
            return PathTerm(_native_path(target, shown), (_pattern_of_glob(pattern.value, shown),))
    raise NoEquivalent(f"`{shown}` has no equivalent in segdbg's language.")


def _compare_term(expr: fql.Compare, notes: list[str], shown: str) -> Term:
    left, right, op = expr.left, expr.right, expr.op
    if op == "in" and left == fql.Path(("type",)) and isinstance(right, fql.ListLiteral) and right.items:
        if all(isinstance(i.value, str) and i.value in TYPES for i in right.items):
            return FieldTerm("type", tuple(Pattern((str(i.value),)) for i in right.items))
    if op == "in" and isinstance(left, fql.Path) and isinstance(right, fql.ListLiteral) and right.items:
        notes.append(ARRAYS_NOTE)
        return PathTerm(_native_path(left, shown), tuple(_value_of(i, notes, shown) for i in right.items))
    if op == "in" and isinstance(left, fql.Literal) and isinstance(right, fql.Path):
        notes.append("segdbg's `path:value` holds both when the path holds the value and when its list does.")
        return PathTerm(_native_path(right, shown), (_value_of(left, notes, shown),))
    if isinstance(left, fql.Literal) and not isinstance(right, fql.Literal):
        left, right = right, left
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    if (
        isinstance(left, fql.Call)
        and left.name == "typeof"
        and isinstance(right, fql.Literal)
        and right.value == "null"
    ):
        (arg,) = left.args
        if isinstance(arg, fql.Path) and op in ("=", "!="):
            return HasTerm((_native_path(arg, shown),), negated=op == "=")
    if not (isinstance(left, fql.Path) and isinstance(right, fql.Literal)):
        raise NoEquivalent(f"`{shown}` has no equivalent in segdbg's language (it compares a field with a value).")
    path = _native_path(left, shown)
    if path == ("type",) and isinstance(right.value, str) and right.value in TYPES and op in ("=", "!="):
        return FieldTerm("type", (Pattern((right.value,)),), negated=op == "!=")  # the store writes the type it read
    if right.value is None and op in ("=", "!="):
        return HasTerm((path,), negated=op == "=")
    if op in ("=", "!="):
        return PathTerm(path, (_value_of(right, notes, shown),), negated=op == "!=")
    if op in ("<", "<=", ">", ">=") and isinstance(right.value, int | float) and not isinstance(right.value, bool):
        notes.append('segdbg compares numeric strings ("2.3.4" as 2.3) and array elements too; FQL numbers only.')
        return PathTerm(path, (Comparison(op, fql.literal_text(right.value)),))
    raise NoEquivalent(f"`{shown}` has no equivalent in segdbg's language.")


def _value_of(literal: fql.Literal, notes: list[str], shown: str) -> Pattern:
    value = literal.value
    if value is None:
        raise NoEquivalent(f"`{shown}`: a null in a list has no equivalent in segdbg's language.")
    if isinstance(value, bool) or not isinstance(value, str):
        notes.append(f'segdbg\'s `:{fql.literal_text(value)}` also matches the string "{fql.literal_text(value)}".')
        return Pattern((fql.literal_text(value),))
    if _NUMBER.fullmatch(value) or value in ("true", "false", "null"):
        notes.append(f"segdbg's `:{value}` also matches the JSON value {value}, not only the string.")
    notes.append(ARRAYS_NOTE)
    return Pattern((value,))


def _native_path(path: fql.Path, shown: str) -> tuple[str, ...]:
    if len(path.parts) > 8:
        raise NoEquivalent(f"`{shown}`: segdbg's paths have at most 8 parts.")
    return path.parts


def _pattern_of_glob(pattern: str, shown: str) -> Pattern:
    pieces = glob.glob_pieces(pattern)
    if pieces is None:
        raise NoEquivalent(f"`{shown}`: the pattern is malformed (it matches nothing in FQL).")
    out: list[str | object] = []
    for kind, value in pieces:
        if kind == "star":
            out.append(STAR)
        elif kind == "char" and isinstance(value, str):
            if out and isinstance(out[-1], str):
                out[-1] += value
            else:
                out.append(value)
        else:
            raise NoEquivalent(f"`{shown}`: segdbg's wildcard is * only; ? and [...] have no equivalent.")
    return Pattern(tuple(out) or ("",))  # type: ignore[arg-type]
