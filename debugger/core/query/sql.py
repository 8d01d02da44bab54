"""The filter language compiled to SQL: a parsed :class:`~debugger.core.query.language.Query` → parameterised SQL.

:func:`compile` gives the ``WHERE`` expression over ``events`` (:func:`compile_terms` the same
term by term, for near misses); :func:`text_match` the FTS5 trigram MATCH that narrows a search
before it. Values are always parameters; JSON paths are inlined as quoted literals. Pure: no
I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from debugger.core.protocol import TYPES
from debugger.core.query import fql, glob
from debugger.core.query.extracted import EXTRACTED, READ_JSON
from debugger.core.query.language import (
    _RELATIVE,
    Comparison,
    FqlTerm,
    HasTerm,
    PathTerm,
    Pattern,
    Query,
    RequestTerm,
    Term,
    TextTerm,
    TimeTerm,
    Value,
    Wildcard,
    canonical,
)
from debugger.core.timefmt import format_timestamp, parse_timestamp

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def compile(query: Query, *, now: datetime) -> tuple[str, list[Any]]:  # shadows the builtin: the contract's name
    """A SQL boolean expression over ``events`` columns and its parameters.

    Args:
        query: the parsed query.
        now: the instant relative times (``after:10m``) count back from.

    Returns:
        ``(sql, params)`` for ``WHERE sql``; ``("1", [])`` for the empty query.
    """
    parts = compile_terms(query, now=now)
    if not parts:
        return "1", []
    return " AND ".join(sql for _, sql, _ in parts), [p for _, _, params in parts for p in params]


def compile_terms(query: Query, *, now: datetime) -> list[tuple[str, str, list[Any]]]:
    """Each term as ``(canonical term, sql, params)``, e.g. to score near misses term by term."""
    out = []
    for term in query.terms:
        sql, params = _term_sql(term, now)
        sql = f"NOT coalesce(({sql}), 0)" if term.negated else f"({sql})"
        out.append((canonical(Query((term,))), sql, params))
    return out


def text_match(query: Query) -> str | None:
    """An FTS5 (trigram, detail=none) MATCH expression every matching row's ``stored`` satisfies.

    Built from positive free text and literal JSON-path values of 3+ characters; ``None``
    when the query implies no such text. The caller must still apply :func:`compile`.
    """
    clauses = []
    for term in query.terms:
        if term.negated:
            continue
        if isinstance(term, TextTerm):
            clause = _trigrams(_json_text(term.text))
        elif isinstance(term, FqlTerm):
            clause = _fql_trigrams(term.expr)
        elif isinstance(term, PathTerm) and all(isinstance(v, Pattern) for v in term.values):
            alts = [_pattern_trigrams(v) for v in term.values if isinstance(v, Pattern)]
            clause = None if None in alts else " OR ".join(f"({a})" for a in alts)
        else:
            clause = None
        if clause:
            clauses.append(f"({clause})")
    return " AND ".join(clauses) or None


def _json_text(text: str) -> str:
    """How ``text`` appears inside a JSON string as the store writes it."""
    return orjson.dumps(text).decode()[1:-1]


def _trigrams(text: str) -> str | None:
    if len(text) < 3:
        return None
    grams = dict.fromkeys(text[i : i + 3].lower() for i in range(len(text) - 2))
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def _pattern_trigrams(pattern: Pattern) -> str | None:
    exact = pattern.exact
    if exact is not None and (_NUMBER.fullmatch(exact) or exact in ("true", "false", "null")):
        return None  # numbers and literals may be written differently in the JSON text
    grams = [g for p in pattern.pieces if isinstance(p, str) and (g := _trigrams(_json_text(p)))]
    return " AND ".join(grams) or None


_COLUMNS = {"type": "type", "event": "name", "lib": "library_name", "status": "status", "id": "message_id"}
_COLUMNS["scope"] = "write_key"  # a test's scope is its write key, exactly, never a label (docs/ci.md)


def _term_sql(term: Term, now: datetime) -> tuple[str, list[Any]]:
    if isinstance(term, FqlTerm):
        return fql_sql(term.expr, type_column="events.type")
    if isinstance(term, TextTerm):
        return "instr(lower(events.stored), lower(?)) > 0", [_json_text(term.text)]
    if isinstance(term, TimeTerm):
        op = ">=" if term.name == "after" else "<"
        return f"events.received_at {op} ?", [_instant(term.text, now)]
    if isinstance(term, HasTerm):
        parts = [_stored_path_sql(p, _present) for p in term.paths]
        return " OR ".join(f"({s})" for s, _ in parts), [x for _, ps in parts for x in ps]
    if isinstance(term, PathTerm):
        parts = [_stored_path_sql(term.path, _leaf(v)) for v in term.values]
        return " OR ".join(f"({s})" for s, _ in parts), [x for _, ps in parts for x in ps]
    if isinstance(term, RequestTerm):  # http.status: the status the row's request was answered
        return _request_status_sql(term.values)
    if term.name == "user":
        a, pa = _column_sql("events.user_id", term.values)
        b, pb = _column_sql("events.anonymous_id", term.values)
        return f"{a} OR {b}", pa + pb
    if term.name == "source":
        a, pa = _column_sql("events.write_key", term.values)
        b, pb = _column_sql("label", term.values)
        return f"{a} OR events.write_key IN (SELECT write_key FROM sources WHERE {b})", pa + pb
    if term.name in ("problem", "code"):
        a, pa = _column_sql("json_extract(p.value, '$.code')", term.values)
        return f"EXISTS (SELECT 1 FROM json_each(events.problems) AS p WHERE {a})", pa
    if term.name == "pinned":
        wanted = {v.exact for v in term.values}
        if len(wanted) > 1:
            return "1", []
        return ("events.pinned = 1", []) if "true" in wanted else ("events.pinned = 0", [])
    if term.name == "status" and any(v.exact == "ok" for v in term.values):
        return _column_sql("+events.status", term.values)  # most rows are ok: not a useful index
    return _column_sql("events." + _COLUMNS[term.name], term.values)


def _request_status_sql(values: tuple[Value, ...]) -> tuple[str, list[Any]]:
    """``http.status:`` over the row's request (rows without one, e.g. pasted, match nothing)."""
    status = "(SELECT requests.status FROM requests WHERE requests.id = events.request_id)"
    parts: list[str] = []
    params: list[Any] = []
    for v in values:
        if isinstance(v, Comparison):
            number = _NUMBER.fullmatch(v.operand)
            parts.append(f"{status} {v.op} ?")
            params.append(float(v.operand) if number else v.operand)
        elif v.is_any:
            parts.append(f"{status} IS NOT NULL")
        elif v.exact is not None:
            parts.append(f"CAST({status} AS TEXT) = ?")
            params.append(v.exact)
        else:
            parts.append(f"CAST({status} AS TEXT) GLOB ?")
            params.append(_glob(v))
    return " OR ".join(f"({p})" for p in parts), params


