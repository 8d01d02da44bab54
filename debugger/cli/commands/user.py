"""`segdbg user ID`: one identity's timeline across sources (docs/identities.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.options import db_option, resolve_db
from debugger.core.exitcode import ExitCode
from debugger.core.pretty.render import inert
from debugger.core.timeline import DEFAULT_LIMIT, IdSummary, Timeline, summary


@click.command("user")
@click.argument("identity")
@db_option
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="List the newest N events (all are counted; the footer says how many are not listed).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format."
)
def command(identity: str, db: Path | None, limit: int, fmt: str) -> None:
    """Show one identity's timeline: its ids, identify/alias/group calls, merged traits, events.

    IDENTITY is a userId or an anonymousId (or an alias's previousId). The timeline follows the
    links: the anonymousIds a userId was seen with, the userIds an anonymousId was identified as,
    and aliases both ways, across every source (write key). Traits are merged as Segment does:
    each identify's traits overwrite the same keys set before (docs/identities.md). Only accepted
    events count. Placeholder ids ("guest", "null", "0") are never followed.

    Reads the capture file (--db); there is no --url: the debugger API has no identity endpoint.
    Exits 1 when no accepted event has the id.

    \b
    Examples:
      segdbg user u_42                      # a userId: its devices, calls, traits, newest 50 events
      segdbg user 3f2a9c01-anon             # an anonymousId: who it was identified as
      segdbg user u_42 --limit 200          # more events
      segdbg user u_42 --format json | jq .traits
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.reads import source_labels
    from debugger.store.timeline import identity_timeline

    try:
        with reader(resolve_db(db)) as conn:
            timeline = identity_timeline(conn, identity, limit=limit)
            labels = source_labels(conn)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(timeline.to_json(labels), option=orjson.OPT_INDENT_2) + b"\n")
    elif timeline.total:
        _print(timeline, labels)
    if not timeline.total:
        click.echo(f"No accepted event has userId or anonymousId {inert(identity, 80)!r}.", err=True)
        sys.exit(ExitCode.ERROR)


def _print(timeline: Timeline, labels: dict[str, str]) -> None:
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()

    def source(key: str | None) -> str:
        return inert(labels.get(key or "") or key or "?", 40)

    def section(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        if not rows:
            return
        console.print(Text(title, style="bold"))
        table = Table(box=None, pad_edge=False, header_style="italic")
        for header in headers:
            table.add_column(header, overflow="fold", no_wrap=header in _NO_WRAP)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)

    head = (
        f"identity {inert(timeline.seed, 80)!r}: {len(timeline.user_ids)} userIds · "
        f"{len(timeline.anonymous_ids)} anonymousIds · {len(timeline.sources)} sources · {timeline.total:,} events"
    )
    console.print(Text(head, style="bold"))
    if timeline.placeholder:
        console.print(Text("a placeholder id (docs/problems.md#placeholder_id): its links are not followed"))
    if timeline.incomplete:
        console.print(Text("more ids are linked than a timeline follows; the rest are left out"))
    section("userIds", ("id", "events", "first", "last"), [_id_row(u) for u in timeline.user_ids])
    section("anonymousIds", ("id", "events", "first", "last"), [_id_row(a) for a in timeline.anonymous_ids])
    section(
        "seen together",
        ("userId", "anonymousId", "source", "events"),
        [(inert(u, 40), inert(a, 40), source(k), f"{n:,}") for u, a, k, n in timeline.links],
    )
    section("sources", ("source", "events"), [(source(k), f"{n:,}") for k, n in timeline.sources.items()])
    calls = [summary(c) for c in timeline.calls]
    more_calls = timeline.calls_total - len(calls)
    section(
        "identify / alias / group" + (f" (newest {len(calls):,} of {timeline.calls_total:,})" if more_calls else ""),
        ("#", "timestamp", "type", "ids", "traits"),
        [_call_row(c) for c in calls],
    )
    section(
        "traits (merged: a later identify overwrites the keys it sends)",
        ("trait", "value", "set by"),
        [(inert(k, 40), _value(v), f"#{timeline.trait_source[k]}") for k, v in timeline.traits.items()],
    )
    section(
        "groups (traits merged per groupId)",
        ("groupId", "traits"),
        [(inert(g, 40), _value(t, 120)) for g, t in timeline.groups.items()],
    )
    events = [summary(e) for e in timeline.events]
    section(
        f"events (newest {len(events):,}, oldest first)" if timeline.more else "events (oldest first)",
        ("#", "timestamp", "type", "name", "userId", "anonymousId", "source"),
        [
            (
                str(e["id"]),
                str(e["timestamp"] or ""),
                e["type"],
                inert(e["label"], 40),
                inert(e["user_id"] or "", 30),
                inert(e["anonymous_id"] or "", 30),
                source(e["write_key"]),
            )
            for e in events
        ],
    )
    if timeline.more:
        console.print(Text(f"… {timeline.more:,} older events not shown (--limit N to list more)", style="italic"))


#: Short columns kept on one line (the others fold).
_NO_WRAP = frozenset({"#", "timestamp", "type", "events", "first", "last", "set by"})


def _id_row(summary_: IdSummary) -> tuple[str, ...]:
    return (inert(summary_.id, 60), f"{summary_.events:,}", f"#{summary_.first_id}", f"#{summary_.last_id}")


def _call_row(call: dict[str, Any]) -> tuple[str, ...]:
    if call["type"] == "alias":
        ids = f"{call.get('previousId', '')} → {call.get('user_id') or ''}"
    elif call["type"] == "group":
        ids = f"{call.get('user_id') or call.get('anonymous_id') or ''} ∈ {call.get('groupId', '')}"
    else:
        ids = f"{call.get('user_id') or ''} / {call.get('anonymous_id') or ''}".strip(" /")
    traits = call.get("traits")
    return (
        str(call["id"]),
        str(call["timestamp"] or ""),
        call["type"],
        inert(ids, 60),
        _value(traits) if traits else "",
    )


def _value(value: object, limit: int = 60) -> str:
    return inert(orjson.dumps(value).decode(), limit)
