"""The one filter language (docs/search.md): text → AST → canonical text.

Used verbatim by the TUI search box, ``segdbg events``/``expect``/``replay``/``check`` and the
HTTP API. Pure: no I/O, no clock. The AST becomes parameterised SQL in :mod:`debugger.core.query.sql`.

Syntax, by example::

    type:track event:"Order Completed"        fields; space-separated terms are ANDed
    -status:ok  type:page,screen               - negates a term; a,b is OR
    user:u_42  source:web  lib:analytics.js    userId or anonymousId; write key or its label
    id:ajs-next-1712*  problem:no_user_anon_id  messageId; a problem code; * is a wildcard
    status:rejected  code:invalid_json          requests refused whole; code: is problem:
    http.status:400  http.status:>=400          the HTTP status the request was answered
    after:10m  before:2024-05-01T12:00Z        received time: relative (s m h d w) or ISO
    properties.plan:pro  traits.email:*@acme.com  context.library.version:>=2
    properties.products.sku:45790-32            any element of an array matches
    has:properties.coupon  -has:userId          the path holds a non-null value
    pinned:true                                 pinned events (kept whatever the retention)
    scope:test-3f2a9c01                         exactly this write key: one test's events (docs/ci.md)
    checkout "order completed"                  free text, case-insensitive, whole payload
    fql:type = 'track' and event = 'Signed Up'  Segment's FQL, the whole query (docs/fql.md)

Values match case-sensitively (names and ids are case-sensitive in Segment); free text is
case-insensitive. Quotes keep spaces and make ``* , : .`` literal; ``\\`` escapes one character.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from debugger.core.protocol import STATUSES, TYPES
from debugger.core.query import fql
from debugger.core.timefmt import parse_timestamp

BOOLEANS = ("true", "false")
#: Fields with a fixed meaning; everything else with a dot is a JSON path into the stored message.
KEYWORDS = (
    "type",
    "event",
    "user",
    "source",
    "lib",
    "status",
    "id",
    "problem",
    "code",
    "after",
    "before",
    "has",
    "pinned",
    "http.status",
    "scope",
)
#: Fields of the request an event arrived in (``http.status:``), rather than of the message.
REQUEST_FIELDS = ("http.status",)
#: Where a JSON path may start (quote the first segment to reach any other top-level key).
ROOTS = (
    "properties",
    "traits",
    "context",
    "integrations",
    "_metadata",
    "userId",
    "anonymousId",
    "messageId",
    "groupId",
    "previousId",
    "event",
    "name",
    "category",
    "type",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "channel",
    "version",
    "projectId",
)
MAX_PATH_DEPTH = 8  # the array-aware SQL doubles per segment
_RELATIVE = re.compile(r"(\d{1,9})([smhdw])")  # after:10m; read as a duration by query_sql.relative_span
_IDENT = re.compile(r"[A-Za-z_$][\w$-]*")
_PLAIN_SEGMENT = re.compile(r"[^\s\"\\.:,*<>]+")
#: What selects Segment's FQL for the rest of the query (docs/fql.md); the same word names an FQL term.
FQL_PREFIX = "fql:"
# Unprefixed text is read as FQL only when it has FQL's shape (an operator between spaces, a call, a
# leading !) AND the native reading fails or turns those operators into free text.
_FQL_SHAPE = re.compile(r"\s(?:=|!=|<=|>=|<|>|in)\s|\b(?:contains|match|length|lowercase|typeof)\s*\(|^\s*!\S")


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
    """``type: event: user: source: lib: status: id: problem: code:`` with OR-ed values."""

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
class RequestTerm:
    """``http.status:`` (a field of the request the row came in) with OR-ed values and comparisons."""

    name: str
    values: tuple[Value, ...]
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class TimeTerm:
    """``after:``/``before:`` on the received time; ``text`` is ``10m``-style or ISO."""

    name: str
    text: str
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class FqlTerm:
    """A statement in Segment's FQL (``fql:...``), held as one term: it matches what the statement holds for."""

    expr: fql.Expr
    negated: bool = False
    span: Span = field(default=(0, 0), compare=False)


