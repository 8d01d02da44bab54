"""Segment's Filter Query Language (FQL), as its public reference writes it (docs/fql.md).

FQL is the language of destination filters, Transformations' ``if`` and Actions' conditions::

    type = 'track' and ( event = 'Click' or match( event, 'Button *' ) )
    !contains( context.library.name, 'js' )
    'dark-mode' in properties.features
    properties.product\\ 1.price = '19.99'        a \\ escapes any character of a field name

This module is the language itself, pure: text → AST (:func:`parse`, errors with offsets), AST → one
normal text (:func:`canonical`), and the AST evaluated over one JSON document (:func:`evaluate`,
:func:`matches`) with FQL's own types and null rules. The same AST becomes SQL in
:mod:`debugger.core.query.sql`, so a query reads the capture through the one search path; the
native language holds an FQL query as one term (``fql:...``, :mod:`debugger.core.query.language`).

Semantics (Segment's reference): ``=``/``!=`` are strict (same type and equal); ``> >= < <=`` hold
only between numbers; ``x in list`` holds when an element strictly equals ``x``; ``and``/``or``/``!``
treat anything but ``true`` as false; a missing field is ``null``; functions give ``null``'s
defaults (``contains(null, s)`` false, ``length(null)`` 0, ``lowercase(null)`` null,
``typeof(null)`` ``"null"``, ``match(null, p)`` false). Paths do not look into arrays.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from debugger.core.query.glob import glob_regex

#: The functions segdbg evaluates, with their arity.
FUNCTIONS = {"contains": 2, "match": 2, "length": 1, "lowercase": 1, "typeof": 1}
#: Functions in Segment's reference that segdbg does not evaluate yet (a clear error, never a wrong answer).
UNSUPPORTED_FUNCTIONS = ("uppercase", "snakecase", "kebabcase", "titlecase", "bool", "string", "number")
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=", "in")
#: FQL's names for the types of values (``typeof``); ``object`` is what the reference leaves unnamed.
TYPE_NAMES = ("string", "number", "bool", "null", "list", "object")
_PATH_CHAR = re.compile(r"[A-Za-z0-9_\-]")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_KEYWORDS = ("and", "or", "in", "true", "false", "null")
_MISTAKES = {
    "==": "FQL compares with a single `=`.",
    "&&": "FQL joins with `and`.",
    "||": "FQL joins with `or`.",
    "not": "FQL negates with `!`, e.g. !contains(event, 'x').",
    "AND": "FQL's operators are lowercase: `and`.",
    "OR": "FQL's operators are lowercase: `or`.",
}


class FqlError(ValueError):
    """Malformed FQL: ``message`` says what is wrong, ``start``/``end`` where (offsets in the FQL text)."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message, self.start, self.end = message, start, max(end, start + 1)