def relative_span(text: str) -> timedelta | None:
    """A duration written as in ``after:`` (``30s`` ``10m`` ``2h`` ``7d`` ``2w``); ``None`` otherwise.

    Raises:
        OverflowError: the number is too large for a ``timedelta``.
    """
    match = _RELATIVE.fullmatch(text)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}) if match else None


def _instant(text: str, now: datetime) -> str:
    try:
        span = relative_span(text)
        moment = now - span if span is not None else parse_timestamp(text)
    except OverflowError:
        moment = datetime(1, 1, 1, tzinfo=UTC)
    return format_timestamp(moment) if moment is not None else text


def _glob(pattern: Pattern) -> str:
    return "".join("*" if isinstance(p, Wildcard) else re.sub(r"([*?\[])", r"[\1]", p) for p in pattern.pieces)


def _column_sql(column: str, values: tuple[Pattern, ...]) -> tuple[str, list[Any]]:
    exact = [v.exact for v in values if v.exact is not None]
    parts, params = [], []
    if exact:
        parts.append(f"{column} IN ({','.join('?' * len(exact))})")
        params += exact
    for v in values:
        if v.is_any:
            parts.append(f"{column} IS NOT NULL")
        elif v.exact is None:
            parts.append(f"{column} GLOB ?")
            params.append(_glob(v))
    return "(" + " OR ".join(parts) + ")", params


