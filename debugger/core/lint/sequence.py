"""Lint across events: what no single message shows (docs/tracking-plans.md, "Across events").

Pure: :class:`SequenceLint` is fed stored ``events`` rows in arrival (id) order and returns, for
each, the findings that the rows before it reveal; it keeps a bounded memory per request,
identity and event name. `segdbg check` runs it after the per-event :class:`~debugger.core.lint.linter.Linter`;
the per-event views (the TUI's Problems tab, `segdbg events`, the API) do not, since a row
alone cannot say (a rule needs the rows before it).

Rules (category ``strict``, severity ``warning``: Segment accepts all of these, and reports are wrong):

- ``timestamps_out_of_order`` — in one request (a batch), a message whose ``timestamp`` is earlier
  than the message before it: the client's queue reordered, or its clock stepped back.
- ``double_fire`` — the same track/page/screen with the same properties from the same identity
  within ``double_fire_ms`` (1000 ms by default) of the previous one, with another messageId: a
  handler bound twice, a double click, a re-render; every destination counts both.
- ``traits_changed_mid_session`` — an identify that changes a trait naming the person (``email``,
  ``phone``, ``username``, ``name``) that an identify earlier in the same session set, with tracks
  in between: the events either side are two people under one id (a shared device without
  ``reset()``, a stale id). Other traits (``plan``) may change. A session ends after
  ``session_gap_ms`` (30 min) without events.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.finding import STRICT, Finding, join, short
from debugger.core.protocol import REJECTED, WARNING
from debugger.core.timefmt import parse_timestamp

#: The three rules, for `check --ignore` and the docs.
CODES = ("timestamps_out_of_order", "double_fire", "traits_changed_mid_session")
DOUBLE_FIRE_MS = 1000
SESSION_GAP_MS = 30 * 60 * 1000
#: Changed traits reported per identify (the rest are counted in the message).
SHOWN_TRAITS = 3
#: The traits that say who someone is: a change mid-session means another person (docs/tracking-plans.md).
PERSON_TRAITS = frozenset({"email", "phone", "username", "name"})


@dataclass(slots=True)
class Seen:
    """Where a row was seen: its id, its time in ms and the timestamp as written (the cross-event rules' memory)."""

    id: int
    at_ms: int
    timestamp: str

    @classmethod
    def of(cls, row: Mapping[str, Any], stored: Mapping[str, Any]) -> Seen | None:
        """Where a stored row was seen, by its message time (``None``: it has no readable time)."""
        moment = parse_timestamp(row.get("timestamp") or stored.get("timestamp"))
        if moment is None:
            return None
        return cls(int(row.get("id") or 0), int(moment.timestamp() * 1000), str(row.get("timestamp") or ""))


@dataclass(slots=True)
class _Session:
    last_ms: int
    traits: dict[str, Any] = field(default_factory=dict)
    identify: Seen | None = None
    track: tuple[Seen, str] | None = None  # the newest track/page/screen since that identify, and its label


@dataclass(slots=True)
class SequenceLint:
    """The cross-event rules, fed rows in id order (see the module docs).

    Args:
        ignore: rule codes or categories to leave out (as ``LintConfig.ignore``).
        double_fire_ms: how close the same call must follow to count as fired twice.
        session_gap_ms: the quiet time that ends a session.
    """

    ignore: Collection[str] = ()
    double_fire_ms: int = DOUBLE_FIRE_MS
    session_gap_ms: int = SESSION_GAP_MS
    _request: tuple[Any, Seen] | None = None
    _calls: dict[tuple[str, str, str], tuple[Seen, str]] = field(default_factory=dict)
    _sessions: dict[str, _Session] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.double_fire_ms < 0 or self.session_gap_ms <= 0:
            raise ValueError("double_fire_ms must be ≥ 0 and session_gap_ms > 0")
        if STRICT in self.ignore:
            self.ignore = {*self.ignore, *CODES}

    def event(self, row: Mapping[str, Any]) -> list[Finding]:
        """The findings for ``row`` given the rows fed before it; then remember it."""
        stored = row.get("stored")
        if row.get("status") == REJECTED or not isinstance(stored, dict):
            return []
        seen = Seen.of(row, stored)
        if seen is None:
            return []
        found: list[Finding] = []
        self._order(row, seen, found)
        identity = _identity(stored)
        if identity is not None:
            kind = stored.get("type")
            if kind in ("track", "page", "screen") and row.get("status") != "duplicate":
                self._double(identity, kind, stored, seen, found)
            self._session(identity, kind, stored, seen, found)
        return [f for f in found if f.code not in self.ignore]

    def _order(self, row: Mapping[str, Any], seen: Seen, found: list[Finding]) -> None:
        request = row.get("request_id")
        previous = self._request
        self._request = (request, seen) if request is not None else None
        if request is None or previous is None or previous[0] != request or seen.at_ms >= previous[1].at_ms:
            return
        before = previous[1]
        found.append(
            Finding(
                "timestamps_out_of_order",
                "timestamp",
                f"`timestamp` {seen.timestamp} is {_gap(before.at_ms - seen.at_ms)} earlier than the message before it "
                f"in the same request (#{before.id} at {before.timestamp}): the batch goes back in time (a queue "
                "that reorders, or a clock that stepped back), so funnels and sessions come out in the wrong order.",
                WARNING,
                STRICT,
                f"≥ {before.timestamp}",
                seen.timestamp,
            )
        )

    def _double(self, identity: str, kind: str, stored: Mapping[str, Any], seen: Seen, found: list[Finding]) -> None:
        name = stored.get("event") if kind == "track" else stored.get("name")
        key = (identity, kind, name if isinstance(name, str) else "")
        props = stored.get("properties")
        digest = json.dumps(props if isinstance(props, dict) else {}, sort_keys=True, default=str)
        previous = self._calls.get(key)
        self._calls[key] = (seen, digest)
        if previous is None or previous[1] != digest:
            return
        before = previous[0]
        gap = abs(seen.at_ms - before.at_ms)
        if gap > self.double_fire_ms:
            return
        label = f"{kind} {short(name)}" if isinstance(name, str) and name else kind
        found.append(
            Finding(
                "double_fire",
                "event" if kind == "track" else ("name" if name else ""),
                f"The same {label} with the same properties from {short(identity)} {_gap(gap)} after #{before.id}: "
                "fired twice (a handler bound twice, a double click, a re-render); with another messageId, every "
                "destination counts both.",
                WARNING,
                STRICT,
                f"one call within {self.double_fire_ms} ms",
                f"2 calls {_gap(gap)} apart",
            )
        )

    def _session(
        self, identity: str, kind: object, stored: Mapping[str, Any], seen: Seen, found: list[Finding]
    ) -> None:
        session = self._sessions.get(identity)
        if session is None or abs(seen.at_ms - session.last_ms) > self.session_gap_ms:
            session = self._sessions[identity] = _Session(seen.at_ms)
        session.last_ms = max(session.last_ms, seen.at_ms)
        if kind in ("track", "page", "screen"):
            if session.identify is not None:
                name = stored.get("event") if kind == "track" else stored.get("name")
                session.track = (seen, f"{kind} {short(name)}" if isinstance(name, str) else str(kind))
            return
        traits = stored.get("traits")
        if kind != "identify" or not isinstance(traits, dict):
            return
        if session.identify is not None and session.track is not None:
            changed = [
                (k, session.traits[k], v)
                for k, v in traits.items()
                if k in PERSON_TRAITS and k in session.traits and _differs(session.traits[k], v)
            ]
            track, label = session.track
            for key, old, new in changed[:SHOWN_TRAITS]:
                more = f" (and {len(changed) - SHOWN_TRAITS} more traits)" if len(changed) > SHOWN_TRAITS else ""
                found.append(
                    Finding(
                        "traits_changed_mid_session",
                        join("traits", key),
                        f"`traits.{key}` changed from {short(old)} (identify #{session.identify.id} at "
                        f"{session.identify.timestamp}) to {short(new)} in the same session, after {label} "
                        f"(#{track.id} at {track.timestamp}) by {short(identity)}{more}: the events either side "
                        "are two people under one id; call reset() when the user changes (sign-out).",
                        WARNING,
                        STRICT,
                        short(old),
                        short(new),
                    )
                )
        session.traits.update(traits)
        session.identify, session.track = seen, None


def _differs(old: object, new: object) -> bool:
    """Whether a person trait really changed: ``Ann@Acme.com`` and ``ann@acme.com`` are one person; null is no value."""
    if old is None or new is None:
        return False
    if isinstance(old, str) and isinstance(new, str):
        return old.strip().casefold() != new.strip().casefold()
    return old != new


def _identity(stored: Mapping[str, Any]) -> str | None:
    for key in ("userId", "anonymousId"):
        value = stored.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _gap(ms: int) -> str:
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.0f} s"