Term = TextTerm | FieldTerm | PathTerm | HasTerm | TimeTerm | RequestTerm | FqlTerm


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: its terms, ANDed. No terms matches everything."""

    terms: tuple[Term, ...] = ()

    @property
    def has_status_term(self) -> bool:
        """Whether the query says which rows it wants by status (then no default status applies):
        a ``status:`` term, or a positive ``problem:``/``code:``/``http.status:`` one, which asks for
        rows with problems or rejected requests by their reason."""
        return any(
            (isinstance(t, FieldTerm) and (t.name == "status" or (t.name in ("problem", "code") and not t.negated)))
            or (isinstance(t, RequestTerm) and not t.negated)
            for t in self.terms
        )

    @property
    def selective(self) -> bool:
        """Whether a positive exact ``user:`` or ``id:`` narrows it to few rows via an index."""
        return any(
            isinstance(t, FieldTerm)
            and not t.negated
            and t.name in ("user", "id")
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

    ``fql:`` before the text selects Segment's FQL for all of it; text shaped like FQL (``event =
    'Signed Up'``) that the native language would misread is taken as FQL too (:func:`detect_fql`).

    Raises:
        QueryError: with a message and the offsets of the offending term.
    """
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    if stripped[: len(FQL_PREFIX)].lower() == FQL_PREFIX:
        body = stripped[len(FQL_PREFIX) :]
        try:
            return Query((FqlTerm(fql.parse(body), span=(offset, len(text))),))
        except fql.FqlError as error:
            if body.lstrip().startswith('"'):  # `fql:"..." more terms`, as canonical prints a mixed query
                try:
                    return _parse_native(text)
                except QueryError:
                    pass
            start = offset + len(FQL_PREFIX)
            raise QueryError(f"FQL: {error.message}", start + error.start, start + error.end) from None
    try:
        native = _parse_native(text)
    except QueryError:
        detected = detect_fql(text)
        if detected is not None:
            return detected
        raise
    if any(isinstance(t, TextTerm) for t in native.terms):
        return detect_fql(text) or native
    return native


def detect_fql(text: str) -> Query | None:
    """``text`` as FQL when it is unmistakably FQL: FQL's shape, it parses, and it compares or calls.

    Conservative on purpose (``fql:`` always works): ``utm=1`` stays free text, ``price > 100`` is FQL.
    """
    if not _FQL_SHAPE.search(text):
        return None
    try:
        expr = fql.parse(text)
    except fql.FqlError:
        return None
    if not any(isinstance(leaf, fql.Compare | fql.Call) for leaf in fql.leaves(expr)):
        return None
    return Query((FqlTerm(expr, span=(0, len(text))),))


def _parse_native(text: str) -> Query:
    return Query(tuple(_term(chars, start, end, negated) for chars, start, end, negated in _lex(text)))


def _fql_term(value_chars: list[_Char], negated: bool, span: Span) -> FqlTerm:
    text = _join(value_chars)
    try:
        return FqlTerm(fql.parse(text), negated, span)
    except fql.FqlError as error:
        raise QueryError(f"FQL: {error.message} (in `{text}`)", *span) from None


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
    if len(segments) == 1 and not quoted and single.lower() == FQL_PREFIX[:-1]:
        return _fql_term(value_chars, negated, span)
    if len(segments) == 1 and not quoted and single.lower() in KEYWORDS:
        return _keyword(single.lower(), value_chars, negated, span)
    if not quoted and single.lower() in REQUEST_FIELDS:
        return RequestTerm(
            single.lower(), _values(value_chars, span, comparisons=True, name=single.lower()), negated, span
        )
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
                raise QueryError(f"Unknown status `{_join(alt)}`; use {', '.join(STATUSES)}.", *_span(alt, span))
    if name == "pinned":
        for p, alt in zip(patterns, _alternatives(value_chars, span, name), strict=True):
            if p.exact not in BOOLEANS:
                raise QueryError(f"`pinned:` takes true or false, not `{_join(alt)}`.", *_span(alt, span))
    return FieldTerm(name, patterns, negated, span)


# --------------------------------------------------------------------------------- printing
def canonical(query: Query) -> str:
    """The query printed back in one normal form; ``parse(canonical(q)) == q``.

    A query of one FQL statement prints as ``fql:STATEMENT``; beside other terms, as ``fql:"STATEMENT"``.
    """
    if len(query.terms) == 1 and isinstance(only := query.terms[0], FqlTerm) and not only.negated:
        return FQL_PREFIX + fql.canonical(only.expr)
    return " ".join(_print_term(t) for t in query.terms)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _print_term(term: Term) -> str:
    sign = "-" if term.negated else ""
    if isinstance(term, FqlTerm):
        return f"{sign}{FQL_PREFIX}{_quote(fql.canonical(term.expr))}"
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
    if isinstance(term, RequestTerm):
        return f"{sign}{term.name}:" + ",".join(_print_value(v) for v in term.values)
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
