"""The one event schema, and the pure validation and enrichment of Segment messages.

Everything about a *message* lives here (docs/protocol.md §4): the six types and their fields, the
limits, the problem codes, and what the server adds on receipt. Everything about the *request*
that carried it (routes, auth, compression, CORS, responses) lives in :mod:`debugger.core.http.wire`
(with :mod:`debugger.core.http.headers` and :mod:`debugger.core.http.bodies`).
No I/O, no clock, no globals: the receive time and the id generator are passed in.

Message kinds and their fields (docs/protocol.md §4.1):

- ``identify``: ``userId``/``anonymousId``, ``traits``
- ``track``: ids, ``event`` (required string), ``properties``
- ``page`` / ``screen``: ids, ``name``, ``category``, ``properties``
- ``group``: ids, ``groupId`` (required), ``traits``
- ``alias``: ``userId`` and ``previousId`` (both required)

Common to all: ``messageId``, ``timestamp``, ``sentAt``, ``context``, ``integrations``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from debugger.core.timefmt import corrected_timestamp, format_timestamp, parse_timestamp

TYPES: tuple[str, ...] = ("identify", "track", "page", "screen", "group", "alias")

#: Field names, in one place (docs/architecture.md §5).
TYPE, USER_ID, ANONYMOUS_ID, MESSAGE_ID = "type", "userId", "anonymousId", "messageId"
EVENT, NAME, GROUP_ID, PREVIOUS_ID = "event", "name", "groupId", "previousId"
TIMESTAMP, ORIGINAL_TIMESTAMP, SENT_AT, RECEIVED_AT = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
CONTEXT, INTEGRATIONS, PROPERTIES, TRAITS, WRITE_KEY = ("context", "integrations", "properties", "traits", "writeKey")
BATCH = "batch"

#: Limits from docs/protocol.md §3.1, measured on decompressed bytes.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
MAX_MESSAGE_ID_LENGTH = 100
DUPLICATE_WINDOW = timedelta(hours=24)

OK, INVALID, DUPLICATE = "ok", "invalid", "duplicate"
#: A request refused as a whole (docs/protocol.md §3.4): its one ``events`` row stands for what arrived.
REJECTED = "rejected"
STATUSES: tuple[str, ...] = (OK, INVALID, DUPLICATE, REJECTED)
ERROR, WARNING = "error", "warning"

_OBJECT_FIELDS = (CONTEXT, INTEGRATIONS, PROPERTIES, TRAITS)
_TYPE_SET = frozenset(TYPES)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a request or a message.

    Attributes:
        code: stable machine-readable code, e.g. ``no_user_anon_id``.
        path: JSON path of the offending value inside the message (``""`` for the whole).
        message: one readable sentence for people.
        severity: ``error`` when Segment would drop the message, ``warning`` when it
            would accept it but something is off.
    """

    code: str
    path: str
    message: str
    severity: str = ERROR

    def to_dict(self) -> dict[str, str]:
        """The JSON form stored in ``events.problems``."""
        return {"code": self.code, "path": self.path, "message": self.message, "severity": self.severity}


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a request contributes to each of its messages (docs/protocol.md §4.2).

    Per-request values (the receive time as text, the envelope ``sentAt``) are computed once
    here, and timestamp strings repeated across a batch are parsed once: this is the hot path.

    Attributes:
        write_key: the request-level key (Basic username, else envelope ``writeKey``).
        received_at: the server's receive time (stored with millisecond precision).
        sent_at: the envelope ``sentAt`` value as sent, if any.
        context: envelope ``context`` merged under each item's own.
        integrations: envelope ``integrations`` merged under each item's own.
        ip: the sender's address, used for ``context.ip`` when the message has none.
        path_type: the type implied by a single-message route (``/v1/t`` → ``track``).
    """

    write_key: str | None
    received_at: datetime
    sent_at: object = None
    context: Mapping[str, Any] | None = None
    integrations: Mapping[str, Any] | None = None
    ip: str | None = None
    path_type: str | None = None
    received_text: str = field(init=False)
    received_ms: datetime = field(init=False)
    _times: dict[str, tuple[datetime | None, str | None]] = field(init=False, repr=False, compare=False)
    _corrected: dict[tuple[str, datetime], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        received = self.received_at
        received_ms = received.replace(microsecond=received.microsecond // 1000 * 1000)
        object.__setattr__(self, "received_ms", received_ms)
        object.__setattr__(self, "received_text", format_timestamp(received_ms))
        object.__setattr__(self, "_times", {})
        object.__setattr__(self, "_corrected", {})

    def corrected(self, original: datetime, original_text: str, sent_at: datetime) -> str:
        """The skew-corrected timestamp as text; batches repeat the same pairs, so it is cached."""
        key = (original_text, sent_at)
        text = self._corrected.get(key)
        if text is None:
            text = self._corrected[key] = format_timestamp(corrected_timestamp(self.received_ms, sent_at, original))
        return text

    def time(self, value: object) -> tuple[datetime | None, str | None]:
        """Parse a client time once per request: ``(instant, formatted)`` or ``(None, None)``."""
        if type(value) is not str:
            parsed = parse_timestamp(value)
            return parsed, format_timestamp(parsed) if parsed is not None else None
        cached = self._times.get(value)
        if cached is None:
            parsed = parse_timestamp(value)
            cached = self._times[value] = (parsed, format_timestamp(parsed) if parsed is not None else None)
        return cached


class Event(NamedTuple):
    """One message: as received (``raw``) and as Segment would store it (``stored``).

    The scalar attributes are the columns the list and the filters use; ``stored`` is the
    enriched message of docs/protocol.md §4.3. ``status`` is ``ok`` or ``invalid`` here; the
    store may mark an ``ok`` event ``duplicate`` when it has seen its messageId.

    A NamedTuple rather than a frozen dataclass: one is built per message on the ingest hot
    path, and a frozen dataclass sets each of its fields through ``object.__setattr__``.
    """

    raw: bytes
    stored: dict[str, Any]
    type: str | None
    name: str | None
    user_id: str | None
    anonymous_id: str | None
    message_id: str | None
    write_key: str | None
    timestamp: str | None
    received_at: str
    library_name: str | None
    library_version: str | None
    status: str
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems that make Segment drop the message."""
        return tuple(p for p in self.problems if p.severity == ERROR)


