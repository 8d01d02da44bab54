"""`expect --sequence`: read the events each step matches, wait until enough identities did them in order.

The matching is pure (:mod:`debugger.core.query.sequence`); this module reads the steps' matches
incrementally (each commit reads only new rows, through the one read path of
:mod:`debugger.store.reads`) and shapes the outcome the CLI, the API and the pytest fixture
share, with the failure message naming, for the closest identities, the missing step and its
timestamps (docs/ci.md, "Sequences").
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from debugger.core.pretty.render import inert
from debugger.core.query import language as q
from debugger.core.query.sequence import PER, Funnel, Hit, evaluate, identity_of
from debugger.core.timefmt import parse_timestamp
from debugger.store.capture import connect
from debugger.store.expect import SHOWN, Condition
from debugger.store.reads import newest_id, select_rows
from debugger.store.stats import RESETS_KEY

_COLUMNS = ("id", "timestamp", "received_at", "user_id", "anonymous_id", "write_key")


@dataclass(slots=True)
class SequenceReader:
    """Collects the events matching any step; each :meth:`update` reads only rows committed since.

    Args:
        steps: the parsed step queries, in order.
        statuses: per step, the statuses it counts (``view_statuses``: accepted events by default).
        per: what an identity is (:data:`debugger.core.query.sequence.PER`).
        within_ms: the most time from the first step to the last, or ``None``.
        now: the instant relative times in the steps count back from.
    """

    steps: Sequence[q.Query]
    statuses: Sequence[tuple[str, ...] | None]
    per: str
    within_ms: int | None
    now: datetime
    hits: dict[int, Hit] = field(default_factory=dict)
    seen_id: int = 0
    resets: str | None = None

    def __post_init__(self) -> None:
        if self.per not in PER:
            raise ValueError(f"per must be one of {', '.join(PER)}, not {self.per!r}")

    def update(self, conn: sqlite3.Connection) -> Funnel:
        """Every identity's progress through the steps, with what was committed up to now."""
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (RESETS_KEY,)).fetchone()
        resets = row[0] if row else "0"
        if resets != self.resets:
            self.resets, self.seen_id = resets, 0
            self.hits.clear()
        newest = newest_id(conn)
        if newest > self.seen_id:
            for index, (step, statuses) in enumerate(zip(self.steps, self.statuses, strict=True)):
                rows = select_rows(
                    conn,
                    _COLUMNS,
                    query=step,
                    now=self.now,
                    statuses=statuses,
                    after_id=self.seen_id,
                    before_id=newest + 1,  # bounded: a row committed meanwhile is read next time, once
                )
                for event_id, timestamp, received_at, user_id, anonymous_id, write_key in rows:
                    self._add(index, event_id, timestamp or received_at, user_id, anonymous_id, write_key)
            self.seen_id = newest
        return evaluate(self.hits.values(), len(self.steps), self.within_ms)

    def _add(self, step: int, event_id: int, stamp: Any, user: Any, anonymous: Any, key: Any) -> None:
        known = self.hits.get(event_id)
        if known is not None:
            self.hits[event_id] = Hit(known.id, known.at_ms, known.timestamp, known.identity, known.steps | {step})
            return
        identity = identity_of(self.per, user, anonymous, key)
        moment = parse_timestamp(stamp)
        if identity is None or moment is None:
            return  # nobody to attribute it to, or no time to order it by
        self.hits[event_id] = Hit(event_id, int(moment.timestamp() * 1000), str(stamp), identity, frozenset({step}))


@dataclass(slots=True)
class SequenceOutcome:
    """What a sequence expectation saw: identities that completed, the closest that did not."""

    ok: bool
    condition: Condition
    steps: list[str]
    per: str
    within: str | None
    seconds: float
    funnel: Funnel

    def to_json(self) -> dict[str, Any]:
        """The HTTP API's ``sequence`` answer."""
        return {
            "ok": self.ok,
            "count": len(self.funnel.completed),
            "expected": self.condition.describe("identity"),
            "steps": self.steps,
            "per": self.per,
            "within": self.within,
            "seconds": round(self.seconds, 3),
            "completed": [p.to_json(self.steps) for p in self.funnel.completed[-SHOWN:]],
            "closest": [p.to_json(self.steps) for p in self.funnel.incomplete[:SHOWN]],
            "identities": len(self.funnel.completed) + len(self.funnel.incomplete),
            "too_few": not self.ok and self.condition.too_few(len(self.funnel.completed)),
        }


def wait_sequence_on_file(
    path: str,
    reader: SequenceReader,
    steps: list[str],
    condition: Condition,
    *,
    within: str | None,
    timeout: float,
    poll: float = 0.02,
    clock: Callable[[], float] = time.monotonic,
) -> SequenceOutcome:
    """Block until ``condition`` holds for the number of identities that completed the steps (or can't, or ``timeout``)."""
    started = clock()
    conn = connect(path)
    try:
        version = None
        funnel = Funnel(len(steps))
        while True:
            current = conn.execute("PRAGMA data_version").fetchone()[0]
            if current != version:
                version = current
                funnel = reader.update(conn)
                done = len(funnel.completed)
                if condition.holds(done) or condition.hopeless(done):
                    break
            if clock() - started >= timeout:
                break
            time.sleep(min(poll, max(0.0, timeout - (clock() - started))))
    finally:
        conn.close()
    ok = condition.holds(len(funnel.completed))
    return SequenceOutcome(ok, condition, steps, reader.per, within, clock() - started, funnel)


def sequence_failure_message(result: dict[str, Any]) -> str:
    """The text `segdbg expect --sequence` prints (and the pytest plugin raises) when a sequence fails."""
    steps = " → ".join(f"`{inert(s, 80)}`" for s in result["steps"])
    window = f" within {result['within']}" if result.get("within") else ""
    lines = [
        f"Expected {result['expected']} (per {result['per']}) to do {steps} in order{window}; "
        f"{result['count']:,} did, after {result['seconds']:.1f} s."
    ]
    if result.get("completed") and result["count"]:
        lines.append("Completed (newest last):")
        lines += ["  " + inert(p["message"], 400) for p in result["completed"]]
    if result.get("closest") and result.get("too_few", True):
        lines.append("Closest identities (furthest along first), and where each one stopped:")
        lines += ["  " + inert(p["message"], 400) for p in result["closest"]]
    elif not result.get("identities"):
        lines.append("No stored event matches any step (with an identity and a timestamp).")
    return "\n".join(lines)
