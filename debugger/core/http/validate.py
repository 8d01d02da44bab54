"""Validating answers (docs/protocol.md §14): the same request, stored as usual, answered with what is wrong.

A request asks for validation with ``?validate=1``, the header ``X-Segdbg-Validate: 1``, or by being sent
to the ``/debug`` mirror of an ingest route (``/debug/v1/batch``, ``/debug/v1/track``, …; GA4's
``/debug/mp/collect`` is the model). :func:`debug_request` says whether it asked (and strips the mirror's
prefix so :func:`debugger.core.http.wire.handle` routes it as usual); :func:`validated` adds
``validationMessages`` to the reply :func:`~debugger.core.http.wire.handle` made. The status stays the one
Segment would give (a refused request keeps its 4xx and its ``code``/``message``); only the body gains
the messages. A request that did not ask is answered byte for byte as before. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from debugger.core.http.headers import header
from debugger.core.http.model import IncomingRequest, Outcome
from debugger.core.lint.codes import consequence, remedy
from debugger.core.lint.finding import PROTOCOL
from debugger.core.lint.linter import Linter
from debugger.core.protocol import DUPLICATE, REJECTED, WARNING, Event

#: The mirror of every ingest route: ``/debug/v1/batch`` is ``/v1/batch``, answered with validation messages.
DEBUG_PREFIX = "/debug"
#: The query parameter and header that ask any ingest route for validation messages.
VALIDATE_PARAM, VALIDATE_HEADER = "validate", "x-segdbg-validate"
_YES = frozenset({"1", "true", "yes", "on"})


def debug_request(request: IncomingRequest) -> tuple[IncomingRequest, bool]:
    """The request to route (the ``/debug`` prefix taken off a mirrored path) and whether it asked to validate."""
    if request.path.startswith(DEBUG_PREFIX + "/v1/"):
        return replace(request, path=request.path[len(DEBUG_PREFIX) :]), True
    flag = header(request.headers, VALIDATE_HEADER)
    if flag is not None and flag.strip().lower() in _YES:
        return request, True
    return request, any(key == VALIDATE_PARAM and value.strip().lower() in _YES for key, value in request.query)


def validation_messages(events: Sequence[Event], linter: Linter, statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One message per problem and lint finding, in batch order.

    ``index`` is the message's position in the batch (0 for a single-message route); a request refused
    whole has one message with ``index`` null. ``statuses`` are the stored statuses (the store marks
    repeats of a messageId ``duplicate``), when known.
    """
    messages: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        library = event.library_name
        if event.status == REJECTED:
            for problem in event.problems:
                messages.append(_message(None, problem.path, problem.code, problem.severity, PROTOCOL, problem.message))
            continue
        row = {"problems": [p.to_dict() for p in event.problems], "stored": event.stored, "status": event.status}
        for finding in linter.event(row):
            messages.append(
                _message(
                    index, finding.path, finding.code, finding.severity, finding.category, finding.message, library
                )
            )
        if index < len(statuses) and statuses[index] == DUPLICATE:
            messages.append(
                _message(
                    index,
                    "messageId",
                    "duplicate_message_id",
                    WARNING,
                    PROTOCOL,
                    "Same messageId as an earlier event; Segment drops repeats within 24 h.",
                    library,
                )
            )
    return messages


def validated(outcome: Outcome, linter: Linter, statuses: Sequence[str] = ()) -> Outcome:
    """The outcome with ``validationMessages`` in its JSON reply (status unchanged).

    Replies with nothing to validate (settings, metrics, preflights, the home page) are left as they are;
    a pixel's GIF becomes ``{"success": true, "validationMessages": [...]}``, since a debugging caller
    wants to read it.
    """
    if not outcome.events:
        return outcome
    reply = outcome.reply
    try:
        body = orjson.loads(reply.body) if reply.content_type == "application/json" else {"success": True}
    except orjson.JSONDecodeError:
        return outcome
    if not isinstance(body, dict):
        return outcome
    body["validationMessages"] = validation_messages(outcome.events, linter, statuses)
    headers = tuple((k, v) for k, v in reply.headers if k.lower() != "cache-control")
    return replace(
        outcome, reply=replace(reply, body=orjson.dumps(body), content_type="application/json", headers=headers)
    )


def mirrored(outcome: Outcome) -> Outcome:
    """The outcome of a mirrored request with the path as sent (``/debug/v1/batch``) in its request record and
    in the refusal a rejected request stores (docs/protocol.md §3.4)."""
    if outcome.record is None:
        return outcome
    path = DEBUG_PREFIX + outcome.record.path
    events = tuple(
        e._replace(stored={REJECTED: {**e.stored[REJECTED], "path": path}})
        if e.status == REJECTED and isinstance(e.stored.get(REJECTED), dict)
        else e
        for e in outcome.events
    )
    return replace(outcome, record=replace(outcome.record, path=path), events=events)


def _message(
    index: int | None, path: str, code: str, severity: str, category: str, description: str, library: str | None = None
) -> dict[str, Any]:
    return {
        "index": index,
        "path": path,
        "code": code,
        "severity": severity,
        "consequence": consequence(code),
        "category": category,
        "description": description,
        "fix": remedy(code, library),
    }
