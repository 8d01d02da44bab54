"""Plan coverage (docs/tracking-plans.md, "Coverage"): which planned events were seen valid, only invalid, or never.

Pure: the store (:mod:`debugger.store.coverage`) feeds it the capture's groups — one per
(type, name, source, library, app version, status) with their event counts — and a bounded
sample of stored messages per group; this module matches groups to the plan's rules, judges
the samples with :class:`~debugger.core.lint.checker.CompiledPlan` and builds the report.

A group is *valid* when at least one of its sampled events has status ``ok``/``duplicate`` and no
plan finding; *only invalid* when every sampled event has a finding (a protocol problem that
made the row ``invalid``, or a plan violation). Reasons are counted over the sampled events.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.finding import Finding
from debugger.core.lint.plan import COMMON, GROUP, IDENTIFY, TRACK

VALID, INVALID, NEVER = "valid", "invalid", "never"
#: Breakdown dimensions: the option value and the group key field.
DIMENSIONS = {"source": "write_key", "library": "library", "app": "app_version"}
#: The breakdowns counted exactly from the groups (``app`` is counted over the sampled events).
EXACT = ("source", "library")
TOP_REASONS = 3
#: How each status shows (CLI table, TUI): mark and Rich style.
MARKS = {VALID: ("✓", "green"), INVALID: ("✗", "red"), NEVER: ("·", "yellow")}


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Events alike for coverage: same call, same source (write key), library and app version."""

    type: str
    name: str | None
    write_key: str | None
    library: str | None
    app_version: str | None


@dataclass
class _Tally:
    """Counts for one planned event (or one of its breakdown cells)."""

    events: int = 0
    sampled: int = 0
    sampled_valid: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def status(self) -> str:
        if self.sampled_valid:
            return VALID
        return INVALID if self.events else NEVER

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "events": self.events,
            "sampled": self.sampled,
            "sampled_valid": self.sampled_valid,
            "reasons": _reasons(self.reasons),
        }


def _reasons(counter: Counter[tuple[str, str]], top: int | None = None) -> list[dict[str, Any]]:
    return [{"code": code, "path": path, "count": n} for (code, path), n in counter.most_common(top)]


@dataclass
class _Property:
    path: str
    valid: int = 0
    invalid: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def status(self) -> str:
        if self.valid:
            return VALID
        return INVALID if self.invalid else NEVER


@dataclass
class _Planned:
    kind: str
    name: str | None
    required: list[str]
    total: _Tally = field(default_factory=_Tally)
    cells: dict[str, dict[str, _Tally]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})
    properties: dict[str, _Property] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name if self.kind == TRACK and self.name else f"{self.kind} {self.name or ''}".strip()


def required_properties(schema: Mapping[str, Any], kind: str) -> list[str]:
    """The top-level required properties (or traits) of a rule's message schema, as paths."""
    part = "traits" if kind in (IDENTIFY, GROUP) else "properties"
    listed = schema.get("properties")
    sub = listed.get(part) if isinstance(listed, dict) else None
    required = sub.get("required") if isinstance(sub, dict) else None
    return [f"{part}.{name}" for name in required if isinstance(name, str)] if isinstance(required, list) else []


def _under(finding_path: str, path: str) -> bool:
    return finding_path == path or finding_path.startswith((path + ".", path + "["))


