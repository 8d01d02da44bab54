"""`segdbg check`: explain what is wrong with captured events, grouped by event and rule; exit 3 on any."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.options import (
    QueryCommand,
    db_option,
    parse_query,
    query_argument,
    resolve_db,
    scope_option,
    with_scope,
)
from debugger.cli.selection import progress, select
from debugger.core.exitcode import ExitCode
from debugger.core.lint.codes import CODES, close_codes, consequence, explain
from debugger.core.lint.finding import CATEGORIES, PLAN, Finding
from debugger.core.lint.naming import EVENT_CASES, KEY_CASES
from debugger.core.lint.tally import RuleTally, check_label, default_categories, ordered, tally
from debugger.core.pretty.render import inert
from debugger.core.protocol import json_object
from debugger.core.timefmt import format_timestamp

FORMATS = ("table", "json", "jsonl")
MARK = {"error": "✗", "warning": "⚠", "info": "·"}


def violation_record(
    row: Mapping[str, Any],
    finding: Finding,
    *,
    plan_name: str | None,
    plan_id: str | None,
    source_label: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A finding shaped like Segment's forwarded "Violation Generated" track call (Protocols docs).

    The ``properties`` carry Segment's keys (eventName, violationField, violationType, …) plus
    segdbg's own: ``violationCode``, ``violationCategory``, ``severity``, ``consequence``, ``expected``,
    ``actual`` and ``segdbgEventId`` (the row id, for `segdbg events id:…`).
    """
    stored = json_object(row.get("stored"))
    context = json_object(stored.get("context"))
    app = context.get("app") if isinstance(context.get("app"), dict) else None
    kind = stored.get("type") or row.get("type")
    name = stored.get("event") if kind == "track" else stored.get("name")
    digest = hashlib.sha1(f"{row.get('id')}:{finding.code}:{finding.path}".encode()).hexdigest()[:28]
    return {
        "type": "track",
        "event": "Violation Generated",
        "userId": "schema-violations",
        "messageId": f"sch-{digest}",
        "timestamp": format_timestamp(now),
        "context": {"app": app, "library": context.get("library")},
        "integrations": {},
        "properties": {
            "appVersion": str(app.get("version", "")) if app else "",
            "eventMessageID": row.get("message_id"),
            "eventName": name if isinstance(name, str) else None,
            "eventSentAt": stored.get("sentAt"),
            "eventTimestamp": stored.get("timestamp"),
            "eventType": kind,
            "sourceID": row.get("write_key"),
            "sourceName": source_label or row.get("write_key"),
            "sourceSlug": row.get("write_key"),
            "trackingPlanID": plan_id,
            "trackingPlanName": plan_name,
            "violationDescription": finding.message,
            "violationField": finding.path,
            "violationType": finding.code.replace("_", " ").title(),
            "violationCode": finding.code,
            "violationCategory": finding.category,
            "severity": finding.severity,
            "consequence": consequence(finding.code),
            "expected": finding.expected,
            "actual": finding.actual,
            "segdbgEventId": row.get("id"),
        },
    }


@dataclass
class _Group:
    label: str
    events: set[int] = field(default_factory=set)
    rules: dict[tuple[str, str, str], list[tuple[Finding, int]]] = field(default_factory=dict)


