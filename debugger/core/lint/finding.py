"""What the linter reports: :class:`Finding`, its categories, and the small helpers every rule uses.

A finding extends :class:`debugger.core.protocol.Problem` with what a tracking-plan violation needs
(the rule's category, what was expected and what was found). Protocol problems stored at
ingest are read back as findings of category ``protocol`` so that everything wrong with an
event can be listed, filtered and exported in one shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from debugger.core.protocol import ERROR, WARNING

INFO = "info"
SEVERITIES: tuple[str, ...] = (ERROR, WARNING, INFO)

PROTOCOL, STRICT, NAMING, SEMANTIC, PLAN = "protocol", "strict", "naming", "semantic", "plan"
#: Every category, in the order the Problems tab and `segdbg check` list them.
CATEGORIES: tuple[str, ...] = (PROTOCOL, STRICT, PLAN, SEMANTIC, NAMING)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with one event.

    Attributes:
        code: stable rule code, e.g. ``traits_on_track`` or ``type``.
        path: JSON path of the offending value (``properties.products[0].price``; ``""`` = whole).
        message: one readable sentence.
        severity: ``error`` (Segment drops it, or the tracking plan forbids it), ``warning``
            (accepted but mangled or off-spec) or ``info`` (naming conventions).
        category: ``protocol``, ``strict``, ``naming``, ``semantic`` or ``plan``.
        expected: what the rule wanted, in words (``number``, ``Title Case``), if it says.
        actual: what the event had, in words (``string``, ``"product added"``), if it says.
    """

    code: str
    path: str
    message: str
    severity: str = WARNING
    category: str = STRICT
    expected: str | None = None
    actual: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The JSON form: the Problem keys plus category, expected and actual."""
        return {
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
            "category": self.category,
            "expected": self.expected,
            "actual": self.actual,
        }


def from_problem(problem: Mapping[str, Any]) -> Finding:
    """A stored protocol problem (``events.problems`` item) as a finding."""
    return Finding(
        code=str(problem.get("code", "")),
        path=str(problem.get("path", "")),
        message=str(problem.get("message", "")),
        severity=str(problem.get("severity", ERROR)),
        category=PROTOCOL,
    )


#: The status mark of each severity, as the stream, `segdbg events` and `check` show it.
SEVERITY_MARK = {ERROR: "✗", WARNING: "⚠", INFO: "·"}


def summary_mark(findings: Sequence[Finding]) -> tuple[str, str]:
    """An event's status cell from its findings, the worst first: ``("⚠ traits_on_track +1", "warning")``
    (``("", "")`` for none). The TUI stream, `segdbg events` and the API say the same (docs/tui.md)."""
    if not findings:
        return "", ""
    worst = min(findings, key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else len(SEVERITIES))
    more = f" +{len(findings) - 1}" if len(findings) > 1 else ""
    return f"{SEVERITY_MARK.get(worst.severity, '•')} {worst.code}{more}", worst.severity


_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def join(base: str, key: str | int) -> str:
    """Extend a JSON path: ``join("properties", "price")`` → ``properties.price``.

    Array indexes become ``[0]``; keys that are not plain identifiers are quoted
    (``properties["a.b"]``) so that the path stays unambiguous.
    """
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{base}.{key}" if base else key
    quoted = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{base}[{quoted}]"


def kind(value: object) -> str:
    """The JSON type name of a value: string, integer, number, boolean, null, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def json_type(value: object) -> str:
    """The JSON type name without the integer/number split: string, number, boolean, null, array, object."""
    name = kind(value)
    return "number" if name == "integer" else name


def short(value: object, limit: int = 40) -> str:
    """A bounded repr for messages; strings keep their quotes."""
    if isinstance(value, dict):
        text = "{…}" if value else "{}"
    elif isinstance(value, list):
        text = "[…]" if value else "[]"
    elif isinstance(value, str):
        text = '"' + value + '"'
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
