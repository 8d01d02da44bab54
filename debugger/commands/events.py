"""`segdbg events`: list or export what was stored."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli import db_option, resolve_db
from debugger.pretty import event_label, event_user, inert, status_text

FORMATS = ("table", "jsonl", "json")
#: Shown unless --all: what Segment would accept and forward.
DEFAULT_STATUSES = ("ok",)


def export_record(event: dict[str, Any]) -> dict[str, Any]:
    """The exported form of an event: columns, problems, raw and stored."""
    return {
        "id": event["id"],
        "received_at": event["received_at"],
        "status": event["status"],
        "type": event["type"],
        "name": event["name"],
        "user_id": event["user_id"],
        "anonymous_id": event["anonymous_id"],
        "message_id": event["message_id"],
        "write_key": event["write_key"],
        "library": event["library_name"],
        "duplicate_of": event["duplicate_of"],
        "request_id": event["request_id"],
        "problems": event["problems"],
        "raw": event["raw"],
        "stored": event["stored"],
    }


@click.command("events")
@db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N events (the table defaults to a screenful, newest).")
@click.option("--all", "show_all", is_flag=True, help="Include invalid and duplicate events (hidden by default, as Segment drops them).")
def command(db: Path | None, fmt: str, limit: int | None, show_all: bool) -> None:
    """List or export stored events, oldest first.

    By default only events Segment would accept are shown; invalid events (no user id,
    track without event, ...) and duplicates are stored too, and --all includes them.
    jsonl and json give, per event, the columns, the problems, the message as received
    (raw) and as Segment would store it (stored).

    \b
    Examples:
      segdbg events
      segdbg events --all --limit 20
      segdbg events --format jsonl > capture.jsonl
    """
    from debugger.store import StoreError, iter_events, reader, status_counts

    statuses = None if show_all else DEFAULT_STATUSES
    try:
        with reader(resolve_db(db)) as conn:
            if fmt == "table":
                rows = limit or max(5, shutil.get_terminal_size((120, 30)).lines - 6)
                _table(iter_events(conn, statuses=statuses, limit=rows, newest=True))
            elif fmt == "jsonl":
                for event in iter_events(conn, statuses=statuses, limit=limit):
                    sys.stdout.buffer.write(orjson.dumps(export_record(event)) + b"\n")
            else:
                _json_array(iter_events(conn, statuses=statuses, limit=limit))
            hidden = {s: n for s, n in status_counts(conn).items() if statuses is not None and s not in statuses}
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if hidden:
        parts = ", ".join(f"{n:,} {s}" for s, n in sorted(hidden.items()))
        click.echo(f"({parts} hidden; add --all to include them)", err=True)


def _json_array(events: Iterable[dict[str, Any]]) -> None:
    out = sys.stdout.buffer
    out.write(b"[")
    for index, event in enumerate(events):
        out.write((b",\n" if index else b"\n") + orjson.dumps(export_record(event)))
    out.write(b"\n]\n")
    out.flush()


def _table(events: Iterable[dict[str, Any]]) -> None:
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
            str(event["id"]),
            Text(event["received_at"][:23].replace("T", " ")),
            Text((event["type"] or "?").upper()),
            Text(inert(event_label(event), 48)),
            Text(inert(event_user(event), 28)),
            Text(inert(event["write_key"] or "", 20)),
            Text(inert(status_text(event), 40)),
        )
    # Piped output is not cut to 80 columns: a file or `less -S` can take the full rows.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    if count == 0:
        console.print("No events stored yet. Run `segdbg serve` and send some (e.g. `segdbg send sample_events/`).")
        return
    console.print(table)
