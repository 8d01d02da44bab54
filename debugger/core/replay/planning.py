"""Pure planning of `segdbg replay`: stored events → the HTTP requests that resend them.

No I/O, no clock: the replay's start time and the id generator are passed in, and sending
(with retries and pacing on a real clock) lives in :mod:`debugger.replay.delivery`.

**What is sent.** A replay sends what the original client sent, not what segdbg stored, so
the target applies its own enrichment exactly as it would for the client (docs/protocol.md §4.3):

- the message as received (``raw``), with ``type`` set, and the envelope's ``context`` and
  ``integrations`` merged in (item keys win, as on receipt) — but not the ``context.ip`` the
  server filled in, so the target fills its own;
- the stored ``messageId`` (the one the server assigned when the client sent none), or a new
  one with ``--new-message-ids`` (Segment drops a repeated messageId within 24 h);
- the client's own ``timestamp`` (or ``originalTimestamp``) untouched, and a **fresh**
  ``sentAt`` at each attempt, so the target's ``originalTimestamp`` equals the capture's and
  its skew-corrected ``timestamp`` lands on the original time (docs/protocol.md §6). A message
  that had no time at all is sent with the time the capture gave it, so it keeps its moment;
- the effective write key (``--write-key``, else the event's own) as HTTP Basic auth *and*
  in the body, which every receiver accepts (docs/protocol.md §2); a per-message ``writeKey`` is
  removed so a capture's keys never leak to another target.

**Shapes.** Batched to ``/v1/batch`` (consecutive events with the same key, up to
``batch_size``, 2,500 and 500 KB per batch) or one request per event to ``/v1/<type>``.
A message over 32 KB is not sent: the target would reject it (and its whole batch).

**Pacing.** Each request carries ``at``, its offset in seconds from the start of sending:
``--rate N`` spaces events ``1/N`` s apart; ``--speed X`` keeps the original gaps divided
by ``X``, each wait capped by ``--max-gap``. Paced events are batched only when they fall
within :data:`PACE_WINDOW` of each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from debugger.core.protocol import (
    ANONYMOUS_ID,
    CONTEXT,
    INTEGRATIONS,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    MESSAGE_ID,
    ORIGINAL_TIMESTAMP,
    PREVIOUS_ID,
    SENT_AT,
    TIMESTAMP,
    TYPE,
    TYPES,
    USER_ID,
    WRITE_KEY,
    json_object,
)
from debugger.core.timefmt import format_timestamp, parse_timestamp

KEEP, SHIFT = "keep", "shift"
#: Events per ``/v1/batch`` unless told otherwise. A replay is a bulk upload, so it sends fewer,
#: fuller requests than a live client's flush (analytics-python's 100): with events of ~1 KB the
#: 500 KB cap binds first. Measured with bench/replay.py's capture (50,000 track events of ~350
#: bytes, one in flight), median events/s: 100 → ~19,000, 250 → ~23,000, 500 → ~26,000–29,500,
#: 750–1,000 → ~22,000 (the sender then waits longer for each answer while the planner fills
#: the next batch).
DEFAULT_BATCH_SIZE = 500
#: Paced events this close together (seconds) share a request; each is sent at most this early.
PACE_WINDOW = 0.001
#: Room the envelope takes around the messages: ``{"batch":[…],"writeKey":…,"sentAt":"…"}``.
_ENVELOPE_BYTES = 64
_ID_FIELDS = (USER_ID, ANONYMOUS_ID, PREVIOUS_ID)
_TYPE_SET = frozenset(TYPES)

#: Reasons an event is not sent at all.
TOO_LARGE, NOT_AN_OBJECT = "too_large", "not_an_object"


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to resend: shape, rewrites and pacing (validated by the CLI).

    Attributes:
        batch: send batches to ``/v1/batch``; otherwise one request per event.
        batch_size: the most events per batch (≤ 2,500).
        write_key: send every event with this key instead of its own.
        new_message_ids: give every event a fresh messageId.
        shift_by: added to every event time (``--timestamps shift``; see :func:`shift_delta`).
        id_map: exact userId/anonymousId/previousId replacements.
        id_prefix: prepended to every id not in ``id_map``.
        rate: events per second; ``speed``: original gaps divided by this; ``max_gap``:
            the longest wait between two events, in seconds, with ``speed``.
    """

    batch: bool = True
    batch_size: int = DEFAULT_BATCH_SIZE
    write_key: str | None = None
    new_message_ids: bool = False
    shift_by: timedelta | None = None
    id_map: Mapping[str, str] = field(default_factory=dict)
    id_prefix: str | None = None
    rate: float | None = None
    speed: float | None = None
    max_gap: float | None = None

    @property
    def paced(self) -> bool:
        """Whether requests are sent on a schedule rather than as fast as possible."""
        return self.rate is not None or self.speed is not None


