"""What the TUI lints with: one Linter, following a tracking-plan file edited while the TUI runs.

Lint runs when an event is shown (about 40 µs each, bench/lint.py), never at ingest, so a
reloaded plan re-judges every row on screen and every event selected afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from debugger.core.lint.finding import Finding
from debugger.core.lint.linter import for_plan
from debugger.store.planfile import PlanWatcher, load


class LintState:
    """The current linter, and the plan file it follows (if any).

    Args:
        plan: a tracking-plan file or folder, or ``None`` for lint without a plan.

    Raises:
        PlanError: the plan cannot be read at start (later broken edits keep the last good plan).
    """

    def __init__(self, plan: Path | None) -> None:
        self.watcher = PlanWatcher(plan, interval=0.0) if plan is not None else None
        compiled = None
        if plan is not None and self.watcher is not None:
            compiled = load(plan)  # raises PlanError: the CLI reports it before the TUI starts
            self.watcher.current()
        self.linter = for_plan(compiled)
        self.version = self.watcher.version if self.watcher is not None else 0

    @property
    def plan_name(self) -> str | None:
        """The plan's name, for the Problems tab."""
        return self.linter.plan.name if self.linter.plan is not None else None

    @property
    def error(self) -> str | None:
        """Why the last edit of the plan file could not be used (the previous plan still applies)."""
        return self.watcher.error if self.watcher is not None else None

    def findings(self, event: Mapping[str, Any] | None) -> list[Finding]:
        """Everything about a stored event: its stored problems, then lint and plan findings."""
        return self.linter.event(event) if event else []

    def refresh(self) -> bool:
        """Reload the plan if its file changed (call off the UI thread); ``True`` when the linter changed."""
        if self.watcher is None:
            return False
        before = (self.watcher.version, self.watcher.error)
        plan = self.watcher.current()
        if (self.watcher.version, self.watcher.error) == before:
            return False
        if self.watcher.version != self.version:
            self.linter = for_plan(plan)  # one reference swap: the UI thread sees the old or the new linter
            self.version = self.watcher.version
        return True
