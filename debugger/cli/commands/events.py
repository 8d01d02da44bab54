"""`segdbg events [QUERY]`: list, search or export what was stored."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from debugger import __version__
from debugger.cli.options import db_option, parse_query, resolve_db
from debugger.core.http.routes import DEFAULT_URL
from debugger.core.pretty.export import (
    CSV_COLUMNS,
    HAR_SUFFIX,
    csv_row,
    curl_command,
    export_record,
    har_entry,
    har_prefix,
    safe_json,
)
from debugger.core.pretty.render import event_label, event_user, inert, status_text
from debugger.core.query.language import canonical
from debugger.core.query.plan import view_statuses

__all__ = ["command", "export_record"]

FORMATS = ("table", "jsonl", "json", "csv", "curl", "har")
#: How many hidden events to count at most for the "(N hidden)" note.
HIDDEN_COUNT_CAP = 100_000


@click.command("events")
@click.argument("query", required=False, default="")
@db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="At most N events (the table defaults to a screenful, newest).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Include invalid and duplicate events (hidden by default, as Segment drops them).",
)
@click.option(
    "--to",
    "url",
    default=lambda: os.environ.get("SEGDBG_URL", DEFAULT_URL),
    show_default=DEFAULT_URL,
    help="curl/har: the server the commands re-send to ($SEGDBG_URL).",
)
def command(query: str, db: Path | None, fmt: str, limit: int | None, show_all: bool, url: str) -> None:
    """List, search or export stored events, oldest first.

    QUERY is the filter language (docs/search.md): fields like type:track, event:"Order
    Completed", user:u_42, properties.plan:pro, after:1h, and free text over every stored
    event. By default only events Segment would accept are shown; invalid events and
    duplicates are stored too, and --all (or a status: term) includes them.

    Formats: table (the newest screenful); jsonl and json (columns, problems, the message as
    received and as stored); csv (one row per event, for spreadsheets); curl (a command per
    event that re-sends it); har (HAR 1.2, opens in browser devtools). jsonl, json and har
    exports go back in with `segdbg send FILE`. Exports stream, so any size works.

    \b
    Examples:
      segdbg events
      segdbg events 'type:track event:"Order Completed" after:1h'
      segdbg events 'properties.products.sku:45790-32' --format json
      segdbg events status:invalid --limit 20
      segdbg events --format jsonl > capture.jsonl    # later: segdbg send capture.jsonl
      segdbg events 'user:u_42' --format curl --to http://staging:8088
      segdbg events pinned:true --all                 # the pinned events (📌 in the # column)
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.hints import case_hint, case_hint_text
    from debugger.store.reads import count_events, iter_events

    parsed = parse_query(query)
    statuses = view_statuses(parsed, show_all)
    now = datetime.now(UTC)
    shown = 0
    try:
        with reader(resolve_db(db)) as conn:
            if fmt == "table":
                rows = limit or max(5, shutil.get_terminal_size((120, 30)).lines - 6)
                shown = _table(
                    iter_events(conn, query=parsed, now=now, statuses=statuses, limit=rows, newest=True), bool(query)
                )
            else:
                events = _counted(iter_events(conn, query=parsed, now=now, statuses=statuses, limit=limit))
                _export(fmt, events, url)
                shown = events.count
            recased = case_hint(conn, parsed, now=now, statuses=statuses) if shown == 0 and query else None
            hidden: dict[str, int] = {}
            if statuses is not None:
                for status in sorted({"ok", "invalid", "duplicate"} - set(statuses)):
                    hidden[status] = count_events(conn, query=parsed, now=now, statuses=[status], cap=HIDDEN_COUNT_CAP)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if any(hidden.values()):
        parts = ", ".join(f"{n:,}{'+' if n >= HIDDEN_COUNT_CAP else ''} {s}" for s, n in hidden.items() if n)
        click.echo(f"({parts} hidden; add --all to include them)", err=True)
    if fmt == "table" and shown == 0 and query:
        click.echo("No stored event matches that query.", err=True)
    if recased is not None:
        click.echo(case_hint_text(canonical(recased)), err=True)


class _counted(Iterator[dict[str, Any]]):  # noqa: N801 - reads as a function at the call site
    """Pass events through, counting them."""

    def __init__(self, events: Iterator[dict[str, Any]]) -> None:
        self.events, self.count = events, 0

    def __next__(self) -> dict[str, Any]:
        event = next(self.events)
        self.count += 1
        return event


def _export(fmt: str, events: Iterable[dict[str, Any]], url: str) -> None:
    out = sys.stdout.buffer
    if fmt == "jsonl":
        for event in events:
            out.write(safe_json(export_record(event)) + b"\n")
    elif fmt == "json":
        out.write(b"[")
        for index, event in enumerate(events):
            out.write((b",\n" if index else b"\n") + safe_json(export_record(event)))
        out.write(b"\n]\n")
    elif fmt == "curl":
        for event in events:
            out.write(curl_command(event, url).encode() + b"\n")
    elif fmt == "har":
        out.write(har_prefix(__version__))
        for index, event in enumerate(events):
            out.write((b",\n" if index else b"\n") + safe_json(har_entry(event, url)))
        out.write(HAR_SUFFIX)
    else:
        text = sys.stdout
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for event in events:
            writer.writerow(csv_row(event))
        text.flush()
    out.flush()


def _table(events: Iterable[dict[str, Any]], searched: bool) -> int:
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("received (UTC)", no_wrap=True, min_width=23)
    table.add_column("type", no_wrap=True, min_width=8)
    for column in ("name", "user", "source", "status"):
        table.add_column(column, overflow="ellipsis", no_wrap=True, ratio=1)
    count = 0
    for event in events:
        count += 1
        table.add_row(
            ("📌 " if event.get("pinned") else "") + str(event["id"]),
            Text(event["received_at"][:23].replace("T", " ")),
            Text(inert((event["type"] or "?").upper(), 12)),  # an invalid message's type is payload text
            Text(inert(event_label(event), 48)),
            Text(inert(event_user(event), 28)),
            Text(inert(event["write_key"] or "", 20)),
            Text(inert(status_text(event), 40)),
        )
    # Piped output is not cut to 80 columns: a file or `less -S` can take the full rows.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    if count == 0:
        if not searched:
            console.print("No events stored yet. Run `segdbg serve` and send some (e.g. `segdbg send sample_events/`).")
        return 0
    console.print(table)
    return count
