"""Naming lint from Segment's guidance (docs/protocol.md §6, D-NAMING): pure, cached per name.

- Event names are *Object Action* (a noun, then a past-tense verb: ``Order Completed``) in one
  casing, Title Case by default.
- Property and trait keys use one casing, snake_case by default.
- Names and keys carry no values: no dates, ids, numbers or e-mails inside event names, no
  numbered keys (``feature_1``, ``feature_2``) and no keys that are ids, no page names that vary
  only by an id.

The Segment Spec's own names (``Signed Up``, ``Unsubscribed``, ``startupTime``) and reserved
traits in camelCase are exempt: they are what the spec asks for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from debugger.core.lint.finding import INFO, NAMING, Finding, join, short

# fmt: off
# Word lists: one line each (the formatter would put one word a line).
EVENT_CASES: tuple[str, ...] = ("title", "sentence", "snake", "camel")
KEY_CASES: tuple[str, ...] = ("snake", "camel", "pascal")
CASE_LABEL = {"title": "Title Case", "sentence": "Sentence case", "snake": "snake_case", "camel": "camelCase", "pascal": "PascalCase"}

#: Words Title Case leaves in lower case unless they start the name (``Email Marked as Spam``).
_SMALL = frozenset(["a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "of", "on", "or", "per", "the", "to", "vs", "via", "with"])
#: Adverbs that finish phrasal verbs: ``Logged In`` is an action, not an Action Object pair.
_PARTICLES = frozenset(["in", "out", "up", "down", "on", "off", "back", "over", "away", "through"])
_IRREGULAR = frozenset(
    ["built", "bought", "brought", "caught", "chosen", "done", "drawn", "dealt", "felt", "found", "flown", "forgot", "forgotten", "given", "gone", "got", "gotten", "grown", "heard", "held", "hid", "hidden", "kept", "knew", "known", "laid", "led", "left", "lent", "lost", "made", "meant", "met", "paid", "put", "quit", "read", "ran", "rode", "run", "said", "sat", "saw", "seen", "sent", "set", "shown", "shut", "sold", "spent", "split", "spoke", "spoken", "spun", "stood", "stole", "struck", "swept", "taken", "taught", "thought", "threw", "thrown", "told", "took", "understood", "undone", "uploaded", "upheld", "withdrawn", "won", "woken", "wore", "worn", "written", "wrote"]
)

# fmt: on
_SPLIT = re.compile(r"[\s_\-.:/]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SNAKE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_CAMEL_KEY = re.compile(r"^[a-z][a-zA-Z0-9]*$")
_PASCAL_KEY = re.compile(r"^[A-Z][a-zA-Z0-9]*$")
_NUMBERED = re.compile(r"^(.*[A-Za-z])[_\-]?(\d+)$")

_ID_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a URL", re.compile(r"https?://|www\.|\w/\w")),
    ("an e-mail address", re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")),
    ("a UUID", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")),
    ("a date", re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b")),
    ("an id", re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b")),
    ("a number", re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")),
)


def words(name: str) -> list[str]:
    """The words of a name in any casing: ``orderCompleted`` and ``order_completed`` → order, completed."""
    return [w for part in _SPLIT.split(name) for w in _CAMEL.split(part) if w]


def convert(name: str, case: str) -> str:
    """``name`` rewritten in ``case`` (one of :data:`EVENT_CASES` or :data:`KEY_CASES`)."""
    parts = words(name)
    lower = [w if w.isupper() and len(w) > 1 else w.lower() for w in parts]
    if case == "snake":
        return "_".join(w.lower() for w in parts)
    if case in ("camel", "pascal"):
        joined = "".join(w[:1].upper() + w[1:].lower() for w in parts)
        return joined if case == "pascal" or not joined else joined[0].lower() + joined[1:]
    if case == "sentence":
        text = " ".join(lower)
        return text[:1].upper() + text[1:]
    return " ".join(w if i and w in _SMALL else w[:1].upper() + w[1:] for i, w in enumerate(lower))


def id_like(text: str, *, urls: bool = True) -> str | None:
    """What value-like thing ``text`` contains (``a date``, ``a UUID``, …), or ``None``."""
    for label, pattern in _ID_PATTERNS:
        if (urls or label != "a URL") and pattern.search(text):
            return label
    return None


_BRAND = re.compile(r"^([a-z]+)([A-Z].*)$")


def _brand(word: str) -> bool:
    """iPhone, eBay, macOS: one lower-case letter, or a lower-case prefix before capitals; not camelCase."""
    match = _BRAND.match(word)
    return match is not None and (len(match.group(1)) == 1 or match.group(2).isupper())


def _is_past(word: str) -> bool:
    low = word.lower()
    return (len(low) > 3 and low.endswith("ed")) or low in _IRREGULAR


@dataclass(slots=True)
class Naming:
    """Naming rules for one configuration, with per-name caches (names repeat a lot).

    Args:
        event_case: the casing event names must use.
        key_case: the casing property and trait keys must use.
    """

    event_case: str = "title"
    key_case: str = "snake"
    _names: dict[tuple[str, str], tuple[Finding, ...]] = field(default_factory=dict, repr=False)
    _keys: dict[str, tuple[str | None, str | None]] = field(default_factory=dict, repr=False)

    def event_name(self, name: str, *, path: str = "event", semantic: bool = False) -> tuple[Finding, ...]:
        """Casing, Object Action and dynamic-value findings for a track event name."""
        cached = self._names.get((name, path))
        if cached is None:
            cached = self._names[(name, path)] = () if semantic else self._event_name(name, path)
            if len(self._names) > 50_000:  # bounded: a stream of dynamic names must not grow memory
                self._names.clear()
        return cached

    def _event_name(self, name: str, path: str) -> tuple[Finding, ...]:
        found: list[Finding] = []
        dynamic = id_like(name)
        if dynamic:
            found.append(
                _finding(
                    "dynamic_event_name",
                    path,
                    f"Event name {short(name)} contains {dynamic}; keep values in properties so every occurrence "
                    "is the same event.",
                    "a fixed name",
                    short(name),
                )
            )
        if name != name.strip() or "  " in name:
            found.append(
                _finding(
                    "event_name_whitespace",
                    path,
                    f"Event name {short(name)} has stray spaces.",
                    "no stray spaces",
                    short(name),
                )
            )
        if not self._cased(name):
            label = CASE_LABEL[self.event_case]
            found.append(
                _finding(
                    "event_name_casing",
                    path,
                    f"Event name {short(name)} is not {label}; use {short(convert(name, self.event_case))}.",
                    label,
                    short(name),
                )
            )
        found.extend(self._object_action(name, path))
        return tuple(found)

    def _cased(self, name: str) -> bool:
        case = self.event_case
        if case == "snake":
            return bool(_SNAKE.match(name))
        if case == "camel":
            return bool(_CAMEL_KEY.match(name))
        parts = name.split(" ")
        for index, word in enumerate(parts):
            if not word or "_" in word:
                return False
            head = word[0]
            if not head.isalpha() or word.isupper() or _brand(word):
                continue  # digits, acronyms (URL), brand casing (iPhone, macOS)
            if index == 0:
                if not head.isupper():
                    return False
            elif case == "title" and head.islower() and word not in _SMALL or case == "sentence" and head.isupper():
                return False
        return True

    def _object_action(self, name: str, path: str) -> list[Finding]:
        parts = [w for w in words(name) if not w.isdigit()]
        if not parts:
            return []
        past = [_is_past(w) for w in parts]
        expected = "Object Action (e.g. Order Completed)"
        if len(parts) == 1:
            return [
                _finding(
                    "event_name_object_action",
                    path,
                    f"Event name {short(name)} is one word; name events Object Action: a noun, then a "
                    'past-tense verb, like "Order Completed".',
                    expected,
                    short(name),
                )
            ]
        if not any(past):
            return [
                _finding(
                    "event_name_object_action",
                    path,
                    f"Event name {short(name)} has no past-tense action; name events Object Action, "
                    'like "Order Completed" or "Video Played".',
                    expected,
                    short(name),
                )
            ]
        rest = [w.lower() for w in parts[1:]]
        if past[0] and not any(past[1:]) and not all(w in _PARTICLES or w in _SMALL for w in rest):
            hint = convert(f"{parts[1]} {parts[0]}", self.event_case) if len(parts) == 2 else "Order Completed"
            return [
                _finding(
                    "event_name_object_action",
                    path,
                    f"Event name {short(name)} puts the action first; Segment's convention is Object "
                    f"Action, e.g. {short(hint)}.",
                    expected,
                    short(name),
                )
            ]
        return []

    def keys(self, obj: Mapping[str, object], base: str, exempt: Collection[str] = ()) -> list[Finding]:
        """Casing and dynamic-key findings for the keys of ``obj`` and of the objects inside it.

        Args:
            obj: the properties or traits object.
            base: its path (``properties``); findings carry full paths below it.
            exempt: top-level keys the spec itself names this way (``startupTime``, ``firstName``).
        """
        found = self._walk(obj, exempt, 0)
        return [_rebased(f, base) for f in found] if found else []

    def _walk(self, obj: Mapping[str, object], exempt: Collection[str], depth: int) -> list[Finding]:
        # Paths are relative to ``obj`` and built only for findings: most keys are fine, and
        # joining a path per key per event would cost more than the checks themselves.
        found: list[Finding] = []
        numbered: dict[str, list[str]] | None = None
        cache = self._keys
        for key, value in obj.items():
            info = cache.get(key)
            if info is None:
                info = self._key(key)
            problem, prefix = info
            if problem is not None and key not in exempt and key[:1] != "$":
                found.append(self._key_finding(key, join("", key), problem))
            if prefix is not None:
                if numbered is None:
                    numbered = {}
                numbered.setdefault(prefix, []).append(key)
            if depth < 6:
                kind_ = type(value)
                if kind_ is dict and value:
                    found.extend(_rebased(f, join("", key)) for f in self._walk(value, (), depth + 1))  # type: ignore[arg-type]
                elif kind_ is list and value:
                    found.extend(_rebased(f, join("", key)) for f in self._items(value, depth))  # type: ignore[arg-type]
        if numbered:
            for stem, keys in numbered.items():
                if len(keys) >= 2:
                    listed = ", ".join(keys[:4]) + (", …" if len(keys) > 4 else "")
                    found.append(
                        _finding(
                            "dynamic_property_key",
                            join("", keys[0]),
                            f"Keys {listed} look like one list spread over numbered keys; send an array "
                            f'("{stem}s": [...]) instead.',
                            "one key per concept",
                            listed,
                        )
                    )
        return found

    def _items(self, items: list[object], depth: int) -> list[Finding]:
        seen: set[tuple[str, str]] = set()
        found: list[Finding] = []
        for index, item in enumerate(items[:100]):
            if type(item) is dict and item:
                for f in self._walk(item, (), depth + 1):
                    if (f.code, f.path) not in seen:  # one finding per key, not one per array item
                        seen.add((f.code, f.path))
                        found.append(_rebased(f, f"[{index}]"))
        return found

    def _key(self, key: str) -> tuple[str | None, str | None]:
        dynamic = id_like(key)
        numbered = _NUMBERED.match(key)
        if dynamic == "a number" and not key.isdigit() and numbered:
            dynamic = None  # a numbered suffix (feature-1) is judged with its siblings, not alone
        if dynamic:
            problem: str | None = f"dynamic:{dynamic}"
        else:
            pattern = {"snake": _SNAKE, "camel": _CAMEL_KEY, "pascal": _PASCAL_KEY}[self.key_case]
            problem = None if pattern.match(key.lstrip("_")) else "casing"
        if len(self._keys) > 50_000:
            self._keys.clear()
        info = self._keys[key] = (problem, numbered.group(1).rstrip("_-").lower() if numbered else None)
        return info

    def _key_finding(self, key: str, path: str, problem: str) -> Finding:
        if problem.startswith("dynamic:"):
            what = problem.split(":", 1)[1]
            return _finding(
                "dynamic_property_key",
                path,
                f"Key {short(key)} is {what}, not a name; put values in values "
                '(e.g. {"id": ...}) so the schema stays stable.',
                "a fixed key",
                short(key),
            )
        label = CASE_LABEL[self.key_case]
        return _finding(
            "key_casing",
            path,
            f"Key {short(key)} is not {label}; use {short(convert(key, self.key_case))}.",
            label,
            short(key),
        )

    def page_name(self, name: str, path: str = "name") -> tuple[Finding, ...]:
        """A page or screen name that carries an id varies per page: one name per template instead."""
        cached = self._names.get((name, path))
        if cached is None:
            dynamic = id_like(name, urls=False)  # "/pricing" names a fixed page; only ids make it vary
            cached = self._names[(name, path)] = (
                (
                    _finding(
                        "dynamic_page_name",
                        path,
                        f'Page/screen name {short(name)} contains {dynamic}; name the template ("Product Detail") and '
                        "send the id as a property.",
                        "one name per page template",
                        short(name),
                    ),
                )
                if dynamic
                else ()
            )
        return cached


def _rebased(finding: Finding, base: str) -> Finding:
    """The finding with its relative path put under ``base`` (``videoTitle`` → ``properties.videoTitle``)."""
    if not base:
        return finding
    path = finding.path
    joined = base + path if path.startswith("[") else f"{base}.{path}" if path else base
    return Finding(
        finding.code, joined, finding.message, finding.severity, finding.category, finding.expected, finding.actual
    )


def _finding(code: str, path: str, message: str, expected: str, actual: str) -> Finding:
    return Finding(code, path, message, INFO, NAMING, expected, actual)
