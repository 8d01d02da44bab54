"""One identity's timeline, as `segdbg user ID` shows it (docs/identities.md).

Pure: the store (:mod:`debugger.store.timeline`) follows the links between ids and reads the rows;
this module decides which ids a link reaches (:func:`follow`), merges traits as Segment would
(:func:`merge_traits`) and shapes the answer (:func:`build`, :meth:`Timeline.to_json`).

Links: a message with both a userId and an anonymousId joins them; an alias joins its
previousId to its userId. A placeholder id (``placeholder_id``: ``"guest"``, ``"null"``, ``"0"``, …)
is shown when asked for but never followed, since it would join everyone who sent it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.linter import placeholder
from debugger.core.pretty.render import event_kind, event_label
from debugger.core.protocol import GROUP_ID, PREVIOUS_ID, TRAITS, json_object

#: The most ids one timeline follows (a bound on the reads; the answer says when it stopped).
MAX_IDS = 100
#: identify/alias/group calls read for the merge (the newest; the answer says when there were more).
MAX_CALLS = 1000
#: Events shown by default (the newest; `--limit` changes it).
DEFAULT_LIMIT = 50
#: The calls that say who someone is.
IDENTITY_CALLS = ("identify", "alias", "group")


@dataclass(frozen=True, slots=True)
class Use:
    """How often a (userId, anonymousId, write key) combination occurs: one row of the store's grouped read."""

    user_id: str | None
    anonymous_id: str | None
    write_key: str | None
    events: int
    first_id: int
    last_id: int


@dataclass(frozen=True, slots=True)
class IdSummary:
    """One id of the identity: which role it had, in how many events, first and last event id."""

    id: str
    events: int
    first_id: int
    last_id: int

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {"id": self.id, "events": self.events, "first_event": self.first_id, "last_event": self.last_id}


