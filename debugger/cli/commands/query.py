"""`segdbg query`: translate a query between segdbg's language and Segment's FQL, or explain it on one event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from debugger.cli.options import QueryCommand, db_option, parse_query, query_argument, resolve_db
from debugger.core.pretty.render import inert
from debugger.core.query import fql
from debugger.core.query.language import FQL_PREFIX
from debugger.core.query.translate import NoEquivalent, Translation, from_fql, to_fql


@click.command("query", cls=QueryCommand)
@query_argument(required=True)
@click.option("--to-fql", "to_fql_", is_flag=True, help="Print QUERY (segdbg's language, or FQL) as FQL.")
@click.option("--from-fql", "from_fql_", is_flag=True, help="Read QUERY as FQL and print it in segdbg's language.")
@click.option(
    "--explain",
    "explain_id",
    type=int,
    default=None,
    metavar="EVENT-ID",
    help="For the event with this id: which term (and FQL condition) held, which failed, and the value seen.",
)
@db_option
def command(query: str, to_fql_: bool, from_fql_: bool, explain_id: int | None, db: Path | None) -> None:
    """Translate QUERY to or from Segment's FQL, or explain it on one event.

    QUERY is any query `segdbg events` takes: segdbg's language, or FQL after `fql:`
    (docs/fql.md). A translation is printed only where an equivalent exists; what the other
    language cannot say is an error naming the term (exit 2), and where the two read events
    differently a note goes to stderr.

    \b
    Examples:
      segdbg query --to-fql 'type:track event:"Order Completed" properties.total:>100'
      segdbg query --from-fql "type = 'track' and properties.plan in ['pro', 'team']"
      segdbg query --explain 42 "fql:type = 'track' and match(event, 'Order *')"
      segdbg query --explain 42 'event:"Signed Up" -has:userId'
    """
    chosen = [name for name, on in (("--to-fql", to_fql_), ("--from-fql", from_fql_)) if on]
    if explain_id is not None:
        chosen.append("--explain")
    if len(chosen) != 1:
        raise click.UsageError("give one of --to-fql, --from-fql or --explain EVENT-ID.")
    if from_fql_:
        text = query[len(FQL_PREFIX) :] if query.lower().startswith(FQL_PREFIX) else query
        try:
            expr = fql.parse(text)
        except fql.FqlError as exc:
            shown = inert(text, 200)
            pointer = " " * min(exc.start, len(shown)) + "^" * max(1, min(exc.end, len(shown)) - exc.start)
            raise click.UsageError(f"bad FQL: {exc.message}\n  {shown}\n  {pointer}") from exc
        _print(from_fql, expr)
    elif to_fql_:
        _print(to_fql, parse_query(query))
    else:
        assert explain_id is not None
        _explain(explain_id, query, db)


def _print(translate: object, source: object) -> None:
    try:
        result: Translation = translate(source)  # type: ignore[operator]
    except NoEquivalent as exc:
        raise click.UsageError(f"no equivalent: {exc}") from exc
    click.echo(result.text)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


def _explain(event_id: int, text: str, db: Path | None) -> None:
    parsed = parse_query(text)
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.expect import explain_event

    try:
        with reader(resolve_db(db)) as conn:
            explanation = explain_event(conn, event_id, parsed, now=datetime.now(UTC))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if explanation is None:
        raise click.ClickException(f"no event #{event_id} in the capture.")
    verdict = "matches" if explanation.matched else "does not match"
    click.echo(f"#{event_id} {verdict} {inert(text, 300)}")
    for step in explanation.steps:
        mark = "✓" if step.held else "✗"
        seen = f"  (was {inert(step.seen, 200)})" if step.seen is not None else ""
        click.echo(f"{'  ' * (step.depth + 1)}{mark} {inert(step.text, 300)}{seen}")
    if explanation.hidden:
        click.echo(
            f"note: its status is {explanation.event['status']}: events and expect show only ok events unless "
            "--all or a status: term."
        )
