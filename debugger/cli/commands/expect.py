"""`segdbg expect QUERY`: block until the capture holds the events you expect (the CI primitive)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    scope_option,
    url_option,
    with_scope,
)
from debugger.cli.remote import ask
from debugger.core.exitcode import ExitCode
from debugger.core.query.plan import view_statuses
from debugger.core.query.sequence import PER, within_ms

if TYPE_CHECKING:  # the routing core loads PyYAML: only --delivered-to needs it
    from debugger.core.routing import DeliveredTo

#: The longest single long-poll; longer timeouts are several polls.
POLL_CHUNK = 60.0


@click.command("expect", cls=QueryCommand)
@click.argument("words", nargs=-1, required=True, metavar="QUERY...")  # with --sequence, one STEP per word
@click.option("--count", type=click.IntRange(min=0), default=None, help="Exactly N matching events.")
@click.option("--at-least", type=click.IntRange(min=0), default=None, help="At least N matching events (default: 1).")
@click.option(
    "--none", "none_", is_flag=True, help="No matching event (e.g. no invalid events: --none status:invalid)."
)
@click.option(
    "--at-most", type=click.IntRange(min=0), default=None, help="At most N matching events (fails at once above)."
)
@click.option(
    "--between",
    type=(click.IntRange(min=0), click.IntRange(min=0)),
    default=None,
    metavar="LOW HIGH",
    help="Between LOW and HIGH matching events, inclusive (fails at once above HIGH).",
)
@click.option(
    "--sequence",
    is_flag=True,
    help="Each word is a STEP query: wait until an identity did the steps in order (the counts are of identities).",
)
@click.option(
    "--per",
    type=click.Choice(PER),
    default=None,
    help="--sequence: what an identity is: user (userId, else anonymousId; the default), userId, anonymousId, source.",
)
@click.option(
    "--within",
    default=None,
    metavar="DURATION",
    help="--sequence: the most time from the first step to the last (30s, 10m, 2h, 1d), by message timestamp.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the condition.",
)
@include_problems_option("Count")
@db_option
@url_option
@scope_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (matches, closest misses).")
@click.option(
    "--delivered-to",
    default=None,
    metavar="DESTINATION",
    help="Count only matches that would reach this destination of --routing (consent, integrations, filters; "
    "docs/routing.md).",
)
@routing_option("The routing file --delivered-to reads (docs/routing.md).", required=False)
def command(
    words: tuple[str, ...],
    count: int | None,
    at_least: int | None,
    none_: bool,
    at_most: int | None,
    between: tuple[int, int] | None,
    sequence: bool,
    per: str | None,
    within: str | None,
    timeout: float,
    show_all: bool,
    db: Path | None,
    url: str | None,
    as_json: bool,
    scope: str | None,
    delivered_to: str | None,
    routing_path: Path | None,
) -> None:
    """Wait until events matching QUERY have arrived; exit 0, or 3 with the closest events seen.

    Blocks until the condition holds (at least 1 match by default), then exits at once — no
    sleeps needed around it. It wakes on every commit: on --db by watching the SQLite file,
    on --url through the server's long-poll API. Like `segdbg events`, invalid and duplicate
    events do not count unless the query has a status: term or --include-problems is given;
    the failure message shows them among the closest events, with the terms each one fails.
    Relative times (after:5m) count back from when expect started. A term may start with -
    to negate it (expect -has:userId --none).

    With --sequence, each word is one STEP (a query; quote it whole): it holds when at
    least one identity (--per) did the steps in order, ordered by each message's stored
    timestamp, the first to the last within --within; the count options then count
    identities. The failure names, for the closest identities, the step that is missing,
    out of order or too late, with the timestamps of it and of the step before.

    \b
    Exit codes: 0 the condition holds · 2 bad query/options · 3 it did not hold in time
                (or can no longer: more than --count/--at-most/--between) · 4 --url unreachable.

    \b
    Examples:
      segdbg expect 'event:"Order Completed" properties.total:>100'
      segdbg expect 'type:identify user:u_42' --count 1 --timeout 30
      segdbg expect status:invalid --none
      segdbg expect -has:userId -has:anonymousId --none --include-problems
      segdbg expect 'event:"Signed Up"' --url http://127.0.0.1:8088
      segdbg expect 'event:"Signed Up"' --count 1 --scope test-3f2a9c0142d7e6b1   # one test's write key
      segdbg expect 'event:"Page Viewed"' --at-most 3
      segdbg expect type:identify --between 2 5
      segdbg expect 'event:"Order Completed"' --delivered-to Amplitude --routing routing.yaml
      segdbg expect --sequence 'event:"Product Added"' 'event:"Checkout Started"' \\
                    'event:"Order Completed"' --per user --within 10m
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.expect import Condition, failure_message

    if db is not None and url is not None:
        raise click.UsageError("give --db or --url, not both.")
    if between is not None and between[0] > between[1]:
        raise click.BadParameter(f"{between[0]} > {between[1]}: give LOW first, then HIGH.", param_hint="--between")
    try:
        condition = Condition.of(count=count, at_least=at_least, none=none_, at_most=at_most, between=between)
    except ValueError as exc:
        raise click.UsageError("give only one of --count, --at-least, --at-most, --between and --none.") from exc
    delivered = _delivered(delivered_to, routing_path, url is not None or sequence)
    if sequence:
        steps = tuple(with_scope(word, scope) for word in words) if scope is not None else words
        _sequence(steps, per or "user", within, condition, timeout, show_all, db, url, as_json)
        return
    if per is not None or within is not None:
        raise click.UsageError("--per and --within go with --sequence.")
    query = with_scope(join_words(words), scope)
    parsed = parse_query(query)
    result = (
        _over_http(url, query, condition, timeout, show_all)
        if url
        else _on_file(resolve_db(db), parsed, query, condition, timeout, show_all, delivered)
    )
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    if result["ok"]:
        click.echo(
            f"✓ {result['count']:,} matching ({result['expected']} expected) after {result['seconds']:.2f} s", err=True
        )
        return
    click.echo(failure_message(result), err=True)
    raise SystemExit(ExitCode.FAILED)


