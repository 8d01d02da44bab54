"""`segdbg reset`: delete every captured event and request (e.g. between CI test cases)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from debugger.cli.options import db_option, resolve_db, url_option
from debugger.cli.remote import ask


@click.command("reset")
@db_option
@url_option
@click.option(
    "--yes", "-y", is_flag=True, help="Delete without asking; required when there is no terminal to ask (scripts, CI)."
)
def command(db: Path | None, url: str | None, yes: bool) -> None:
    """Delete all captured events and requests; keep the database, its source labels and settings.

    With --url the running server does it (through its writer, so nothing in flight is
    lost). Event ids keep counting up after a reset, so live views and cursors carry on.
    On a terminal it asks first; without one (a script, CI) it refuses unless --yes is
    given, so a stray `segdbg reset` never empties a capture unasked.

    \b
    Examples:
      segdbg reset                                  # asks: Delete every captured event in ./segdbg.db?
      segdbg reset --yes --url http://127.0.0.1:8088   # in CI, between test cases
    """
    if db is not None and url is not None:
        raise click.UsageError("give --db or --url, not both.")
    where = url or str(resolve_db(db))
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"refusing to delete every captured event in {where} without asking: there is no terminal to ask. "
                "Pass --yes to delete anyway."
            )
        click.confirm(f"Delete every captured event in {where}?", abort=True)
    if url:
        deleted = ask(url, "reset", post=True)["deleted"]
    else:
        # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
        from debugger.store.capture import StoreError
        from debugger.store.stats import reset_file

        path = resolve_db(db)
        if not path.exists():
            raise click.ClickException(f"{path}: no such capture.")
        try:
            deleted = reset_file(path)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Deleted {deleted:,} event{'s' if deleted != 1 else ''} from {where}.", err=True)
