"""`segdbg check --plan P --coverage`: which planned events were seen valid, only invalid, or never (docs/tracking-plans.md, "Coverage")."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.core.exitcode import ExitCode
from debugger.core.pretty.render import inert

BY_CHOICES = ("source", "library", "app")
#: Without --by, the table shows a column per source when there are at most this many.
AUTO_COLUMNS = 4


def run(
    *,
    db: Path,
    compiled: Any,
    parsed: Any,
    fmt: str,
    by: str | None,
    min_coverage: float | None,
    junit_path: Path | None,
) -> None:
    """Measure, print (table or json), write JUnit if asked, and exit 3 below ``min_coverage``."""
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.core.lint.coverage import junit
    from debugger.store.capture import StoreError, reader
    from debugger.store.coverage import coverage

    if fmt == "jsonl":
        raise click.UsageError("--coverage prints table or json, not jsonl.")
    try:
        with reader(db) as conn:
            report = coverage(conn, compiled, query=parsed).to_json(by=by)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if junit_path is not None:
        try:
            junit_path.write_bytes(junit(report))
        except OSError as exc:
            raise click.ClickException(f"{junit_path}: cannot write ({exc.strerror or exc}).") from exc
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.buffer.flush()
    else:
        table(report, by)
    if min_coverage is not None and report["coverage"] < min_coverage:
        click.echo(f"✗ coverage {report['coverage']}% is below --min-coverage {min_coverage:g}%.", err=True)
        sys.exit(ExitCode.FAILED)


def _columns(report: Mapping[str, Any], by: str | None) -> tuple[str | None, list[str]]:
    """The breakdown shown as columns: the chosen one, else sources when they are few."""
    dim = by
    values: set[str] = set()
    for event in report["planned_events"]:
        values.update(event["by"][by or "source"])
    if dim is None and 1 < len(values) <= AUTO_COLUMNS:
        dim = "source"
    return dim, sorted(values) if dim else []


def table(report: Mapping[str, Any], by: str | None) -> None:
    """A line per planned event (status, events, reasons; a mark per source/library/app), then unplanned and the total."""
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Lazily: the marks live with the report's logic, which loads jsonschema (kept off `segdbg --help`).
    from debugger.core.lint.coverage import MARKS

    console = Console(highlight=False)
    dim, values = _columns(report, by)
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    grid.add_column("")
    grid.add_column("planned event")
    grid.add_column("events", justify="right")
    for value in values:
        grid.add_column(inert(value or "(none)", 24), justify="center")
    grid.add_column("why not valid")
    for event in report["planned_events"]:
        mark, style = MARKS[event["status"]]
        cells = []
        for value in values:
            cell = event["by"][dim].get(value) if dim else None
            cells.append(Text(*MARKS[cell["status"]]) if cell else Text("–", "dim"))
        why = ""
        if event["status"] == "never":
            why = "never seen"
        elif event["status"] == "invalid":
            why = "only invalid: " + ", ".join(
                f"{r['code']}{' ' + r['path'] if r['path'] else ''} ×{r['count']}" for r in event["reasons"]
            )
        missing = [p["path"] for p in event["properties"] if p["status"] != "valid"]
        if missing and event["status"] != "never":
            why += ("; " if why else "") + "required not seen valid: " + ", ".join(missing)
        grid.add_row(
            Text(mark, style),
            Text(inert(event["label"], 60), "bold"),
            f"{event['events']:,}",
            *cells,
            Text(inert(why, 200), "dim" if event["status"] == "valid" else style),
        )
    if dim:
        console.print(Text(f"columns: {dim} ({'--by source|library|app' if by is None else '--by ' + by})", "dim"))
    console.print(grid)
    if report["unplanned"]:
        console.print(Text("Unplanned (not in the plan):", "bold yellow"))
        for u in report["unplanned"]:
            label = u["name"] if u["type"] == "track" and u["name"] else f"{u['type']} {u['name'] or ''}".strip()
            console.print(Text(f"  ? {inert(label, 60)}  ×{u['events']:,}", "yellow"))
    console.print(
        Text(
            f"Coverage {report['coverage']}%: {report['valid']} of {report['planned']} planned events seen valid, "
            f"{report['invalid']} only invalid, {report['never']} never seen; {len(report['unplanned'])} unplanned "
            f"({report['events']:,} events; validity judged on up to {report['sample_per_group']} per event, "
            "source and library: the newest and the oldest)."
        )
    )
