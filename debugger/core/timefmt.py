"""Pure timestamp parsing and formatting for the formats seen on the wire (docs/protocol.md §4.3).

Clients send ISO-8601 in many shapes: JavaScript's ``2024-05-01T12:00:00.123Z``, Python's
``2024-05-01T12:00:00.123+00:00`` and ``…00.123456+00:00``, Segment's own unpadded example
``2015-2-02T00:30:08.276Z``, nanoseconds from Go, a space instead of ``T``, no zone at all
(taken as UTC), and now and then epoch numbers. Everything parses to an aware UTC datetime or
``None``; nothing here raises on bad input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_ISO = re.compile(
    r"""^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})
    (?:[Tt\ ](?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d+))?)?)?
    \s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?\s*$""",
    re.VERBOSE,
)

#: Epoch numbers above this are milliseconds, below it seconds (2001-09-09 in ms).
_EPOCH_MS_THRESHOLD = 100_000_000_000


def parse_timestamp(value: object) -> datetime | None:
    """Parse a client timestamp into an aware UTC datetime.

    Args:
        value: the JSON value found in the message (string, number or anything else).

    Returns:
        The instant, or ``None`` when the value is not a timestamp we can read.
    """
    if isinstance(value, str):
        parsed: datetime | None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = _parse_loose(value)
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _parse_loose(text: str) -> datetime | None:
    match = _ISO.match(text)
    if match is None:
        return None
    parts = match.groupdict()
    fraction = (parts["f"] or "0")[:6].ljust(6, "0")
    try:
        base = datetime(
            int(parts["y"]),
            int(parts["mo"]),
            int(parts["d"]),
            int(parts["h"] or 0),
            int(parts["mi"] or 0),
            int(parts["s"] or 0),
            int(fraction),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    return base - _offset(parts["tz"])


def _offset(tz: str | None) -> timedelta:
    if not tz or tz in "Zz":
        return timedelta(0)
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return sign * timedelta(hours=hours, minutes=minutes)


def format_timestamp(moment: datetime) -> str:
    """Format an instant as Segment does: UTC, millisecond precision, ``Z`` suffix."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def corrected_timestamp(received_at: datetime, sent_at: datetime | None, original: datetime | None) -> datetime:
    """Segment's clock-skew correction (D-COMMON): ``receivedAt − (sentAt − originalTimestamp)``.

    Falls back to ``original`` when the client sent no ``sentAt``, and to ``received_at``
    when it sent no timestamp at all, or when the arithmetic leaves the calendar.
    """
    if original is None:
        return received_at
    if sent_at is None:
        return original
    try:
        return received_at - (sent_at - original)
    except OverflowError:
        return original