Leaf = Any  # Callable[[str, str], tuple[str, list[Any]]]: (value expr, json type expr) -> predicate


def _present(value: str, kind: str) -> tuple[str, list[Any]]:
    return f"coalesce({kind}, 'null') != 'null'", []


def _leaf(v: Value) -> Leaf:
    def leaf(value: str, kind: str) -> tuple[str, list[Any]]:
        if isinstance(v, Comparison):
            if _NUMBER.fullmatch(v.operand):
                number = (
                    f"(CASE WHEN {kind} IN ('integer','real') THEN {value} WHEN {kind} = 'text' AND "
                    f"({value} GLOB '[0-9]*' OR {value} GLOB '-[0-9]*' OR {value} GLOB '.[0-9]*') "
                    f"THEN CAST({value} AS REAL) END)"
                )
                return f"{number} {v.op} ?", [float(v.operand)]
            return f"{kind} = 'text' AND {value} {v.op} ?", [v.operand]
        if v.is_any:
            return _present(value, kind)
        exact = v.exact
        if exact is None:
            return f"{kind} IN ('text','integer','real') AND CAST({value} AS TEXT) GLOB ?", [_glob(v)]
        if exact in ("true", "false", "null"):
            return f"({kind} = ? OR ({kind} = 'text' AND {value} = ?))", [exact, exact]
        if _NUMBER.fullmatch(exact):
            return (
                f"(({kind} = 'text' AND {value} = ?) OR ({kind} IN ('integer','real') AND {value} = ?))",
                [exact, float(exact)],
            )
        return f"{kind} = 'text' AND {value} = ?", [exact]

    return leaf


def _read_json(path: tuple[str, ...]) -> str | None:
    """For a path kept as columns (:data:`~debugger.core.query.extracted.EXTRACTED`): the condition
    under which a row's columns cannot answer and its message must be read."""
    columns = EXTRACTED.get(path)
    return f"events.{columns[1]} = '{READ_JSON}'" if columns else None


def _stored_path_sql(path: tuple[str, ...], leaf: Leaf) -> tuple[str, list[Any]]:
    """``leaf`` holds at ``path`` in the row's stored message; from its columns when the path is kept
    as columns and they can answer (the same rows either way: docs/search.md)."""
    sql, params = _json_path_sql("events.stored", path, leaf)
    read_json = _read_json(path)
    if read_json is None:
        return sql, params
    value, kind = EXTRACTED[path]
    fast, fast_params = leaf(f"events.{value}", f"events.{kind}")
    return f"CASE WHEN {read_json} THEN ({sql}) ELSE ({fast}) END", params + fast_params


def _json_path_sql(
    doc: str, path: tuple[str, ...], leaf: Leaf, base: str = "$", depth: int = 0
) -> tuple[str, list[Any]]:
    """``leaf`` holds for some value at ``path`` in JSON ``doc``, looking into arrays on the way.

    Paths are inlined as SQL string literals (quotes doubled); only values are parameters.
    """
    if any('"' in segment for segment in path):
        return "0", []  # SQLite JSON paths cannot address keys containing a double quote
    here = "'" + base.replace("'", "''") + "'"
    if not path:
        alias = f"j{depth}"
        scalar, ps = leaf(f"json_extract({doc}, {here})", f"json_type({doc}, {here})")
        inner, pi = leaf(f"{alias}.value", f"{alias}.type")
        sql = (
            f"({scalar}) OR (json_type({doc}, {here}) = 'array' AND "
            f"EXISTS (SELECT 1 FROM json_each({doc}, {here}) AS {alias} WHERE {inner}))"
        )
        return sql, ps + pi
    direct, pd = _json_path_sql(doc, path[1:], leaf, f'{base}."{path[0]}"', depth + 1)
    if base == "$":
        return direct, pd
    alias = f"j{depth}"
    nested, pn = _json_path_sql(f"{alias}.value", path[1:], leaf, f'$."{path[0]}"', depth + 1)
    sql = (
        f"({direct}) OR (json_type({doc}, {here}) = 'array' AND EXISTS (SELECT 1 FROM json_each({doc}, {here}) "
        f"AS {alias} WHERE {alias}.type = 'object' AND ({nested})))"
    )
    return sql, pd + pn


