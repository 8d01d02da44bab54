"""The server clock: the one place the store and the shells above it read the wall time.

The pure core never reads it: times are passed in (a test passes a fixed one).
"""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    """The server clock; the one place the store layer reads it (kept out of the pure core)."""
    return datetime.now(UTC)
