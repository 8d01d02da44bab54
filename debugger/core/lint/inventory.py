"""The schema inventory: what a capture's events look like, and a draft tracking plan from it (pure).

Per source (write key), per event (type and name): how many, first and last seen, and for
every property or trait path (``properties.products[].price``) the JSON types observed with
their counts, a few example values, how often it was present, and **type drift** — more than
one type seen (integer and number count as one; ``null`` does not count).

:meth:`Inventory.draft_plan` writes a segdbg YAML plan that the same capture satisfies: a key
present in every event is required, others optional (``?``); types are the union of those
seen; objects list their keys (closing them to unplanned properties); page and screen calls
share one rule each. A path whose strings were all ISO-8601 dates or times
(``2024-05-01``, ``2024-05-01T12:00:00.000Z``) is typed ``date`` (JSON Schema ``format: date-time``), so the
plan catches a date that turns into free text.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.finding import join, kind, short
from debugger.core.timefmt import parse_timestamp

MAX_DEPTH = 6
#: An object with more distinct keys than this is a map (ids as keys), not a record.
MAX_KEYS = 200
EXAMPLES = 3
#: An ISO-8601 date, or date and time (the shapes the clients send); `20240501` and `1714560000` are not taken for dates.
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def is_iso_date(value: str) -> bool:
    """Whether ``value`` is an ISO-8601 date or date-time that the plan's ``date`` type accepts."""
    return 10 <= len(value) <= 40 and ISO_DATE.fullmatch(value) is not None and parse_timestamp(value) is not None


@dataclass(slots=True)
class Node:
    """Statistics of one path: types, presence, examples, and the paths below it."""

    seen: int = 0
    objects: int = 0
    dates: int = 0  # strings that were ISO dates
    types: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    last: dict[str, str] = field(default_factory=dict)
    examples: list[Any] = field(default_factory=list)
    children: dict[str, Node] = field(default_factory=dict)
    items: Node | None = None
    wide: bool = False

    def add(self, value: object, when: str, depth: int = 0) -> None:
        """Record one observed value at this path."""
        self.seen += 1
        name = "number" if kind(value) == "integer" else kind(value)
        self.types[name] += 1
        self.first.setdefault(name, when)
        self.last[name] = when
        if isinstance(value, dict):
            self.objects += 1
            if depth < MAX_DEPTH and not self.wide:
                for key, child in value.items():
                    node = self.children.get(key)
                    if node is None:
                        if len(self.children) >= MAX_KEYS:
                            self.wide, self.children = True, {}
                            break
                        node = self.children[key] = Node()
                    node.add(child, when, depth + 1)
        elif isinstance(value, list):
            if depth < MAX_DEPTH:
                items = self.items or Node()
                self.items = items
                for item in value[:100]:
                    items.add(item, when, depth + 1)
        else:
            if isinstance(value, str) and is_iso_date(value):
                self.dates += 1
            if value is not None and len(self.examples) < EXAMPLES:
                sample = value[:60] if isinstance(value, str) else value
                if sample not in self.examples:
                    self.examples.append(sample)

    @property
    def drift(self) -> bool:
        """More than one non-null type seen at this path."""
        return len([t for t in self.types if t != "null"]) > 1

    def type_expr(self) -> str:
        """The union of observed types as a plan type (``number|string``; only nulls → ``any``);
        ``date`` for strings that were all ISO dates."""
        dated = self.types["string"] > 0 and self.dates == self.types["string"]
        names = [
            "date" if t == "string" and dated else t
            for t in ("string", "number", "boolean", "object", "array", "null")
            if t in self.types
        ]
        return "any" if names in ([], ["null"]) else "|".join(names)


@dataclass(slots=True)
class EventStats:
    """One (type, name) of one source: counts, times, and the tree of its properties or traits."""

    kind: str
    name: str | None
    field: str
    count: int = 0
    first_seen: str = ""
    last_seen: str = ""
    root: Node = dataclasses.field(default_factory=Node)


