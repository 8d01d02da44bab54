"""`segdbg stats`: what the capture holds, by type, status, source and library, and the current rate."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.options import db_option, resolve_db, url_option
from debugger.cli.remote import ask
from debugger.core.pretty.render import inert


@click.command("stats")
@db_option
@url_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format."
)
def command(db: Path | None, url: str | None, fmt: str) -> None:
    """Count stored events by type, status, source and library; show the last minute's rate.

    Requests refused whole (answered 4xx, or a batch Segment drops) are counted as status
    `rejected` and listed by their code.

    Also reports how far the background search index has got (events not yet indexed are
    still found, by scanning).

    \b
    Examples:
      segdbg stats
      segdbg stats --format json | jq .by_status
      segdbg stats --url http://127.0.0.1:8088
    """
    if db is not None and url is not None:
        raise click.UsageError("give --db or --url, not both.")
    if url:
        data = ask(url, "stats")
    else:
        # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
        from debugger.store.capture import StoreError, reader
        from debugger.store.stats import stats

        try:
            with reader(resolve_db(db)) as conn:
                data = stats(conn, now=datetime.now(UTC))
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        return
    _print(data)


def _print(data: dict[str, Any]) -> None:
    # Lazily: Rich (kept off `segdbg --help`, which imports every command).
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    minute = data["last_minute"]
    index = data.get("search_index") or {}
    console.print(
        f"[bold]{data['events']:,} events[/] from {data['requests']:,} requests · "
        f"last minute {minute['events']:,} ({minute['per_second']:g}/s)"
        + (f" · search index {index['lag']:,} behind" if index.get("lag") else "")
        + (f" · {data['pinned']:,} pinned" if data.get("pinned") else "")
    )
    if index.get("stale"):
        console.print(
            f"search index: {index['stale']:,} entries of deleted events (harmless; `segdbg vacuum` removes them)"
        )
    if data["events"]:
        console.print(f"first {data['first_received_at']} · last {data['last_received_at']}")

    def counts(title: str, rows: list[tuple[str, int]]) -> None:
        console.print(Text(title, style="italic"))  # not the table's title: Rich wraps that to the table's width
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(no_wrap=True)
        table.add_column(justify="right")
        for label, n in rows:
            table.add_row(Text(inert(label, 60)), f"{n:,}")
        console.print(table)

    counts("by type", list(data["by_type"].items()))
    counts("by status", list(data["by_status"].items()))
    rejected = data.get("rejected") or {}
    if rejected.get("requests"):
        counts("rejected requests, by code", list(rejected["by_code"].items()))
    counts(
        "by source",
        [(s["write_key"] + (f" ({s['label']})" if s["label"] else ""), s["events"]) for s in data["sources"]],
    )
    counts(
        "by library",
        [(f"{lib['name'] or '?'} {lib['version'] or ''}".strip(), lib["events"]) for lib in data["libraries"]],
    )
