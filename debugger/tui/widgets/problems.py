"""The Problems tab's content: everything segdbg can say about one event, by category."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from debugger.core.lint.codes import DROPPED, consequence, remedy
from debugger.core.lint.finding import CATEGORIES, Finding, summary_mark
from debugger.core.pretty.render import inert

MARK = {"error": ("✗", "bold red"), "warning": ("⚠", "yellow"), "info": ("·", "cyan")}
HEADING = {
    "protocol": "Segment would drop or change it",
    "strict": "Accepted, then dropped or mangled downstream",
    "plan": "Tracking plan",
    "semantic": "Segment Spec (semantic events)",
    "naming": "Naming conventions",
}


def problems_view(
    event: dict[str, Any] | None, findings: Sequence[Finding], plan_name: str | None = None
) -> RenderableType:
    """Each finding: severity, code, JSON path, message, expected/actual when the rule says, then what Segment
    does with it (dropped, altered, advisory) and the fix, in the words of the event's library when it has its
    own (docs/problems.md)."""
    if event is None:
        return Text("")
    if not findings:
        note = f" and conforms to the plan {inert(plan_name, 60)}" if plan_name else ""
        return Text(f"✓ No problems: Segment would accept this event as it is{note}.", style="green")
    parts: list[RenderableType] = [_verdict(event, findings)]
    library = event.get("library_name") if isinstance(event.get("library_name"), str) else None
    for category in CATEGORIES:
        mine = [f for f in findings if f.category == category]
        if not mine:
            continue
        heading = HEADING[category] + (f" {inert(plan_name, 60)}" if category == "plan" and plan_name else "")
        parts += [Text(""), Text(f"{heading} ({len(mine)})", style="bold")]
        table = Table(box=None, padding=(0, 2), show_edge=False, show_header=False)
        for column in ("mark", "code", "path", "message"):
            table.add_column(column, no_wrap=column != "message")
        for finding in mine:
            mark, style = MARK.get(finding.severity, ("•", ""))
            message = Text(inert(finding.message, 400))
            if finding.expected is not None or finding.actual is not None:
                message.append(
                    f"\nexpected {inert(finding.expected or '—', 80)} · got {inert(finding.actual or '—', 80)}",
                    style="dim",
                )
            effect = consequence(finding.code)
            message.append(f"\n{effect}", style="bold red" if effect == DROPPED else "bold")
            fix = remedy(finding.code, library)
            if fix:
                message.append(f" · fix: {inert(fix, 400)}", style="dim")
            table.add_row(
                Text(mark, style=style),
                Text(inert(finding.code, 40), style=style),
                Text(inert(finding.path or "(message)", 80), style="cyan"),
                message,
            )
        parts.append(table)
    return Group(*parts)


def _verdict(event: dict[str, Any], findings: Sequence[Finding]) -> Text:
    status = str(event.get("status"))
    if status == "rejected":
        return Text("✗ The request was refused whole; nothing in it reached Segment.", style="bold red")
    if status == "invalid":
        return Text("✗ Segment would drop this event.", style="bold red")
    if status == "duplicate":
        return Text(f"⧉ A repeat of event #{event.get('duplicate_of')}; Segment would drop it.", style="yellow")
    if any(f.severity == "error" for f in findings):
        return Text("✗ Accepted by Segment, but it violates the tracking plan.", style="bold red")
    if any(f.severity == "warning" for f in findings):
        return Text("⚠ Accepted, with warnings.", style="yellow")
    return Text("· Accepted; naming could follow Segment's conventions better.", style="cyan")


def lint_mark(findings: Sequence[Finding]) -> tuple[str, str]:
    """The stream's status cell for an event's findings: ``("⚠ traits_on_track +1", "yellow")``."""
    text, severity = summary_mark(findings)
    return text, MARK.get(severity, ("•", ""))[1] if text else ""
