"""What several commands share: the ``--db`` and ``--url`` options, where the capture is, and a QUERY argument."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from debugger.core.pretty.render import inert
from debugger.core.query.language import Query, QueryError, parse

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """``--db PATH``: the capture file (else $SEGDBG_DB, else ./segdbg.db)."""
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Capture database. Default: $SEGDBG_DB, else ./segdbg.db.",
    )(func)


def resolve_db(db: Path | None) -> Path:
    """Apply the docs/capture.md order: --db, $SEGDBG_DB, ./segdbg.db.

    A path in a folder that does not exist is a usage error naming the folder (every command
    would otherwise fail later, and less clearly: "no such capture", "unable to open").
    """
    path = default_db_path(str(db) if db else None, dict(os.environ))
    folder = path.parent
    if not folder.is_dir():
        given = "--db" if db else "$SEGDBG_DB"
        shown = inert(str(folder), 300)
        why = (
            f"{shown} is a file, not a folder; choose another path."
            if folder.exists()
            else f"the folder {shown} does not exist; create it first (mkdir -p {shown}) or choose another path."
        )
        raise click.BadParameter(f"{inert(str(path), 300)}: {why}", param_hint=f"'{given}'")
    return path


def default_db_path(option: str | None, environ: dict[str, str]) -> Path:
    """``--db PATH``, else ``$SEGDBG_DB``, else ``./segdbg.db`` (docs/capture.md)."""
    return Path(option or environ.get("SEGDBG_DB") or "segdbg.db")


def url_option(func: F) -> F:
    """``--url URL``: a running segdbg server to ask instead of opening the database."""
    return click.option(
        "--url",
        default=None,
        metavar="URL",
        help="Ask a running segdbg server (its debugger API) instead of opening --db, e.g. http://127.0.0.1:8088.",
    )(func)


def parse_query(text: str | None) -> Query:
    """Parse a filter for a command; a malformed one is a usage error (exit 2) that points at the term."""
    try:
        return parse(text or "")
    except QueryError as exc:
        shown = inert(text or "", 200)
        pointer = " " * min(exc.start, len(shown)) + "^" * max(1, min(exc.end, len(shown)) - exc.start)
        raise click.UsageError(f"bad query: {exc.message}\n  {shown}\n  {pointer}") from exc
