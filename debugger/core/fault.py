"""Fault injection rules (``segdbg serve --fault RULE``, docs/faults.md): the grammar and the choice. Pure.

A rule is an *action*, an optional *when* and optional *scope* terms, in any order after the action::

    503 30%                          answer 503 to 30% of the requests that carry events
    429 retry-after=2 every 5        answer 429 with ``Retry-After: 2`` to every 5th one
    slow 2s                          accept, but answer 2 s late
    reset after-body                 read the body, then close the connection without an answer
    timeout 20s                      read the body, hold the connection 20 s (default 30 s), close it unanswered
    503 30% route:/v1/batch          only on that route (a glob: ``route:/v1/*``)
    503 30% lib:analytics-python     only requests whose events come from that library (a glob)
    503 source:web-dev first 3       only that write key (a glob); the first 3 matching requests
    503 30% where event:"Order Completed" properties.total:>100
                                     only requests holding an event the query matches (the filter language,
                                     or fql:..., everything after ``where``; judged by the store's SQL)

Only requests that carry events are ever faulted (the message and batch routes and the pixel): settings,
CORS preflights and refused requests are answered as always. The server keeps the counters and the
random draws (:func:`pick` is handed them), so a seed makes a run repeatable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from debugger.core.http.model import Outcome, Reply
from debugger.core.http.wire import error_body, rejected_event
from debugger.core.query.glob import glob_regex
from debugger.core.query.language import QueryError, canonical
from debugger.core.query.language import parse as parse_query

#: The kinds of fault: an HTTP status, a late answer, a reset connection, no answer at all.
STATUS, SLOW, RESET, TIMEOUT = "status", "slow", "reset", "timeout"
#: How long ``timeout`` holds a connection when the rule names no time.
DEFAULT_HOLD = 30.0
#: The problem code a faulted request is recorded under (docs/problems.md).
FAULT_CODE = "fault_injected"
#: The statuses a rule may answer: the ones clients treat as "try again later".
FAULT_STATUSES = frozenset({408, 429, *range(500, 600)})
#: The scope fields: the request's path, its write key, its events' library name.
SCOPES = ("route", "source", "lib")

EXAMPLES = (
    "503 30%",
    "429 retry-after=2 every 5",
    "slow 2s",
    "reset after-body",
    "timeout 20s",
    "503 30% route:/v1/batch",
    "503 30% lib:analytics-python",
    "500 source:web-dev first 3",
    '503 30% where event:"Order Completed"',
)

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``--fault`` rule.

    Attributes:
        text: the rule as written (recorded on every request it faults).
        kind: ``STATUS``, ``SLOW``, ``RESET`` or ``TIMEOUT``.
        status: the HTTP status answered (``STATUS`` rules).
        retry_after: seconds sent as ``Retry-After`` (``STATUS`` rules), if any.
        seconds: the delay (``SLOW``) or how long the connection is held (``TIMEOUT``).
        percent: the chance each matching request is faulted (``None``: see ``every``/``first``; neither: all).
        every: every Nth matching request is faulted.
        first: only the first N matching requests are faulted.
        scopes: ``(field, glob)`` pairs, all of which must hold.
        where: a query (the filter language, canonical) some event of the request must match, or ``None``.
    """

    text: str
    kind: str
    status: int | None = None
    retry_after: float | None = None
    seconds: float = 0.0
    percent: float | None = None
    every: int | None = None
    first: int | None = None
    scopes: tuple[tuple[str, str], ...] = ()
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule's scope looks at: the request's path, its write key, its events' library names, and
    ``holds``: whether some event of the request matches a ``where`` query (the server asks the store)."""

    path: str
    write_key: str | None
    libraries: tuple[str, ...]
    holds: Callable[[str], bool] | None = None


class RuleError(ValueError):
    """A rule that cannot be read; the message says which word and shows the grammar."""


def parse_duration(word: str) -> float | None:
    """``2s``, ``500ms``, ``1.5``, ``1m`` as seconds; ``None`` when it is not a duration."""
    match = _DURATION.match(word)
    if match is None:
        return None
    return float(match.group(1)) * _UNIT[match.group(2)]


def parse_rule(text: str) -> Rule:
    """Read one rule; raises :class:`RuleError` with a message naming the offending word."""
    where: str | None = None
    head_text, keyword, query_text = _split_where(text)
    if keyword:
        if not query_text.strip():
            raise RuleError(_bad(text, "`where` needs a query after it, e.g. `where event:Signed*`"))
        try:
            where = canonical(parse_query(query_text))
        except QueryError as exc:
            raise RuleError(_bad(text, f"the query after `where` is not read: {exc.message.rstrip('.')}")) from exc
    words = head_text.split()
    if not words:
        raise RuleError(_bad(text, "the rule is empty"))
    head, rest = words[0].lower(), words[1:]
    status: int | None = None
    retry_after: float | None = None
    seconds = 0.0
    if head.isascii() and head.isdigit():
        kind, status = STATUS, int(head)
        if status not in FAULT_STATUSES:
            raise RuleError(_bad(text, f"{head} is not a status to fault with; use 408, 429 or 500–599"))
    elif head == SLOW:
        kind = SLOW
        if not rest or parse_duration(rest[0]) is None:
            raise RuleError(_bad(text, "`slow` needs a time, e.g. `slow 2s` or `slow 500ms`"))
        seconds, rest = parse_duration(rest[0]) or 0.0, rest[1:]
    elif head == RESET:
        kind = RESET
        if rest and rest[0].lower() == "after-body":
            rest = rest[1:]
    elif head == TIMEOUT:
        kind, seconds = TIMEOUT, DEFAULT_HOLD
        if rest and parse_duration(rest[0]) is not None:
            seconds, rest = parse_duration(rest[0]) or 0.0, rest[1:]
    else:
        raise RuleError(
            _bad(text, f"{words[0]!r} is not a fault; start with a status (503, 429), slow, reset or timeout")
        )
    percent: float | None = None
    every: int | None = None
    first: int | None = None
    scopes: list[tuple[str, str]] = []
    i = 0
    while i < len(rest):
        word, low = rest[i], rest[i].lower()
        if low.endswith("%"):
            try:
                percent = float(low[:-1])
            except ValueError:
                percent = -1.0
            if not 0 < percent <= 100:
                raise RuleError(_bad(text, f"{word} is not a chance; use more than 0% and at most 100%"))
        elif low in ("every", "first"):
            count = rest[i + 1] if i + 1 < len(rest) else ""
            if not (count.isascii() and count.isdigit()) or int(count) < 1:
                raise RuleError(_bad(text, f"`{low}` needs a whole number ≥ 1 after it, e.g. `{low} 5`"))
            if low == "every":
                every = int(count)
            else:
                first = int(count)
            i += 1
        elif low.startswith("retry-after="):
            value = word.split("=", 1)[1].removesuffix("s")
            if kind != STATUS or not (value.isascii() and value.isdigit()):
                raise RuleError(
                    _bad(
                        text,
                        f"{word}: retry-after=SECONDS (whole seconds) goes with a status, e.g. `429 retry-after=2`",
                    )
                )
            retry_after = float(value)
        elif ":" in word:
            field, glob = word.split(":", 1)
            if field.lower() not in SCOPES or not glob:
                raise RuleError(_bad(text, f"{word} is not a scope; use route:PATH, source:KEY or lib:NAME"))
            if glob_regex(glob) is None:
                raise RuleError(_bad(text, f"{word}: the pattern is malformed"))
            scopes.append((field.lower(), glob))
        else:
            raise RuleError(_bad(text, f"{word!r} is not understood here"))
        i += 1
    if sum(x is not None for x in (percent, every, first)) > 1:
        raise RuleError(_bad(text, "give one of N%, every N or first N"))
    written = " ".join(words) + (f" where {query_text.strip()}" if where is not None else "")
    return Rule(written, kind, status, retry_after, seconds, percent, every, first, tuple(scopes), where)


def _split_where(text: str) -> tuple[str, str, str]:
    """``(rule words, "where" or "", query)``: the query is everything after the first word ``where``."""
    for match in re.finditer(r"\S+", text):
        if match.group().lower() == "where":
            return text[: match.start()], "where", text[match.end() :]
    return text, "", ""


def _bad(text: str, why: str) -> str:
    return f"bad --fault rule {text!r}: {why}. Examples: " + "; ".join(f"'{e}'" for e in EXAMPLES[:5])


def in_scope(rule: Rule, target: Target) -> bool:
    """Whether every scope term of ``rule`` (and its ``where`` query) holds for ``target``."""
    for field, glob in rule.scopes:
        pattern = glob_regex(glob)
        if pattern is None:
            return False
        if field == "route":
            held = pattern.fullmatch(target.path) is not None
        elif field == "source":
            held = target.write_key is not None and pattern.fullmatch(target.write_key) is not None
        else:
            held = any(pattern.fullmatch(name) is not None for name in target.libraries)
        if not held:
            return False
    return rule.where is None or (target.holds is not None and target.holds(rule.where))


def pick(rules: Sequence[Rule], target: Target, seen: list[int], draw: Callable[[], float]) -> Rule | None:
    """The first rule that faults this request, or ``None``.

    Args:
        rules: the server's rules, in the order given.
        target: the request.
        seen: per rule, how many matching requests it has seen; updated here (the server owns the list).
        draw: a uniform random number in [0, 1) (the server's seeded generator).
    """
    for index, rule in enumerate(rules):
        if not in_scope(rule, target):
            continue
        seen[index] += 1
        count = seen[index]
        if rule.percent is not None:
            fires = draw() * 100 < rule.percent
        elif rule.every is not None:
            fires = count % rule.every == 0
        elif rule.first is not None:
            fires = count <= rule.first
        else:
            fires = True
        if fires:
            return rule
    return None


def refusal_message(rule: Rule) -> str:
    """What the request row and the error body say about a fault."""
    if rule.kind == STATUS:
        return f"segdbg --fault '{rule.text}' answered {rule.status} on purpose; the client should retry."
    if rule.kind == RESET:
        return f"segdbg --fault '{rule.text}' read the body and reset the connection without an answer."
    if rule.kind == TIMEOUT:
        return f"segdbg --fault '{rule.text}' read the body and held the connection without an answer."
    return f"segdbg --fault '{rule.text}' accepted this request and answered {rule.seconds:g}s late."


def faulted(outcome: Outcome, rule: Rule, body: bytes) -> Outcome:
    """The outcome of a request ``rule`` faults, from the one the server would have given.

    ``SLOW`` keeps the outcome (the events are stored and answered, late) and only marks the record.
    Every other kind refuses the request: the record keeps the whole body (nothing the client sent is
    lost) and the code :data:`FAULT_CODE`, and its one ``rejected`` events row stands for it, as for any
    request refused whole; the events it carried are *not* stored as arrived (the client was told they
    were not taken). A reset or held connection gets no answer: its status is recorded as 0.
    """
    record = outcome.record
    if record is None:
        return outcome
    if rule.kind == SLOW:
        return replace(outcome, record=replace(record, fault=rule.text))
    message = refusal_message(rule)
    status = rule.status if rule.kind == STATUS and rule.status is not None else 0
    headers = tuple(h for h in outcome.reply.headers if h[0].lower().startswith("access-control-"))
    if rule.retry_after is not None:
        headers = (*headers, ("Retry-After", f"{rule.retry_after:g}"))
    reply = Reply(status, error_body(FAULT_CODE, message), headers=headers)
    refused = replace(record, status=status, code=FAULT_CODE, message=message, body=body, fault=rule.text)
    return Outcome(reply, refused, (rejected_event(refused, body),))