class ReplayItem(NamedTuple):
    """One event in a replay: where it came from and the message as it will be sent.

    A named tuple rather than a frozen dataclass: one is made per event on the replay's hot
    path, and a frozen dataclass's ``__init__`` cost 2.7 µs there against 0.6 µs.
    """

    seq: int
    event_id: int | None
    type: str | None
    name: str | None
    message_id: str | None
    sent_message_id: str | None
    write_key: str | None
    message: bytes
    at: float | None = None


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """One POST: path, key, the events it carries and when to send it (offset in seconds)."""

    seq: int
    path: str
    write_key: str | None
    items: tuple[ReplayItem, ...]
    at: float | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An event that is not sent, and why (it is still recorded as not delivered)."""

    item: ReplayItem
    reason: str
    message: str


def shift_delta(first: datetime | None, last: datetime | None, now: datetime, *, start_at_now: bool) -> timedelta:
    """How far ``--timestamps shift`` moves the session.

    The latest event lands on ``now`` (nothing is in the future), or with ``start_at_now``
    (paced by ``--speed``) the earliest does, so at ``--speed 1`` each event's time is the
    moment it is sent. Gaps are kept either way.
    """
    anchor = first if start_at_now else last
    return now - anchor if anchor is not None else timedelta(0)


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """When an event happened on the capture's clock: its stored timestamp, else receipt."""
    return parse_timestamp(event.get("timestamp")) or parse_timestamp(event.get("received_at"))


