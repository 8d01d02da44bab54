"""`expect`: wait until a query's match count satisfies a condition; explain near misses when it doesn't.

Shared by ``segdbg expect --db``, the HTTP API's long-poll ``wait`` and the pytest plugin, so
all three count the same way and fail with the same message. Waiting is driven by commits:
``PRAGMA data_version`` on a database file, commit notifications inside the server.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from debugger.core.pretty.export import export_record
from debugger.core.pretty.render import event_kind, event_label, event_user, inert, rejection
from debugger.core.query import language as q
from debugger.core.query.explain import Step, explain, seen
from debugger.core.query.plan import view_statuses
from debugger.core.routing import DeliveredTo
from debugger.store.capture import connect
from debugger.store.hints import case_hint, case_hint_text
from debugger.store.reads import (
    closest_events,
    count_events,
    get_event,
    iter_events,
    newest_id,
    select_rows,
    term_results,
)
from debugger.store.stats import RESETS_KEY

#: Events shown when an expectation fails (matches, or the closest misses).
SHOWN = 5


@dataclass(frozen=True, slots=True)
class Condition:
    """``at_least`` N matches, exactly ``count`` N (``none``: 0), ``at_most`` N, or ``between`` N and ``high``."""

    mode: str = "at_least"
    n: int = 1
    high: int | None = None  # between's upper bound (inclusive)

    @classmethod
    def of(
        cls,
        *,
        count: int | None = None,
        at_least: int | None = None,
        none: bool = False,
        at_most: int | None = None,
        between: tuple[int, int] | None = None,
    ) -> Condition:
        """Build from the command-line/API options (at most one given; default: at least 1)."""
        given = [
            x for x in (count is not None, at_least is not None, none, at_most is not None, between is not None) if x
        ]
        if len(given) > 1:
            raise ValueError("give only one of count, at-least, at-most, between and none")
        if none:
            return cls("count", 0)
        if count is not None:
            return cls("count", count)
        if at_most is not None:
            return cls("at_most", at_most)
        if between is not None:
            low, high = between
            if low > high:
                raise ValueError(f"between {low} and {high}: the first bound must not exceed the second")
            return cls("between", low, high)
        return cls("at_least", 1 if at_least is None else at_least)

    def holds(self, found: int) -> bool:
        """Whether ``found`` matches satisfy the condition."""
        if self.mode == "at_least":
            return found >= self.n
        if self.mode == "at_most":
            return found <= self.n
        if self.mode == "between":
            return self.n <= found <= (self.high if self.high is not None else found)
        return found == self.n

    def hopeless(self, found: int) -> bool:
        """Whether waiting cannot help: events are only ever added, so too many stays too many."""
        if self.mode in ("count", "at_most"):
            return found > self.n
        return self.mode == "between" and self.high is not None and found > self.high

    def too_few(self, found: int) -> bool:
        """Whether it fails for lack of matches (so the closest misses are worth showing)."""
        return self.mode != "at_most" and found < self.n

    def params(self) -> dict[str, Any]:
        """The API's query parameters for this condition (``wait``, ``sequence``)."""
        if self.mode == "between":
            return {"between": f"{self.n},{self.high}"}
        return {{"at_least": "at_least", "at_most": "at_most"}.get(self.mode, "count"): self.n}

    def describe(self, noun: str = "event") -> str:
        """``at least 2 events`` / ``exactly 1 event`` / ``no events`` / ``at most 3 events`` / ``between 2 and 5 events``."""
        plural = f"{noun}s" if not noun.endswith("y") else f"{noun[:-1]}ies"
        if self.mode == "count" and self.n == 0:
            return f"no {plural}"
        if self.mode == "between":
            return f"between {self.n} and {self.high} {plural}"
        word = {"at_least": "at least", "at_most": "at most"}.get(self.mode, "exactly")
        return f"{word} {self.n} {noun if self.n == 1 else plural}"


