"""`segdbg events [QUERY]`: list, search or export what was stored."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any

import click

from debugger import __version__
from debugger.cli.options import (
    QueryCommand,
    db_option,
    include_problems_option,
    parse_query,
    query_argument,
    resolve_db,
    scope_option,
    with_scope,
)
from debugger.core.http.routes import DEFAULT_URL
from debugger.core.pretty.export import (
    CSV_COLUMNS,
    HAR_SUFFIX,
    csv_row,
    curl_command,
    export_record,
    har_entry,
    har_prefix,
    har_request_entry,
    safe_json,
)
from debugger.core.pretty.render import event_kind, event_label, event_user, inert, status_text
from debugger.core.protocol import STATUSES
from debugger.core.query.language import canonical
from debugger.core.query.plan import view_statuses

__all__ = ["command", "export_record"]

FORMATS = ("table", "jsonl", "json", "csv", "curl", "har")
#: How many hidden events to count at most for the "(N hidden)" note.
HIDDEN_COUNT_CAP = 100_000
COLUMNS = ("#", "received (UTC)", "type", "name", "user", "source", "status")
JUSTIFY: tuple[Any, ...] = ("right", "left", "left", "left", "left", "left", "left")
#: A piped table is printed this many rows at a time, with the widths the first slice needed.
TABLE_SLICE = 2_000


@click.command("events", cls=QueryCommand)
@query_argument()
@db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="At most N events: the table shows the newest N, exports the first N. Without it, exports and a piped "
    "table have every match; a table on a terminal shows the newest screenful and says how many it left out.",
)
@include_problems_option("List")
@click.option(
    "--to",
    "url",
    default=lambda: os.environ.get("SEGDBG_URL", DEFAULT_URL),
    show_default=DEFAULT_URL,
    help="curl/har: the server the commands re-send to ($SEGDBG_URL).",
)
@scope_option
def command(
    query: str, db: Path | None, fmt: str, limit: int | None, show_all: bool, url: str, scope: str | None
) -> None:
    """List, search or export stored events, oldest first.

    QUERY is the filter language (docs/search.md): fields like type:track, event:"Order
    Completed", user:u_42, properties.plan:pro, after:1h, and free text over every stored
    event; a term may start with - to negate it (events -type:track). By default only
    events Segment would accept are shown; invalid events, duplicates and rejected
    requests (status:rejected, one row per request refused whole) are stored too, and
    --include-problems (or a status:, code: or http.status: term) includes them.

    Nothing is cut silently. Piped or redirected, the table has every matching row; on a
    terminal it shows the newest screenful, and a last line says how many of how many
    (--limit N or a pipe for more). Exports (jsonl, json, csv, curl, har) have every match.

    Formats: table; jsonl and json (columns, problems, the message as received and as
    stored); csv (one row per event, for spreadsheets); curl (a command per event that
    re-sends it); har (HAR 1.2, one entry per request as it arrived, with the answer;
    opens in browser devtools). jsonl, json and har exports go back in with `segdbg send
    FILE`. Exports and a piped table stream, so any size works.

    \b
    Examples:
      segdbg events
      segdbg events 'type:track event:"Order Completed" after:1h'
      segdbg events -type:track -has:userId            # negated terms
      segdbg events 'properties.products.sku:45790-32' --format json
      segdbg events status:invalid --limit 20
      segdbg events --include-problems | wc -l         # every stored event, one row each
      segdbg events --format jsonl > capture.jsonl     # later: segdbg send capture.jsonl
      segdbg events 'user:u_42' --format curl --to http://staging:8088
      segdbg events pinned:true --include-problems     # the pinned events (📌 in the # column)
      segdbg events --scope test-3f2a9c0142d7e6b1      # one test's events (its write key)
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.hints import case_hint, case_hint_text
    from debugger.store.reads import count_events, get_request, iter_events, newest_id

    query = with_scope(query, scope)
    parsed = parse_query(query)
    statuses = view_statuses(parsed, show_all)
    now = datetime.now(UTC)
    on_terminal = sys.stdout.isatty()
    cut: str | None = None
    try:
        with reader(resolve_db(db)) as conn:
            if fmt == "table":
                # On a terminal, or with --limit: the newest rows; piped: every row (docs/cli.md, events).
                rows = limit or (max(5, shutil.get_terminal_size((120, 30)).lines - 6) if on_terminal else None)
                shown = _counted(
                    iter_events(conn, query=parsed, now=now, statuses=statuses, limit=rows, newest=rows is not None)
                )
                _table(shown, bool(query), fixed=None if on_terminal else len(str(newest_id(conn))))
                if rows is not None and shown.count == rows:
                    older = count_events(
                        conn, query=parsed, now=now, statuses=statuses, before_id=shown.first_id, cap=HIDDEN_COUNT_CAP
                    )
                    if older:
                        cut = _cut_note("newest", rows, rows + older, older >= HIDDEN_COUNT_CAP, limit, on_terminal)
            else:
                shown = _counted(iter_events(conn, query=parsed, now=now, statuses=statuses, limit=limit))
                if fmt == "har":
                    _har(shown, url, lambda request_id: get_request(conn, request_id))
                else:
                    _export(fmt, shown, url)
                if limit and shown.count == limit:
                    later = count_events(
                        conn, query=parsed, now=now, statuses=statuses, after_id=shown.last_id, cap=HIDDEN_COUNT_CAP
                    )
                    if later:
                        cut = _cut_note("first", limit, limit + later, later >= HIDDEN_COUNT_CAP, limit, on_terminal)
            recased = case_hint(conn, parsed, now=now, statuses=statuses) if shown.count == 0 and query else None
            hidden: dict[str, int] = {}
            if statuses is not None:
                for status in sorted(set(STATUSES) - set(statuses)):
                    hidden[status] = count_events(conn, query=parsed, now=now, statuses=[status], cap=HIDDEN_COUNT_CAP)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if cut:
        click.echo(cut, err=True)
    if any(hidden.values()):
        parts = ", ".join(f"{n:,}{'+' if n >= HIDDEN_COUNT_CAP else ''} {s}" for s, n in hidden.items() if n)
        click.echo(f"({parts} hidden; add --include-problems to include them)", err=True)
    if fmt == "table" and shown.count == 0 and query:
        click.echo("No stored event matches that query.", err=True)
    if recased is not None:
        click.echo(case_hint_text(canonical(recased)), err=True)