class Inventory:
    """Accumulates events into the inventory.

    Args:
        by_source: keep sources apart (``False`` pools them under ``*``, as a plan needs).
        pool_pages: count every page (and every screen) as one, whatever its name.
    """

    def __init__(self, *, by_source: bool = True, pool_pages: bool = False) -> None:
        self.by_source = by_source
        self.pool_pages = pool_pages
        self.sources: dict[str, dict[tuple[str, str | None], EventStats]] = {}
        self.total = 0

    def add(self, row: Mapping[str, Any]) -> None:
        """Add one ``events`` row (needs ``stored``, ``write_key``, ``received_at``)."""
        stored = row.get("stored")
        if not isinstance(stored, dict):
            return
        kind_ = stored.get("type")
        if not isinstance(kind_, str):
            return
        name: str | None = None
        if kind_ == "track":
            name = stored.get("event") if isinstance(stored.get("event"), str) else None
            if not name:
                return
        elif kind_ in ("page", "screen") and not self.pool_pages and isinstance(stored.get("name"), str):
            name = stored["name"]
        field_name = "traits" if kind_ in ("identify", "group") else "properties"
        source = str(row.get("write_key") or "(no write key)") if self.by_source else "*"
        events = self.sources.setdefault(source, {})
        stats = events.get((kind_, name))
        if stats is None:
            stats = events[(kind_, name)] = EventStats(kind_, name, field_name)
        when = str(row.get("received_at") or "")
        stats.count += 1
        self.total += 1
        stats.first_seen = stats.first_seen or when
        stats.last_seen = when
        value = stored.get(field_name)
        if isinstance(value, dict):
            stats.root.add(value, when)

    def to_json(self, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The inventory as JSON: sources → events → flattened field paths."""
        labels = labels or {}
        return {
            "total": self.total,
            "sources": [
                {"write_key": key, "label": labels.get(key), "events": [_event_json(s) for s in _ordered(events)]}
                for key, events in sorted(self.sources.items())
            ],
        }

    def draft_plan(self, name: str) -> dict[str, Any]:
        """A segdbg YAML plan document that the inventoried events satisfy."""
        events: dict[str, Any] = {}
        doc: dict[str, Any] = {
            "name": name,
            "allow_unplanned_events": False,
            "allow_unplanned_properties": False,
            "events": events,
        }
        for stats in _ordered({k: v for source in self.sources.values() for k, v in source.items()}):
            # An empty mapping still closes the rule: a property never seen is unplanned.
            fields = {stats.field: _fields_spec(stats)}
            if stats.kind == "track" and stats.name:
                events[stats.name] = fields
            elif stats.kind in ("identify", "group", "page", "screen") and stats.name is None:
                doc[stats.kind] = fields
            elif stats.kind in ("page", "screen"):
                doc.setdefault(stats.kind + "s", {})[stats.name] = fields
        return doc


def _ordered(events: Mapping[tuple[str, str | None], EventStats]) -> list[EventStats]:
    order = {"track": 0, "identify": 1, "group": 2, "page": 3, "screen": 4, "alias": 5}
    return sorted(events.values(), key=lambda s: (order.get(s.kind, 9), s.name or ""))


def _event_json(stats: EventStats) -> dict[str, Any]:
    return {
        "type": stats.kind,
        "name": stats.name,
        "count": stats.count,
        "first_seen": stats.first_seen,
        "last_seen": stats.last_seen,
        "fields": list(_flatten(stats.root, stats.field, stats.count)),
    }


def _flatten(node: Node, path: str, parent: int) -> Any:
    for key, child in sorted(node.children.items()):
        here = join(path, key)
        yield {
            "path": here,
            "types": dict(child.types),
            "present": child.seen,
            "of": parent,
            "examples": [short(e, 60) for e in child.examples],
            "drift": child.drift,
            "first_seen": min(child.first.values()),
            "last_seen": max(child.last.values()),
            "last_seen_by_type": dict(child.last) if child.drift else None,
        }
        yield from _flatten(child, here, child.objects)
        if child.items is not None:
            yield from _items(child.items, here + "[]")


def _items(node: Node, path: str) -> Any:
    yield {
        "path": path,
        "types": dict(node.types),
        "present": node.seen,
        "of": node.seen,
        "examples": [short(e, 60) for e in node.examples],
        "drift": node.drift,
        "first_seen": min(node.first.values(), default=""),
        "last_seen": max(node.last.values(), default=""),
        "last_seen_by_type": dict(node.last) if node.drift else None,
    }
    yield from _flatten(node, path, node.objects)
    if node.items is not None:
        yield from _items(node.items, path + "[]")


def _fields_spec(stats: EventStats) -> dict[str, Any]:
    return {key: _spec(child, child.seen >= stats.count) for key, child in stats.root.children.items()}


def _spec(node: Node, required: bool) -> Any:
    expr = node.type_expr()
    needs_map = (node.objects and (node.children or node.wide)) or node.items is not None
    if not needs_map:
        return expr if required else expr + "?"
    spec: dict[str, Any] = {"type": expr}
    if node.objects and node.children:
        spec["properties"] = {k: _spec(c, c.seen >= node.objects) for k, c in node.children.items()}
    if node.items is not None and node.items.types:
        spec["items"] = _spec(node.items, True)
    if not required:
        spec["required"] = False
    return spec
