"""Pure comparison behind `segdbg diff --schema` (docs/replay.md, "Schema diff"): two releases' event schemas, in numbers.

A side (a capture, or a slice of one such as ``lib:analytics-ios`` or ``context.app.version:1.3``)
is summarised as a :class:`SchemaProfile`: per kind of event (``track "Order Completed"``), how
many events, how many distinct identities (userId, else anonymousId), and — over the events whose
paths were walked (all of them, or an even sample: :mod:`debugger.store.schemadiff`) — for every
JSON path (``properties.currency``, ``properties.products[].sku``, objects and arrays included):
the share of events holding it (*presence*, null counts as present) and the share of each JSON type
among those (*type mix*: string, number, boolean, object, array, null).

:func:`compare_profiles` reports events new in B and gone from B, per common event the paths
whose presence or type mix moved, and the volume per identity (events per distinct user). A change
is *beyond* the tolerance when presence or a type's share moved by more than ``tolerance``
percentage points and by more than three standard errors of the difference of two proportions
(:data:`Z`: a share measured on a few hundred events, or on a sample, moves by several points by
chance; 100% → 0% always counts), or the volume per identity by more than ``volume_tolerance``
percent; new and gone events always are.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.diff import NOISE, event_key

#: The JSON types a type mix reports, in display order.
JSON_TYPES = ("string", "number", "boolean", "object", "array", "null")
#: Events walked per kind of event in a database by default (docs/replay.md, "Schema diff"; the
#: error this bounds: :mod:`debugger.store.schemadiff`).
SAMPLE_PER_EVENT = 2_000
#: Path segments walked (deeper values are counted at this depth as their container type).
MAX_DEPTH = 12
#: JSON types by Python type, as decoded from JSON (orjson and json give only these).
_KINDS: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    type(None): "null",
}


def identity(message: Mapping[str, Any]) -> str | None:
    """Who sent an event: its userId, else its anonymousId (``None``: neither)."""
    for key in ("userId", "anonymousId"):
        value = message.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


@dataclass(slots=True)
class EventProfile:
    """One kind of event on one side: totals, and over the ``walked`` events the paths held and their types."""

    events: int = 0
    identities: int = 0
    walked: int = 0
    #: Walked events per shape (the set of ``(path, JSON type)`` a message holds): few distinct ones.
    shapes: Counter[frozenset[tuple[str, str]]] = field(default_factory=Counter)
    _who: set[str] = field(default_factory=set)

    def present(self) -> Counter[str]:
        """Walked events holding each path."""
        counts: Counter[str] = Counter()
        for shape, n in self.shapes.items():
            for path in {path for path, _ in shape}:
                counts[path] += n
        return counts

    def types(self) -> dict[str, Counter[str]]:
        """Per path, walked events holding it with each JSON type (an array's elements may hold several)."""
        by_path: dict[str, Counter[str]] = {}
        for shape, n in self.shapes.items():
            for path, kind in shape:
                by_path.setdefault(path, Counter())[kind] += n
        return by_path


@dataclass(slots=True)
class SchemaProfile:
    """What one side looks like, per kind of event (see the module doc)."""

    ignore: frozenset[str] = NOISE
    kinds: dict[str, EventProfile] = field(default_factory=dict)
    _cache: dict[tuple[str, tuple[str, ...], tuple[type, ...]], _Signature] = field(default_factory=dict)

    def set_counts(self, key: str, events: int, identities: int) -> None:
        """The totals of a kind of event, counted elsewhere (the store counts every event, walks a sample)."""
        profile = self.kinds.setdefault(key, EventProfile())
        profile.events, profile.identities = events, identities

    def add(self, message: Mapping[str, Any], *, counted: bool = False) -> None:
        """Walk one message's paths; unless ``counted`` (totals set by :meth:`set_counts`), count it too."""
        key = event_key(message)
        profile = self.kinds.get(key)
        if profile is None:
            profile = self.kinds[key] = EventProfile()
        if not counted:
            profile.events += 1
            who = identity(message)
            if who is not None and who not in profile._who:
                profile._who.add(who)
                profile.identities += 1
        profile.walked += 1
        profile.shapes[self.shape(message)] += 1

    def shape(self, message: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
        """Every ``(path, JSON type)`` the message holds (:func:`paths_of`, with this side's cache):
        what :meth:`add` records, computed once when one message goes to several sides."""
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        shape: set[tuple[str, str]] = set()
        _object(message, "", 1, self.ignore, self._cache, shape)
        return frozenset(shape)

    def add_walked(self, key: str, shape: frozenset[tuple[str, str]]) -> None:
        """Record one walked event of kind ``key`` (totals set by :meth:`set_counts`) by its :meth:`shape`."""
        profile = self.kinds.get(key)
        if profile is None:
            profile = self.kinds[key] = EventProfile()
        profile.walked += 1
        profile.shapes[shape] += 1

    @property
    def total(self) -> int:
        """How many events this side holds."""
        return sum(p.events for p in self.kinds.values())


#: Object signatures remembered per side (dynamic keys would otherwise grow it without bound).
_CACHE_LIMIT = 50_000


def paths_of(message: Mapping[str, Any], ignore: frozenset[str] = NOISE) -> set[tuple[str, str]]:
    """Every path of a message with its JSON type, once each: objects and arrays are paths too
    (``properties``, ``properties.products``), array elements are ``path[]``; an ignored path
    leaves out its whole subtree; nothing deeper than :data:`MAX_DEPTH` segments."""
    shape: set[tuple[str, str]] = set()
    _object(message, "", 1, ignore, {}, shape)
    return shape


#: What :func:`_object` remembers of an object's signature: its children's ``(path, type)``, and the
#: keys of the children it must go into (objects and arrays whose path is not ignored), with their type.
_Signature = tuple[frozenset[tuple[str, str]], tuple[tuple[str, type], ...]]


def _object(
    value: Mapping[str, Any],
    prefix: str,
    depth: int,
    ignore: frozenset[str],
    cache: dict[tuple[str, tuple[str, ...], tuple[type, ...]], _Signature],
    out: set[tuple[str, str]],
) -> None:
    # An object's own children depend only on its keys and their value types: remembered by those,
    # with the keys to go into, so a remembered object visits only its containers.
    kinds = tuple(map(type, value.values()))
    signature = (prefix, tuple(value), kinds)
    known = cache.get(signature)
    if known is None:
        children = frozenset(
            (prefix + key, _KINDS.get(kind, "string"))
            for key, kind in zip(value, kinds, strict=True)
            if prefix + key not in ignore
        )
        nested = tuple(
            (key, kind)
            for key, kind in zip(value, kinds, strict=True)
            if (kind is dict or kind is list) and prefix + key not in ignore
        )
        known = cache[signature] = (children, nested)
    out |= known[0]
    if depth >= MAX_DEPTH:
        return
    for key, kind in known[1]:
        if kind is dict:
            _object(value[key], prefix + key + ".", depth + 1, ignore, cache, out)
        else:
            _array(value[key], prefix + key + "[]", depth + 1, ignore, cache, out)


def _array(
    value: list[Any],
    path: str,
    depth: int,
    ignore: frozenset[str],
    cache: dict[tuple[str, tuple[str, ...], tuple[type, ...]], _Signature],
    out: set[tuple[str, str]],
) -> None:
    kinds = set(map(type, value))
    out.update((path, _KINDS.get(kind, "string")) for kind in kinds)
    if depth < MAX_DEPTH:
        for child in value:
            if type(child) is dict:
                _object(child, path + ".", depth + 1, ignore, cache, out)
            elif type(child) is list:
                _array(child, path + "[]", depth + 1, ignore, cache, out)


@dataclass(frozen=True, slots=True)
class PathChange:
    """One path of one event whose presence or type mix moved (percentages of the walked events)."""

    path: str
    presence_a: float
    presence_b: float
    types_a: dict[str, float]
    types_b: dict[str, float]
    #: The largest move in percentage points (presence or any type's share).
    delta: float
    beyond: bool


@dataclass(frozen=True, slots=True)
class EventChange:
    """One kind of event present on both sides."""

    key: str
    events_a: int
    events_b: int
    identities_a: int
    identities_b: int
    #: Events per distinct identity (``None``: no event had a userId or anonymousId).
    per_identity_a: float | None
    per_identity_b: float | None
    #: How much the volume per identity moved, in percent of A's (``None``: not comparable).
    volume_change: float | None
    volume_beyond: bool
    walked_a: int
    walked_b: int
    paths: tuple[PathChange, ...]

    @property
    def beyond(self) -> int:
        """How many of this event's changes are beyond the tolerances."""
        return self.volume_beyond + sum(p.beyond for p in self.paths)


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    """Two sides' schemas compared."""

    tolerance: float
    volume_tolerance: float
    total_a: int
    total_b: int
    new: tuple[tuple[str, int], ...]
    gone: tuple[tuple[str, int], ...]
    events: tuple[EventChange, ...]
    sampled: bool

    @property
    def beyond(self) -> int:
        """How many changes are beyond the tolerances (0: the gate passes)."""
        return len(self.new) + len(self.gone) + sum(e.beyond for e in self.events)

    @property
    def within(self) -> int:
        """How many smaller moves were seen (within the tolerances)."""
        return sum(
            sum(not p.beyond for p in e.paths) + (e.volume_change not in (None, 0.0) and not e.volume_beyond)
            for e in self.events
        )


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _mix(counts: Counter[str] | None, present: int) -> dict[str, float]:
    if not counts:
        return {}
    return {kind: _pct(counts[kind], present) for kind in JSON_TYPES if counts.get(kind)}


#: How many standard errors a move must also be to count (sampling and small kinds move by chance).
Z = 3.0


def _beyond(a: float, b: float, n_a: int, n_b: int, tolerance: float) -> bool:
    """A share moved from ``a`` % (of ``n_a`` events) to ``b`` % (of ``n_b``) by more than ``tolerance``
    points, and by more than :data:`Z` standard errors of the difference of two proportions."""
    move = abs(b - a)
    if move <= tolerance:
        return False
    pa, pb = a / 100, b / 100
    error = 100 * math.sqrt((pa * (1 - pa) / n_a if n_a else 0.0) + (pb * (1 - pb) / n_b if n_b else 0.0))
    return move > Z * error


def _per_identity(profile: EventProfile) -> float | None:
    return round(profile.events / profile.identities, 2) if profile.identities else None


def compare_profiles(
    a: SchemaProfile, b: SchemaProfile, *, tolerance: float = 5.0, volume_tolerance: float = 50.0
) -> SchemaDiff:
    """Compare two sides (see the module doc); ``tolerance`` in percentage points, ``volume_tolerance`` in percent."""
    new = tuple((k, b.kinds[k].events) for k in sorted(b.kinds.keys() - a.kinds.keys()))
    gone = tuple((k, a.kinds[k].events) for k in sorted(a.kinds.keys() - b.kinds.keys()))
    events = []
    for key in sorted(a.kinds.keys() & b.kinds.keys()):
        pa, pb = a.kinds[key], b.kinds[key]
        mix_a, mix_b = pa.types(), pb.types()
        present_a, present_b = pa.present(), pb.present()
        changes = []
        for path in sorted(present_a.keys() | present_b.keys()):
            presence_a = _pct(present_a[path], pa.walked)
            presence_b = _pct(present_b[path], pb.walked)
            types_a = _mix(mix_a.get(path), present_a[path])
            types_b = _mix(mix_b.get(path), present_b[path])
            # Each share as (A %, B %, events it is a share of on each side): presence, then each type.
            shares = [(presence_a, presence_b, pa.walked, pb.walked)]
            if types_a and types_b:  # a path on one side only moved by its presence, not its mix
                shares += [
                    (types_a.get(t, 0.0), types_b.get(t, 0.0), present_a[path], present_b[path])
                    for t in types_a.keys() | types_b.keys()
                ]
            delta = round(max(abs(b_ - a_) for a_, b_, _, _ in shares), 1)
            if delta > 0:
                beyond = any(_beyond(*share, tolerance) for share in shares)
                changes.append(PathChange(path, presence_a, presence_b, types_a, types_b, delta, beyond))
        per_a, per_b = _per_identity(pa), _per_identity(pb)
        volume = (
            round(100.0 * (pb.events * pa.identities / (pa.events * pb.identities) - 1), 1)
            if pa.identities and pb.identities and pa.events
            else None
        )
        events.append(
            EventChange(
                key,
                pa.events,
                pb.events,
                pa.identities,
                pb.identities,
                per_a,
                per_b,
                volume,
                volume is not None and abs(volume) > volume_tolerance,
                pa.walked,
                pb.walked,
                tuple(sorted(changes, key=lambda c: (-c.beyond, -c.delta, c.path))),
            )
        )
    sampled = any(p.walked < p.events for side in (a, b) for p in side.kinds.values())
    return SchemaDiff(tolerance, volume_tolerance, a.total, b.total, new, gone, tuple(events), sampled)


def mix_text(types: Mapping[str, float]) -> str:
    """A type mix in a few characters: ``string``, ``string 80% number 20%``, ``-`` when absent."""
    if not types:
        return "-"
    if len(types) == 1:
        return next(iter(types))
    return " ".join(f"{kind} {share:g}%" for kind, share in types.items())
