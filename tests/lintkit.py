"""Helpers for the lint tests: messages as the store keeps them, and finding lookups."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from debugger.core.lint.finding import Finding
from debugger.core.lint.linter import LintConfig, Linter
from debugger.core.protocol import Envelope, build_event

RECEIVED = datetime(2024, 5, 1, 12, 0, 2, 500000, tzinfo=UTC)


def stored(message: dict[str, Any], write_key: str = "wk") -> dict[str, Any]:
    """The ``stored`` form of a message, enriched by protocol exactly as at ingest."""
    base = {"userId": "user-1", "messageId": "m-1", "timestamp": "2024-05-01T12:00:00.000Z"}
    event = build_event({**base, **message}, Envelope(write_key=write_key, received_at=RECEIVED), new_id=lambda: "new")
    return event.stored


def track(event: str, properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A stored track call."""
    message: dict[str, Any] = {"type": "track", "event": event, **extra}
    if properties is not None:
        message["properties"] = properties
    return stored(message)


def lint(message: dict[str, Any], config: LintConfig | None = None) -> list[Finding]:
    """Lint one stored message with the default conventions (or ``config``)."""
    return Linter(config).lint(message)


def codes(findings: Iterable[Finding]) -> set[str]:
    """The rule codes among findings."""
    return {f.code for f in findings}


def at(findings: Iterable[Finding], code: str) -> list[Finding]:
    """The findings with this code."""
    return [f for f in findings if f.code == code]
