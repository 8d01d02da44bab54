"""Protocols-style Transformations, previewed on real events (docs/preview.md). Pure.

A transformations file (YAML or JSON) lists rules in the shapes Segment's Protocols
Transformations offer, each with an optional FQL condition (Segment's own ``if``):

```yaml
transformations:
  - name: checkout renamed
    if: event = 'Checkout Started'
    rename_event: Checkout Begun
  - name: currency moved
    if: type = 'track'
    rename: {properties.curr: properties.currency}   # rename or move, by path
    set: {context.app.channel: web}                   # set a value, by path
    remove: [properties.debug]                       # drop a field
```

:func:`apply` runs every rule whose condition holds on a message, in order, on a copy; the
stored capture is never changed. Paths are dot-separated keys (``properties.items`` is the
``items`` key of ``properties``); a rule never reaches into arrays.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from debugger.core.documents import load_text
from debugger.core.query import fql
from debugger.core.schemadiff import paths_of

#: What a rule may hold besides its name and condition.
ACTIONS = ("rename_event", "rename", "set", "remove")
#: Top-level fields no rule may rename, set or remove: they say what the event is and who sent it.
PROTECTED = frozenset({"type", "messageId"})

PathKey = tuple[str, ...]


class TransformError(ValueError):
    """A transformations file that cannot be used; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class Transformation:
    """One rule: applied to a message when ``condition`` (FQL) holds, or always without one."""

    name: str
    condition: fql.Expr | None = None
    condition_text: str | None = None
    rename_event: str | None = None
    rename: tuple[tuple[PathKey, PathKey], ...] = ()
    set: tuple[tuple[PathKey, Any], ...] = ()
    remove: tuple[PathKey, ...] = ()

    def holds(self, message: Mapping[str, Any]) -> bool:
        """Whether the rule applies to ``message``."""
        return self.condition is None or fql.matches(self.condition, message)


def parse_text(text: str, source: str = "transformations") -> list[Transformation]:
    """The rules of a JSON or YAML transformations file (``source`` names it in errors)."""
    return parse(load_text(text, source, TransformError), source)


def parse(data: Any, source: str = "transformations") -> list[Transformation]:
    """The rules of a parsed transformations document: ``{"transformations": [...]}`` or the list itself."""
    rules = data.get("transformations") if isinstance(data, dict) else data
    if not isinstance(rules, list) or not rules:
        raise TransformError(f"{source}: expected a list of rules under `transformations:`.")
    parsed = [_rule(rule, n, source) for n, rule in enumerate(rules, start=1)]
    names = [rule.name for rule in parsed]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TransformError(f"{source}: two rules are named {twice[0]!r}; each rule needs its own name.")
    return parsed


def _rule(rule: Any, n: int, source: str) -> Transformation:
    where = f"{source}: rule {n}"
    if not isinstance(rule, dict):
        raise TransformError(f"{where}: a rule is a mapping (name, if, and one or more of {', '.join(ACTIONS)}).")
    name = rule.get("name", f"rule {n}")
    if not isinstance(name, str) or not name.strip():
        raise TransformError(f"{where}: `name` must be text.")
    where = f"{source}: rule {n} ({name})"
    unknown = sorted(set(rule) - {"name", "if", *ACTIONS})
    if unknown:
        raise TransformError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; use name, if, {', '.join(ACTIONS)}."
        )
    if not any(rule.get(action) for action in ACTIONS):
        raise TransformError(f"{where}: nothing to do; give at least one of {', '.join(ACTIONS)}.")
    condition, condition_text = None, rule.get("if")
    if condition_text is not None:
        if not isinstance(condition_text, str) or not condition_text.strip():
            raise TransformError(f"{where}: `if` must be an FQL condition, e.g. if: event = 'Order Completed'.")
        try:
            condition = fql.parse(condition_text)
        except fql.FqlError as exc:
            raise TransformError(f"{where}: `if` is not valid FQL: {exc}") from exc
    new_name = rule.get("rename_event")
    if new_name is not None and (not isinstance(new_name, str) or not new_name):
        raise TransformError(f"{where}: `rename_event` must be the new event name.")
    renames = rule.get("rename") or {}
    sets = rule.get("set") or {}
    removes = rule.get("remove") or []
    if not isinstance(renames, dict) or not all(isinstance(v, str) for v in renames.values()):
        raise TransformError(
            f"{where}: `rename` maps a path to its new path, e.g. properties.curr: properties.currency."
        )
    if not isinstance(sets, dict):
        raise TransformError(f"{where}: `set` maps a path to its value, e.g. context.app.channel: web.")
    if not isinstance(removes, list) or not all(isinstance(p, str) for p in removes):
        raise TransformError(f"{where}: `remove` is a list of paths, e.g. [properties.debug].")
    return Transformation(
        name=name.strip(),
        condition=condition,
        condition_text=condition_text,
        rename_event=new_name,
        rename=tuple((_path(old, where), _path(new, where)) for old, new in renames.items()),
        set=tuple((_path(path, where), value) for path, value in sets.items()),
        remove=tuple(_path(path, where) for path in removes),
    )


