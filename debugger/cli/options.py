"""What several commands share: the ``--db`` and ``--url`` options, where the capture is, and a QUERY argument."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from debugger.core.pretty.render import inert
from debugger.core.query.language import Query, QueryError, parse
from debugger.core.query.scope import ScopeError, check_name, scoped_text

if TYPE_CHECKING:  # the routing file reader loads PyYAML: only commands given --routing need it
    from debugger.core.routing import Routing

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


def join_words(words: tuple[str, ...] | list[str]) -> str:
    """The query text from its shell words (docs/search.md, "Terms on the command line").

    One word that does not start with ``-`` is the query as written (``'type:track checkout'``).
    Otherwise each word is a term, or a whole quoted query: a word the shell unquoted, one term
    with spaces and no quotes left (``event:Order Completed``, ``-Order Completed``), is quoted
    again (``event:"Order Completed"``, ``-"Order Completed"``); a word holding several terms
    (``'type:track after:1h'``) is kept as written.
    """
    if len(words) == 1 and not words[0].startswith("-"):
        return words[0]
    return " ".join(_requoted(word) for word in words)


def _requoted(word: str) -> str:
    if '"' in word or not any(ch.isspace() for ch in word):
        return word
    if any(":" in piece or piece.startswith("-") for piece in word.split()[1:]):
        return word  # several terms in one quoted word
    sign, body = ("-", word[1:]) if word.startswith("-") else ("", word)
    field, sep, value = body.partition(":")
    if sep and field and not any(ch.isspace() for ch in field):
        return f'{sign}{field}:"{value}"'
    return f'{sign}"{body}"'


def query_argument(*, required: bool = False) -> Callable[[F], F]:
    """The QUERY argument: any number of words (a negated ``-term`` among them), joined into one query string.

    Use it with ``cls=QueryCommand``, which reads a ``-term`` as a word of QUERY, never as an option.
    """

    def joined(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> str:
        return join_words(value) if value else ""

    return click.argument("query", nargs=-1, required=required, callback=joined)


class QueryCommand(click.Command):
    """A command with a QUERY whose terms may start with ``-`` (a negation): never read as an option.

    Before click parses, every word that is not an option or an option's value goes after ``--``,
    in order: ``events -type:track --limit 5`` is ``events --limit 5 -- -type:track``. A word is an
    option when it is one of the command's own (``--limit``, ``--limit=5``, ``-h``, a short option
    with its value attached like ``-oplan.yaml``); anything else starting with ``-`` is a query term.
    A word starting with ``--`` is always an option, so a typo (``--limt``) still gets click's hint.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, query_words_last(args, self.get_params(ctx)))


def query_words_last(args: list[str], params: list[click.Parameter]) -> list[str]:
    """``args`` with the options first and every QUERY word after ``--`` (see :class:`QueryCommand`)."""
    values: dict[str, int | None] = {}  # option name → values it takes (None: an optional value)
    for param in params:
        if isinstance(param, click.Option):
            takes = 0 if param.is_flag or param.count else param.nargs
            for name in (*param.opts, *param.secondary_opts):
                values[name] = None if getattr(param, "_flag_needs_value", False) else takes
    options: list[str] = []
    words: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if word == "--":
            words.extend(args[index:])
            break
        name = word.split("=", 1)[0] if word.startswith("--") else word
        if word.startswith("--") or name in values:
            options.append(word)
            if name in values and "=" not in word:
                given = values[name]
                if given is None:  # an optional value: taken unless the next word looks like an option
                    given = int(index < len(args) and not args[index].startswith("-"))
                options.extend(args[index : index + given])
                index += given
        elif word.startswith("-") and len(word) > 1 and _short_options(word, values):
            options.append(word)
        else:
            words.append(word)
    return options + (["--", *words] if words else [])


def _short_options(word: str, values: dict[str, int | None]) -> bool:
    """``-oFILE`` (a short option with its value attached) or ``-yq`` (short flags together)."""
    if any(ch in word for ch in ':"'):
        return False
    if values.get(word[:2], 0) != 0:
        return True
    return all(values.get(f"-{ch}") == 0 for ch in word[1:])


