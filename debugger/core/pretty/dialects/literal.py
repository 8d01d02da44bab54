"""JSON values written as source-code literals, one :class:`Syntax` per language.

Every string literal escapes control characters, escape sequences and bidi overrides in the
language's own syntax, so the generated code is both valid and inert on a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Characters a string literal never carries raw: C0/C1 controls, DEL, line/paragraph
#: separators, and the bidi/isolate overrides that can reorder what a reader sees.
_ESCAPE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"\\\\]')
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}

WIDTH = 80  # a value or a call is written on one line when it fits in this many columns


def quote(text: str, *, unicode: Callable[[int], str] | None = None, extra: str = "") -> str:
    """A double-quoted literal with C-style escapes.

    Args:
        text: the string.
        unicode: how to write an escaped code point (default ``\\uXXXX``).
        extra: further characters to backslash-escape (``$`` in PHP/Kotlin, ``#`` in Ruby).
    """
    pattern = _ESCAPE if not extra else re.compile(_ESCAPE.pattern[:-1] + re.escape(extra) + "]")
    write = unicode or (lambda code: f"\\u{code:04x}")

    def one(match: re.Match[str]) -> str:
        char = match.group()
        if char in _NAMED:
            return _NAMED[char]
        if char in extra:
            return "\\" + char
        return write(ord(char))

    return '"' + pattern.sub(one, text) + '"'


def braced_unicode(code: int) -> str:
    """``\\u{XXXX}``: the escape Swift, PHP and Ruby accept."""
    return f"\\u{{{code:x}}}"


def number(value: float) -> str:
    """A JSON number as most languages write it."""
    return repr(value)


@dataclass(frozen=True, slots=True)
class DictStyle:
    """How one object is opened, closed, and how each member is written around its value."""

    open: str
    close: str
    pair_open: Callable[[str], str]
    pair_close: str = ""


@dataclass(frozen=True, slots=True)
class Syntax:
    """A language's literal syntax for JSON values."""

    string: Callable[[str], str]
    null: str
    true: str
    false: str
    dict_style: Callable[[dict[str, Any]], DictStyle]
    list_open: str
    list_close: str
    empty_dict: str
    empty_list: str
    number: Callable[[float], str] = number
    trailing_comma: bool = False  # Go needs one before a newline that closes a literal
    compact_padding: bool = False  # JS/Ruby write ``{ a: 1 }``, the others ``{"a": 1}``
    step: int = 2  # indentation per nesting level
    call_trailing_comma: bool = False  # a comma after the last argument of a multi-line call
    hug_last: bool = False  # ``f(a, {`` ... ``})``: the last object opens on the call's line


def write(
    value: Any, syntax: Syntax, indent: int = 0, column: int | None = None, *, top: DictStyle | None = None
) -> str:
    """``value`` as a literal, on one line when it fits, else one member per line.

    Args:
        value: a JSON value.
        syntax: the language.
        indent: the indentation of the line the value starts on (continuations nest from it).
        column: the column the value starts at (default ``indent``), for the width check.
        top: a different style for the outermost object (``analytics.Properties{`` in Go).
    """
    start = indent if column is None else column
    scalar = _scalar(value, syntax)
    if scalar is not None:
        return scalar
    if isinstance(value, dict) and not value and top is None:
        return syntax.empty_dict
    if isinstance(value, list | tuple) and not value:
        return syntax.empty_list
    one_line = _compact(value, syntax, WIDTH - start, top)
    if one_line is not None:
        return one_line
    open_, close, items = _members(value, syntax, top)
    inner = indent + syntax.step
    parts = [f"{' ' * inner}{head}{write(v, syntax, inner, inner + len(head))}{tail}" for head, v, tail in items]
    last = "," if syntax.trailing_comma else ""
    return open_ + "\n" + ",\n".join(parts) + last + "\n" + " " * indent + close


def _scalar(value: Any, syntax: Syntax) -> str | None:
    if value is None:
        return syntax.null
    if value is True:
        return syntax.true
    if value is False:
        return syntax.false
    if isinstance(value, int | float):
        return syntax.number(value)
    if isinstance(value, str):
        return syntax.string(value)
    if not isinstance(value, dict | list | tuple):
        return syntax.string(str(value))
    return None


def _members(value: Any, syntax: Syntax, top: DictStyle | None) -> tuple[str, str, list[tuple[str, Any, str]]]:
    if isinstance(value, dict):
        style = top or syntax.dict_style(value)
        return style.open, style.close, [(style.pair_open(str(k)), v, style.pair_close) for k, v in value.items()]
    return syntax.list_open, syntax.list_close, [("", v, "") for v in value]


def _compact(value: Any, syntax: Syntax, budget: int, top: DictStyle | None = None) -> str | None:
    """The one-line form, or ``None`` as soon as it would exceed ``budget`` characters."""
    scalar = _scalar(value, syntax)
    if scalar is not None:
        return scalar if len(scalar) <= budget else None
    if isinstance(value, dict) and not value and top is None:
        return syntax.empty_dict
    if isinstance(value, list | tuple) and not value:
        return syntax.empty_list
    open_, close, items = _members(value, syntax, top)
    pad = " " if syntax.compact_padding and isinstance(value, dict) else ""
    out = [open_, pad]
    used = len(open_) + 2 * len(pad) + len(close)
    for index, (head, member, tail) in enumerate(items):
        if index:
            out.append(", ")
            used += 2
        inner = _compact(member, syntax, budget - used - len(head) - len(tail))
        if inner is None:
            return None
        out += [head, inner, tail]
        used += len(head) + len(inner) + len(tail)
        if used > budget:
            return None
    out += [pad, close]
    return "".join(out)


def call(head: str, args: list[tuple[str, Any]], syntax: Syntax, *, end: str = "") -> str:
    """``head(arg, name=arg, ...)`` on one line when it fits, else one argument per line.

    Args:
        head: the callee, e.g. ``analytics.track``.
        args: ``(prefix, value)`` pairs; the prefix is ``""`` for a positional argument or
            the keyword syntax (``user_id=``, ``name: ``).
        syntax: the language of the values.
        end: what follows the closing parenthesis (``;``).
    """
    budget = WIDTH - len(head) - 2 - len(end)
    pieces: list[str] = []
    for prefix, value in args:
        piece = _compact(value, syntax, budget)
        if piece is None:
            break
        pieces.append(prefix + piece)
        budget -= len(pieces[-1]) + 2
    else:
        if budget >= -2:
            return f"{head}({', '.join(pieces)}){end}"
    if syntax.hug_last and args and isinstance(args[-1][1], dict | list) and args[-1][1]:
        leading = [prefix + (_compact(value, syntax, WIDTH) or "") for prefix, value in args[:-1]]
        if all(leading) and sum(len(p) + 2 for p in leading) + len(head) < WIDTH - 10:
            start = f"{head}(" + "".join(p + ", " for p in leading) + args[-1][0]
            return start + write(args[-1][1], syntax, 0, len(start)) + f"){end}"
    step = " " * syntax.step
    lines = [f"{step}{prefix}{write(value, syntax, syntax.step, syntax.step + len(prefix))}" for prefix, value in args]
    last = "," if syntax.call_trailing_comma else ""
    return f"{head}(\n" + ",\n".join(lines) + last + f"\n){end}"


def comment(prefix: str, parts: list[tuple[str, str | None]], syntax: Syntax) -> str:
    """A comment line naming implicit values, e.g. ``// userId "u1" · anonymousId "a-2"``.

    Values are written as escaped literals, so a newline in an id cannot end the comment.
    """
    shown = [f"{label} {syntax.string(value)}" for label, value in parts if value is not None]
    return f"{prefix} {' · '.join(shown)}\n" if shown else ""