# ---------------------------------------------------------------------------------------- FQL
# An FQL value compiles to two SQL expressions: its value (as json_extract gives it: booleans 1/0,
# lists and objects as JSON text, null as NULL) and its FQL type name (fql.TYPE_NAMES). A condition
# compiles to a predicate that is NULL only where it is false; `!` and a condition used as a value
# coalesce it, so FQL's two-valued logic holds (NULL OR 1 is 1, NULL AND x is at most NULL: false).
_FQL_KIND = (
    "CASE {t} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
    "WHEN 'true' THEN 'bool' WHEN 'false' THEN 'bool' WHEN 'array' THEN 'list' WHEN 'object' THEN 'object' "
    "ELSE 'null' END"
)


def fql_sql(expr: fql.Expr, doc: str = "events.stored", type_column: str | None = None) -> tuple[str, list[Any]]:
    """An FQL statement as a SQL predicate over the JSON column ``doc`` (true exactly when it holds).

    ``type_column``: a column holding the message's ``type`` whenever that is one of Segment's types
    (``events.type``: the store writes the resolved type into the message too), so ``type = 'track'``
    reads its index instead of the JSON.
    """
    if isinstance(expr, fql.Logic):
        parts = [fql_sql(o, doc, type_column) for o in expr.operands]
        joiner = " OR " if expr.op == "or" else " AND "
        return "(" + joiner.join(f"({s})" for s, _ in parts) + ")", [p for _, ps in parts for p in ps]
    if isinstance(expr, fql.Not):
        inner, params = fql_sql(expr.operand, doc, type_column)
        return f"NOT coalesce(({inner}), 0)", params
    if isinstance(expr, fql.Compare):
        return _fql_field_compare(expr, doc, type_column) or _fql_compare(expr, doc)
    if isinstance(expr, fql.Call) and expr.name in ("contains", "match"):
        return _fql_predicate_call(expr, doc)
    value, kind, params = _fql_value(expr, doc)
    return f"coalesce({kind} = 'bool' AND {value} = 1, 0)", params  # only `true` is true


def _fql_path(parts: tuple[str, ...], doc: str) -> tuple[str, str]:
    """``(json_extract, json_type)`` of a path in ``doc``, from the row's columns when the path is kept
    as columns and they can answer (core.query.extracted). The path holds no double quote."""
    path = "'" + ("$" + "".join(f'."{p}"' for p in parts)).replace("'", "''") + "'"
    extracted, kind = f"json_extract({doc}, {path})", f"json_type({doc}, {path})"
    read_json = _read_json(tuple(parts)) if doc == "events.stored" else None
    if read_json is None:
        return extracted, kind
    column, kind_column = EXTRACTED[tuple(parts)]
    return (
        f"(CASE WHEN {read_json} THEN {extracted} ELSE events.{column} END)",
        f"(CASE WHEN {read_json} THEN {kind} ELSE events.{kind_column} END)",
    )


def _fql_value(expr: fql.Expr, doc: str) -> tuple[str, str, list[Any]]:
    """``(value sql, type-name sql, params)``: the params are the value's; the type's SQL never holds one."""
    if isinstance(expr, fql.Path):
        if any('"' in part for part in expr.parts):
            return "NULL", "'null'", []  # SQLite JSON paths cannot name a key holding a double quote
        extracted, kind = _fql_path(expr.parts, doc)
        return extracted, _FQL_KIND.format(t=kind), []
    if isinstance(expr, fql.Literal):
        value = expr.value
        return "?", f"'{fql.type_name(value)}'", [int(value) if isinstance(value, bool) else value]
    if isinstance(expr, fql.ListLiteral):
        return "json(?)", "'list'", [orjson.dumps([i.value for i in expr.items]).decode()]
    if isinstance(expr, fql.Call):
        return _fql_value_call(expr, doc)
    sql, params = fql_sql(expr, doc)  # a condition used as a value: a bool
    return f"coalesce(({sql}), 0)", "'bool'", params


