"""The one filter language (DESIGN §5): text → AST → canonical text, and AST → parameterised SQL.

Used verbatim by the TUI search box, ``segdbg events``/``expect``/``replay``/``check`` and the
HTTP API. Pure: no I/O, no clock (``now`` is passed to :func:`compile`).

Syntax, by example::

    type:track event:"Order Completed"        fields; space-separated terms are ANDed
    -status:ok  type:page,screen               - negates a term; a,b is OR
    user:u_42  source:web  lib:analytics.js    userId or anonymousId; write key or its label
    id:ajs-next-1712*  problem:no_user_anon_id  messageId; a problem code; * is a wildcard
    after:10m  before:2024-05-01T12:00Z        received time: relative (s m h d w) or ISO
    properties.plan:pro  traits.email:*@acme.com  context.library.version:>=2
    properties.products.sku:45790-32            any element of an array matches
    has:properties.coupon  -has:userId          the path holds a non-null value
    pinned:true                                 pinned events (kept whatever the retention)
    checkout "order completed"                  free text, case-insensitive, whole payload

Values match case-sensitively (names and ids are case-sensitive in Segment); free text is
case-insensitive. Quotes keep spaces and make ``* , : .`` literal; ``\\`` escapes one character.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from debugger.timefmt import format_timestamp, parse_timestamp

STATUSES = ("ok", "invalid", "duplicate")
BOOLEANS = ("true", "false")
TYPES = ("identify", "track", "page", "screen", "group", "alias")
#: Fields with a fixed meaning; everything else with a dot is a JSON path into the stored message.
KEYWORDS = ("type", "event", "user", "source", "lib", "status", "id", "problem", "after", "before", "has", "pinned")
#: Where a JSON path may start (quote the first segment to reach any other top-level key).
ROOTS = (
    "properties", "traits", "context", "integrations", "_metadata", "userId", "anonymousId",
    "messageId", "groupId", "previousId", "event", "name", "category", "type", "timestamp",
    "originalTimestamp", "sentAt", "receivedAt", "channel", "version", "projectId",
)
MAX_PATH_DEPTH = 8  # the array-aware SQL doubles per segment
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RELATIVE = re.compile(r"(\d{1,9})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_IDENT = re.compile(r"[A-Za-z_$][\w$-]*")
_PLAIN_SEGMENT = re.compile(r"[^\s\"\\.:,*<>]+")


class QueryError(ValueError):
    """A malformed query: ``message`` says what is wrong, ``start``/``end`` where (character offsets)."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message, self.start, self.end = message, start, max(end, start + 1)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*`` inside a value: any run of characters."""


STAR = Wildcard()


@dataclass(frozen=True, slots=True)
class Pattern:
    """An exact value, or one with wildcards: literal pieces and :data:`STAR` in order."""

    pieces: tuple[str | Wildcard, ...]

    @property
    def is_any(self) -> bool:
        """Just ``*``: any non-null value."""
        return self.pieces == (STAR,)

    @property
    def exact(self) -> str | None:
        """The value when it has no wildcard."""
        return None if STAR in self.pieces else "".join(p for p in self.pieces if isinstance(p, str))


@dataclass(frozen=True, slots=True)
class Comparison:
    """``>``, ``>=``, ``<`` or ``<=`` against a number (or, if not a number, text)."""

    op: str
    operand: str


Value = Pattern | Comparison
Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TextTerm:
    """Free text: a case-insensitive substring of the stored message."""

    text: str
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """``type: event: user: source: lib: status: id: problem:`` with OR-ed values."""

    name: str
    values: tuple[Pattern, ...]
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class PathTerm:
    """A JSON path into the stored message with OR-ed values (arrays: any element)."""

    path: tuple[str, ...]
    values: tuple[Value, ...]
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class HasTerm:
    """``has:PATH[,PATH]``: the path holds a non-null value."""

    paths: tuple[tuple[str, ...], ...]
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class TimeTerm:
    """``after:``/``before:`` on the received time; ``text`` is ``10m``-style or ISO."""

    name: str
    text: str
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


