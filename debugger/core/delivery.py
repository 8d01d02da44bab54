"""`segdbg delivery-check` (docs/faults.md): what each client delivered, judged from every attempt it made. Pure.

The store hands over the capture's delivery attempts in arrival order (:class:`Attempt`): the accepted
requests with the messages stored from them, and the requests a ``--fault`` rule refused with the messages
read back from their kept bodies (:func:`refused_messages`). :func:`judge` then says, per client (write
key and library name + version), which messages arrived exactly once, more than once (the same messageId
accepted again, or the same content accepted under a new messageId), or never (only ever refused, or
missing from the client's own sequence numbers), whether each ``Retry-After`` was waited out, and how the
gaps between a batch's attempts grew.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from debugger.core.fault import RuleError, parse_rule
from debugger.core.http.bodies import RequestError, decode_json_lenient, inflate
from debugger.core.http.limits import KEPT_BODY_LIMIT
from debugger.core.http.routes import pixel_message
from debugger.core.protocol import BATCH, CONTEXT, MESSAGE_ID, RECEIVED_AT, SENT_AT, WRITE_KEY
from debugger.core.query.explain import values_at

#: Fields left out of a message's content fingerprint: what a client (or a server) changes between
#: two sends of the same call.
VOLATILE = frozenset({MESSAGE_ID, SENT_AT, RECEIVED_AT, WRITE_KEY, "_metadata"})
#: A ``Retry-After`` counts as waited out when the next attempt came no more than this much early
#: (the server's clock stamps arrival, a few milliseconds after the answer left).
RETRY_AFTER_SLACK = 0.05
#: The most items each list in the text report shows (the JSON has them all).
SHOWN = 10


@dataclass(frozen=True, slots=True)
class Sent:
    """One message in one attempt."""

    message_id: str | None
    fingerprint: str
    write_key: str | None
    library: str
    sequence: float | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request a client made: when it arrived, whether it was accepted, the messages it carried."""

    request_id: int
    at: datetime
    accepted: bool
    messages: tuple[Sent, ...]
    status: int = 200
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """A refused attempt with ``Retry-After`` and what the client did next."""

    request_id: int
    asked: float
    waited: float | None  # None: never tried again
    honoured: bool


@dataclass(frozen=True, slots=True)
class RenamedRetry:
    """One event sent under more than one messageId (same content), and how many copies were accepted."""

    ids: list[str]
    arrived: int


