"""Read tracking-plan files, and reload them when they change (the I/O shell around plan.py).

A plan is one file (segdbg YAML, Segment's JSON export, or JSON Schemas keyed by event name)
or a folder of JSON Schema files, one per event (named by the schema's ``title``, else the file
name). :class:`PlanWatcher` lets a long-running view (the TUI) pick up edits: lint results are
computed at read time, so a reloaded plan applies to everything already captured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.plan import Plan, PlanError, Rule, event_schema, parse_text

PLAN_SUFFIXES = (".json", ".yaml", ".yml")


def read_plan(path: Path) -> Plan:
    """Read and parse a plan file or folder.

    Raises:
        PlanError: unreadable, or not a plan; the message says which file and why.
    """
    try:
        if path.is_dir():
            return _folder(path)
        return parse_text(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise PlanError(f"{path}: cannot read ({exc.strerror or exc}).") from exc
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8 text.") from exc


def _folder(folder: Path) -> Plan:
    rules: list[Rule] = []
    for file in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".json" and p.is_file()):
        try:
            schema = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PlanError(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
        if not isinstance(schema, dict):
            raise PlanError(f"{file}: a JSON Schema must be an object.")
        title = schema.get("title")
        rules.append(event_schema(title if isinstance(title, str) and title else file.stem, schema))
    if not rules:
        raise PlanError(f"{folder}: no *.json schema files in this folder.")
    return Plan(folder.name, tuple(rules), "json-schema")


def load(
    path: Path, *, allow_unplanned_events: bool | None = None, allow_unplanned_properties: bool | None = None
) -> CompiledPlan:
    """Read, parse and compile a plan in one step."""
    return CompiledPlan(
        read_plan(path),
        allow_unplanned_events=allow_unplanned_events,
        allow_unplanned_properties=allow_unplanned_properties,
    )


def _signature(path: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except OSError:
        return ()


class PlanWatcher:
    """The current plan of a file that may be edited while segdbg runs.

    ``current()`` stats the file at most every ``interval`` seconds and reloads it when it
    changed. A broken edit keeps the last good plan and sets ``error`` (shown to the user)
    until the file is fixed; ``version`` increases on every successful reload.

    Args:
        path: the plan file or folder.
        interval: the least time between two checks of the file.
        clock: monotonic seconds (injected by tests).
    """

    def __init__(self, path: Path, *, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.interval = interval
        self.clock = clock
        self.error: str | None = None
        self.version = 0
        self._plan: CompiledPlan | None = None
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked = float("-inf")

    def current(self) -> CompiledPlan | None:
        """The plan to use now (``None`` only if it never loaded)."""
        now = self.clock()
        if now - self._checked < self.interval and self._signature is not None:
            return self._plan
        self._checked = now
        signature = _signature(self.path)
        if signature == self._signature:
            return self._plan
        self._signature = signature
        try:
            self._plan = load(self.path)
        except PlanError as exc:
            self.error = str(exc)
        else:
            self.error = None
            self.version += 1
        return self._plan
