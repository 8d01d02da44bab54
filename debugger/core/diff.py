"""Pure comparison behind `segdbg diff`: two captures by shape, or two replay runs by outcome.

**Captures.** Events are grouped by what they are (``track "Order Completed"``, ``page
"Pricing"``, ``identify``). For each group the diff reports events only on one side, count
changes, and — over every JSON path of the messages (``properties.price``,
``context.library.version``, ``properties.products[].sku``) — paths added, removed, or whose
JSON type changed (``string → number``). Values are not compared: two captures of the same
session differ in ids and clocks, which are noise (:data:`NOISE`, plus ``--ignore``).

**Runs.** Deliveries are matched by event (the same capture replayed twice) or else by the
original messageId, and reported when their outcome (status and HTTP status) changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.finding import json_type

#: Paths that differ between any two captures of the same events (issue: ids, clocks, ip).
NOISE: frozenset[str] = frozenset(
    {"messageId", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "context.ip", "writeKey"}
)


def event_key(message: Mapping[str, Any]) -> str:
    """What an event is: its type, and for track/page/screen its name (``track "Signed Up"``)."""
    kind = message.get("type")
    kind = kind if isinstance(kind, str) and kind else "(no type)"
    name = message.get("event") if kind == "track" else message.get("name") if kind in ("page", "screen") else None
    return f'{kind} "{name}"' if isinstance(name, str) and name else kind


def leaf_paths(value: object, prefix: str = "") -> Iterable[tuple[str, str]]:
    """Every leaf of a JSON value as ``(path, type)``; arrays as ``path[]``, empty containers as leaves."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from leaf_paths(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for child in value:
            yield from leaf_paths(child, f"{prefix}[]")
    else:
        yield prefix, json_type(value)


@dataclass(slots=True)
class Shape:
    """What one capture looks like: events per key, and the types seen at each path per key."""

    ignore: frozenset[str] = NOISE
    counts: Counter[str] = field(default_factory=Counter)
    paths: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def add(self, message: Mapping[str, Any]) -> None:
        """Count one message and record its paths (noise left out)."""
        key = event_key(message)
        self.counts[key] += 1
        seen = self.paths.setdefault(key, {})
        for path, kind in leaf_paths(dict(message)):
            if not _ignored(path, self.ignore):
                seen.setdefault(path, set()).add(kind)

    @property
    def total(self) -> int:
        """How many events were added."""
        return sum(self.counts.values())


def _ignored(path: str, ignore: frozenset[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[]")) for p in ignore)


@dataclass(frozen=True, slots=True)
class GroupChange:
    """How one kind of event differs between A and B."""

    key: str
    count_a: int
    count_b: int
    added: tuple[tuple[str, str], ...] = ()
    removed: tuple[tuple[str, str], ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CaptureDiff:
    """Everything that differs between two captures."""

    total_a: int
    total_b: int
    only_a: tuple[tuple[str, int], ...]
    only_b: tuple[tuple[str, int], ...]
    changed: tuple[GroupChange, ...]

    @property
    def differences(self) -> int:
        """How many differences were found (0: the captures match)."""
        return (
            len(self.only_a)
            + len(self.only_b)
            + sum((c.count_a != c.count_b) + len(c.added) + len(c.removed) + len(c.retyped) for c in self.changed)
        )


def _types(kinds: set[str]) -> str:
    return "|".join(sorted(kinds))


def compare_shapes(a: Shape, b: Shape) -> CaptureDiff:
    """Compare two captures' shapes."""
    only_a = tuple((k, a.counts[k]) for k in sorted(a.counts.keys() - b.counts.keys()))
    only_b = tuple((k, b.counts[k]) for k in sorted(b.counts.keys() - a.counts.keys()))
    changed = []
    for key in sorted(a.counts.keys() & b.counts.keys()):
        pa, pb = a.paths.get(key, {}), b.paths.get(key, {})
        added = tuple((p, _types(pb[p])) for p in sorted(pb.keys() - pa.keys()))
        removed = tuple((p, _types(pa[p])) for p in sorted(pa.keys() - pb.keys()))
        retyped = tuple((p, _types(pa[p]), _types(pb[p])) for p in sorted(pa.keys() & pb.keys()) if pa[p] != pb[p])
        if a.counts[key] != b.counts[key] or added or removed or retyped:
            changed.append(GroupChange(key, a.counts[key], b.counts[key], added, removed, retyped))
    return CaptureDiff(a.total, b.total, only_a, only_b, tuple(changed))


@dataclass(frozen=True, slots=True)
class OutcomeChange:
    """A delivery whose outcome differs between two runs (``None``: not in that run)."""

    label: str
    before: str | None
    after: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class RunDiff:
    """Deliveries of two runs compared."""

    matched: int
    changed: tuple[OutcomeChange, ...]

    @property
    def differences(self) -> int:
        """How many deliveries changed (0: the runs ended the same way)."""
        return len(self.changed)


def outcome(delivery: Mapping[str, Any]) -> str:
    """A delivery's outcome in one word: ``delivered 200``, ``failed 400``, ``not_sent``."""
    status = delivery.get("http_status")
    return f"{delivery.get('status')}" + (f" {status}" if status is not None else "")


def compare_runs(a: Iterable[Mapping[str, Any]], b: Iterable[Mapping[str, Any]]) -> RunDiff:
    """Compare two runs' deliveries, matched by event id, else by original messageId."""
    left = list(a)
    right = list(b)
    same_events = {d.get("event_id") for d in left} & {d.get("event_id") for d in right} - {None}
    key = "event_id" if same_events else "message_id"
    before = {d.get(key): d for d in left}
    after = {d.get(key): d for d in right}
    changed: list[OutcomeChange] = []
    for ident in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(ident), after.get(ident)
        was, now = (outcome(old) if old else None), (outcome(new) if new else None)
        if was != now:
            shown = new or old
            assert shown is not None
            label = f"#{shown.get('event_id')} {_label(shown)}".strip()
            changed.append(OutcomeChange(label, was, now, (new or {}).get("reason") or (old or {}).get("reason")))
    return RunDiff(len(before.keys() & after.keys()), tuple(changed))


def _label(delivery: Mapping[str, Any]) -> str:
    kind, name = delivery.get("type") or "", delivery.get("name")
    return f'{kind} "{name}"' if name else str(kind)