@dataclass(slots=True)
class MatchCounter:
    """Counts matches incrementally: the first call counts everything, later calls only new rows.

    With ``delivered`` (``expect --delivered-to``), a match counts only when the routing says it would
    reach that destination (docs/routing.md).
    """

    query: q.Query
    statuses: tuple[str, ...] | None
    now: datetime
    delivered: DeliveredTo | None = None
    found: int = 0
    seen_id: int = 0
    resets: str | None = None

    def update(self, conn: sqlite3.Connection) -> int:
        """The current match count (recounted from scratch after a ``reset``)."""
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (RESETS_KEY,)).fetchone()
        resets = row[0] if row else "0"
        if resets != self.resets:
            self.resets, self.found, self.seen_id = resets, 0, 0
        newest = newest_id(conn)
        if newest > self.seen_id and self.delivered is not None:
            rows = select_rows(
                conn,
                ("stored",),
                query=self.query,
                now=self.now,
                statuses=self.statuses,
                after_id=self.seen_id,
                before_id=newest + 1,
            )
            self.found += sum(1 for (stored,) in rows if self.delivered.holds(_stored(stored)))
            self.seen_id = newest
        elif newest > self.seen_id:
            self.found += count_events(
                conn,
                query=self.query,
                now=self.now,
                statuses=self.statuses,
                after_id=self.seen_id,
                before_id=newest + 1,
            )  # bounded: a row committed meanwhile is counted next time, once
            self.seen_id = newest
        return self.found


def _stored(text: Any) -> Any:
    try:
        return orjson.loads(text) if text is not None else None
    except orjson.JSONDecodeError:
        return None


@dataclass(slots=True)
class Outcome:
    """What an expectation saw: whether it held, the count, and events to show."""

    ok: bool
    found: int
    condition: Condition
    query_text: str
    seconds: float
    matches: list[dict[str, Any]] = field(default_factory=list)
    closest: list[dict[str, Any]] = field(default_factory=list)
    recased: str | None = None  # the query with its values' case corrected, when only that matches
    delivered_to: str | None = None  # expect --delivered-to: the destination the matches must reach

    def to_json(self) -> dict[str, Any]:
        """The HTTP API's ``wait`` answer."""
        return {
            "ok": self.ok,
            "count": self.found,
            "expected": self.condition.describe(),
            "query": self.query_text,
            "seconds": round(self.seconds, 3),
            "events": self.matches,
            "closest": self.closest,
            "recased": self.recased,
            "delivered_to": self.delivered_to,
        }


def evidence(
    conn: sqlite3.Connection,
    outcome: Outcome,
    query: q.Query,
    *,
    now: datetime,
    statuses: tuple[str, ...] | None,
    delivered: DeliveredTo | None = None,
) -> Outcome:
    """Fill ``outcome`` with the newest matches and, when nothing matched enough, the closest misses
    (with ``delivered``: the newest matches the destination would not get, and why)."""
    if delivered is not None:
        return _delivery_evidence(conn, outcome, query, now=now, statuses=statuses, delivered=delivered)
    outcome.matches = [
        export_record(e) for e in iter_events(conn, query=query, now=now, statuses=statuses, limit=SHOWN, newest=True)
    ]
    if not outcome.ok and outcome.condition.too_few(outcome.found):
        misses = closest_events(conn, query, now=now, statuses=statuses, limit=SHOWN)
        outcome.closest = [miss_record(export_record(m.event), m.failed, query) for m in misses if m.failed]
        if outcome.found == 0:
            recased = case_hint(conn, query, now=now, statuses=statuses)
            outcome.recased = q.canonical(recased) if recased is not None else None
    return outcome


def _delivery_evidence(
    conn: sqlite3.Connection,
    outcome: Outcome,
    query: q.Query,
    *,
    now: datetime,
    statuses: tuple[str, ...] | None,
    delivered: DeliveredTo,
) -> Outcome:
    kept: deque[dict[str, Any]] = deque(maxlen=SHOWN)
    blocked: deque[dict[str, Any]] = deque(maxlen=SHOWN)
    for event in iter_events(conn, query=query, now=now, statuses=statuses):
        verdict = delivered.verdict(event["stored"])
        if verdict.delivered:
            kept.append(export_record(event))
        else:
            blocked.append(
                {"event": export_record(event), "failed": [f"delivered to {delivered.name}"], "was": [verdict.detail]}
            )
    outcome.delivered_to = delivered.name
    outcome.matches = list(kept)
    if not outcome.ok and outcome.condition.too_few(outcome.found):
        outcome.closest = list(reversed(blocked))
    return outcome


def miss_record(event: dict[str, Any], failed: tuple[str, ...], query: q.Query) -> dict[str, Any]:
    """A near miss: the event, the terms it fails and, for each, what it had there (``was``)."""
    terms = {q.canonical(q.Query((t,))): t for t in query.terms}
    was = []
    for label in failed:
        term = terms.get(label)
        if term is None:  # the default status term closest_events adds
            try:
                term = q.parse(label).terms[0]
            except (q.QueryError, IndexError):
                term = None
        was.append(seen(term, event) if term is not None else None)
    return {"event": event, "failed": list(failed), "was": was}


