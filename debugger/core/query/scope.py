"""Per-test scopes (docs/ci.md, "Per-test scopes"): a scope is a write key, read through a ``scope:`` term.

Tests that share one ``segdbg serve`` each configure their client with their own write key
(the pytest fixture makes one per test); reading with ``--scope NAME`` (CLI), ``scope=NAME``
(API) or the fixture's scope object adds the term ``scope:NAME``, which matches that write key
exactly (never a source label), so each test sees only its own events, and no test needs the
global ``reset``. Near misses are looked for inside the scope too (:func:`split`). Pure: no I/O.
"""

from __future__ import annotations

import hashlib

from debugger.core.query.language import FieldTerm, Pattern, Query, canonical

#: The longest scope name taken (write keys are short; this only bounds a typo or an attack).
MAX_LENGTH = 200
#: How a generated test scope starts: ``test-`` and 16 hex digits.
PREFIX = "test-"


class ScopeError(ValueError):
    """A scope name that cannot be a write key (empty, too long, or with a control character)."""


def check_name(name: str) -> str:
    """``name`` if it can be a scope (any non-empty write key of at most 200 printable characters).

    Raises:
        ScopeError: saying what is wrong with it.
    """
    if not name or not name.strip():
        raise ScopeError("A scope is a write key; it cannot be empty.")
    if len(name) > MAX_LENGTH:
        raise ScopeError(f"A scope is a write key of at most {MAX_LENGTH} characters, not {len(name):,}.")
    if any(not ch.isprintable() for ch in name):
        raise ScopeError("A scope cannot contain control characters.")
    return name


def term(name: str) -> FieldTerm:
    """The ``scope:NAME`` term (the name taken literally: ``*`` and ``,`` are not syntax here)."""
    return FieldTerm("scope", (Pattern((check_name(name),)),))


def scoped(query: Query, name: str | None) -> Query:
    """``query`` read inside scope ``name`` (unchanged when ``name`` is ``None``)."""
    return query if name is None else Query((*query.terms, term(name)))


def scoped_text(text: str, name: str | None) -> str:
    """Query text read inside scope ``name``: the term goes last, so offsets in an error about ``text`` still point
    at the user's own words."""
    if name is None:
        return text
    suffix = canonical(Query((term(name),)))
    return f"{text} {suffix}" if text.strip() else suffix


def split(query: Query) -> tuple[Query, Query]:
    """``(scopes, rest)``: the positive ``scope:`` terms, which bound where to look, and every other term.

    A near miss must come from the scope itself: another test's event failing only ``scope:`` is not
    close, it is someone else's.
    """
    inside = tuple(t for t in query.terms if isinstance(t, FieldTerm) and t.name == "scope" and not t.negated)
    return Query(inside), Query(tuple(t for t in query.terms if t not in inside))


def key_for_test(run: str, worker: str, nodeid: str) -> str:
    """The write key of one test in one run: ``test-`` and 16 hex digits of (run, worker, test id).

    The same test in another run (a shared server lives on), or on each worker of ``--dist each``,
    gets another key; one run's keys are stable, so a failure message's scope can be searched for.
    """
    digest = hashlib.sha256(f"{run}\0{worker}\0{nodeid}".encode()).hexdigest()
    return PREFIX + digest[:16]