def _delivered(name: str | None, routing_path: Path | None, remote_or_sequence: bool) -> DeliveredTo | None:
    """``--delivered-to NAME --routing FILE``: the condition each match must meet, or ``None``."""
    if name is None:
        if routing_path is not None:
            raise click.UsageError("--routing goes with --delivered-to DESTINATION.")
        return None
    if routing_path is None:
        raise click.UsageError("--delivered-to needs --routing FILE (docs/routing.md).")
    if remote_or_sequence:
        raise click.UsageError("--delivered-to counts on --db, without --url or --sequence.")
    # Lazily: the routing core loads PyYAML (kept off `segdbg --help`, which imports every command).
    from debugger.core.routing import DeliveredTo, RoutingError

    try:
        return DeliveredTo(load_routing(routing_path), name)
    except RoutingError as exc:
        raise click.BadParameter(str(exc), param_hint="'--delivered-to'") from exc


def _on_file(
    path: Path,
    parsed: Any,
    text: str,
    condition: Any,
    timeout: float,
    show_all: bool,
    delivered: DeliveredTo | None = None,
) -> dict[str, Any]:
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, migrate
    from debugger.store.expect import wait_on_file

    try:
        if not path.exists():
            raise StoreError(f"{path}: no such capture; start `segdbg serve --db {path}` first, or pass --url.")
        migrate(path)
        outcome = wait_on_file(
            str(path),
            parsed,
            text,
            condition,
            timeout=timeout,
            statuses=view_statuses(parsed, show_all),
            now=datetime.now(UTC),
            delivered=delivered,
        )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    return outcome.to_json()


def _over_http(
    url: str,
    text: str,
    condition: Any,
    timeout: float,
    show_all: bool,
    *,
    route: str = "wait",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    params: dict[str, Any] = {"q": text, "all": "1" if show_all else None, **condition.params()}
    if extra is not None:  # a sequence: its steps instead of q
        params = {**extra, **condition.params()}
    started = time.monotonic()
    while True:
        chunk = min(POLL_CHUNK, max(0.0, deadline - time.monotonic()))
        result: dict[str, Any] = ask(
            url,
            route,
            {**params, "timeout": f"{chunk:.3f}"},
            timeout=chunk + 30,
            refused=f"{url} refused the expectation: ",
        )
        if result["ok"] or time.monotonic() >= deadline or condition.hopeless(result["count"]):
            result["seconds"] = time.monotonic() - started
            return result


def _sequence(
    steps: tuple[str, ...],
    per: str,
    within: str | None,
    condition: Any,
    timeout: float,
    show_all: bool,
    db: Path | None,
    url: str | None,
    as_json: bool,
) -> None:
    """`expect --sequence`: each word a step; the counts are of identities (docs/ci.md, "Sequences")."""
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.sequence import sequence_failure_message

    if len(steps) < 2:
        raise click.UsageError("--sequence needs at least two STEP queries, one per word (quote each whole).")
    parsed = [parse_query(step) for step in steps]
    texts = list(steps)
    window = _within_ms(within)
    if url:
        params: dict[str, Any] = {"step": texts, "per": per, "within": within, "all": "1" if show_all else None}
        result = _over_http(url, "", condition, timeout, show_all, route="sequence", extra=params)
    else:
        result = _sequence_on_file(resolve_db(db), parsed, texts, per, within, window, condition, timeout, show_all)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    if result["ok"]:
        click.echo(
            f"✓ {result['count']:,} {'identity' if result['count'] == 1 else 'identities'} did the {len(texts)} steps "
            f"in order ({result['expected']} expected) after {result['seconds']:.2f} s",
            err=True,
        )
        return
    click.echo(sequence_failure_message(result), err=True)
    raise SystemExit(ExitCode.FAILED)


def _within_ms(within: str | None) -> int | None:
    if within is None:
        return None
    try:
        return within_ms(within)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--within") from None


def _sequence_on_file(
    path: Path,
    parsed: list[Any],
    texts: list[str],
    per: str,
    within: str | None,
    window: int | None,
    condition: Any,
    timeout: float,
    show_all: bool,
) -> dict[str, Any]:
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, migrate
    from debugger.store.sequence import SequenceReader, wait_sequence_on_file

    try:
        if not path.exists():
            raise StoreError(f"{path}: no such capture; start `segdbg serve --db {path}` first, or pass --url.")
        migrate(path)
        reader = SequenceReader(parsed, [view_statuses(p, show_all) for p in parsed], per, window, datetime.now(UTC))
        outcome = wait_sequence_on_file(str(path), reader, texts, condition, within=within, timeout=timeout)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    return outcome.to_json()