@click.command("check", cls=QueryCommand)
@query_argument()
@db_option
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Tracking plan: segdbg YAML, Segment's JSON export, JSON Schemas by event, or a folder of them.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help='table for people; json/jsonl: Segment-style "Violation Generated" records.',
)
@click.option(
    "--rules",
    default=None,
    metavar="LIST",
    help=f"Categories to report ({','.join(CATEGORIES)} or all). Default: all but plan; with --plan: protocol,plan.",
)
@click.option("--ignore", multiple=True, metavar="RULE", help="Leave out a rule code or category (repeatable).")
@click.option(
    "--event-case",
    type=click.Choice(EVENT_CASES),
    default=None,
    help="Event-name casing (default: the plan's, else title).",
)
@click.option(
    "--key-case",
    type=click.Choice(KEY_CASES),
    default=None,
    help="Property/trait key casing (default: the plan's, else snake).",
)
@click.option(
    "--all-findings",
    is_flag=True,
    help="table: list every finding, by event and rule (the default with --plan); else one line per rule with counts.",
)
@click.option(
    "--allow-unplanned-events",
    is_flag=True,
    default=None,
    help="Track events missing from the plan are not violations.",
)
@click.option(
    "--allow-unplanned-properties",
    is_flag=True,
    default=None,
    help="Properties missing from the plan are not violations.",
)
@scope_option
@click.option(
    "--explain",
    "explain_code",
    default=None,
    metavar="CODE",
    help="Print what CODE means, what Segment does with it and how to fix it (per library); read nothing.",
)
@click.option(
    "--double-fire-ms",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    metavar="MS",
    help="double_fire: the same call with the same properties from one identity within MS counts as fired twice.",
)
@click.option(
    "--coverage",
    "show_coverage",
    is_flag=True,
    help="With --plan: per planned event (and required property) seen valid, only invalid (why), or never; unplanned events.",
)
@click.option(
    "--by",
    type=click.Choice(("source", "library", "app")),
    default=None,
    help="--coverage table: a column per source (write key), context.library.name or context.app.version.",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PERCENT",
    help="--coverage: exit 3 when fewer planned events than this were seen valid (implies --coverage).",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    metavar="FILE",
    help="--coverage: also write JUnit XML, one test case per planned event (implies --coverage).",
)
def command(
    query: str,
    db: Path | None,
    plan_path: Path | None,
    fmt: str,
    rules: str | None,
    ignore: tuple[str, ...],
    event_case: str | None,
    key_case: str | None,
    all_findings: bool,
    allow_unplanned_events: bool | None,
    allow_unplanned_properties: bool | None,
    scope: str | None,
    explain_code: str | None,
    double_fire_ms: int,
    show_coverage: bool,
    by: str | None,
    min_coverage: float | None,
    junit_path: Path | None,
) -> None:
    """Explain what is wrong with captured events; exit 3 if anything is.

    Every selected event (all statuses) is checked for what Segment would drop (protocol),
    what it accepts but mangles (strict: traits on track, reserved traits of the wrong type,
    integrations that disable everything, ...), the Segment Spec's semantic events (Ecommerce,
    Mobile, B2B SaaS, Video, Email: near-miss names, property types), naming conventions
    (Object Action, Title Case events, snake_case keys, no ids in names), and, with --plan,
    your tracking plan (unplanned events and properties, required properties, types).
    Across events (strict; check only): timestamps going back within a request, the same
    call with the same properties twice within --double-fire-ms, and traits that change
    in an identify after tracks in the same session.
    The table has one line per rule with its counts and a few example events; with --plan,
    or --all-findings, it lists every finding, grouped by event and rule (json and jsonl
    always list every finding). Lint runs at read time, so an edited plan applies to
    everything already captured.

    \b
    Examples:
      segdbg check                                  # everything, all rules: counts by rule
      segdbg check --all-findings                   # ... every finding, by event
      segdbg check 'event:"Order Completed"'        # one event (QUERY: the filter language)
      segdbg check -type:track                      # all but tracks (-term negates; never an option)
      segdbg check --plan plan.yaml                 # plan violations and dropped events
      segdbg check --plan plan.yaml --rules all     # ... plus strict, semantic and naming
      segdbg check --ignore naming --format jsonl   # machine-readable, no naming lint
      segdbg check --scope test-3f2a9c0142d7e6b1    # one test's events (its write key)
      segdbg check --explain traits_on_track        # what a code means and how to fix it
      segdbg check --plan plan.yaml --coverage      # planned events seen valid / only invalid / never
      segdbg check --plan plan.yaml --coverage --by app --min-coverage 90 --junit coverage.xml

    Each code's consequence (dropped, altered, advisory) and fix: docs/problems.md.
    """
    if explain_code is not None:
        _explain(explain_code)
        return
    # Lazily: tracking plans load jsonschema and PyYAML, the store sqlite_utils (kept off `segdbg --help`).
    from debugger.core.lint.identity import IdentityLint
    from debugger.core.lint.linter import LintConfig, Linter
    from debugger.core.lint.plan import PlanError
    from debugger.core.lint.sequence import SequenceLint
    from debugger.store.capture import StoreError, reader
    from debugger.store.planfile import load
    from debugger.store.reads import event_count, source_labels

    parsed = parse_query(with_scope(query, scope))
    compiled = None
    if plan_path is not None:
        try:
            compiled = load(
                plan_path,
                allow_unplanned_events=allow_unplanned_events,
                allow_unplanned_properties=allow_unplanned_properties,
            )
        except PlanError as exc:
            raise click.ClickException(str(exc)) from exc
    if show_coverage or min_coverage is not None or junit_path is not None:
        if compiled is None:
            raise click.UsageError("--coverage (and --min-coverage, --junit) need --plan FILE.")
        # Lazily: the coverage report and its store pass (kept off `segdbg --help`).
        from debugger.cli import coverage

        coverage.run(
            db=resolve_db(db),
            compiled=compiled,
            parsed=parsed,
            fmt=fmt,
            by=by,
            min_coverage=min_coverage,
            junit_path=junit_path,
        )
        return
    if by is not None:
        raise click.UsageError("--by goes with --coverage.")
    wanted = _categories(rules, compiled is not None)
    naming = compiled.plan.naming if compiled is not None else {}
    config = LintConfig(
        event_case=event_case or naming.get("events", "title"),
        key_case=key_case or naming.get("keys", "snake"),
        ignore=frozenset(ignore) | frozenset(set(CATEGORIES) - wanted),
    )
    linter = Linter(config, compiled)
    across = SequenceLint(config.ignore, double_fire_ms)
    identities = IdentityLint(config.ignore)
    now = datetime.now(UTC)
    groups: dict[str, _Group] = {}
    by_rule: dict[str, RuleTally] = {}
    by_event = all_findings or compiled is not None
    total = flagged = 0
    out = sys.stdout.buffer
    try:
        with reader(resolve_db(db)) as conn:
            names = source_labels(conn)
            records: list[dict[str, Any]] = []
            with progress(event_count(conn), "Checking") as advance:
                for row in select(conn, parsed):
                    advance()
                    total += 1
                    findings = linter.event(row) + across.event(row) + identities.event(row)
                    if not findings:
                        continue
                    flagged += 1
                    if fmt == "table" and by_event:
                        group = groups.setdefault(check_label(row), _Group(check_label(row)))
                        group.events.add(row["id"])
                        for f in findings:
                            group.rules.setdefault((f.category, f.code, f.path), []).append((f, row["id"]))
                        continue
                    if fmt == "table":
                        tally(by_rule, row, findings)
                        continue
                    for f in findings:
                        record = violation_record(
                            row,
                            f,
                            plan_name=compiled.name if compiled else None,
                            plan_id=str(plan_path) if plan_path else None,
                            source_label=names.get(row.get("write_key") or ""),
                            now=now,
                        )
                        if fmt == "jsonl":
                            out.write(orjson.dumps(record) + b"\n")
                        else:
                            records.append(record)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        out.write(orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")
    elif fmt == "table" and by_event:
        _table(groups.values(), total, flagged, compiled, plan_path)
    elif fmt == "table":
        _summary(by_rule.values(), total, flagged)
    out.flush()
    if flagged:
        sys.exit(ExitCode.FAILED)


def _categories(rules: str | None, with_plan: bool) -> set[str]:
    if rules is None:
        return default_categories(with_plan)
    chosen = {r.strip() for r in rules.split(",") if r.strip()}
    if "all" in chosen:
        return set(CATEGORIES)
    unknown = chosen - set(CATEGORIES)
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(sorted(unknown))}; use {', '.join(CATEGORIES)} or all.", param_hint="--rules"
        )
    if PLAN in chosen and not with_plan:
        raise click.UsageError("--rules plan needs --plan FILE.")
    return chosen