def outgoing_message(
    event: Mapping[str, Any], options: ReplayOptions, new_id: Callable[[], str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The message to send for a stored event, and the messageId it carries.

    Returns ``(None, None)`` when the stored ``raw`` is not a JSON object (it cannot be resent).
    """
    raw, stored = event.get("raw"), event.get("stored")
    if not isinstance(raw, dict):
        return None, None
    stored = json_object(stored)
    message = raw.copy()
    message.pop(WRITE_KEY, None)
    message.pop(SENT_AT, None)
    kind = event.get("type")
    if kind in _TYPE_SET:
        message[TYPE] = kind
    own_context = raw.get(CONTEXT)
    merged = stored.get(CONTEXT)
    if isinstance(merged, dict) and (own_context is None or isinstance(own_context, dict)):
        # Shared, not copied: nothing below mutates it, and the message is serialized at once.
        context = merged
        if "ip" in merged and not (own_context is not None and "ip" in own_context):
            context = {k: v for k, v in merged.items() if k != "ip"}  # the capturing server's; the target fills its own
        if context or own_context is not None:
            message[CONTEXT] = context
    own_integrations = raw.get(INTEGRATIONS)
    if isinstance(stored.get(INTEGRATIONS), dict) and (own_integrations is None or isinstance(own_integrations, dict)):
        message[INTEGRATIONS] = stored[INTEGRATIONS]
    message_id = new_id() if options.new_message_ids else (event.get("message_id") or stored.get(MESSAGE_ID))
    if message_id is not None:
        message[MESSAGE_ID] = message_id
    if options.id_map or options.id_prefix:
        for key in _ID_FIELDS:
            value = message.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
                message[key] = map_id(str(value), options)
    _set_time(message, event, options.shift_by)
    return message, message_id if isinstance(message_id, str) else None


def map_id(value: str, options: ReplayOptions) -> str:
    """Apply ``--map-id`` (exact) or else ``--id-prefix`` to one user or anonymous id."""
    if value in options.id_map:
        return options.id_map[value]
    return f"{options.id_prefix}{value}" if options.id_prefix else value


def _set_time(message: dict[str, Any], event: Mapping[str, Any], shift_by: timedelta | None) -> None:
    """Keep the client's time field (shifted when asked); give a time-less message its stored time."""
    if message.get(TIMESTAMP) is not None:
        key = TIMESTAMP
    elif message.get(ORIGINAL_TIMESTAMP) is not None:
        key = ORIGINAL_TIMESTAMP
    else:
        moment = event_time(event)
        if moment is not None:
            message[TIMESTAMP] = format_timestamp(moment + (shift_by or timedelta(0)))
        return
    if shift_by:
        parsed = parse_timestamp(message[key])
        if parsed is not None:
            message[key] = format_timestamp(parsed + shift_by)


def plan_replay(
    events: Iterable[Mapping[str, Any]],
    options: ReplayOptions,
    *,
    new_id: Callable[[], str],
    first_seq: int = 0,
    first_request: int = 0,
) -> Iterator[ReplayRequest | Skipped]:
    """The requests that replay ``events`` (in the order given), and the events left out.

    Args:
        events: stored events as :func:`debugger.store.reads.from_row` returns them.
        options: shape, rewrites and pacing.
        new_id: generates messageIds for ``--new-message-ids``.
        first_seq: the number of the first event (a resumed run continues its numbering);
            ``first_request`` likewise for requests.

    Yields:
        :class:`ReplayRequest` in event order, and a :class:`Skipped` for each event left out
        (as soon as it is seen, so possibly before the batch holding earlier events). Lazily:
        a capture of any size is planned in constant memory.
    """
    pending: list[ReplayItem] = []
    size = budget = 0
    request_seq = first_request
    clock = _Pacer(options)
    fits = _Fits(options)
    dumps = orjson.dumps
    for seq, event in enumerate(events, start=first_seq):
        message, message_id = outgoing_message(event, options, new_id)
        key = options.write_key or event.get("write_key")
        body = dumps(message) if message is not None else b""
        limit = MAX_MESSAGE_BYTES if options.batch else MAX_MESSAGE_BYTES - _envelope_bytes(key)
        sendable = message is not None and len(body) <= limit
        at = clock.next(event) if sendable else None
        item = ReplayItem(
            seq,
            event.get("id"),
            event.get("type"),
            event.get("name"),
            event.get("message_id"),
            message_id,
            key,
            body,
            at,
        )
        if message is None:
            yield Skipped(item, NOT_AN_OBJECT, "The stored message is not a JSON object; it cannot be resent.")
            continue
        if not sendable:
            yield Skipped(
                item,
                TOO_LARGE,
                f"The message is {len(body):,} bytes; Segment accepts at most {MAX_MESSAGE_BYTES:,} (32 KB).",
            )
            continue
        if not options.batch:
            yield ReplayRequest(request_seq, f"/v1/{_route(item.type)}", key, (item,), at)
            request_seq += 1
            continue
        if pending and not fits(pending, size, budget, item):
            yield _batch(request_seq, pending)
            request_seq += 1
            pending, size = [], 0
        if not pending:
            budget = MAX_BATCH_BYTES - _envelope_bytes(key)
        pending.append(item)
        size += len(body) + 1
    if pending:
        yield _batch(request_seq, pending)


class _Pacer:
    """Send offsets: ``i / rate``, or original gaps ÷ speed capped at max_gap, never backwards."""

    def __init__(self, options: ReplayOptions) -> None:
        self.options = options
        self.count = 0
        self.offset = 0.0
        self.previous: datetime | None = None

    def next(self, event: Mapping[str, Any]) -> float | None:
        options = self.options
        self.count += 1
        if options.rate is not None:
            return (self.count - 1) / options.rate
        if options.speed is None:
            return None
        moment = event_time(event)
        if moment is not None:
            if self.previous is not None:
                gap = max(0.0, (moment - self.previous).total_seconds()) / options.speed
                if options.max_gap is not None:
                    gap = min(gap, options.max_gap)
                self.offset += gap
            self.previous = moment if self.previous is None else max(moment, self.previous)
        return self.offset


class _Fits:
    """Whether the next item joins the pending batch: same key, under the count and byte limits,
    and (paced) within :data:`PACE_WINDOW` of the batch's first event."""

    def __init__(self, options: ReplayOptions) -> None:
        self.most = min(options.batch_size, MAX_BATCH_MESSAGES)
        self.paced = options.paced

    def __call__(self, pending: list[ReplayItem], size: int, budget: int, item: ReplayItem) -> bool:
        first = pending[0]
        if item.write_key != first.write_key or len(pending) >= self.most or size + len(item.message) + 1 > budget:
            return False
        return not (self.paced and (item.at or 0.0) - (first.at or 0.0) > PACE_WINDOW + 1e-9)  # float noise


def _batch(seq: int, items: list[ReplayItem]) -> ReplayRequest:
    return ReplayRequest(seq, "/v1/batch", items[0].write_key, tuple(items), items[0].at)


def _route(kind: str | None) -> str:
    return kind if kind in TYPES else "track"


def _envelope_bytes(write_key: str | None) -> int:
    return _ENVELOPE_BYTES + len(orjson.dumps(write_key))


def request_body(request: ReplayRequest, sent_at: datetime) -> bytes:
    """The body of one attempt: the messages with this attempt's ``sentAt`` and the key.

    Called at every attempt, because a retry carries a new ``sentAt`` (docs/protocol.md §11).
    """
    tail = b'"' + SENT_AT.encode() + b'":' + orjson.dumps(format_timestamp(sent_at))
    if request.write_key is not None:
        tail = b'"' + WRITE_KEY.encode() + b'":' + orjson.dumps(request.write_key) + b"," + tail
    if request.path == "/v1/batch":
        return b'{"batch":[' + b",".join(i.message for i in request.items) + b"]," + tail + b"}"
    message = request.items[0].message
    return message[:-1] + (b"," if message != b"{}" else b"") + tail + b"}"