def include_problems_option(what: str) -> Callable[[F], F]:
    """``--include-problems`` (alias ``--all``): lift the default view of accepted events only (docs/search.md).

    Args:
        what: the verb for the help, e.g. "List" or "Count".
    """
    return click.option(
        "--include-problems",
        "--all",
        "show_all",
        is_flag=True,
        help=f"{what} invalid and duplicate events (and rejected requests) too, which Segment would drop; by default "
        "only accepted events count, and a status: term lifts that as well. --all is an alias: it means every "
        "status, not every row.",
    )


def scope_option(func: F) -> F:
    """``--scope NAME``: read only the events sent with write key NAME, a test's scope (docs/ci.md)."""

    def checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        try:
            return None if value is None else check_name(value)
        except ScopeError as exc:
            raise click.BadParameter(str(exc)) from exc

    return click.option(
        "--scope",
        default=None,
        metavar="NAME",
        callback=checked,
        help="Only the events sent with write key NAME (one test's scope, so tests sharing a server never see each "
        "other's events); the same as adding the term scope:NAME.",
    )(func)


def with_scope(query: str, scope: str | None) -> str:
    """The QUERY text read inside ``--scope`` (the term goes last, so a bad query's pointer stays right)."""
    return scoped_text(query, scope)


def routing_option(help_text: str, *, required: bool = True) -> Callable[[F], F]:
    """``--routing FILE``: the routing file (docs/routing.md)."""
    return click.option(
        "--routing",
        "routing_path",
        type=click.Path(dir_okay=False, path_type=Path),
        required=required,
        metavar="FILE",
        help=help_text,
    )


def load_routing(path: Path) -> Routing:
    """Read ``--routing FILE``; a bad file is a usage error (exit 2) with the place and the reason."""
    # Lazily: the routing file's reader loads PyYAML (kept off `segdbg --help`, which imports every command).
    from debugger.core.routing import RoutingError
    from debugger.store.routingfile import read_routing

    try:
        return read_routing(path)
    except RoutingError as exc:
        raise click.BadParameter(inert(str(exc), 2000), param_hint="'--routing'") from exc


def parse_id_map(pairs: tuple[str, ...], file: Path | None) -> dict[str, str]:
    """``--map-id OLD=NEW`` pairs over a ``--map-ids`` JSON object of old → new ids."""
    mapping: dict[str, str] = {}
    if file is not None:
        try:
            loaded = orjson.loads(file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise click.BadParameter(f"cannot read {file}: {exc}", param_hint="--map-ids") from exc
        if not isinstance(loaded, dict) or not all(isinstance(v, str | int) for v in loaded.values()):
            raise click.BadParameter(f'{file} must hold a JSON object of "old id": "new id"', param_hint="--map-ids")
        mapping.update({str(k): str(v) for k, v in loaded.items()})
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old:
            raise click.BadParameter(f"{pair!r} is not OLD=NEW", param_hint="--map-id")
        mapping[old] = new
    return mapping


#: The environment variable that moves the intercept CA's directory (tests point it at a temporary one).
CA_DIR_ENV = "SEGDBG_CA_DIR"


def ca_dir_option(func: F) -> F:
    """``--ca-dir DIR``: where intercept mode's CA lives (else $SEGDBG_CA_DIR, else the user's config dir)."""
    return click.option(
        "--ca-dir",
        "ca_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"The intercept CA's directory. Default: ${CA_DIR_ENV}, else $XDG_CONFIG_HOME/segdbg/ca "
        "(~/.config/segdbg/ca).",
    )(func)


def resolve_ca_dir(given: Path | None) -> Path:
    """The intercept CA's directory: --ca-dir, $SEGDBG_CA_DIR, $XDG_CONFIG_HOME/segdbg/ca, ~/.config/segdbg/ca."""
    if given is not None:
        return given.expanduser()
    if os.environ.get(CA_DIR_ENV):
        return Path(os.environ[CA_DIR_ENV]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config).expanduser() / "segdbg" / "ca"