def _path(text: Any, where: str) -> PathKey:
    parts = tuple(text.split(".")) if isinstance(text, str) else ()
    if not parts or any(not p for p in parts):
        raise TransformError(f"{where}: {text!r} is not a path (dot-separated keys, e.g. properties.currency).")
    if len(parts) == 1 and parts[0] in PROTECTED:
        raise TransformError(f"{where}: {parts[0]} says what the event is; a transformation may not change it.")
    return parts


def condition_of(transformations: Sequence[Transformation]) -> fql.Expr | None:
    """One FQL condition that holds wherever some rule may apply (``None``: a rule applies to every event)."""
    if any(t.condition is None for t in transformations):
        return None
    conditions = tuple(t.condition for t in transformations if t.condition is not None)
    return conditions[0] if len(conditions) == 1 else fql.Logic("or", conditions)


class Applied(NamedTuple):
    """What :func:`apply` did to one message."""

    #: The message as the rules left it (a copy; the given message when no rule applied).
    message: dict[str, Any]
    #: The rules that changed something, in order.
    applied: list[str]
    #: Whether its shape changed (a path added, removed, moved, or holding another JSON type), not only values.
    reshaped: bool
    #: The rules whose condition held (or that have none), in order, whether or not they changed anything.
    matched: list[str]


def apply(
    transformations: Sequence[Transformation],
    message: Mapping[str, Any],
    *,
    only: Collection[str] | None = None,
    in_place: bool = False,
) -> Applied:
    """The message after every rule whose condition holds (each condition read on the message as the
    rules before left it), the rules that changed something, and whether its shape changed.
    ``message`` is not changed, unless ``in_place`` (the caller owns it: no copy is made).

    ``only``: apply exactly these rules, conditions unread (the same changes made to another form of
    one event: the message as received, which may lack fields the route or the server gave it).
    """
    out: dict[str, Any] = message if in_place and isinstance(message, dict) else dict(message)
    copied, reshaped = in_place, False
    applied: list[str] = []
    matched: list[str] = []
    for rule in transformations:
        if not (rule.name in only if only is not None else rule.holds(out)):
            continue
        matched.append(rule.name)
        if not copied:
            out, copied = _copy(message), True
        changed, moved = _apply(rule, out)
        if changed:
            applied.append(rule.name)
            reshaped = reshaped or moved
    return Applied(out, applied, reshaped, matched)


def _apply(rule: Transformation, message: dict[str, Any]) -> tuple[bool, bool]:
    """Apply one rule in place: whether it changed anything, and whether it changed the shape."""
    changed = reshaped = False
    if rule.rename_event is not None and message.get("type") == "track" and message.get("event") != rule.rename_event:
        message["event"] = rule.rename_event  # a string for a string: the shape stays
        changed = True
    for old, new in rule.rename:
        found, value = _pop(message, old)
        if found:
            _put(message, new, value)
            changed = True
            reshaped = reshaped or old != new
    for path, value in rule.set:
        found, current = _get(message, path)
        if not found or current != value:
            reshaped = reshaped or not found or not _same_shape(current, value)
            _put(message, path, _copy(value))
            changed = True
    for path in rule.remove:
        found, _ = _pop(message, path)
        changed = changed or found
        reshaped = reshaped or found
    return changed, reshaped


def _same_shape(a: Any, b: Any) -> bool:
    """Whether two JSON values have the same JSON type and, for objects and arrays, the same paths."""
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, dict | list):
        return paths_of({"v": a}, frozenset()) == paths_of({"v": b}, frozenset())
    return True


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (an orjson round trip: several times faster than copy.deepcopy);
    strings, numbers, booleans and null are immutable and returned as they are."""
    if value is None or isinstance(value, str | int | float):
        return value
    return orjson.loads(orjson.dumps(value))


def _get(message: Mapping[str, Any], path: PathKey) -> tuple[bool, Any]:
    node: Any = message
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _pop(message: dict[str, Any], path: PathKey) -> tuple[bool, Any]:
    found, parent = _get(message, path[:-1])
    if not found or not isinstance(parent, dict) or path[-1] not in parent:
        return False, None
    return True, parent.pop(path[-1])


def _put(message: dict[str, Any], path: PathKey, value: Any) -> None:
    node = message
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """What a transformation changed, field by field: ``("-", path, old)`` and ``("+", path, new)``
    pairs, objects walked, anything else (arrays included) compared whole; in path order."""
    old, new = _flat(before), _flat(after)
    out: list[tuple[str, str, Any]] = []
    for path in sorted(old.keys() | new.keys()):
        if path in old and (path not in new or old[path] != new[path]):
            out.append(("-", path, old[path]))
        if path in new and (path not in old or old[path] != new[path]):
            out.append(("+", path, new[path]))
    return out


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, child in value.items():
        path = prefix + key
        if isinstance(child, dict) and child:
            out.update(_flat(child, path + "."))
        else:
            out[path] = child
    return out
