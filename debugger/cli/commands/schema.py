"""`segdbg schema`: the live schema of a capture, or a draft tracking plan from it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.options import QueryCommand, db_option, parse_query, query_argument, resolve_db
from debugger.cli.selection import progress, select
from debugger.core.lint.inventory import Inventory
from debugger.core.pretty.render import inert

FORMATS = ("table", "json", "plan")


@click.command("schema", cls=QueryCommand)
@query_argument()
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people, json for tools, plan: a draft tracking plan (segdbg YAML).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def command(query: str, db: Path | None, fmt: str, output: Path | None) -> None:
    """Show what the captured events look like, per source and event.

    For every source (write key) and event: how many, first and last seen, and for each
    property or trait path the types observed (with counts), example values, how often it
    is present, and type drift (a property that was a number and is now a string).
    --format plan writes a draft tracking plan in segdbg YAML that this capture satisfies:
    review it, commit it, and `segdbg check --plan` keeps future captures honest.

    \b
    Examples:
      segdbg schema
      segdbg schema 'type:track' --format json
      segdbg schema -type:identify                   # all but identify calls (-term negates)
      segdbg schema --format plan -o tracking-plan.yaml
      segdbg check --plan tracking-plan.yaml
    """
    # Lazily: tracking plans load PyYAML, the store sqlite_utils (kept off `segdbg --help`).
    from debugger.core.lint.plan import dump_yaml
    from debugger.store.capture import StoreError, reader
    from debugger.store.reads import event_count, source_labels

    parsed = parse_query(query)
    inventory = Inventory(by_source=fmt != "plan", pool_pages=fmt == "plan")
    path = resolve_db(db)
    try:
        with reader(path) as conn:
            names = source_labels(conn)
            with progress(event_count(conn), "Reading") as advance:
                for row in select(conn, parsed):
                    advance()
                    inventory.add(row)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "plan":
        header = (
            f"# Draft tracking plan written by `segdbg schema --format plan` from {inventory.total} events in {path.name}.\n"
            "# Every key seen in all events of a kind is required; `?` marks optional ones. Review, edit, then:\n"
            "#   segdbg check --plan THIS_FILE\n"
        )
        text = dump_yaml(inventory.draft_plan(f"Draft from {path.name}"), header)
        _write(text.encode(), output)
    elif fmt == "json":
        _write(orjson.dumps(inventory.to_json(names), option=orjson.OPT_INDENT_2) + b"\n", output)
    else:
        _table(inventory.to_json(names), output)
    if output is not None:
        click.echo(f"Wrote {output} ({inventory.total} events).", err=True)


def _write(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write ({exc.strerror or exc}).") from exc


def _table(doc: dict[str, Any], output: Path | None) -> None:
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    handle = output.open("w", encoding="utf-8") if output is not None else None
    console = Console(file=handle, highlight=False) if handle else Console(highlight=False)
    try:
        if not doc["sources"]:
            console.print("No events stored yet. Run `segdbg serve` and send some (e.g. `segdbg send sample_events/`).")
        for source in doc["sources"]:
            title = inert(source["write_key"], 40) + (f" ({inert(source['label'], 40)})" if source["label"] else "")
            console.print(Text(f"Source {title}", style="bold underline"))
            for event in source["events"]:
                name = inert(event["name"], 60) if event["name"] else ""
                console.print(
                    Text.assemble(
                        (f"{inert(event['type'].upper(), 12):9}", "bold"),
                        (name, "bold"),
                        (f"  {event['count']:,}×  {event['first_seen'][:19]} → {event['last_seen'][:19]}", "dim"),
                    )
                )
                table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
                # A long path is cut rather than squeezing the examples to one character a line.
                table.add_column("path", no_wrap=True, max_width=50, overflow="ellipsis")
                table.add_column("types", no_wrap=True)
                table.add_column("present", no_wrap=True)
                table.add_column("examples", min_width=20, overflow="fold")
                for f in event["fields"]:
                    types = ", ".join(f"{t} {n}" for t, n in sorted(f["types"].items(), key=lambda kv: -kv[1]))
                    drift = Text(" ⚠ drift", style="bold yellow") if f["drift"] else Text("")
                    share = f"{f['present']}/{f['of']}" if f["of"] else str(f["present"])
                    table.add_row(
                        Text("  " + inert(f["path"], 60)),
                        Text.assemble(types, drift),
                        share,
                        Text(inert(", ".join(f["examples"]), 120), style="dim"),
                    )
                console.print(table)
            console.print()
    finally:
        if handle is not None:
            handle.close()
