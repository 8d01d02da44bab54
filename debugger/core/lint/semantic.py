"""Semantic-spec checks: the Segment Spec's event names, their properties and types, near misses.

Destinations map semantic events by their exact name and property keys: ``product added`` or
``orderId`` reach them as custom data. :class:`Semantic` flags names and keys that almost match
the spec (case, separators, word order, tense, Ecommerce v1 names, typos), properties of the
wrong type, ``products[]`` items that are not product objects, currencies that are not ISO 4217
codes, and the few properties an event is useless without (``order_id`` on Order Completed).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.finding import SEMANTIC, Finding, join, kind, short
from debugger.core.lint.naming import words
from debugger.core.lint.specs import CURRENCIES, PRODUCT, SEMANTIC_EVENTS, V1_ALIASES, EventSpec
from debugger.core.protocol import WARNING
from debugger.core.timefmt import parse_timestamp

_WORDS = {
    "s": "string",
    "n": "number",
    "b": "boolean",
    "o": "object",
    "a": "array",
    "d": "ISO-8601 date string",
    "c": "ISO 4217 currency code",
    "s[]": "array of strings",
    "o[]": "array of objects",
    "p[]": "array of product objects",
}
_NON_ALNUM = re.compile(r"[^a-z0-9]")


def describe(compact: str) -> str:
    """A compact spec type in words: ``s|n`` → ``string or number``."""
    return " or ".join(_WORDS.get(part, part) for part in compact.split("|"))


def type_ok(value: object, compact: str) -> bool:
    """Whether ``value`` has the compact spec type (``null`` always passes)."""
    if value is None:
        return True
    return any(_one(value, part) for part in compact.split("|"))


def _one(value: object, part: str) -> bool:
    if part in ("s", "c"):
        return isinstance(value, str)
    if part == "n":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if part == "b":
        return isinstance(value, bool)
    if part == "o":
        return isinstance(value, dict)
    if part == "d":
        return isinstance(value, str) and parse_timestamp(value) is not None
    if part == "s[]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if part in ("o[]", "p[]"):
        return isinstance(value, list)  # items are checked one by one, with their own paths
    return isinstance(value, list) if part == "a" else False


def currency_ok(value: object) -> bool:
    """An ISO 4217 code, in any case (the spec's own example sends ``usd``)."""
    return not isinstance(value, str) or value.upper() in CURRENCIES


def _stem(word: str) -> str:
    w = word.lower()
    if w.endswith("ied") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("ed") and len(w) > 4:
        w = w[:-2]
        return w[:-1] if w.endswith("ll") else w
    if w.endswith("e") and len(w) > 3:
        return w[:-1]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def _keys(name: str) -> tuple[str, tuple[str, ...]]:
    parts = words(name)
    return " ".join(w.lower() for w in parts), tuple(sorted(_stem(w) for w in parts))


@dataclass(slots=True)
class Semantic:
    """The semantic-spec rules, with the near-miss index built once and answers cached per name."""

    _exact: dict[str, str] = field(default_factory=dict, repr=False)
    _stems: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)
    _near: dict[str, str | None] = field(default_factory=dict, repr=False)
    _props: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, target in [*((n, n) for n in SEMANTIC_EVENTS), *V1_ALIASES.items()]:
            exact, stems = _keys(name)
            self._exact.setdefault(exact, target)
            self._stems.setdefault(stems, target)

    def near_miss(self, name: str) -> str | None:
        """The spec name ``name`` almost is (``product added`` → ``Product Added``), else ``None``."""
        if name in SEMANTIC_EVENTS:
            return None
        if name in self._near:
            return self._near[name]
        exact, stems = _keys(name)
        target = self._exact.get(exact) or self._stems.get(stems)
        if target is None and len(exact) >= 6:
            close = [
                c
                for c in difflib.get_close_matches(exact, self._exact, n=3, cutoff=0.9)
                if abs(len(c) - len(exact)) <= 2
            ]
            target = self._exact[close[0]] if close else None
        if len(self._near) > 50_000:
            self._near.clear()
        self._near[name] = target
        return target

    def track(self, name: str, properties: object) -> list[Finding]:
        """Findings for a track event: a near-miss name, or the spec's property rules."""
        spec = SEMANTIC_EVENTS.get(name)
        if spec is None:
            target = self.near_miss(name)
            if target is None:
                return []
            legacy = " (its Ecommerce v1 name)" if name in V1_ALIASES else ""
            spec_name = SEMANTIC_EVENTS[target].spec
            return [
                Finding(
                    "near_miss_event",
                    "event",
                    f'Event {short(name)} looks like the {spec_name} spec\'s "{target}"{legacy}; destinations map only '
                    "the exact name.",
                    WARNING,
                    SEMANTIC,
                    f'"{target}"',
                    short(name),
                )
            ]
        if not isinstance(properties, dict):
            return []
        return self._properties(spec, properties)

    def _properties(self, spec: EventSpec, props: dict[str, Any]) -> list[Finding]:
        found: list[Finding] = []
        for group in spec.expected:
            if not any(props.get(key) is not None for key in group):
                listed = " or ".join(f"`{key}`" for key in group)
                found.append(
                    Finding(
                        "semantic_missing_property",
                        join("properties", group[0]),
                        f"{spec.name} has no {listed}; the {spec.spec} spec expects it and destinations need it.",
                        WARNING,
                        SEMANTIC,
                        "present",
                        "missing",
                    )
                )
        for key, value in props.items():
            compact = spec.properties.get(key)
            path = join("properties", key)
            if compact is None:
                found.extend(self._near_property(spec.name, spec.properties, key, path))
            elif key not in ("revenue", "currency", "value"):  # reserved on every track call: strict checks them
                found.extend(_typed(spec, key, value, compact, path))
        products = props.get("products")
        if spec.properties.get("products") == "p[]" and isinstance(products, list):
            for index, item in enumerate(products[:200]):
                found.extend(self._item(spec, item, join(join("properties", "products"), index)))
        return found

    def _item(self, spec: EventSpec, item: object, path: str) -> list[Finding]:
        if not isinstance(item, dict):
            return [
                Finding(
                    "semantic_type",
                    path,
                    f"{spec.name}: each of `products` should be a product object, not {kind(item)} {short(item)}.",
                    WARNING,
                    SEMANTIC,
                    "object",
                    kind(item),
                )
            ]
        found: list[Finding] = []
        for group in spec.item_expected:
            if not any(item.get(key) is not None for key in group):
                listed = " or ".join(f"`{key}`" for key in group)
                found.append(
                    Finding(
                        "semantic_missing_property",
                        join(path, group[0]),
                        f"{spec.name}: a product has no {listed}.",
                        WARNING,
                        SEMANTIC,
                        "present",
                        "missing",
                    )
                )
        for key, value in item.items():
            compact = PRODUCT.get(key)
            if compact is None:
                found.extend(self._near_property(spec.name, PRODUCT, key, join(path, key)))
            else:
                found.extend(_typed(spec, key, value, compact, join(path, key)))
        return found

    def _near_property(self, event: str, known: Mapping[str, str], key: str, path: str) -> list[Finding]:
        cache_key = "\0products" if known is PRODUCT else event
        table = self._props.get(cache_key)
        if table is None:
            table = self._props[cache_key] = {_NON_ALNUM.sub("", k.lower()): k for k in known}
        target = table.get(_NON_ALNUM.sub("", key.lower()))
        if target is None or target == key:
            return []
        return [
            Finding(
                "near_miss_property",
                path,
                f"{event}: `{key}` looks like the spec's `{target}`; destinations map only the exact key.",
                WARNING,
                SEMANTIC,
                target,
                key,
            )
        ]


def _typed(spec: EventSpec, key: str, value: object, compact: str, path: str) -> list[Finding]:
    if not type_ok(value, compact):
        return [
            Finding(
                "semantic_type",
                path,
                f"{spec.name}: `{key}` should be {describe(compact)} ({spec.spec} spec), got {kind(value)} "
                f"{short(value)}.",
                WARNING,
                SEMANTIC,
                describe(compact),
                kind(value),
            )
        ]
    if compact == "c" and not currency_ok(value):
        return [
            Finding(
                "currency_code",
                path,
                f"{spec.name}: `{key}` {short(value)} is not an ISO 4217 currency code (USD, EUR, …).",
                WARNING,
                SEMANTIC,
                "ISO 4217 code",
                short(value),
            )
        ]
    return []
