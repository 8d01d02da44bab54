"""FQL's ``match()`` globs (docs/fql.md): parsed once, then as a Python regular expression and as SQLite's ``GLOB``.

``*`` any run of characters (``/`` too), ``?`` one character, ``[abc]`` ``[a-z]`` ``[^a-z]`` a class,
``\\x`` the character ``x``. A malformed pattern (an unclosed ``[``, a trailing ``\\``) matches nothing.
Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GlobClass:
    """``[abc]``, ``[a-z]``, ``[^0-9]``: ranges of characters, maybe negated."""

    ranges: tuple[tuple[str, str], ...]
    negated: bool


def glob_pieces(pattern: str) -> list[tuple[str, str | GlobClass]] | None:
    """A glob as ``(kind, value)`` pieces: ``("star", "")``, ``("one", "")``, ``("char", c)``, ``("class", GlobClass)``.

    ``None`` when the pattern is malformed (an unclosed ``[`` or a trailing ``\\``): it matches nothing.
    """
    out: list[tuple[str, str | GlobClass]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if not out or out[-1][0] != "star":
                out.append(("star", ""))
            i += 1
        elif c == "?":
            out.append(("one", ""))
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                return None
            out.append(("char", pattern[i + 1]))
            i += 2
        elif c == "[":
            parsed = _glob_class(pattern, i + 1)
            if parsed is None:
                return None
            i, klass = parsed
            out.append(("class", klass))
        else:
            out.append(("char", c))
            i += 1
    return out


def _glob_class(pattern: str, i: int) -> tuple[int, GlobClass] | None:
    negated = i < len(pattern) and pattern[i] == "^"
    i += negated
    ranges: list[tuple[str, str]] = []
    while True:
        if i >= len(pattern):
            return None
        if pattern[i] == "]" and ranges:
            return i + 1, GlobClass(tuple(ranges), negated)
        lo, i = _glob_char(pattern, i)
        if lo is None:
            return None
        hi: str | None = lo
        if i < len(pattern) and pattern[i] == "-":
            hi, i = _glob_char(pattern, i + 1)
            if hi is None:
                return None
        ranges.append((lo, hi or lo))


def _glob_char(pattern: str, i: int) -> tuple[str | None, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        return None, i
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None, i
    return pattern[i], i + 1


def glob_regex(pattern: str) -> re.Pattern[str] | None:
    """The glob as a regular expression for ``fullmatch``; ``None`` when malformed."""
    pieces = glob_pieces(pattern)
    if pieces is None:
        return None
    out = []
    for kind, value in pieces:
        if kind == "star":
            out.append(".*")
        elif kind == "one":
            out.append(".")
        elif isinstance(value, GlobClass):
            body = "".join(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}" for lo, hi in value.ranges)
            out.append(f"[{'^' if value.negated else ''}{body}]")
        else:
            out.append(re.escape(value))
    return re.compile("".join(out), re.DOTALL)


def sqlite_glob(pattern: str) -> str | None:
    """The glob in SQLite's ``GLOB`` syntax (``\\*`` becomes ``[*]``); ``None`` when malformed."""
    pieces = glob_pieces(pattern)
    if pieces is None:
        return None
    out = []
    for kind, value in pieces:
        if kind == "star":
            out.append("*")
        elif kind == "one":
            out.append("?")
        elif isinstance(value, GlobClass):
            if any(lo > hi for lo, hi in value.ranges):
                return None  # an empty range: SQLite and Python disagree on it; it matches nothing
            singles = [lo for lo, hi in value.ranges if lo == hi]
            spans = [f"{lo}-{hi}" for lo, hi in value.ranges if lo != hi]
            # SQLite reads `]` as a member only first, `-` only last, `^` only not first.
            body = ("]" if "]" in singles else "") + "".join(s for s in singles if s not in "]-^")
            body += "".join(spans) + ("^" if "^" in singles else "") + ("-" if "-" in singles else "")
            if body.startswith("^"):
                return None
            out.append(f"[{'^' if value.negated else ''}{body}]")
        else:
            out.append(f"[{value}]" if value in "*?[" else value)
    return "".join(out)
