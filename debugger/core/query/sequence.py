"""Sequences (funnels): did an identity do these steps in order, within a time window? (docs/ci.md, "Sequences")

Pure: :func:`evaluate` takes the events that matched at least one step (as :class:`Hit`) and says,
per identity, whether it completed the steps in order and, when it did not, why — the step that
is missing, came before the step preceding it (out of order), or came too late for ``within``.
The store (:mod:`debugger.store.sequence`) reads the hits; ``expect --sequence``, the API and
the pytest fixture share this, so all three judge and explain a funnel alike.

**Order and time** are the message's stored ``timestamp`` (the skew-corrected one Segment keeps,
docs/protocol.md §4.3; the time the event happened on the device, not when it was received),
ties broken by arrival (event id). ``within`` bounds the time from the first step to the last.
For each event matching step 1, the earliest later event matching step 2 is taken, and so on:
the earliest choice never rules out a completion a later one would allow.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from debugger.core.query.sql import relative_span

#: What ``--per`` groups by: ``user`` is the userId, else the anonymousId (one person, signed in or not).
PER = ("user", "userId", "anonymousId", "source")


def within_ms(text: str) -> int:
    """``--within``/``within=``: ``30s`` ``10m`` ``2h`` ``1d`` ``2w`` in milliseconds.

    Raises:
        ValueError: not such a duration, or not above zero.
    """
    try:
        span = relative_span(text.strip())
    except OverflowError:
        span = None
    if span is None or span.total_seconds() <= 0:
        raise ValueError(f"{text[:40]!r} is not a duration; use e.g. 30s, 10m, 2h or 1d.")
    return int(span.total_seconds() * 1000)


def identity_of(per: str, user_id: object, anonymous_id: object, write_key: object) -> str | None:
    """The identity a message counts for under ``per`` (``None``: it has none and is left out)."""
    if per == "user":
        value = user_id if user_id not in (None, "") else anonymous_id
    elif per == "userId":
        value = user_id
    elif per == "anonymousId":
        value = anonymous_id
    elif per == "source":
        value = write_key
    else:
        raise ValueError(f"per must be one of {', '.join(PER)}")
    return None if value in (None, "") else str(value)


@dataclass(frozen=True, slots=True)
class Hit:
    """One stored event that matched one or more steps.

    Attributes:
        id: the event id (arrival order; breaks timestamp ties).
        at_ms: the message timestamp in epoch milliseconds (what order and ``within`` use).
        timestamp: the same, as stored text (shown in messages).
        identity: who did it, per :func:`identity_of`.
        steps: the indexes (0-based) of the steps it matches.
    """

    id: int
    at_ms: int
    timestamp: str
    identity: str
    steps: frozenset[int]


@dataclass(slots=True)
class Progress:
    """How far one identity got: the events of its best chain, and why it stopped there.

    ``reason`` is ``complete``, ``missing`` (no event for step ``missing`` after the chain),
    ``out_of_order`` (one came, but before the previous step: ``other``) or ``too_late``
    (one came after the previous step, but beyond ``within`` of the first: ``other``).
    """

    identity: str
    chain: list[Hit]
    reason: str
    missing: int | None = None
    other: Hit | None = None

    @property
    def complete(self) -> bool:
        """Whether every step was done, in order and in time."""
        return self.reason == "complete"

    def to_json(self, steps: Sequence[str]) -> dict[str, Any]:
        """The API's form: the chain's events, the missing step (1-based) and the offending event."""
        return {
            "identity": self.identity,
            "complete": self.complete,
            "reached": len(self.chain),
            "reason": self.reason,
            "missing_step": self.missing + 1 if self.missing is not None else None,
            "chain": [_hit_json(h, i) for i, h in enumerate(self.chain)],
            "other": _hit_json(self.other, self.missing) if self.other is not None else None,
            "message": self.explain(steps),
        }

    def explain(self, steps: Sequence[str]) -> str:
        """One line: ``user_2: step 2 `event:"Checkout Started"` is missing after step 1 … at T (#12)``."""
        if self.complete:
            first, last = self.chain[0], self.chain[-1]
            return f"{self.identity}: all {len(steps)} steps, {first.timestamp} (#{first.id}) → {last.timestamp} (#{last.id})"
        assert self.missing is not None
        want = f"step {self.missing + 1} `{steps[self.missing]}`"
        if not self.chain:
            seen = f" (it did {_step_at(self.other)})" if self.other is not None else ""
            return f"{self.identity}: never did {want}{seen}"
        before = self.chain[-1]
        after = f"step {len(self.chain)} `{steps[len(self.chain) - 1]}` at {before.timestamp} (#{before.id})"
        if self.reason == "out_of_order" and self.other is not None:
            return f"{self.identity}: {want} at {self.other.timestamp} (#{self.other.id}) came before {after}"
        if self.reason == "too_late" and self.other is not None:
            first = self.chain[0]
            late = _span(self.other.at_ms - first.at_ms)
            return (
                f"{self.identity}: {want} at {self.other.timestamp} (#{self.other.id}) came {late} after "
                f"step 1 at {first.timestamp} (#{first.id}), beyond the window"
            )
        return f"{self.identity}: {want} is missing after {after}"


def _hit_json(hit: Hit, step: int | None) -> dict[str, Any]:
    return {"id": hit.id, "timestamp": hit.timestamp, "step": step + 1 if step is not None else None}


def _step_at(hit: Hit | None) -> str:
    if hit is None:
        return ""
    return f"step {min(hit.steps) + 1} at {hit.timestamp} (#{hit.id})"


def _span(ms: int) -> str:
    """``250 ms``, ``1.5 s``, ``42 s``, ``12m 3s``, ``2h 5m``: a human duration."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 9950:
        return f"{ms / 1000:.1f} s".replace(".0 s", " s")
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m {rest}s" if rest else f"{minutes}m"


@dataclass(slots=True)
class Funnel:
    """Every identity's :class:`Progress`: ``completed`` first, then the others, closest first."""

    steps: int
    completed: list[Progress] = field(default_factory=list)
    incomplete: list[Progress] = field(default_factory=list)


def evaluate(hits: Iterable[Hit], steps: int, within_ms: int | None) -> Funnel:
    """Judge every identity in ``hits`` against ``steps`` steps (``within_ms``: first→last at most this)."""
    if steps < 1:
        raise ValueError("a sequence needs at least one step")
    by_identity: dict[str, list[Hit]] = {}
    for hit in hits:
        by_identity.setdefault(hit.identity, []).append(hit)
    funnel = Funnel(steps)
    for identity, mine in by_identity.items():
        mine.sort(key=lambda h: (h.at_ms, h.id))
        progress = _progress(identity, mine, steps, within_ms)
        (funnel.completed if progress.complete else funnel.incomplete).append(progress)
    funnel.completed.sort(key=lambda p: (p.chain[-1].at_ms, p.chain[-1].id))
    # Closest first: furthest along, then the most recent activity.
    funnel.incomplete.sort(key=lambda p: (-len(p.chain), -_last_seen(p)))
    return funnel


def _last_seen(progress: Progress) -> int:
    times = [h.at_ms for h in progress.chain] + ([progress.other.at_ms] if progress.other is not None else [])
    return max(times, default=0)


def _progress(identity: str, hits: list[Hit], steps: int, within_ms: int | None) -> Progress:
    # Per step, the positions (in time order) of the events matching it: the next one is a bisect away.
    where: list[list[int]] = [[] for _ in range(steps)]
    for i, hit in enumerate(hits):
        for step in hit.steps:
            if step < steps:
                where[step].append(i)
    best: list[int] = []
    for start in where[0]:
        first = hits[start]
        chain = [start]
        for step in range(1, steps):
            spots = where[step]
            k = bisect_right(spots, chain[-1])
            # Sorted by time: if the earliest one after is out of the window, every later one is too.
            if k == len(spots) or (within_ms is not None and hits[spots[k]].at_ms - first.at_ms > within_ms):
                break
            chain.append(spots[k])
        if len(chain) == steps:
            return Progress(identity, [hits[i] for i in chain], "complete")
        if len(chain) >= len(best):  # ties: the latest attempt, the one people look at
            best = chain
    missing = len(best)
    if not best:
        return Progress(identity, [], "missing", 0, hits[0] if hits else None)
    last, spots = best[-1], where[missing]
    k = bisect_right(spots, last)
    chain_hits = [hits[i] for i in best]
    if k < len(spots):  # it came after the previous step, but outside the window
        return Progress(identity, chain_hits, "too_late", missing, hits[spots[k]])
    earlier = next((i for i in reversed(spots[:k]) if i not in best), None)
    if earlier is not None:
        return Progress(identity, chain_hits, "out_of_order", missing, hits[earlier])
    return Progress(identity, chain_hits, "missing", missing)