class Coverage:
    """Accumulates groups and samples for one plan; :meth:`to_json` is the report.

    Args:
        plan: the compiled plan the capture is measured against.
        sample: how many events per group were (at most) sampled: reported, for the method.
    """

    def __init__(self, plan: CompiledPlan, *, sample: int) -> None:
        self.plan = plan
        self.sample = sample
        self._planned: dict[tuple[str, str | None], _Planned] = {}
        for rule in plan.plan.rules:
            if rule.kind == COMMON:
                continue
            self._planned[(rule.kind, rule.name)] = _Planned(
                rule.kind, rule.name, required_properties(rule.schema, rule.kind)
            )
        self._kinds = {kind for kind, _ in self._planned}
        self._unplanned: dict[tuple[str, str | None], dict[str, Any]] = {}
        self.events = 0

    def rule_of(self, kind: str, name: str | None) -> tuple[str, str | None] | None:
        """The planned rule a call of this kind and name is checked against (as CompiledPlan.check does)."""
        if (kind, name) in self._planned:
            return (kind, name)
        if kind != TRACK and (kind, None) in self._planned:
            return (kind, None)
        return None

    def add_group(self, key: GroupKey, count: int) -> None:
        """``count`` events of one group (any status but ``rejected``)."""
        self.events += count
        rule = self.rule_of(key.type, key.name)
        if rule is None:
            if key.type != TRACK and key.type not in self._kinds:
                return  # a kind the plan says nothing about (no page rules: pages are not "unplanned")
            entry = self._unplanned.setdefault(
                (key.type, key.name), {"type": key.type, "name": key.name, "events": 0, "sources": Counter()}
            )
            entry["events"] += count
            entry["sources"][key.write_key or ""] += count
            return
        planned = self._planned[rule]
        planned.total.events += count
        for tally in self._cells(planned, key, EXACT):
            tally.events += count

    def _cells(self, planned: _Planned, key: GroupKey, dims: Iterable[str] = DIMENSIONS) -> list[_Tally]:
        return [planned.cells[dim].setdefault(str(getattr(key, DIMENSIONS[dim]) or ""), _Tally()) for dim in dims]

    def add_sample(
        self, key: GroupKey, stored: Mapping[str, Any], problems: Iterable[Mapping[str, Any]] | None
    ) -> None:
        """One sampled event of a group: ``problems`` are the stored protocol problems of an ``invalid`` row
        (``None`` for a row Segment would accept); the message is checked against the plan.

        The app version is read here, from the message (it has no column): the ``app`` breakdown
        counts sampled events only.
        """
        rule = self.rule_of(key.type, key.name)
        if rule is None:
            return
        planned = self._planned[rule]
        context = stored.get("context")
        app = context.get("app") if isinstance(context, dict) else None
        version = app.get("version") if isinstance(app, dict) else None
        key = GroupKey(key.type, key.name, key.write_key, key.library, None if version is None else str(version))
        planned.cells["app"].setdefault(key.app_version or "", _Tally()).events += 1
        findings: list[tuple[str, str]] = []
        if problems is not None:
            findings = [(str(p.get("code", "invalid")), str(p.get("path", "") or "")) for p in problems]
            findings = findings or [("invalid", "")]
        plan_findings: list[Finding] = self.plan.check(stored)
        findings += [(f.code, f.path) for f in plan_findings]
        tallies = [planned.total, *self._cells(planned, key)]
        for tally in tallies:
            tally.sampled += 1
            if findings:
                tally.reasons.update(findings)
            else:
                tally.sampled_valid += 1
        part = stored.get(planned.required[0].split(".", 1)[0]) if planned.required else None
        for path in planned.required:
            prop = planned.properties.setdefault(path, _Property(path))
            name = path.split(".", 1)[1]
            if not isinstance(part, dict) or name not in part:
                continue
            wrong = [(code, where) for code, where in findings if _under(where, path)]
            if wrong or problems is not None:  # a dropped message carries no property anywhere
                prop.invalid += 1
                prop.reasons.update(wrong or findings)
            else:
                prop.valid += 1

    def to_json(self, *, by: str | None = None) -> dict[str, Any]:
        """The report: per planned event its status, reasons and breakdowns; unplanned events; the coverage %."""
        events = []
        for planned in self._planned.values():
            entry = {
                "type": planned.kind,
                "name": planned.name,
                "label": planned.label,
                **planned.total.to_json(),
                "reasons": _reasons(planned.total.reasons, TOP_REASONS),
                "by": {
                    dim: {value: tally.to_json() for value, tally in sorted(cells.items())}
                    for dim, cells in planned.cells.items()
                },
                "properties": [
                    {
                        "path": path,
                        "status": (prop := planned.properties.get(path, _Property(path))).status,
                        "sampled_valid": prop.valid,
                        "sampled_invalid": prop.invalid,
                        "reasons": _reasons(prop.reasons, TOP_REASONS),
                    }
                    for path in planned.required
                ],
            }
            events.append(entry)
        seen_valid = sum(1 for e in events if e["status"] == VALID)
        counts = Counter(e["status"] for e in events)
        unplanned = sorted(self._unplanned.values(), key=lambda u: (-u["events"], u["type"], u["name"] or ""))
        return {
            "plan": self.plan.name,
            "coverage": round(100.0 * seen_valid / len(events), 1) if events else 100.0,
            "planned": len(events),
            "valid": counts[VALID],
            "invalid": counts[INVALID],
            "never": counts[NEVER],
            "events": self.events,
            "sample_per_group": self.sample,
            "sampled_counts": ["by.app"],
            "by": by,
            "planned_events": events,
            "unplanned": [
                {"type": u["type"], "name": u["name"], "events": u["events"], "sources": dict(u["sources"])}
                for u in unplanned
            ],
        }


def describe(reasons: Iterable[Mapping[str, Any]]) -> str:
    """Reasons as one line: ``required properties.order_id ×12, type properties.total ×3``."""
    return ", ".join(f"{r['code']}{' ' + r['path'] if r['path'] else ''} ×{r['count']}" for r in reasons)


def junit(report: Mapping[str, Any]) -> bytes:
    """The report as JUnit XML: one ``<testcase>`` per planned event, a ``<failure>`` when never seen or only invalid."""
    events = report["planned_events"]
    failures = sum(1 for e in events if e["status"] != VALID)
    suites = ET.Element("testsuites", name="segdbg coverage", tests=str(len(events)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"tracking plan {report['plan']}",
        tests=str(len(events)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="coverage", value=f"{report['coverage']}")
    ET.SubElement(props, "property", name="unplanned", value=str(len(report["unplanned"])))
    for event in events:
        case = ET.SubElement(suite, "testcase", classname=f"plan.{event['type']}", name=event["label"])
        if event["status"] == NEVER:
            ET.SubElement(case, "failure", type="never_seen", message=f"{event['label']} was never seen.")
        elif event["status"] == INVALID:
            message = f"{event['label']}: {event['events']} event(s) seen, none valid: {describe(event['reasons'])}"
            failure = ET.SubElement(case, "failure", type="only_invalid", message=message)
            failure.text = "\n".join(
                [message]
                + [
                    f"{p['path']}: {p['status']}{' (' + describe(p['reasons']) + ')' if p['reasons'] else ''}"
                    for p in event["properties"]
                ]
            )
    if report["unplanned"]:
        out = ET.SubElement(suite, "system-out")
        out.text = "Unplanned events: " + ", ".join(
            f"{u['type']} {u['name'] or ''} ×{u['events']}".replace("  ", " ") for u in report["unplanned"]
        )
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))
