"""`check`'s findings counted by rule: how often, in how many events, a few examples (pure).

Shared by `segdbg check` (its summary table) and the MCP server's ``check`` tool, so both group
findings the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.finding import CATEGORIES, PLAN, PROTOCOL, Finding

#: In the summary by rule: how many example events (by label and path), and ids of each.
EXAMPLES, EXAMPLE_IDS = 2, 3
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def check_label(row: Mapping[str, Any]) -> str:
    """An event's group label in `check`: ``Order Completed (track)``, or the type alone (``IDENTIFY``)."""
    kind = (row.get("type") or "?").upper()
    return f"{row['name']} ({kind.lower()})" if row.get("name") else kind


def default_categories(with_plan: bool) -> set[str]:
    """The rule categories `check` reports when none are chosen: all but plan; with a plan, protocol and plan."""
    return {PROTOCOL, PLAN} if with_plan else set(CATEGORIES) - {PLAN}


@dataclass
class RuleTally:
    """One rule code across the whole selection: how often, in how many events, a few examples."""

    code: str
    category: str
    severity: str
    message: str
    findings: int = 0
    events: set[int] = field(default_factory=set)
    examples: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, label: str, finding: Finding, event_id: int) -> None:
        """Count one finding of this rule in event ``event_id`` (labelled ``label``)."""
        self.findings += 1
        self.events.add(event_id)
        key = (label, finding.path)
        if key in self.examples:
            if len(self.examples[key]) < EXAMPLE_IDS and event_id not in self.examples[key]:
                self.examples[key].append(event_id)
        elif len(self.examples) < EXAMPLES:
            self.examples[key] = [event_id]


def tally(by_rule: dict[str, RuleTally], row: Mapping[str, Any], findings: Iterable[Finding]) -> None:
    """Add one event's findings to ``by_rule`` (code → tally)."""
    label = check_label(row)
    for f in findings:
        rule = by_rule.get(f.code) or by_rule.setdefault(f.code, RuleTally(f.code, f.category, f.severity, f.message))
        rule.add(label, f, row["id"])


def ordered(rules: Iterable[RuleTally]) -> list[RuleTally]:
    """Errors first, then warnings, then info; the most frequent first within each."""
    return sorted(rules, key=lambda r: (SEVERITY_ORDER.get(r.severity, 3), -r.findings, r.code))