@dataclass(slots=True)
class ClientReport:
    """What one client (write key + library) delivered."""

    write_key: str | None
    library: str
    attempts: int = 0
    refused: int = 0
    messages: int = 0
    exactly_once: int = 0
    more_than_once: list[str] = field(default_factory=list)
    new_message_id: list[RenamedRetry] = field(default_factory=list)
    never: list[str] = field(default_factory=list)
    sequence_gaps: list[float] = field(default_factory=list)
    retry_after: list[Retry] = field(default_factory=list)
    backoff: list[list[float]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Something was lost or delivered twice."""
        return bool(self.more_than_once or self.never or self.sequence_gaps)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (every list whole)."""
        return {
            "write_key": self.write_key,
            "library": self.library,
            "attempts": self.attempts,
            "refused_attempts": self.refused,
            "messages": self.messages,
            "exactly_once": self.exactly_once,
            "more_than_once": self.more_than_once,
            "new_message_id": [{"ids": r.ids, "arrived": r.arrived} for r in self.new_message_id],
            "never": self.never,
            "sequence_gaps": self.sequence_gaps,
            "retry_after": [
                {"request_id": r.request_id, "asked_s": r.asked, "waited_s": r.waited, "honoured": r.honoured}
                for r in self.retry_after
            ],
            "retry_after_honoured": all(r.honoured for r in self.retry_after) if self.retry_after else None,
            "backoff_s": self.backoff,
            "backoff": backoff_shape(self.backoff),
            "ok": not self.failed,
        }


def fingerprint(message: Mapping[str, Any]) -> str:
    """The message's content without what changes between sends (:data:`VOLATILE`)."""
    kept = {k: v for k, v in message.items() if k not in VOLATILE}
    try:
        data = orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        data = repr(sorted(kept.items())).encode()
    return hashlib.sha1(data).hexdigest()[:20]


def library_of(message: Mapping[str, Any], batch_context: Mapping[str, Any] | None = None) -> str:
    """``name version`` from the message's ``context.library`` (else the batch's); ``?`` when neither says."""
    for context in (message.get(CONTEXT), batch_context):
        library = context.get("library") if isinstance(context, dict) else None
        if isinstance(library, dict) and isinstance(library.get("name"), str):
            version = library.get("version")
            return f"{library['name']} {version}" if isinstance(version, str | int | float) else library["name"]
    return "?"


def sent(
    message: Mapping[str, Any],
    write_key: str | None,
    *,
    batch_context: Mapping[str, Any] | None = None,
    sequence: tuple[str, ...] = (),
) -> Sent:
    """One message as the check sees it; ``sequence`` is the path of the client's own counter, if it has one."""
    message_id = message.get(MESSAGE_ID)
    key = message.get(WRITE_KEY) if isinstance(message.get(WRITE_KEY), str) else write_key
    number: float | None = None
    if sequence:
        found = [v for v in values_at(message, sequence) if isinstance(v, int | float) and not isinstance(v, bool)]
        number = float(found[0]) if found else None
    return Sent(
        message_id if isinstance(message_id, str) and message_id else None,
        fingerprint(message),
        key,
        library_of(message, batch_context),
        number,
    )


def refused_messages(
    body: bytes | None, content_encoding: str | None, write_key: str | None, sequence: tuple[str, ...] = ()
) -> tuple[Sent, ...]:
    """The messages in a refused request's kept body (a batch or one message); none when unreadable."""
    if not body:
        return ()
    try:
        document, _ = decode_json_lenient(inflate(body, content_encoding, KEPT_BODY_LIMIT))
    except RequestError:
        return ()
    if not isinstance(document, dict):
        return ()
    key = write_key or (document.get(WRITE_KEY) if isinstance(document.get(WRITE_KEY), str) else None)
    if isinstance(document.get(BATCH), list):
        context = document.get(CONTEXT) if isinstance(document.get(CONTEXT), dict) else None
        return tuple(
            sent(item, key, batch_context=context, sequence=sequence)
            for item in document[BATCH]
            if isinstance(item, dict)
        )
    return (sent(document, key, sequence=sequence),)


def refused_pixel(query_string: str, write_key: str | None, sequence: tuple[str, ...] = ()) -> tuple[Sent, ...]:
    """The message a refused pixel GET carried in its query string; none when unreadable."""
    try:
        message = pixel_message(parse_qsl(query_string, keep_blank_values=True))
    except RequestError:
        return ()
    return (sent(message, write_key, sequence=sequence),)


def retry_after_of(fault: str | None) -> float | None:
    """The ``Retry-After`` a faulted answer carried, read back from its rule."""
    if fault is None:
        return None
    try:
        return parse_rule(fault).retry_after
    except RuleError:
        return None


def backoff_shape(batches: Sequence[Sequence[float]]) -> str:
    """``grew``, ``flat``, ``shrank`` or ``mixed`` over every retried batch's gaps; ``none`` without retries."""
    shapes = set()
    for gaps in batches:
        if len(gaps) < 2:
            continue
        pairs = list(zip(gaps, gaps[1:], strict=False))
        if all(b >= a * 1.2 for a, b in pairs):
            shapes.add("grew")
        elif all(abs(b - a) <= max(0.05, 0.2 * a) for a, b in pairs):
            shapes.add("flat")
        elif all(b < a for a, b in pairs):
            shapes.add("shrank")
        else:
            shapes.add("mixed")
    if not shapes:
        return "single retries" if any(batches) else "none"
    return shapes.pop() if len(shapes) == 1 else "mixed"


def judge(attempts: Iterable[Attempt]) -> list[ClientReport]:
    """Every client's report, in order of the client's first attempt."""
    ordered = sorted(attempts, key=lambda a: (a.at, a.request_id))
    reports: dict[tuple[str | None, str], ClientReport] = {}
    # Per client: identity -> the attempts (index into `ordered`) that carried it, and whether each was accepted.
    seen: dict[tuple[str | None, str], dict[str, list[tuple[int, bool]]]] = defaultdict(dict)
    contents: dict[tuple[str | None, str], dict[str, str]] = defaultdict(dict)
    numbers: dict[tuple[str | None, str], dict[str, float]] = defaultdict(dict)
    for index, attempt in enumerate(ordered):
        clients = set()
        for message in attempt.messages:
            client = (message.write_key, message.library)
            report = reports.setdefault(client, ClientReport(message.write_key, message.library))
            if client not in clients:
                clients.add(client)
                report.attempts += 1
                report.refused += not attempt.accepted
            identity = message.message_id or f"content:{message.fingerprint}"
            seen[client].setdefault(identity, []).append((index, attempt.accepted))
            contents[client][identity] = message.fingerprint
            if message.sequence is not None:
                numbers[client][identity] = message.sequence
    for client, report in reports.items():
        copies = seen[client]
        # One event per content: a retry that changed the messageId is still the same event.
        groups: dict[str, list[str]] = defaultdict(list)
        for identity in copies:
            groups[contents[client][identity]].append(identity)
        report.messages = len(groups)
        for ids in groups.values():
            arrivals = sum(accepted for identity in ids for _, accepted in copies[identity])
            if len(ids) > 1:
                report.new_message_id.append(RenamedRetry(sorted(ids), arrivals))
            if arrivals == 1:
                report.exactly_once += 1
            elif arrivals > 1:
                report.more_than_once.append(" = ".join(sorted(ids)))
            else:
                report.never.extend(sorted(ids))
        arrived_numbers = sorted({n for i, n in numbers[client].items() if any(accepted for _, accepted in copies[i])})
        if len(arrived_numbers) > 1 and all(n == int(n) for n in arrived_numbers):
            present = set(arrived_numbers)
            never_numbers = {numbers[client][i] for i in report.never if i in numbers[client]}
            report.sequence_gaps = [
                float(n)
                for n in range(int(arrived_numbers[0]), int(arrived_numbers[-1]))
                if n not in present and n not in never_numbers
            ]
        report.retry_after = _retries(ordered, copies)
        report.backoff = _backoff(ordered, copies)
    return list(reports.values())


def _retries(ordered: Sequence[Attempt], copies: Mapping[str, list[tuple[int, bool]]]) -> list[Retry]:
    """Each refused attempt that asked for a wait, and the gap to the client's next attempt of the same messages."""
    out: list[Retry] = []
    asked_at = sorted({index for carried in copies.values() for index, accepted in carried if not accepted})
    for index in asked_at:
        attempt = ordered[index]
        asked = retry_after_of(attempt.fault)
        if asked is None:
            continue
        later = [
            later_index
            for carried in copies.values()
            if any(i == index for i, _ in carried)
            for later_index, _ in carried
            if later_index > index
        ]
        if not later:
            out.append(Retry(attempt.request_id, asked, None, False))
            continue
        waited = (ordered[min(later)].at - attempt.at).total_seconds()
        out.append(Retry(attempt.request_id, asked, round(waited, 3), waited >= asked - RETRY_AFTER_SLACK))
    return out


def _backoff(ordered: Sequence[Attempt], copies: Mapping[str, list[tuple[int, bool]]]) -> list[list[float]]:
    """The gaps (seconds) between consecutive attempts of each retried batch: messages sent together, again."""
    batches = {tuple(index for index, _ in carried) for carried in copies.values() if len(carried) > 1}
    return [
        [round((ordered[b].at - ordered[a].at).total_seconds(), 3) for a, b in zip(batch, batch[1:], strict=False)]
        for batch in sorted(batches)
    ]


def _listed(items: Sequence[Any]) -> str:
    shown = ", ".join(str(i) for i in items[:SHOWN])
    return shown + (f", … {len(items) - SHOWN:,} more" if len(items) > SHOWN else "")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def text_report(reports: Sequence[ClientReport]) -> list[str]:
    """The report for people: one block per client, a verdict line last."""
    if not reports:
        return ["No delivery attempts in this capture: nothing was sent to a route that carries events."]
    lines: list[str] = []
    for r in reports:
        mark = "✓" if not r.failed else "✗"
        lines.append(f"{mark} {r.write_key or '(no write key)'} · {r.library}")
        lines.append(
            f"    {r.attempts:,} attempts ({r.refused:,} refused on purpose) carrying {_plural(r.messages, 'event')}"
        )
        lines.append(f"    arrived exactly once: {r.exactly_once:,}")
        if r.more_than_once:
            lines.append(f"    arrived more than once: {len(r.more_than_once):,}: {_listed(r.more_than_once)}")
        if r.new_message_id:
            groups = [" → ".join(x.ids) for x in r.new_message_id]
            lines.append(f"    retried with a new messageId (same content): {len(groups):,}: {_listed(groups)}")
        if r.never:
            lines.append(f"    never arrived (refused, never sent again): {len(r.never):,}: {_listed(r.never)}")
        if r.sequence_gaps:
            gaps = [f"{g:g}" for g in r.sequence_gaps]
            lines.append(f"    never arrived (missing from the client's sequence): {len(gaps):,}: {_listed(gaps)}")
        if r.retry_after:
            kept = sum(x.honoured for x in r.retry_after)
            waits = [
                f"asked {x.asked:g}s, waited {'never retried' if x.waited is None else f'{x.waited:g}s'}"
                for x in r.retry_after
            ]
            lines.append(f"    Retry-After honoured: {kept:,} of {len(r.retry_after):,} ({_listed(waits)})")
        if r.backoff:
            longest = max(r.backoff, key=len)
            steps = " → ".join(f"{g:g}s" for g in longest)
            lines.append(
                f"    backoff: {len(r.backoff):,} retried batches, {backoff_shape(r.backoff)}; longest: {steps or '-'}"
            )
    failed = [r for r in reports if r.failed]
    lines.append(
        f"{len(failed):,} of {_plural(len(reports), 'client')} lost or repeated events."
        if failed
        else f"Every client delivered every event exactly once ({_plural(len(reports), 'client')})."
    )
    return lines
