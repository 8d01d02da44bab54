"""Pure retry rules of a well-behaved Segment client (docs/protocol.md §3.3).

- 2xx is delivered.
- 429 waits what ``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset`` says,
  capped at :attr:`RetryPolicy.max_retry_after`; without either it backs off like a 5xx.
- 5xx (except 501, 505, 511, which will not change), 408, 410, 460 and network errors retry
  with exponential backoff and jitter, a bounded number of times.
- Any other status (400, 401, 404, 413, 3xx, ...) is a failed delivery; retrying would not help.

The clock and the randomness are passed in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

#: Statuses analytics-next and @segment/analytics-node retry besides 5xx (AN-SIO, AN-NODE).
RETRYABLE_4XX = frozenset({408, 410, 429, 460})
#: 5xx answers that mean "never": not implemented, HTTP version, network auth.
PERMANENT_5XX = frozenset({501, 505, 511})
#: ``X-RateLimit-Reset`` values above this are an epoch time rather than seconds to wait.
_EPOCH_THRESHOLD = 1_000_000_000

DELIVERED, RETRY, FAILED = "delivered", "retry", "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try.

    Attributes:
        retries: attempts after the first one.
        backoff: the first backoff wait in seconds; each retry doubles it.
        max_backoff: the longest backoff wait.
        max_retry_after: the longest wait a 429 may ask for (analytics-node caps at 300 s).
        timeout: seconds one attempt may take, connect to last byte.
    """

    retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0
    timeout: float = 30.0


def verdict(status: int | None) -> str:
    """``delivered``, ``retry`` or ``failed`` for an answer (``None``: no answer at all)."""
    if status is None:
        return RETRY
    if 200 <= status < 300:
        return DELIVERED
    if status in RETRYABLE_4XX or (status >= 500 and status not in PERMANENT_5XX):
        return RETRY
    return FAILED


def backoff_wait(attempt: int, policy: RetryPolicy, jitter: float) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random (``jitter`` in [0, 1)).

    Args:
        attempt: the attempt that just failed, from 1.
        policy: base and cap.
        jitter: a random number in [0, 1).
    """
    ceiling = min(policy.max_backoff, policy.backoff * 2.0 ** (attempt - 1))
    return ceiling / 2 + ceiling / 2 * jitter


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds a 429 asks to wait: ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value is not None:
        seconds = _number(value)
        if seconds is not None:
            return max(0.0, seconds)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, (when - now).total_seconds())
    reset = _number(lowered.get("x-ratelimit-reset"))
    if reset is not None:
        return max(0.0, reset - now.timestamp() if reset > _EPOCH_THRESHOLD else reset)
    return None


def next_wait(
    status: int | None, headers: Mapping[str, str], attempt: int, policy: RetryPolicy, *, now: datetime, jitter: float
) -> float | None:
    """Seconds to wait before the next attempt, or ``None`` when not to retry.

    Args:
        status: the answer's status, ``None`` for a network error or timeout.
        headers: the answer's headers.
        attempt: the attempt that just finished, from 1.
        policy: the limits.
        now: the clock, for HTTP-date ``Retry-After`` values.
        jitter: a random number in [0, 1).
    """
    if verdict(status) != RETRY or attempt > policy.retries:
        return None
    if status == 429:
        asked = retry_after(headers, now)
        if asked is not None:
            return min(asked, policy.max_retry_after)
    return backoff_wait(attempt, policy, jitter)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