Term = TextTerm | FieldTerm | PathTerm | HasTerm | TimeTerm


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: its terms, ANDed. No terms matches everything."""

    terms: tuple[Term, ...] = ()

    @property
    def has_status_term(self) -> bool:
        """Whether the query says which statuses it wants (then no default status applies)."""
        return any(isinstance(t, FieldTerm) and t.name == "status" for t in self.terms)

    @property
    def selective(self) -> bool:
        """Whether a positive exact ``user:`` or ``id:`` narrows it to few rows via an index."""
        return any(
            isinstance(t, FieldTerm) and not t.negated and t.name in ("user", "id")
            and all(v.exact is not None for v in t.values)
            for t in self.terms
        )


# ------------------------------------------------------------------------------------ lexing
@dataclass(frozen=True, slots=True)
class _Char:
    text: str  # one character, or "" marking an empty "" pair
    literal: bool  # quoted or escaped: never syntax
    pos: int


def _lex(text: str) -> Iterator[tuple[list[_Char], int, int, bool]]:
    """Split into terms (chars, start, end, negated); quotes and backslashes handled here."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, negated = i, False
        if text[i] == "-" and i + 1 < n and not text[i + 1].isspace():
            negated, i = True, i + 1
        chars: list[_Char] = []
        quote: int | None = None
        while i < n and (quote is not None or not text[i].isspace()):
            c = text[i]
            if c == "\\":
                if i + 1 >= n:
                    raise QueryError("A backslash at the end escapes nothing.", i, i + 1)
                chars.append(_Char(text[i + 1], True, i + 1))
                i += 2
                continue
            if c == '"':
                if quote is None:
                    quote = i
                else:
                    if quote == i - 1:
                        chars.append(_Char("", True, quote))
                    quote = None
                i += 1
                continue
            chars.append(_Char(c, quote is not None, i))
            i += 1
        if quote is not None:
            raise QueryError('This quote is never closed; add a closing ".', quote, n)
        yield chars, start, i, negated


def _join(chars: list[_Char]) -> str:
    return "".join(c.text for c in chars)


def _split(chars: list[_Char], sep: str) -> list[list[_Char]]:
    parts: list[list[_Char]] = [[]]
    for c in chars:
        if c.text == sep and not c.literal:
            parts.append([])
        else:
            parts[-1].append(c)
    return parts


def _span(chars: list[_Char], fallback: Span) -> Span:
    return (chars[0].pos, chars[-1].pos + 1) if chars else fallback


# ----------------------------------------------------------------------------------- parsing
def parse(text: str) -> Query:
    """Parse query text; the empty query matches everything.

    Raises:
        QueryError: with a message and the offsets of the offending term.
    """
    return Query(tuple(_term(chars, start, end, negated) for chars, start, end, negated in _lex(text)))


def _term(chars: list[_Char], start: int, end: int, negated: bool) -> Term:
    span = (start, end)
    colon = next((k for k, c in enumerate(chars) if c.text == ":" and not c.literal), None)
    if colon is None:
        return _text(chars, negated, span)
    name_chars, value_chars = chars[:colon], chars[colon + 1 :]
    if not name_chars:
        raise QueryError('A field name is missing before ":"; quote the term to search for it as text.', start, end)
    segments = _split(name_chars, ".")
    quoted = any(c.literal for c in name_chars)
    single = _join(name_chars)
    if len(segments) == 1 and not quoted and single.lower() in KEYWORDS:
        return _keyword(single.lower(), value_chars, negated, span)
    if len(segments) == 1 and not quoted and single not in ROOTS:
        if not _IDENT.fullmatch(single) or _join(value_chars).startswith("//"):
            return _text(chars, negated, span)  # 12:30, http://host: text, not a field
        raise QueryError(_unknown_field(single), start, start + len(single) + negated)
    path = _path(segments, quoted_root=any(c.literal for c in segments[0]), span=span)
    return PathTerm(path, _values(value_chars, span, comparisons=True), negated, span)


def _text(chars: list[_Char], negated: bool, span: Span) -> TextTerm:
    text = _join(chars)
    if not text:
        raise QueryError("Empty quotes search for nothing; put text between them.", *span)
    return TextTerm(text, negated, span)


def _unknown_field(name: str) -> str:
    close = difflib.get_close_matches(name, KEYWORDS + ROOTS, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}:`?" if close else f"for a property write `properties.{name}:`."
    return (
        f"Unknown field `{name}:`; {hint} Fields are {', '.join(KEYWORDS)}, or a JSON path like "
        "properties.plan; quote the term to search for it as text."
    )


def _path(segments: list[list[_Char]], *, quoted_root: bool, span: Span) -> tuple[str, ...]:
    path = tuple(_join(s) for s in segments)
    for text in path:
        if not text:
            raise QueryError("A JSON path has an empty part (two dots, or a dot at an end).", *span)
    if len(path) > MAX_PATH_DEPTH:
        raise QueryError(f"A JSON path may have at most {MAX_PATH_DEPTH} parts.", *span)
    if not quoted_root and path[0] not in ROOTS:
        close = difflib.get_close_matches(path[0], ROOTS, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`? " if close else ""
        raise QueryError(
            f"A JSON path cannot start with `{path[0]}`; {hint}paths start with properties, traits, "
            'context, integrations or a message field (quote the first part for any other key: "key".sub).',
            *span,
        )
    return path