def _fql_value_call(expr: fql.Call, doc: str) -> tuple[str, str, list[Any]]:
    if expr.name in ("contains", "match"):
        sql, params = _fql_predicate_call(expr, doc)
        return f"({sql})", "'bool'", params
    v, k, p = _fql_value(expr.args[0], doc)
    if expr.name == "typeof":
        return f"({k})", "'string'", []
    if expr.name == "lowercase":
        kind = f"(CASE WHEN {k} = 'string' THEN 'string' ELSE 'null' END)"
        return f"(CASE WHEN {k} = 'string' THEN lower({v}) END)", kind, p
    # length: bytes of a string, elements of a list, 0 for null; NULL (FQL's NaN) otherwise
    value = (
        f"(CASE {k} WHEN 'string' THEN length(CAST({v} AS BLOB)) WHEN 'list' THEN json_array_length({v}) "
        "WHEN 'null' THEN 0 END)"
    )
    return value, "'number'", [*p, *p]


def _fql_predicate_call(expr: fql.Call, doc: str) -> tuple[str, list[Any]]:
    (sv, sk, sp), (pv, pk, pp) = (_fql_value(a, doc) for a in expr.args)
    typed = f"{sk} = 'string' AND {pk} = 'string'"
    if expr.name == "contains":
        return f"coalesce({typed} AND instr({sv}, {pv}) > 0, 0)", [*sp, *pp]
    pattern = expr.args[1]
    if isinstance(pattern, fql.Literal) and isinstance(pattern.value, str):
        translated = glob.sqlite_glob(pattern.value)
        if translated is None:
            return "0", []  # a malformed pattern matches nothing
        return f"coalesce({sk} = 'string' AND {sv} GLOB ?, 0)", [*sp, translated]
    # A pattern read from the event: SQLite's GLOB as is (FQL's \ escapes are not applied).
    return f"coalesce({typed} AND {sv} GLOB {pv}, 0)", [*sp, *pp]


_RAW_KINDS = {"string": "('text')", "number": "('integer','real')", "list": "('array')", "object": "('object')"}


def _fql_field_compare(expr: fql.Compare, doc: str, type_column: str | None) -> tuple[str, list[Any]] | None:
    """``path = value``, ``path != value`` and ``path in [values]`` without the general type mapping (the
    common filters, evaluated on every row a scan reads); ``None`` for any other comparison."""
    left, right = expr.left, expr.right
    if expr.op in ("=", "!=") and isinstance(left, fql.Literal) and isinstance(right, fql.Path):
        left, right = right, left
    if not isinstance(left, fql.Path) or any('"' in part for part in left.parts):
        return None
    in_types = type_column is not None and left.parts == ("type",)
    if expr.op == "in" and isinstance(right, fql.ListLiteral) and in_types and right.items:
        if all(isinstance(i.value, str) and i.value in TYPES for i in right.items):
            # Bare, so the planner can use the column's index; a NULL (no type) is false, and `!` coalesces.
            return f"{type_column} IN ({','.join('?' * len(right.items))})", [i.value for i in right.items]
        return None
    if expr.op not in ("=", "!=") or not isinstance(right, fql.Literal):
        return None
    value = right.value
    extracted, kind = _fql_path(left.parts, doc)
    params: list[Any]
    if in_types and isinstance(value, str) and value in TYPES:
        sql, params = f"{type_column} = ?", [value]  # bare for the index, as above
    elif value is None:
        sql, params = f"coalesce({kind}, 'null') = 'null'", []
    elif isinstance(value, bool):
        sql, params = f"coalesce({kind} = '{'true' if value else 'false'}', 0)", []
    else:
        raw = _RAW_KINDS[fql.type_name(value)]
        sql, params = f"coalesce({kind} IN {raw} AND {extracted} = ?, 0)", [value]
    return (sql, params) if expr.op == "=" else (f"NOT coalesce({sql}, 0)", params)