def json_object(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a field that should hold an object, but doesn't)."""
    return value if isinstance(value, dict) else {}


def build_event(
    item: object,
    envelope: Envelope,
    *,
    new_id: Callable[[], str],
    extra_problems: tuple[Problem, ...] = (),
    raw: bytes | None = None,
) -> Event:
    """Validate one message and enrich it as Segment would on receipt.

    Args:
        item: the decoded JSON of one message (anything: it is validated here).
        envelope: what the request contributes (key, sentAt, context, receive time, ip).
        new_id: generates a messageId when the message has none.
        extra_problems: request-level problems to attach (e.g. an oversized batch).
        raw: the serialized message, when the caller already has it.

    Returns:
        The event, never raising on bad input.
    """
    raw_bytes = raw if raw is not None else orjson.dumps(item)
    if type(item) is not dict:
        problem = Problem("invalid_message", "", f"A message must be a JSON object, not {_json_kind(item)}.")
        return Event(
            raw=raw_bytes,
            stored={},
            type=envelope.path_type,
            name=None,
            user_id=None,
            anonymous_id=None,
            message_id=None,
            write_key=envelope.write_key,
            timestamp=None,
            received_at=envelope.received_text,
            library_name=None,
            library_version=None,
            status=INVALID,
            problems=(problem, *extra_problems),
        )

    problems: list[Problem] = list(extra_problems)
    stored = item.copy()
    get = item.get
    kind = _resolve_type(item, envelope.path_type, problems)
    if kind is not None:
        stored[TYPE] = kind

    for key in _OBJECT_FIELDS:
        value = get(key)
        if value is not None and type(value) is not dict:
            problems.append(Problem(f"invalid_{key}", key, f"`{key}` must be an object, not {_json_kind(value)}."))
    for key, envelope_value in ((CONTEXT, envelope.context), (INTEGRATIONS, envelope.integrations)):
        if envelope_value:
            own = get(key)
            if own is None or type(own) is dict:
                stored[key] = {**envelope_value, **(own or {})}

    user_id = get(USER_ID)
    if type(user_id) is not str or user_id == "":
        user_id = _identifier(stored, USER_ID, problems)
    anonymous_id = get(ANONYMOUS_ID)
    if type(anonymous_id) is not str or anonymous_id == "":
        anonymous_id = _identifier(stored, ANONYMOUS_ID, problems)
    _check_required(kind, stored, user_id, anonymous_id, problems)

    message_id = get(MESSAGE_ID)
    if type(message_id) is not str or not message_id.strip() or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        message_id = _message_id(stored, new_id, problems)
    write_key = envelope.write_key
    if write_key is None:
        write_key = _item_write_key(item)
        if write_key is None:
            problems.append(
                Problem(
                    "no_write_key",
                    WRITE_KEY,
                    "No write key: not in the Authorization header, the envelope, or the message.",
                )
            )
    stored.pop(WRITE_KEY, None)

    timestamp = _enrich_times(stored, item, envelope, problems)
    stored[RECEIVED_AT] = envelope.received_text
    context = stored.get(CONTEXT)
    if type(context) is dict:
        if envelope.ip and "ip" not in context:
            context = stored[CONTEXT] = {**context, "ip": envelope.ip}
        library = context.get("library")
        library_name, library_version = _library(library) if type(library) is dict else (None, None)
    else:
        if context is None and envelope.ip:
            stored[CONTEXT] = {"ip": envelope.ip}
        library_name = library_version = None

    status = OK
    for problem in problems:
        if problem.severity == ERROR:
            status = INVALID
            break
    return Event(
        raw=raw_bytes,
        stored=stored,
        type=kind,
        name=_display_name(kind, stored),
        user_id=user_id,
        anonymous_id=anonymous_id,
        message_id=message_id,
        write_key=write_key,
        timestamp=timestamp,
        received_at=envelope.received_text,
        library_name=library_name,
        library_version=library_version,
        status=status,
        problems=tuple(problems),
    )


def _resolve_type(item: Mapping[str, Any], path_type: str | None, problems: list[Problem]) -> str | None:
    given = item.get(TYPE)
    if path_type is not None:
        if given is not None and given != path_type:
            problems.append(
                Problem(
                    "type_overridden",
                    TYPE,
                    f"The message says type {_short(given)} but was sent to the {path_type} route; "
                    f"stored as {path_type}, as Segment does.",
                    WARNING,
                )
            )
        return path_type
    if type(given) is str and given in _TYPE_SET:
        return given
    if given is None or given == "":
        problems.append(Problem("missing_type", TYPE, "A batch item needs a `type`."))
        return None
    problems.append(Problem("invalid_type", TYPE, f"Unknown type {_short(given)}; expected one of {', '.join(TYPES)}."))
    return given if isinstance(given, str) else None


def _identifier(stored: dict[str, Any], key: str, problems: list[Problem]) -> str | None:
    """Read an id the way the client libraries do: null/empty is absent, numbers become strings."""
    value = stored.get(key)
    if value is None or value == "":
        stored.pop(key, None)
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        stored[key] = text
        return text
    problems.append(Problem(f"invalid_{key}", key, f"`{key}` must be a string or a number, not {_json_kind(value)}."))
    stored.pop(key, None)
    return None


def _check_required(
    kind: str | None, stored: dict[str, Any], user_id: str | None, anonymous_id: str | None, problems: list[Problem]
) -> None:
    if user_id is None and anonymous_id is None and kind != "alias":
        problems.append(
            Problem(
                "no_user_anon_id", USER_ID, "Neither `userId` nor `anonymousId` is set; Segment drops this message."
            )
        )
    if kind == "track":
        event = stored.get(EVENT)
        if event is None or event == "":
            problems.append(Problem("missing_event", EVENT, "A track call needs an `event` name."))
        elif not isinstance(event, str):
            problems.append(Problem("invalid_event", EVENT, f"`event` must be a string, not {_json_kind(event)}."))
    elif kind == "group":
        group_id = stored.get(GROUP_ID)
        if isinstance(group_id, int | float) and not isinstance(group_id, bool):
            stored[GROUP_ID] = str(group_id)
        elif not isinstance(group_id, str) or group_id == "":
            problems.append(Problem("missing_group_id", GROUP_ID, "A group call needs a `groupId`."))
    elif kind == "alias":
        if user_id is None:
            problems.append(Problem("missing_user_id", USER_ID, "An alias call needs the new `userId`."))
        previous = stored.get(PREVIOUS_ID)
        if isinstance(previous, int | float) and not isinstance(previous, bool):
            stored[PREVIOUS_ID] = str(previous)
        elif not isinstance(previous, str) or previous == "":
            problems.append(Problem("missing_previous_id", PREVIOUS_ID, "An alias call needs a `previousId`."))


def _message_id(stored: dict[str, Any], new_id: Callable[[], str], problems: list[Problem]) -> str:
    value = stored.get(MESSAGE_ID)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = stored[MESSAGE_ID] = str(value)
    if not isinstance(value, str) or value.strip() == "":
        if value not in (None, ""):
            problems.append(
                Problem(
                    "invalid_message_id",
                    MESSAGE_ID,
                    "`messageId` is blank; a new one was assigned."
                    if isinstance(value, str)
                    else f"`messageId` must be a string, not {_json_kind(value)}; a new one was assigned.",
                    WARNING,
                )
            )
        value = stored[MESSAGE_ID] = new_id()
        return value
    if len(value) > MAX_MESSAGE_ID_LENGTH:
        problems.append(
            Problem(
                "message_id_too_long",
                MESSAGE_ID,
                f"`messageId` is {len(value)} characters; Segment allows {MAX_MESSAGE_ID_LENGTH}.",
                WARNING,
            )
        )
    return value


def _enrich_times(stored: dict[str, Any], item: Mapping[str, Any], envelope: Envelope, problems: list[Problem]) -> str:
    """Apply docs/protocol.md §4.3: originalTimestamp, sentAt and the skew-corrected timestamp.

    receivedAt is stored with millisecond precision and the correction starts from that
    value, so anyone can re-derive ``timestamp`` from the stored fields exactly.
    """
    sent_value = item.get(SENT_AT)
    if sent_value is None and envelope.sent_at is not None:
        sent_value = stored[SENT_AT] = envelope.sent_at
    sent_at: datetime | None = None
    if sent_value is not None:
        sent_at, _ = envelope.time(sent_value)
        if sent_at is None:
            problems.append(_bad_time(SENT_AT, sent_value))
    field_name = TIMESTAMP
    value = item.get(TIMESTAMP)
    if value is None:
        field_name, value = ORIGINAL_TIMESTAMP, item.get(ORIGINAL_TIMESTAMP)
    timestamp = envelope.received_text
    if value is not None:
        original, original_text = envelope.time(value)
        if original is None or original_text is None:
            problems.append(_bad_time(field_name, value))
        else:
            stored[ORIGINAL_TIMESTAMP] = original_text
            if sent_at is None:
                timestamp = original_text
            else:
                timestamp = envelope.corrected(original, original_text, sent_at)
    stored[TIMESTAMP] = timestamp
    return timestamp


def _bad_time(key: str, value: object) -> Problem:
    return Problem(
        "invalid_timestamp", key, f"`{key}` {_short(value)} is not an ISO-8601 time; it was ignored.", WARNING
    )


def _item_write_key(item: Mapping[str, Any]) -> str | None:
    value = item.get(WRITE_KEY)
    return value if isinstance(value, str) and value else None


def _library(library: Mapping[str, Any]) -> tuple[str | None, str | None]:
    name, version = library.get("name"), library.get("version")
    return (name if isinstance(name, str) else None, str(version) if isinstance(version, str | int | float) else None)


def _display_name(kind: str | None, stored: Mapping[str, Any]) -> str | None:
    """The list label column: ``event`` for track, ``name`` for page/screen."""
    key = EVENT if kind == "track" else NAME if kind in ("page", "screen") else None
    if key is None:
        return None
    value = stored.get(key)
    return value if isinstance(value, str) else None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