def _alternatives(value_chars: list[_Char], span: Span, name: str) -> list[list[_Char]]:
    if not value_chars:
        raise QueryError(f"`{name}:` needs a value after the colon.", *span)
    alternatives = _split(value_chars, ",")
    for alt in alternatives:
        if not alt:
            raise QueryError("An empty value in a comma list; remove the extra comma.", *span)
    return alternatives


def _values(value_chars: list[_Char], span: Span, *, comparisons: bool, name: str = "field") -> tuple[Value, ...]:
    values: list[Value] = []
    for alt in _alternatives(value_chars, span, name):
        first = alt[0]
        if first.text in "<>" and first.text and not first.literal:
            if not comparisons:
                raise QueryError(
                    f"`{name}:` does not compare; comparisons work on JSON paths, e.g. properties.total:>100.",
                    *_span(alt, span),
                )
            op, rest = first.text, alt[1:]
            if rest and rest[0].text == "=" and not rest[0].literal:
                op, rest = op + "=", rest[1:]
            if not rest:
                raise QueryError(f"`{op}` needs a value to compare with, e.g. {op}100.", *_span(alt, span))
            if any(c.text == "*" and not c.literal for c in rest):
                raise QueryError("A comparison cannot contain a wildcard.", *_span(alt, span))
            values.append(Comparison(op, _join(rest)))
        else:
            values.append(_pattern(alt))
    return tuple(values)


def _pattern(chars: list[_Char]) -> Pattern:
    pieces: list[str | Wildcard] = []
    for c in chars:
        if not c.text:
            continue  # an empty "" pair adds nothing (but makes `field:""` a value)
        if c.text == "*" and not c.literal:
            if not pieces or pieces[-1] is not STAR:
                pieces.append(STAR)
        elif pieces and isinstance(pieces[-1], str):
            pieces[-1] += c.text
        else:
            pieces.append(c.text)
    return Pattern(tuple(pieces) or ("",))


def _keyword(name: str, value_chars: list[_Char], negated: bool, span: Span) -> Term:
    if name == "has":
        paths = []
        for alt in _alternatives(value_chars, span, name):
            if any(c.text == "*" and not c.literal for c in alt) or (alt[0].text in ("<", ">") and not alt[0].literal):
                raise QueryError("`has:` takes a JSON path, e.g. has:properties.coupon.", *_span(alt, span))
            segments = _split(alt, ".")
            paths.append(_path(segments, quoted_root=any(c.literal for c in segments[0]), span=_span(alt, span)))
        return HasTerm(tuple(paths), negated, span)
    if name in ("after", "before"):
        alternatives = _alternatives(value_chars, span, name)
        text = _join(value_chars)
        if len(alternatives) > 1 or any(c.text in "*<>" and c.text and not c.literal for c in value_chars):
            raise QueryError(f"`{name}:` takes one time: 10m, 2h, 1d or an ISO time.", *span)
        if not _RELATIVE.fullmatch(text) and parse_timestamp(text) is None:
            raise QueryError(
                f"`{name}:{text}` is not a time; use 30s, 10m, 2h, 1d, 1w (ago) or an ISO time like "
                "2024-05-01T12:00:00Z.",
                *span,
            )
        return TimeTerm(name, text, negated, span)
    values = _values(value_chars, span, comparisons=False, name=name)
    patterns = tuple(v for v in values if isinstance(v, Pattern))
    known = TYPES if name == "type" else STATUSES if name == "status" else BOOLEANS if name == "pinned" else ()
    patterns = tuple(Pattern((p.exact.lower(),)) if p.exact and p.exact.lower() in known else p for p in patterns)
    if name == "status":
        for p, alt in zip(patterns, _alternatives(value_chars, span, name), strict=True):
            if p.exact not in STATUSES:
                raise QueryError(
                    f"Unknown status `{_join(alt)}`; use {', '.join(STATUSES)}.", *_span(alt, span)
                )
    if name == "pinned":
        for p, alt in zip(patterns, _alternatives(value_chars, span, name), strict=True):
            if p.exact not in BOOLEANS:
                raise QueryError(f"`pinned:` takes true or false, not `{_join(alt)}`.", *_span(alt, span))
    return FieldTerm(name, patterns, negated, span)