@dataclass(slots=True)
class Timeline:
    """One identity across sources: its ids, identity calls, merged traits and newest events.

    Attributes:
        seed: the id asked for.
        user_ids / anonymous_ids: the ids linked to it, with counts (oldest first).
        links: (userId, anonymousId, write key, events) seen together.
        aliases: (previousId, userId, event id) of each alias, oldest first.
        calls: the identify/alias/group events read (oldest first); ``calls_total`` how many there are.
        traits: identify traits merged (later keys overwrite earlier ones); ``trait_source``: the event that set each.
        groups: groupId → group traits merged the same way.
        events: the newest ``limit`` events (oldest first); ``total``: all of them.
        sources: write key → events.
        incomplete: more ids were linked than :data:`MAX_IDS`; the rest were not followed.
        placeholder: the seed is a placeholder id: its links were not followed.
    """

    seed: str
    user_ids: list[IdSummary] = field(default_factory=list)
    anonymous_ids: list[IdSummary] = field(default_factory=list)
    links: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    aliases: list[tuple[str, str, int]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    calls_total: int = 0
    traits: dict[str, Any] = field(default_factory=dict)
    trait_source: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    incomplete: bool = False
    placeholder: bool = False

    @property
    def more(self) -> int:
        """Events of the identity not in :attr:`events` (older than the newest shown)."""
        return self.total - len(self.events)

    def to_json(self, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """`segdbg user --format json`: every part, events as compact summaries (``labels``: source labels)."""
        labels = labels or {}
        return {
            "seed": self.seed,
            "placeholder": self.placeholder,
            "incomplete": self.incomplete,
            "user_ids": [u.to_json() for u in self.user_ids],
            "anonymous_ids": [a.to_json() for a in self.anonymous_ids],
            "links": [
                {"user_id": u, "anonymous_id": a, "write_key": k, "source": labels.get(k or ""), "events": n}
                for u, a, k, n in self.links
            ],
            "aliases": [{"previous_id": p, "user_id": u, "event": i} for p, u, i in self.aliases],
            "sources": [{"write_key": k, "source": labels.get(k), "events": n} for k, n in self.sources.items()],
            "traits": self.traits,
            "trait_source": self.trait_source,
            "groups": self.groups,
            "calls": [summary(c) for c in self.calls],
            "calls_total": self.calls_total,
            "events": [summary(e) for e in self.events],
            "total": self.total,
            "shown": len(self.events),
            "more": self.more,
        }


def usable(value: object) -> bool:
    """Whether an id may link: a non-empty string that is not a placeholder."""
    return isinstance(value, str) and bool(value) and not placeholder(value)


def follow(uses: Iterable[Use], aliases: Iterable[tuple[str, str, int]], known: Iterable[str]) -> set[str]:
    """The ids that ``uses`` and ``aliases`` link to a known id and that are not known yet (placeholders never link)."""
    seen = set(known)
    found: set[str] = set()
    pairs = [(u.user_id, u.anonymous_id) for u in uses] + [(p, u) for p, u, _ in aliases]
    for a, b in pairs:
        if not (usable(a) and usable(b)):
            continue
        if a in seen and b not in seen:
            found.add(str(b))
        elif b in seen and a not in seen:
            found.add(str(a))
    return found


def merge_traits(
    calls: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, int], dict[str, dict[str, Any]]]:
    """Traits as Segment merges them: each identify's top-level ``traits`` keys overwrite the same keys set earlier
    (a nested object is replaced whole; a key sent as null becomes null); group traits the same way per groupId.

    Args:
        calls: identify/alias/group events (``type``, ``id``, ``stored``), in the order they arrived.

    Returns:
        The merged user traits, the event id that set each key last, and groupId → merged group traits.
    """
    traits: dict[str, Any] = {}
    source: dict[str, int] = {}
    groups: dict[str, dict[str, Any]] = {}
    for call in calls:
        stored = json_object(call.get("stored"))
        given = stored.get(TRAITS)
        given = given if isinstance(given, dict) else {}
        if call.get("type") == "identify":
            traits.update(given)
            source.update(dict.fromkeys(given, int(call.get("id") or 0)))
        elif call.get("type") == "group" and isinstance(stored.get(GROUP_ID), str):
            groups.setdefault(stored[GROUP_ID], {}).update(given)
    return traits, source, groups


def build(
    seed: str,
    uses: Sequence[Use],
    aliases: Sequence[tuple[str, str, int]],
    calls: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    *,
    calls_total: int,
    total: int,
    incomplete: bool,
) -> Timeline:
    """The timeline from what the store read: ``uses`` of every linked id, the ``aliases`` among them, the identity
    ``calls`` (oldest first) and the newest ``events`` (oldest first) of ``total``."""
    timeline = Timeline(seed, calls=list(calls), calls_total=calls_total, events=list(events), total=total)
    timeline.incomplete, timeline.placeholder = incomplete, not usable(seed)
    timeline.aliases = list(aliases)
    by_user: dict[str, list[Use]] = {}
    by_anonymous: dict[str, list[Use]] = {}
    for use in sorted(uses, key=lambda u: u.first_id):
        if use.user_id is not None:
            by_user.setdefault(use.user_id, []).append(use)
        if use.anonymous_id is not None:
            by_anonymous.setdefault(use.anonymous_id, []).append(use)
        if use.user_id is not None and use.anonymous_id is not None:
            timeline.links.append((use.user_id, use.anonymous_id, use.write_key, use.events))
        key = use.write_key or ""
        timeline.sources[key] = timeline.sources.get(key, 0) + use.events
    timeline.user_ids = [_summary(i, u) for i, u in by_user.items()]
    timeline.anonymous_ids = [_summary(i, u) for i, u in by_anonymous.items()]
    timeline.traits, timeline.trait_source, timeline.groups = merge_traits(calls)
    return timeline


def _summary(id_: str, uses: list[Use]) -> IdSummary:
    return IdSummary(id_, sum(u.events for u in uses), min(u.first_id for u in uses), max(u.last_id for u in uses))


def summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as the timeline lists it: id, timestamp, type, label, ids, source, status; traits on identity calls."""
    stored = json_object(event.get("stored"))
    out: dict[str, Any] = {
        "id": event.get("id"),
        "timestamp": event.get("timestamp"),
        "type": event_kind(event),
        "label": event_label(event),
        "user_id": event.get("user_id"),
        "anonymous_id": event.get("anonymous_id"),
        "write_key": event.get("write_key"),
        "status": event.get("status"),
    }
    if event.get("type") in IDENTITY_CALLS:
        if isinstance(stored.get(TRAITS), dict):
            out["traits"] = stored[TRAITS]
        for key in (GROUP_ID, PREVIOUS_ID):
            if key in stored:
                out[key] = stored[key]
    return out