def _explain(code: str) -> None:
    """Print one code's table entry (docs/problems.md); an unknown code is a usage error naming close ones."""
    if code not in CODES:
        close = close_codes(code)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise click.BadParameter(
            f"unknown problem code {code!r}.{hint} docs/problems.md lists every code.", param_hint="--explain"
        )
    click.echo(explain(code))


def _summary(rules: Iterable[RuleTally], total: int, flagged: int) -> None:
    """One line per rule: severity, code, category, how many findings in how many events; then examples."""
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    ranked = ordered(rules)
    severities: dict[str, int] = {}
    for rule in ranked:
        severities[rule.severity] = severities.get(rule.severity, 0) + rule.findings
        style = {"error": "red", "warning": "yellow"}.get(rule.severity, "")
        events = len(rule.events)
        console.print(
            Text.assemble(
                (MARK.get(rule.severity, "?"), style),
                " ",
                (rule.code, "bold"),
                (f" {rule.category}", "dim"),
                (f" {consequence(rule.code)}", "bold red" if consequence(rule.code) == "dropped" else "dim"),
                f"  ×{rule.findings:,} in {events:,} event{'s' if events != 1 else ''}",
            )
        )
        examples = ", ".join(
            f"{inert(label, 60)} {inert(path or '(message)', 60)} " + " ".join(f"#{i}" for i in ids)
            for (label, path), ids in rule.examples.items()
        )
        console.print(Text(f"    e.g. {examples}", style="dim"), overflow="fold")
        console.print(Text("    " + inert(rule.message, 300)), overflow="fold")
    if flagged:
        parts = ", ".join(f"{n:,} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in severities.items() if n)
        count = len(ranked)
        console.print(
            f"✗ {sum(severities.values()):,} findings ({parts}) in {flagged:,} of {total:,} events, "
            f"{count} rule{'s' if count != 1 else ''}. --all-findings lists each one by event; "
            "--format jsonl gives them as records."
        )
    else:
        console.print(f"✓ No findings in {total:,} events.")


def _table(groups: Iterable[_Group], total: int, flagged: int, compiled: Any, plan_path: Path | None) -> None:
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if compiled is not None:
        console.print(
            Text(
                f"Plan: {inert(compiled.name, 60)} ({compiled.plan.format}, {len(compiled.event_names)} events) "
                f"from {inert(str(plan_path), 80)}",
                style="dim",
            )
        )
    severities = {"error": 0, "warning": 0, "info": 0}
    rules: set[str] = set()
    for group in groups:
        console.print(Text.assemble((inert(group.label, 80), "bold"), (f"  {len(group.events)} event(s)", "dim")))
        for (category, code, path), hits in group.rules.items():
            first = hits[0][0]
            severities[first.severity] = severities.get(first.severity, 0) + len(hits)
            rules.add(code)
            ids = " ".join(f"#{i}" for _, i in hits[:5]) + (" …" if len(hits) > 5 else "")
            style = {"error": "red", "warning": "yellow"}.get(first.severity, "")
            console.print(
                Text.assemble(
                    "  ",
                    (MARK.get(first.severity, "?"), style),
                    " ",
                    (code, "bold"),
                    (f" {category}", "dim"),
                    (f" {consequence(code)}", "bold red" if consequence(code) == "dropped" else "dim"),
                    "  ",
                    inert(path or "(message)", 60),
                    (f"  ×{len(hits)}  {ids}", "dim"),
                )
            )
            console.print(Text("      " + inert(first.message, 300)), overflow="fold")
        console.print()
    if flagged:
        parts = ", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in severities.items() if n)
        plural = "s" if len(rules) != 1 else ""
        console.print(
            f"✗ {sum(severities.values())} findings ({parts}) in {flagged} of {total} events, {len(rules)} rule{plural}."
        )
    else:
        console.print(f"✓ No findings in {total} events.")
