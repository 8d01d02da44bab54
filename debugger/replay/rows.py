"""How what a replay sent (or left out) becomes ``replay_requests`` and ``deliveries`` rows.

The rows :class:`debugger.store.runs.RunRecorder` writes: bodies, headers and the message as sent
are kept only for what was not delivered.
"""

from __future__ import annotations

from typing import Any

import orjson

from debugger.core.replay.planning import Skipped
from debugger.core.replay.report import DELIVERED
from debugger.replay.delivery import Sent


def request_row(sent: Sent) -> dict[str, Any]:
    """The ``replay_requests`` row of a sent request; bodies kept only when not delivered."""
    kept = sent.outcome != DELIVERED
    return {
        "seq": sent.request.seq,
        "method": sent.method,
        "url": sent.url,
        "headers": orjson.dumps(sent.headers).decode(),
        "body": sent.body if kept else None,
        "body_size": len(sent.body),
        "event_count": len(sent.request.items),
        "outcome": sent.outcome,
        "http_status": sent.http_status,
        "reason": sent.reason,
        "error": sent.error,
        "latency_ms": sent.latency_ms,
        "attempts": len(sent.attempts),
        "attempt_log": orjson.dumps(sent.attempts).decode(),
        "sent_at": sent.sent_at,
        "drift_ms": sent.drift_ms,
        "response_headers": orjson.dumps(sent.response_headers).decode() if kept else None,
        "response_body": sent.response_body if kept else None,
    }


def delivery_rows(sent: Sent) -> list[tuple[Any, ...]]:
    """One ``deliveries`` row per event of a request (:data:`debugger.store.runs.DELIVERY_FIELDS`);
    the message as sent is kept when not delivered."""
    kept = sent.outcome != DELIVERED
    outcome = (sent.outcome, sent.http_status, sent.reason, sent.error, sent.latency_ms, len(sent.attempts))
    return [
        (
            item.seq,
            item.event_id,
            item.type,
            item.name,
            item.message_id,
            item.sent_message_id,
            *outcome,
            item.message.decode() if kept else None,
        )
        for item in sent.request.items
    ]


def skipped_row(skipped: Skipped) -> tuple[Any, ...]:
    """The ``deliveries`` row of an event the plan left out."""
    item = skipped.item
    return (
        item.seq,
        item.event_id,
        item.type,
        item.name,
        item.message_id,
        item.sent_message_id,
        "not_sent",
        None,
        skipped.reason,
        skipped.message,
        None,
        0,
        item.message.decode("utf-8", "replace") or None,
    )
