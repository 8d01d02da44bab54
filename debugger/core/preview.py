"""What `segdbg preview` applies to one stored event (docs/preview.md). Pure.

Three kinds of change, one shape: each takes an event (the store's row: ``stored``, ``raw``, ...)
and says what would come out (``None``: the event would not get through), which rules or reasons
made the difference, and whether the shape changed.

- :class:`Rules`: Transformations (:mod:`debugger.core.transform`).
- :class:`DestinationFilters`: what one destination of a routing file would receive
  (:mod:`debugger.core.routing`): blocked or dropped, or the fields its filters remove.
- :class:`ReplayRewrite`: what `segdbg replay` would send with its id and messageId rewrites
  (:mod:`debugger.core.replay.planning`), against what it sends without them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from debugger.core.query import fql
from debugger.core.replay.planning import ReplayOptions, outgoing_message
from debugger.core.routing import Destination, received
from debugger.core.transform import Transformation, apply, condition_of


class Outcome(NamedTuple):
    """One event through a change."""

    #: What comes out (the change's own copy), or ``None`` when the event would not get through.
    after: dict[str, Any] | None
    #: Why it differs: the rules that changed it, or the reasons it was stopped or trimmed. Empty: unchanged.
    reasons: list[str]
    #: Whether the shape changed (paths added, removed or of another JSON type; a stopped event counts).
    reshaped: bool
    #: What the change found to act on (the rules whose condition held), changed or not.
    matched: list[str]


@dataclass(frozen=True, slots=True)
class Rules:
    """Transformations, applied in order on a copy."""

    rules: Sequence[Transformation]
    #: Whether the change needs whole rows (the message as received too), not only the stored message.
    full_rows = False

    @property
    def condition(self) -> fql.Expr | None:
        """An FQL condition every event a rule may change satisfies (``None``: any event)."""
        return condition_of(self.rules)

    def before(self, event: Mapping[str, Any]) -> Any:
        """The message the change starts from."""
        return event["stored"]

    def __call__(self, event: Mapping[str, Any], message: dict[str, Any]) -> Outcome:
        after, applied, reshaped, matched = apply(self.rules, message, in_place=True)
        return Outcome(after, applied, reshaped, matched)

    def raw(self, event: Mapping[str, Any], outcome: Outcome) -> Any:
        """The message as received, with the same changes (written by ``-o``)."""
        raw = event["raw"]
        if outcome.reasons and isinstance(raw, dict):
            return apply(self.rules, raw, only=outcome.reasons, in_place=True).message
        return raw


@dataclass(frozen=True, slots=True)
class DestinationFilters:
    """What one destination would receive: the event, trimmed by its filters, or nothing."""

    destination: Destination
    condition = None
    full_rows = False

    def before(self, event: Mapping[str, Any]) -> Any:
        return event["stored"]

    def __call__(self, event: Mapping[str, Any], message: dict[str, Any]) -> Outcome:
        verdict, after = received(self.destination, message)
        if not verdict.delivered:
            reason = f"not received: {verdict.detail}"
            return Outcome(None, [reason], True, [reason])
        reasons = [f"{', '.join(r.fields)} removed by filter {r.filter!r}" for r in verdict.removed]
        return Outcome(after, reasons, bool(reasons), reasons)

    def raw(self, event: Mapping[str, Any], outcome: Outcome) -> Any:
        return outcome.after  # a fixture of what the destination receives


@dataclass(frozen=True, slots=True)
class ReplayRewrite:
    """What `segdbg replay` would send with ``options`` against what it sends without rewrites."""

    options: ReplayOptions
    new_id: Callable[[], str]
    condition = None
    full_rows = True

    def before(self, event: Mapping[str, Any]) -> Any:
        return outgoing_message(event, ReplayOptions(), self.new_id)[0]

    def __call__(self, event: Mapping[str, Any], message: dict[str, Any]) -> Outcome:
        after, _ = outgoing_message(event, self.options, self.new_id)
        if after is None:
            reason = "not sent: its message as received is not a JSON object"
            return Outcome(None, [reason], True, [reason])
        reasons = [name for name, changed in _rewrites(message, after) if changed]
        return Outcome(after, reasons, False, ["replayed"])

    def raw(self, event: Mapping[str, Any], outcome: Outcome) -> Any:
        return outcome.after


def _rewrites(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, bool]]:
    ids = any(before.get(k) != after.get(k) for k in ("userId", "anonymousId", "previousId"))
    return [("ids rewritten", ids), ("new messageId", before.get("messageId") != after.get("messageId"))]


Change = Rules | DestinationFilters | ReplayRewrite