def _fql_compare(expr: fql.Compare, doc: str) -> tuple[str, list[Any]]:
    lv, lk, lp = _fql_value(expr.left, doc)
    if expr.op == "in":
        return _fql_in(lv, lk, lp, expr.right, doc)
    rv, rk, rp = _fql_value(expr.right, doc)
    if expr.op in ("=", "!="):
        equal = f"coalesce({lk} = {rk} AND ({lk} = 'null' OR {lv} = {rv}), 0)"
        params = [*lp, *rp]
        return (equal, params) if expr.op == "=" else (f"NOT {equal}", params)
    return f"coalesce({lk} = 'number' AND {rk} = 'number' AND {lv} {expr.op} {rv}, 0)", [*lp, *rp]


def _fql_in(lv: str, lk: str, lp: list[Any], right: fql.Expr, doc: str) -> tuple[str, list[Any]]:
    """``x in LIST``: an element of the same type equal to ``x`` (lists and objects are never members)."""
    rv, rk, rp = _fql_value(right, doc)
    element = _FQL_KIND.format(t="e.type")
    sql = (
        f"coalesce({rk} = 'list' AND {lk} NOT IN ('list','object') AND EXISTS (SELECT 1 FROM json_each(CASE WHEN {rk} = 'list' THEN {rv} ELSE '[]' END) AS e "
        f"WHERE {element} = {lk} AND ({lk} = 'null' OR e.value = {lv})), 0)"
    )
    return sql, [*rp, *lp]


def _fql_trigrams(expr: fql.Expr) -> str | None:
    """Text every event the statement holds for contains (for the FTS index), or ``None``."""
    if isinstance(expr, fql.Logic):
        parts = [_fql_trigrams(o) for o in expr.operands]
        if expr.op == "and":
            kept = [p for p in parts if p]
            return " AND ".join(f"({p})" for p in kept) or None
        return None if None in parts else " OR ".join(f"({p})" for p in parts)
    strings: list[str] = []
    if isinstance(expr, fql.Compare) and fql.Path(("type",)) in (expr.left, expr.right):
        return None  # a handful of values in every event: trigrams of them narrow nothing (the column's index does)
    if isinstance(expr, fql.Compare) and expr.op in ("=", "in"):
        if expr.op == "=" and isinstance(expr.left, fql.Path):
            strings = _strings(expr.right)
        elif expr.op == "=" and isinstance(expr.right, fql.Path):
            strings = _strings(expr.left)
        elif expr.op == "in" and isinstance(expr.right, fql.Path):
            strings = _strings(expr.left)
        elif expr.op == "in" and isinstance(expr.left, fql.Path) and isinstance(expr.right, fql.ListLiteral):
            alts = [_trigrams(_json_text(i.value)) if isinstance(i.value, str) else None for i in expr.right.items]
            return None if not alts or None in alts else " OR ".join(f"({a})" for a in alts)
    elif isinstance(expr, fql.Call) and expr.name == "contains" and isinstance(expr.args[0], fql.Path):
        strings = _strings(expr.args[1])
    elif isinstance(expr, fql.Call) and expr.name == "match" and isinstance(expr.args[0], fql.Path):
        pattern = expr.args[1]
        pieces = (
            glob.glob_pieces(pattern.value)
            if isinstance(pattern, fql.Literal) and isinstance(pattern.value, str)
            else None
        )
        if pieces:
            runs, current = [], []
            for kind, value in pieces:
                if kind == "char" and isinstance(value, str):
                    current.append(value)
                else:
                    runs.append("".join(current))
                    current = []
            runs.append("".join(current))
            grams = [g for r in runs if (g := _trigrams(_json_text(r)))]
            return " AND ".join(grams) or None
    grams = [g for text in strings if (g := _trigrams(_json_text(text)))]
    return " AND ".join(grams) or None


def _strings(expr: fql.Expr) -> list[str]:
    return [expr.value] if isinstance(expr, fql.Literal) and isinstance(expr.value, str) else []