def _cut_note(which: str, shown: int, total: int, capped: bool, limit: int | None, on_terminal: bool) -> str:
    """The line that says rows were left out: "newest 24 of 2,614 — --limit N or pipe for all"."""
    if limit is None:
        how = "--limit N or pipe for all"
    else:
        how = "drop --limit and pipe for all" if on_terminal else "drop --limit for all"
    return f"{which} {shown:,} of {total:,}{'+' if capped else ''} — {how}"


class _counted(Iterator[dict[str, Any]]):  # noqa: N801 - reads as a function at the call site
    """Pass events through, counting them and keeping the first and last id."""

    def __init__(self, events: Iterator[dict[str, Any]]) -> None:
        self.events, self.count = events, 0
        self.first_id = self.last_id = 0

    def __next__(self) -> dict[str, Any]:
        event = next(self.events)
        self.count += 1
        self.first_id = self.first_id or event["id"]
        self.last_id = event["id"]
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
    else:
        text = sys.stdout
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for event in events:
            writer.writerow(csv_row(event))
        text.flush()
    out.flush()


def _har(events: Iterable[dict[str, Any]], url: str, request: Callable[[int], dict[str, Any] | None]) -> None:
    """HAR 1.2: one entry per request, as it arrived (a request's events are consecutive ids);
    an event without a request row (pasted) is an entry that re-sends it to ``url``."""
    out = sys.stdout.buffer
    out.write(har_prefix(__version__))
    written = 0

    def write(entry: dict[str, Any]) -> None:
        nonlocal written
        out.write((b",\n" if written else b"\n") + safe_json(entry))
        written += 1

    group: list[dict[str, Any]] = []
    for event in chain(events, [None]):
        if group and (event is None or event.get("request_id") != group[0].get("request_id")):
            row = request(int(group[0]["request_id"]))
            if row is None:  # the request row is gone (retention keeps events only): one entry per event
                for member in group:
                    write(har_entry(member, url))
            else:
                write(har_request_entry(row, group, url))
            group = []
        if event is None:
            break
        if event.get("request_id") is None:
            write(har_entry(event, url))
        else:
            group.append(event)
    out.write(HAR_SUFFIX)
    out.flush()


def _table(events: Iterable[dict[str, Any]], searched: bool, *, fixed: int | None) -> None:
    """Print the events as a table: sized to the terminal, or (``fixed``: the digits of the newest id) to
    the content of the first rows and streamed in slices with those widths, so a piped table of any size
    keeps its columns and its memory flat."""
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Lazily: the linter loads the Segment Spec tables (kept off `segdbg --help`).
    from debugger.core.lint.finding import summary_mark
    from debugger.core.lint.linter import for_plan

    linter = for_plan(None)

    def cells(event: dict[str, Any]) -> tuple[Text, ...]:
        return (
            Text(("📌 " if event.get("pinned") else "") + str(event["id"])),
            Text(event["received_at"][:23].replace("T", " ")),
            # An invalid message's type is payload text; a rejected request has none.
            Text(inert(event_kind(event).upper(), 12)),
            Text(inert(event_label(event), 48)),
            Text(inert(event_user(event), 28)),
            Text(inert(event["write_key"] or "", 20)),
            Text(inert(status(event), 40)),
        )

    def status(event: dict[str, Any]) -> str:
        # The TUI's status cell: for an accepted event, lint findings too (docs/tui.md, the stream).
        if event["status"] == "ok":
            mark, _ = summary_mark(linter.event(event))
            if mark:
                return mark
        return status_text(event)

    def table(widths: list[int] | None, header: bool = True) -> Any:
        new = Table(box=None, header_style="bold", pad_edge=False, show_header=header)
        for index, name in enumerate(COLUMNS):
            if widths is not None:
                new.add_column(name, no_wrap=True, overflow="ellipsis", width=widths[index], justify=JUSTIFY[index])
            elif index < 3:
                new.add_column(name, no_wrap=True, min_width=(0, 23, 8)[index], justify=JUSTIFY[index])
            else:
                new.add_column(name, overflow="ellipsis", no_wrap=True, ratio=1)
        return new

    rows = map(cells, events)
    first = list(islice(rows, TABLE_SLICE))
    # Piped output is not cut to 80 columns: a file or `less -S` can take the full rows.
    console = Console() if fixed is None else Console(width=200)
    if not first:
        if not searched:
            console.print("No events stored yet. Run `segdbg serve` and send some (e.g. `segdbg send sample_events/`).")
        return
    widths = None
    if fixed is not None:
        widths = [max(cell_len(name), *(cell_len(row[k].plain) for row in first)) for k, name in enumerate(COLUMNS)]
        widths[0] = max(widths[0], fixed + 3)  # room for the longest id, pinned
    part = first
    while part:
        shown = table(widths, header=part is first)
        for row in part:
            shown.add_row(*row)
        console.print(shown)
        part = list(islice(rows, TABLE_SLICE)) if fixed is not None else []
