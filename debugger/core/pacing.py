"""Pure pacing of the live stream: how many new rows a person can read, and the ingest rate.

No clock here: every method takes the current monotonic time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class RowBudget:
    """A token bucket: bursts up to ``burst`` rows are shown whole, a sustained flood is
    sampled down to ``rate`` rows per second.

    Attributes:
        rate: rows per second a person can follow.
        burst: rows that may arrive at once and still all be shown (a batch from ``send``).
    """

    rate: float = 40.0
    burst: float = 300.0
    _tokens: float = field(default=-1.0, init=False)
    _at: float | None = field(default=None, init=False)

    def available(self, now: float) -> int:
        """Rows that may be shown now."""
        if self._at is None or self._tokens < 0:
            self._tokens = self.burst
        else:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return int(self._tokens)

    def spend(self, rows: int) -> None:
        """Record that ``rows`` rows were shown."""
        self._tokens = max(0.0, self._tokens - rows)


@dataclass(slots=True)
class RateMeter:
    """Events per second over a sliding window."""

    window: float = 5.0
    _points: deque[tuple[float, int]] = field(default_factory=deque, init=False)

    def add(self, now: float, count: int) -> None:
        """Record ``count`` events seen at ``now``."""
        self._points.append((now, count))
        while self._points and self._points[0][0] < now - self.window:
            self._points.popleft()

    def rate(self, now: float) -> float:
        """Events per second over the window ending at ``now``."""
        while self._points and self._points[0][0] < now - self.window:
            self._points.popleft()
        if not self._points:
            return 0.0
        span = max(1.0, now - self._points[0][0])
        return sum(c for _, c in self._points) / span


def sample(rows: Sequence[tuple[int, int | None]], keep: int) -> list[int]:
    """``keep`` ids from ``(id, request_id)`` rows (sorted by id): the first event of every
    request first (so one huge batch cannot hide the other senders), then an even spread of
    the rest; always the newest."""
    if keep <= 0 or not rows:
        return []
    if keep >= len(rows):
        return [row[0] for row in rows]
    firsts: dict[int | None, int] = {}
    for event_id, request_id in rows:
        firsts.setdefault(request_id if request_id is not None else -event_id, event_id)
    leaders = spread(sorted(firsts.values()), keep - 1)
    chosen = {*leaders, rows[-1][0]}
    rest = [row[0] for row in rows if row[0] not in chosen]
    chosen.update(spread(rest, keep - len(chosen)) if keep > len(chosen) else ())
    return sorted(chosen)


def spread(ids: Sequence[int], keep: int) -> list[int]:
    """``keep`` ids evenly spread over ``ids`` (sorted), always ending with the newest."""
    if keep <= 0 or not ids:
        return []
    if keep >= len(ids):
        return list(ids)
    step = len(ids) / keep
    chosen = {ids[len(ids) - 1 - int(i * step)] for i in range(keep)}
    return sorted(chosen)


#: What a rate history splits arrivals into: accepted, with problems, rejected (docs/tui.md).
KINDS = ("accepted", "problems", "rejected")
SPARK = "▁▂▃▄▅▆▇█"


@dataclass(slots=True)
class RateHistory:
    """Arrivals over the last few minutes in fixed buckets, split by :data:`KINDS`.

    Attributes:
        bucket: seconds per bucket.
        buckets: how many buckets are kept (``bucket * buckets`` seconds of history).
    """

    bucket: float = 10.0
    buckets: int = 12
    _counts: dict[int, list[int]] = field(default_factory=dict, init=False)

    def add(self, now: float, accepted: int, problems: int, rejected: int) -> None:
        """Record arrivals seen at ``now``."""
        slot = int(now // self.bucket)
        counts = self._counts.setdefault(slot, [0, 0, 0])
        counts[0] += accepted
        counts[1] += problems
        counts[2] += rejected
        for old in [s for s in self._counts if s <= slot - self.buckets]:
            del self._counts[old]

    def columns(self, now: float) -> list[tuple[int, int, int]]:
        """Each bucket's (accepted, problems, rejected), oldest first, the current bucket last."""
        slot = int(now // self.bucket)
        return [
            tuple(self._counts.get(s, (0, 0, 0)))  # type: ignore[misc]
            for s in range(slot - self.buckets + 1, slot + 1)
        ]

    def spark(self, now: float) -> list[tuple[str, str]]:
        """One ``(character, kind)`` per bucket: the height is the bucket's total against the
        busiest bucket, the kind the worst thing in it (``rejected`` over ``problems`` over
        ``accepted``; ``""`` when nothing arrived)."""
        columns = self.columns(now)
        peak = max((sum(c) for c in columns), default=0)
        out: list[tuple[str, str]] = []
        for accepted, problems, rejected in columns:
            total = accepted + problems + rejected
            if not total or not peak:
                out.append((" ", ""))
                continue
            level = min(len(SPARK) - 1, max(0, math.ceil(total / peak * len(SPARK)) - 1))
            kind = "rejected" if rejected else "problems" if problems else "accepted"
            out.append((SPARK[level], kind))
        return out
