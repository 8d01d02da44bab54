"""`segdbg route EVENT-ID|QUERY --routing FILE`: which destinations each event would reach, and why not."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson

from debugger.cli.options import (
    QueryCommand,
    db_option,
    include_problems_option,
    join_words,
    load_routing,
    parse_query,
    resolve_db,
    routing_option,
)
from debugger.core.pretty.render import event_kind, event_label, event_user, inert
from debugger.core.query.plan import view_statuses

_EVENT_ID = re.compile(r"#?(\d+)")


@click.command("route", cls=QueryCommand)
@click.argument("words", nargs=-1, required=True, metavar="EVENT-ID|QUERY...")
@routing_option("The routing file: destinations, their consent categories and filters (docs/routing.md).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per destination; json: the verdicts, as the API answers them.",
)
@include_problems_option("Judge")
@db_option
def command(words: tuple[str, ...], routing_path: Path, fmt: str, show_all: bool, db: Path | None) -> None:
    """Show which destinations each event would reach, and for the others why not.

    EVENT-ID is an event's id (42 or #42); anything else is a QUERY (segdbg's language or
    FQL, as `segdbg events` takes it) and judges the newest 50 events it matches. For each
    destination of the routing file, in Segment's precedence: the integrations object (All:
    false, "Amplitude": false), consent (context.consent.categoryPreferences with a category
    the destination needs off or missing), a destination filter that dropped the event, and
    for a delivered event the fields filters removed. Nothing stored is changed.

    \b
    Examples:
      segdbg route 42 --routing routing.yaml
      segdbg route 'event:"Order Completed"' --routing routing.yaml
      segdbg route "fql:type = 'track' and userId = 'u_42'" --routing routing.json --format json
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.routing import routed_events

    routing = load_routing(routing_path)
    text = join_words(words)
    by_id = _EVENT_ID.fullmatch(text.strip())
    parsed = None if by_id else parse_query(text)
    try:
        with reader(resolve_db(db)) as conn:
            results = routed_events(
                conn,
                routing,
                event_id=int(by_id.group(1)) if by_id else None,
                query=parsed,
                now=datetime.now(UTC),
                statuses=view_statuses(parsed, show_all) if parsed is not None else None,
            )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if by_id and not results:
        raise click.ClickException(f"no event #{by_id.group(1)} in the capture.")
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps({"events": results}) + b"\n")
        return
    if not results:
        click.echo(f"No event matches {inert(text, 200)}.", err=True)
    for result in results:
        event = result["event"]
        click.echo(
            f"#{event['id']}  {event_kind(event).upper()}  {inert(event_label(event), 60)}  "
            f"{inert(event_user(event), 40)}"
        )
        for verdict in result["destinations"]:
            click.echo(f"  → {inert(verdict['text'], 1000)}")
