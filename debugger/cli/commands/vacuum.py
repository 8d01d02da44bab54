"""`segdbg vacuum`: apply retention now, rebuild the search index, VACUUM, and say what it saved."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from debugger.cli.options import db_option, resolve_db, url_option
from debugger.cli.remote import ask


def max_events_option(func: Any) -> Any:
    """``--max-events N`` (shared with `serve`)."""
    return click.option(
        "--max-events",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Keep the newest N events (pinned ones are kept on top); older ones are deleted.",
    )(func)


def max_age_option(func: Any) -> Any:
    """``--max-age DURATION`` (shared with `serve`), parsed into a timedelta."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
        from debugger.store.retention import parse_age

        try:
            return parse_age(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return click.option(
        "--max-age",
        default=None,
        metavar="DURATION",
        callback=parse,
        help="Delete events older than this: 90s, 30m, 12h, 7d, 2w (pinned ones are kept).",
    )(func)


@click.command("vacuum")
@db_option
@url_option
@max_events_option
@max_age_option
@click.option(
    "--reindex", is_flag=True, help="Rebuild the search index even when it holds no entries of deleted events."
)
def command(db: Path | None, url: str | None, max_events: int | None, max_age: Any, reindex: bool) -> None:
    """Shrink a capture: apply retention now, rebuild the search index, VACUUM the file.

    Retention deletes what --max-events/--max-age no longer keep (without them: the running
    server's own policy, if it has one); pinned events are never deleted. The search index
    keeps entries of deleted events until this rebuilds it. Prints the size before and after.

    Safe while a server writes the capture: when one is running (found through the capture,
    or given with --url) the server does the work on its own writer, step by step, so ingest
    continues; during the final VACUUM requests wait instead of being refused.

    \b
    Examples:
      segdbg vacuum
      segdbg vacuum --max-age 7d
      segdbg vacuum --db /tmp/checkout.db --max-events 100000
      segdbg vacuum --url http://127.0.0.1:8088
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.retention import Policy

    if db is not None and url is not None:
        raise click.UsageError("give --db or --url, not both.")
    policy = Policy(max_events, max_age)
    if url is None:
        path = resolve_db(db)
        if not path.exists():
            raise click.ClickException(f"{path}: no such capture; pass --db PATH.")
        url = _running_server(path)
        if url is None:
            _vacuum_file(path, policy, reindex)
            return
        click.echo(f"A segdbg server at {url} writes {path}; it does the vacuum (ingest carries on).", err=True)
    _vacuum_remote(url, policy, reindex)


def _running_server(path: Path) -> str | None:
    """The URL of a live server writing ``path``, else ``None``."""

    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, connect, migrate
    from debugger.store.servers import running_servers

    try:
        migrate(path)
        with closing(connect(path)) as conn:
            servers = running_servers(conn)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    return str(servers[0]["url"]) if servers else None


def _vacuum_remote(url: str, policy: Any, reindex: bool) -> None:
    body: dict[str, Any] = {"reindex": reindex}
    if policy.max_events is not None:
        body["max_events"] = policy.max_events
    if policy.max_age is not None:
        body["max_age_s"] = policy.max_age.total_seconds()
    hint = ". If no server is running, stop whatever holds the capture and run `segdbg vacuum --db PATH`."
    answer = ask(url, "vacuum", post=True, body=body, timeout=None, hint=hint)
    _print(answer, answer.get("retention", ""))


def _vacuum_file(path: Path, policy: Any, reindex: bool) -> None:
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, connect
    from debugger.store.maintenance import vacuum_capture

    bar = _Bar() if sys.stderr.isatty() else None
    try:
        with closing(connect(path)) as conn:
            report = vacuum_capture(
                lambda fn: fn(conn),
                path,
                policy,
                datetime.now(UTC),
                reindex=reindex,
                progress=bar.advance if bar is not None else lambda what, n: None,
            )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # sqlite3 errors: locked by a writer that kept it, disk full, ...
        if isinstance(exc, sqlite3.Error):
            raise click.ClickException(f"{path}: vacuum stopped ({exc}); nothing is lost, run it again.") from exc
        raise
    finally:
        if bar is not None:
            bar.close()
    _print(report.to_json(), policy.describe() if policy.active else "")


def _print(answer: dict[str, Any], described: str) -> None:
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.maintenance import human

    deleted = answer["deleted"]
    if described and described != "everything":
        click.echo(
            f"Retention, keeping {described}: deleted {deleted['events']:,} events and {deleted['requests']:,} requests."
        )
    index = answer["index"]
    if index["reindexed"] is not None:
        click.echo(
            f"Search index rebuilt: {index['reindexed']:,} events indexed, "
            f"{index['stale_removed']:,} entries of deleted events dropped."
        )
    before, after = answer["bytes_before"], answer["bytes_after"]
    click.echo(
        f"Size: {human(before['total'])} → {human(after['total'])}"
        f" (database {human(after['db'])}, WAL {human(after['wal'])})."
    )


class _Bar:
    """A Rich progress line on stderr while events are deleted and the index rebuilt."""

    def __init__(self) -> None:
        # Lazily: Rich (kept off `segdbg --help`, which imports every command).
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=Console(stderr=True), transient=True
        )
        self._progress.start()
        self._task = self._progress.add_task("vacuum: starting")
        self._counts = {"events": 0, "index": 0}

    def advance(self, what: str, n: int) -> None:
        """Count ``n`` more of ``what`` (events deleted, events re-indexed)."""
        self._counts[what] += n
        self._progress.update(
            self._task,
            description=f"vacuum: {self._counts['events']:,} events deleted · {self._counts['index']:,} re-indexed",
        )

    def close(self) -> None:
        """Remove the line."""
        self._progress.stop()