Span = tuple[int, int]
Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Path:
    """A dot path into the event: ``context.library.version``."""

    parts: tuple[str, ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number, ``true``/``false`` or ``null``."""

    value: Scalar
    span: Span = field(default=(0, 0), compare=False)

    def __eq__(self, other: object) -> bool:
        # True == 1 in Python; FQL keeps them apart, and so must the AST's equality.
        return isinstance(other, Literal) and type(self.value) is type(other.value) and self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self.value), self.value))


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``['track', 'identify']``: literals only."""

    items: tuple[Literal, ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call: ``contains(event, 'Order')``."""

    name: str
    args: tuple[Expr, ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    """``left OP right`` with OP one of :data:`COMPARISONS`."""

    op: str
    left: Expr
    right: Expr
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    """``!operand``."""

    operand: Expr
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class Logic:
    """``a and b and ...`` or ``a or b or ...``."""

    op: str
    operands: tuple[Expr, ...]
    span: Span = field(default=(0, 0), compare=False)


Expr = Path | Literal | ListLiteral | Call | Compare | Not | Logic


# ------------------------------------------------------------------------------------ lexing
@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "path" "string" "number" "op" "punct" "word" "end"
    value: Any
    start: int
    end: int


def _lex(text: str) -> Iterator[_Token]:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        start = i
        if c in "'\"":
            i, string = _string(text, i)
            yield _Token("string", string, start, i)
        elif c in "()[],":
            i += 1
            yield _Token("punct", c, start, i)
        elif text.startswith(("!=", "<=", ">=", "==", "&&", "||"), i):
            i += 2
            yield _Token("op", text[start:i], start, i)
        elif c in "=<>!":
            i += 1
            yield _Token("op", c, start, i)
        elif (number := _NUMBER.match(text, i)) and (number.end() >= n or not _PATH_CHAR.match(text[number.end()])):
            i = number.end()
            literal = number.group()
            if len(literal) > 100:
                raise FqlError("This number is too long.", start, i)
            value: int | float = float(literal) if any(ch in literal for ch in ".eE") else int(literal)
            if isinstance(value, int) and abs(value) >= 2**63:
                value = float(value)  # beyond a 64-bit integer: a float, as JSON numbers are read
            yield _Token("number", value, start, i)
        elif _PATH_CHAR.match(c) or c == "\\":
            i, parts, escaped = _path(text, i)
            if len(parts) == 1 and not escaped and parts[0] in _KEYWORDS:
                yield _Token("word", parts[0], start, i)
            else:
                yield _Token("path", (tuple(parts), escaped), start, i)
        else:
            raise FqlError(f"Unexpected `{c}`; escape it with \\ if it is part of a field name.", i, i + 1)
    yield _Token("end", None, n, n)


def _string(text: str, i: int) -> tuple[int, str]:
    quote, start, out = text[i], i, []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            return i + 1, "".join(out)
        out.append(c)
        i += 1
    raise FqlError(f"This string is never closed; add a closing {quote}.", start, len(text))


def _path(text: str, i: int) -> tuple[int, list[str], bool]:
    parts, current, escaped = [], [], False
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise FqlError("A backslash at the end escapes nothing.", i, i + 1)
            current.append(text[i + 1])
            escaped, i = True, i + 2
        elif _PATH_CHAR.match(c):
            current.append(c)
            i += 1
        elif c == ".":
            if not current:
                raise FqlError("A field path has an empty part (two dots, or a dot at the start).", i, i + 1)
            parts.append("".join(current))
            current = []
            i += 1
        else:
            break
    if not current:
        raise FqlError("A field path ends with a dot.", i - 1, i)
    parts.append("".join(current))
    return i, parts, escaped


# ----------------------------------------------------------------------------------- parsing
def parse(text: str) -> Expr:
    """Parse one FQL statement.

    Raises:
        FqlError: with a message and the offsets of the offending part.
    """
    if not text.strip():
        raise FqlError("An FQL statement is empty; write one, e.g. type = 'track'.", 0, max(len(text), 1))
    parser = _Parser(list(_lex(text)))
    expr = parser.expression()
    token = parser.peek()
    if token.kind != "end":
        raise FqlError(_unexpected(token, "and, or, or the end"), token.start, token.end)
    return expr


def _unexpected(token: _Token, wanted: str) -> str:
    shown = "the end" if token.kind == "end" else f"`{_shown(token)}`"
    hint = _MISTAKES.get(str(token.value)) if token.kind in ("op", "path", "word") else None
    if token.kind == "path" and token.value[0] and token.value[0][0] in _MISTAKES:
        hint = _MISTAKES[token.value[0][0]]
    return f"Expected {wanted}, found {shown}." + (f" {hint}" if hint else "")


def _shown(token: _Token) -> str:
    if token.kind == "path":
        return ".".join(token.value[0])
    return str(token.value)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def is_(self, kind: str, value: Any) -> bool:
        token = self.peek()
        return token.kind == kind and token.value == value

    def expect(self, kind: str, value: str, wanted: str) -> _Token:
        if not self.is_(kind, value):
            token = self.peek()
            raise FqlError(_unexpected(token, wanted), token.start, token.end)
        return self.take()

    def expression(self) -> Expr:
        return self.logic("or", self.conjunction)

    def conjunction(self) -> Expr:
        return self.logic("and", self.unary)

    def logic(self, op: str, operand: Callable[[], Expr]) -> Expr:
        first = operand()
        items = [first]
        while self.is_("word", op):
            self.take()
            items.append(operand())
        if len(items) == 1:
            return first
        return Logic(op, tuple(items), (_start(items[0]), _end(items[-1])))

    def unary(self) -> Expr:
        if self.is_("op", "!"):
            bang = self.take()
            operand = self.unary()
            return Not(operand, (bang.start, _end(operand)))
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.operand()
        token = self.peek()
        if (token.kind == "op" and token.value in COMPARISONS) or (token.kind == "word" and token.value == "in"):
            self.take()
            right = self.operand()
            if token.value == "in" and isinstance(left, ListLiteral):
                raise FqlError("`in` looks for a value in a list: write VALUE in LIST.", *left.span)
            return Compare(token.value, left, right, (_start(left), _end(right)))
        if token.kind == "op" and token.value in _MISTAKES:
            raise FqlError(_MISTAKES[token.value], token.start, token.end)
        return left

    def operand(self) -> Expr:
        token = self.take()
        if token.kind == "punct" and token.value == "(":
            inner = self.expression()
            close = self.expect("punct", ")", "`)`")
            return _respan(inner, (token.start, close.end))
        if token.kind == "punct" and token.value == "[":
            return self.list_literal(token)
        if token.kind == "string" or token.kind == "number":
            return Literal(token.value, (token.start, token.end))
        if token.kind == "word" and token.value in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[token.value]
            return Literal(value, (token.start, token.end))
        if token.kind == "path":
            parts, escaped = token.value
            if self.is_("punct", "(") and len(parts) == 1 and not escaped:
                return self.call(parts[0], token)
            return Path(parts, (token.start, token.end))
        raise FqlError(_unexpected(token, "a field, a value, a function or `(`"), token.start, token.end)

    def list_literal(self, open_: _Token) -> ListLiteral:
        items: list[Literal] = []
        while not self.is_("punct", "]"):
            if items:
                self.expect("punct", ",", "`,` or `]`")
            item = self.operand()
            if not isinstance(item, Literal):
                raise FqlError("A list holds values only (strings, numbers, true, false, null).", *_span(item))
            items.append(item)
        close = self.take()
        return ListLiteral(tuple(items), (open_.start, close.end))

    def call(self, name: str, token: _Token) -> Call:
        if name in UNSUPPORTED_FUNCTIONS:
            raise FqlError(
                f"segdbg does not evaluate `{name}()` yet; it evaluates {', '.join(FUNCTIONS)}.", token.start, token.end
            )
        if name not in FUNCTIONS:
            raise FqlError(f"Unknown function `{name}()`; FQL has {', '.join(FUNCTIONS)}.", token.start, token.end)
        self.take()  # (
        args: list[Expr] = []
        while not self.is_("punct", ")"):
            if args:
                self.expect("punct", ",", "`,` or `)`")
            args.append(self.expression())
        close = self.take()
        if len(args) != FUNCTIONS[name]:
            count = FUNCTIONS[name]
            raise FqlError(
                f"`{name}()` takes {count} argument{'s' if count > 1 else ''}, not {len(args)}.", token.start, close.end
            )
        return Call(name, tuple(args), (token.start, close.end))


def _span(expr: Expr) -> Span:
    return expr.span


def _start(expr: Expr) -> int:
    return expr.span[0]


def _end(expr: Expr) -> int:
    return expr.span[1]


def _respan(expr: Expr, span: Span) -> Expr:
    # The parenthesised span, so an error or an explanation points at the whole group.
    if isinstance(expr, Logic):
        return Logic(expr.op, expr.operands, span)
    return expr


# --------------------------------------------------------------------------------- printing
def canonical(expr: Expr) -> str:
    """``expr`` printed in one normal form; ``parse(canonical(e)) == e``."""
    return _print(expr, 0)


_PRECEDENCE = {"or": 1, "and": 2}


def _print(expr: Expr, outer: int) -> str:
    if isinstance(expr, Logic):
        mine = _PRECEDENCE[expr.op]
        text = f" {expr.op} ".join(_print(o, mine) for o in expr.operands)
        return f"( {text} )" if mine <= outer else text
    if isinstance(expr, Not):
        inner = expr.operand
        text = "!" + _print(inner, 3) if isinstance(inner, Path | Call | Literal | Not) else f"!( {_print(inner, 0)} )"
        return f"( {text} )" if outer >= 3 else text
    if isinstance(expr, Compare):
        text = f"{_print(expr.left, 3)} {expr.op} {_print(expr.right, 3)}"
        return f"( {text} )" if outer >= 3 else text
    if isinstance(expr, Call):
        return f"{expr.name}( " + ", ".join(_print(a, 0) for a in expr.args) + " )"
    if isinstance(expr, ListLiteral):
        return "[" + ", ".join(_print(i, 0) for i in expr.items) + "]"
    if isinstance(expr, Literal):
        return literal_text(expr.value)
    return path_text(expr.parts)


def literal_text(value: Scalar) -> str:
    """A value as FQL writes it: ``'it\\'s'``, ``42``, ``true``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def path_text(parts: tuple[str, ...]) -> str:
    """A path as FQL writes it, with ``\\`` before every character outside ``a-z A-Z 0-9 _ -``."""
    out = []
    for index, part in enumerate(parts):
        text = "".join(c if _PATH_CHAR.match(c) else "\\" + c for c in part)
        # A first part that would read as a number or a keyword: escape its first character.
        if index == 0 and (part[0] in "0123456789-" or part in _KEYWORDS) and not text.startswith("\\"):
            text = "\\" + text
        out.append(text)
    return ".".join(out)


# ------------------------------------------------------------------------------- evaluating
def type_name(value: Any) -> str:
    """FQL's name for the type of a JSON value (``typeof``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def lookup(document: Any, parts: tuple[str, ...]) -> Any:
    """The value at ``parts`` in ``document``; ``None`` (FQL's null) when any step is missing or not an object."""
    node = document
    for part in parts:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def strictly_equal(a: Any, b: Any) -> bool:
    """FQL's ``=``: the same type and equal (lists and objects element by element)."""
    kind = type_name(a)
    if kind != type_name(b):
        return False
    if kind == "list":
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return list(a) == list(b) and all(strictly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def ascii_lower(text: str) -> str:
    """``lowercase()``: A–Z become a–z, as SQLite's ``lower()`` does, so a search and an explanation agree."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def evaluate(expr: Expr, document: Any) -> Any:
    """The value of ``expr`` for one JSON document (an event as stored)."""
    if isinstance(expr, Path):
        return lookup(document, expr.parts)
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, ListLiteral):
        return [i.value for i in expr.items]
    if isinstance(expr, Not):
        return not truth(evaluate(expr.operand, document))
    if isinstance(expr, Logic):
        results = (truth(evaluate(o, document)) for o in expr.operands)
        return any(results) if expr.op == "or" else all(results)
    if isinstance(expr, Compare):
        return _compare(expr.op, evaluate(expr.left, document), evaluate(expr.right, document))
    return _call(expr.name, [evaluate(a, document) for a in expr.args])


def truth(value: Any) -> bool:
    """FQL's truth: only ``true`` is true (``null``, strings and numbers are not)."""
    return value is True


def matches(expr: Expr, document: Any) -> bool:
    """Whether the statement holds for ``document``."""
    return truth(evaluate(expr, document))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return strictly_equal(left, right)
    if op == "!=":
        return not strictly_equal(left, right)
    if op == "in":
        return isinstance(right, list) and any(strictly_equal(left, item) for item in right)
    if not (_number(left) and _number(right)):
        return False
    return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])


def _call(name: str, args: list[Any]) -> Any:
    if name == "contains":
        s, sub = args
        return isinstance(s, str) and isinstance(sub, str) and sub in s
    if name == "match":
        s, pattern = args
        if not (isinstance(s, str) and isinstance(pattern, str)):
            return False
        compiled = glob_regex(pattern)
        return compiled is not None and compiled.fullmatch(s) is not None
    (value,) = args
    if name == "lowercase":
        return ascii_lower(value) if isinstance(value, str) else None
    if name == "typeof":
        return type_name(value)
    # length: bytes of a string, elements of a list, 0 for null, nothing comparable otherwise
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, list):
        return len(value)
    return math.nan


# ------------------------------------------------------------------------------------ walking
def leaves(expr: Expr) -> Iterator[Expr]:
    """The conditions under ``and``/``or``/``!``: what an explanation reports one by one."""
    if isinstance(expr, Logic):
        for operand in expr.operands:
            yield from leaves(operand)
    elif isinstance(expr, Not):
        yield from leaves(expr.operand)
    else:
        yield expr


def paths(expr: Expr) -> Iterator[Path]:
    """Every field path ``expr`` reads."""
    if isinstance(expr, Path):
        yield expr
    elif isinstance(expr, Logic):
        for operand in expr.operands:
            yield from paths(operand)
    elif isinstance(expr, Not):
        yield from paths(expr.operand)
    elif isinstance(expr, Compare):
        yield from paths(expr.left)
        yield from paths(expr.right)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from paths(arg)
