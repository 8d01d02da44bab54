"""`segdbg pin ID...` / `segdbg unpin ID...`: keep events whatever the retention policy."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import click

from debugger.cli.options import db_option, parse_query, resolve_db
from debugger.core.exitcode import ExitCode


def parse_ids(words: tuple[str, ...]) -> list[int]:
    """``12``, ``#12`` and ranges ``10-20`` as event ids; a usage error names the bad word."""
    ids: list[int] = []
    for word in words:
        text = word.strip().lstrip("#")
        low, sep, high = text.partition("-")
        try:
            if sep:
                first, last = int(low), int(high.lstrip("#"))
                if last < first or last - first > 1_000_000:
                    raise ValueError
                ids.extend(range(first, last + 1))
            else:
                ids.append(int(text))
        except ValueError:
            raise click.BadParameter(f"{word!r} is not an event id (e.g. 12, #12 or 10-20)", param_hint="ID") from None
    return ids


def _build(name: str, pinned: bool, doc: str) -> click.Command:
    def run(ids: tuple[str, ...], db: Path | None, match: str | None, off: bool = False) -> None:
        _run(ids, db, match, pinned and not off)

    if pinned:
        run = click.option("--off", is_flag=True, help="Unpin instead (the same as `segdbg unpin`).")(run)
    run = click.option(
        "--match",
        "match",
        default=None,
        metavar="QUERY",
        help=f"{name.capitalize()} every event the filter selects (any status).",
    )(run)
    run = db_option(run)
    run = click.argument("ids", nargs=-1, metavar="[ID]...")(run)
    return click.command(name, help=doc)(run)


def _run(words: tuple[str, ...], db: Path | None, match: str | None, on: bool) -> None:
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, connect, migrate
    from debugger.store.retention import pin_matching, set_pins

    verb = "Pinned" if on else "Unpinned"
    if not words and match is None:
        raise click.UsageError(
            "give event ids (e.g. 12 40-45) or --match QUERY; `segdbg events pinned:true` lists the pinned ones."
        )
    ids = parse_ids(words)
    parsed = parse_query(match) if match is not None else None
    path = resolve_db(db)
    if not path.exists():
        raise click.ClickException(f"{path}: no such capture; pass --db PATH.")
    try:
        migrate(path)
        with closing(connect(path)) as conn:
            found, missing = set_pins(conn, ids, on) if ids else ([], [])
            matched = pin_matching(conn, parsed, on, datetime.now(UTC)) if parsed is not None else None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    except sqlite3.OperationalError as exc:
        raise click.ClickException(f"{path}: {exc}; try again.") from exc
    _report(verb, on, found, matched, missing)


def _report(verb: str, on: bool, found: list[int], matched: int | None, missing: list[int]) -> None:
    def shown(ids: list[int]) -> str:
        return ", ".join(f"#{i}" for i in ids[:20]) + (f" … ({len(ids) - 20:,} more)" if len(ids) > 20 else "")

    if found:
        them = "it" if len(found) == 1 else "them"
        kept = f"; retention keeps {them}" if on else f"; retention may delete {them} again"
        click.echo(f"{verb} {shown(found)}{kept}.")
    if matched is not None:
        click.echo(f"{verb} {matched:,} event{'s' if matched != 1 else ''} matching the query.")
    if missing:
        click.echo(f"error: no event {shown(missing)} (never stored, or deleted by retention or reset).", err=True)
        raise SystemExit(ExitCode.ERROR)


command = _build(
    "pin",
    True,
    """Pin events so retention (serve --max-events/--max-age, vacuum) never deletes them.

    IDs are the # column of `segdbg events` (12, #12, or a range 10-20). Pinned events show
    a pin in `events` and the TUI, and `pinned:true` finds them. `segdbg reset` deletes them
    too (it empties the capture).

    \b
    Examples:
      segdbg pin 12 40-45
      segdbg pin --match 'event:"Order Completed" user:u_42'
      segdbg pin --off 12                 # the same as: segdbg unpin 12
      segdbg events pinned:true           # list them
    """,
)

unpin_command = _build(
    "unpin",
    False,
    """Unpin events: retention may delete them again once they are old enough.

    \b
    Examples:
      segdbg unpin 12
      segdbg unpin --match pinned:true    # unpin everything
    """,
)