@dataclass(frozen=True, slots=True)
class Explanation:
    """A query judged on one event (``segdbg query --explain``): each term and FQL condition, and the verdict.

    Attributes:
        event: the event's export record.
        steps: the terms (and the conditions inside FQL terms), each held or failed, with the value seen.
        matched: whether every term held.
        hidden: the event's status keeps it out of the default view (only ``ok``) this query reads.
    """

    event: dict[str, Any]
    steps: list[Step]
    matched: bool
    hidden: bool


def explain_event(conn: sqlite3.Connection, event_id: int, query: q.Query, *, now: datetime) -> Explanation | None:
    """Why ``query`` matches event ``event_id`` or not; ``None`` when there is no such event."""
    row = get_event(conn, event_id)
    if row is None:
        return None
    record = export_record(row)
    held = term_results(conn, event_id, query, now=now)
    statuses = view_statuses(query)
    hidden = statuses is not None and record["status"] not in statuses
    return Explanation(record, explain(query, record, held), all(held), hidden)


def wait_on_file(
    path: str,
    query: q.Query,
    query_text: str,
    condition: Condition,
    *,
    timeout: float,
    statuses: tuple[str, ...] | None,
    now: datetime,
    poll: float = 0.02,
    clock: Callable[[], float] = time.monotonic,
    delivered: DeliveredTo | None = None,
) -> Outcome:
    """Block until ``condition`` holds for the capture at ``path`` (or it can't, or ``timeout``).

    The count is only recomputed when ``PRAGMA data_version`` says another connection committed.
    """
    started = clock()
    counter = MatchCounter(query, statuses, now, delivered)
    conn = connect(path)
    try:
        version = None
        while True:
            current = conn.execute("PRAGMA data_version").fetchone()[0]
            if current != version:
                version = current
                found = counter.update(conn)
                if condition.holds(found) or condition.hopeless(found):
                    break
            if clock() - started >= timeout:
                break
            time.sleep(min(poll, max(0.0, timeout - (clock() - started))))
        outcome = Outcome(condition.holds(found), found, condition, query_text, clock() - started)
        return evidence(conn, outcome, query, now=now, statuses=statuses, delivered=delivered)
    finally:
        conn.close()


def _line(event: dict[str, Any]) -> str:
    status = event.get("status", "")
    problems = event.get("problems") or []
    why = f" ({problems[0].get('code')})" if status != "ok" and problems else ""
    refusal = rejection(event)
    if refusal is not None:  # say which request and why: answered 400 invalid_json, with the message
        why = f" ({refusal.get('status')} {refusal.get('code')}: {inert(refusal.get('message') or '', 120)})"
    return (
        f"#{event.get('id')}  {event_kind(event).upper():<8}  {inert(event_label(event), 40):<24}  "
        f"{inert(event_user(event), 24):<12}  {status}{why}"
    )


def _failed(term: str, was: str | None) -> str:
    """``properties.currency:GBP (was "EUR")``; ``(absent)`` when the event has nothing there."""
    if was is None:
        return inert(term, 80)
    return f"{inert(term, 80)} ({'absent' if was == 'absent' else 'was ' + inert(was, 80)})"


def failure_message(result: dict[str, Any]) -> str:
    """The text `segdbg expect` prints (and the pytest plugin raises) when an expectation fails."""
    found = result["count"]
    to = f" delivered to {inert(result['delivered_to'], 100)}" if result.get("delivered_to") else ""
    lines = [
        f"Expected {result['expected']} matching `{inert(result['query'], 200) or '(everything)'}`{to}; "
        f"found {found:,} after {result['seconds']:.1f} s."
    ]
    if result.get("events") and found:
        lines.append("Matching events (newest last):")
        lines += ["  " + _line(e) for e in result["events"]]
    if result.get("closest"):
        lines.append("Closest events seen (newest first), and the terms each one fails:")
        for miss in result["closest"]:
            lines.append("  " + _line(miss["event"]))
            was = miss.get("was") or [None] * len(miss["failed"])
            lines.append("      fails: " + ", ".join(_failed(f, w) for f, w in zip(miss["failed"], was, strict=False)))
    elif not found:
        lines.append("No stored event comes close (none satisfies any term of the query).")
    if result.get("recased"):
        lines.append(case_hint_text(result["recased"]))
    return "\n".join(lines)