# --------------------------------------------------------------------------------- printing
def canonical(query: Query) -> str:
    """The query printed back in one normal form; ``parse(canonical(q)) == q``."""
    return " ".join(_print_term(t) for t in query.terms)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _print_term(term: Term) -> str:
    sign = "-" if term.negated else ""
    if isinstance(term, TextTerm):
        t = term.text
        bare = t and not any(c.isspace() or c in '"\\:' for c in t) and not t.startswith("-")
        return sign + (t if bare else _quote(t))
    if isinstance(term, FieldTerm):
        return f"{sign}{term.name}:" + ",".join(_print_value(v) for v in term.values)
    if isinstance(term, PathTerm):
        return f"{sign}{_print_path(term.path, field_position=True)}:" + ",".join(_print_value(v) for v in term.values)
    if isinstance(term, HasTerm):
        return f"{sign}has:" + ",".join(_print_path(p, field_position=False) for p in term.paths)
    return f"{sign}{term.name}:{_print_piece(term.text, first=True)}"


def _print_path(path: tuple[str, ...], *, field_position: bool) -> str:
    out = []
    for index, segment in enumerate(path):
        plain = bool(_PLAIN_SEGMENT.fullmatch(segment))
        if index == 0:
            plain = plain and segment in ROOTS and not segment.startswith("-")
            if field_position and len(path) == 1:
                plain = plain and segment.lower() not in KEYWORDS
        out.append(segment if plain else _quote(segment))
    return ".".join(out)


def _print_value(value: Value) -> str:
    if isinstance(value, Comparison):
        operand = value.operand
        safe = _print_piece(operand, first=True)
        return value.op + (_quote(operand) if operand.startswith("=") and safe == operand else safe)
    parts = []
    for index, piece in enumerate(value.pieces):
        parts.append("*" if isinstance(piece, Wildcard) else _print_piece(piece, first=index == 0))
    return "".join(parts)


def _print_piece(text: str, *, first: bool) -> str:
    risky = not text or any(c.isspace() or c in '"\\,*' for c in text) or (first and text[0] in "<>")
    return _quote(text) if risky else text


# -------------------------------------------------------------------------------- compiling
def compile(query: Query, *, now: datetime) -> tuple[str, list[Any]]:  # noqa: A001 - the contract's name
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
        out.append((_print_term(term), sql, params))
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


def _term_sql(term: Term, now: datetime) -> tuple[str, list[Any]]:
    if isinstance(term, TextTerm):
        return "instr(lower(events.stored), lower(?)) > 0", [_json_text(term.text)]
    if isinstance(term, TimeTerm):
        op = ">=" if term.name == "after" else "<"
        return f"events.received_at {op} ?", [_instant(term.text, now)]
    if isinstance(term, HasTerm):
        parts = [_json_path_sql("events.stored", p, _present) for p in term.paths]
        return " OR ".join(s for s, _ in parts), [x for _, ps in parts for x in ps]
    if isinstance(term, PathTerm):
        parts = [_json_path_sql("events.stored", term.path, _leaf(v)) for v in term.values]
        return " OR ".join(f"({s})" for s, _ in parts), [x for _, ps in parts for x in ps]
    if term.name == "user":
        a, pa = _column_sql("events.user_id", term.values)
        b, pb = _column_sql("events.anonymous_id", term.values)
        return f"{a} OR {b}", pa + pb
    if term.name == "source":
        a, pa = _column_sql("events.write_key", term.values)
        b, pb = _column_sql("label", term.values)
        return f"{a} OR events.write_key IN (SELECT write_key FROM sources WHERE {b})", pa + pb
    if term.name == "problem":
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
    return "".join(
        "*" if isinstance(p, Wildcard) else re.sub(r"([*?\[])", r"[\1]", p) for p in pattern.pieces
    )


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
                f"(({kind} IN ('integer','real') AND {value} = ?) OR ({kind} = 'text' AND {value} = ?))",
                [float(exact), exact],
            )
        return f"{kind} = 'text' AND {value} = ?", [exact]

    return leaf


def _json_path_sql(doc: str, path: tuple[str, ...], leaf: Leaf, base: str = "$", depth: int = 0) -> tuple[str, list[Any]]:
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
