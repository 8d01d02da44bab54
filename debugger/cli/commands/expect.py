"""`segdbg expect QUERY`: block until the capture holds the events you expect (the CI primitive)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from debugger.cli.client import ApiError, Unreachable, call
from debugger.cli.options import (
    QueryCommand,
    db_option,
    include_problems_option,
    parse_query,
    query_argument,
    resolve_db,
    scope_option,
    url_option,
    with_scope,
)
from debugger.core.exitcode import ExitCode
from debugger.core.query.plan import view_statuses

#: The longest single long-poll; longer timeouts are several polls.
POLL_CHUNK = 60.0


@click.command("expect", cls=QueryCommand)
@query_argument(required=True)
@click.option("--count", type=click.IntRange(min=0), default=None, help="Exactly N matching events.")
@click.option("--at-least", type=click.IntRange(min=0), default=None, help="At least N matching events (default: 1).")
@click.option(
    "--none", "none_", is_flag=True, help="No matching event (e.g. no invalid events: --none status:invalid)."
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
def command(
    query: str,
    count: int | None,
    at_least: int | None,
    none_: bool,
    timeout: float,
    show_all: bool,
    db: Path | None,
    url: str | None,
    as_json: bool,
    scope: str | None,
) -> None:
    """Wait until events matching QUERY have arrived; exit 0, or 3 with the closest events seen.

    Blocks until the condition holds (at least 1 match by default), then exits at once — no
    sleeps needed around it. It wakes on every commit: on --db by watching the SQLite file,
    on --url through the server's long-poll API. Like `segdbg events`, invalid and duplicate
    events do not count unless the query has a status: term or --include-problems is given;
    the failure message shows them among the closest events, with the terms each one fails.
    Relative times (after:5m) count back from when expect started. A term may start with -
    to negate it (expect -has:userId --none).

    \b
    Exit codes: 0 the condition holds · 2 bad query/options · 3 it did not hold in time
                (or can no longer: more than --count) · 4 --url unreachable.

    \b
    Examples:
      segdbg expect 'event:"Order Completed" properties.total:>100'
      segdbg expect 'type:identify user:u_42' --count 1 --timeout 30
      segdbg expect status:invalid --none
      segdbg expect -has:userId -has:anonymousId --none --include-problems
      segdbg expect 'event:"Signed Up"' --url http://127.0.0.1:8088
      segdbg expect 'event:"Signed Up"' --count 1 --scope test-3f2a9c0142d7e6b1   # one test's write key
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.expect import Condition, failure_message

    if db is not None and url is not None:
        raise click.UsageError("give --db or --url, not both.")
    query = with_scope(query, scope)
    parsed = parse_query(query)
    try:
        condition = Condition.of(count=count, at_least=at_least, none=none_)
    except ValueError as exc:
        raise click.UsageError("give only one of --count, --at-least and --none.") from exc
    result = (
        _over_http(url, query, condition, timeout, show_all)
        if url
        else _on_file(resolve_db(db), parsed, query, condition, timeout, show_all)
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


def _on_file(path: Path, parsed: Any, text: str, condition: Any, timeout: float, show_all: bool) -> dict[str, Any]:
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
        )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    return outcome.to_json()


def _over_http(url: str, text: str, condition: Any, timeout: float, show_all: bool) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    params: dict[str, Any] = {"q": text, "all": "1" if show_all else None}
    if condition.mode == "at_least":
        params["at_least"] = condition.n
    else:
        params["count"] = condition.n
    started = time.monotonic()
    while True:
        chunk = min(POLL_CHUNK, max(0.0, deadline - time.monotonic()))
        try:
            result: dict[str, Any] = call(url, "wait", {**params, "timeout": f"{chunk:.3f}"}, timeout=chunk + 30)
        except Unreachable as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(ExitCode.UNREACHABLE) from None
        except ApiError as exc:
            raise click.ClickException(f"{url} refused the expectation: {exc.message}") from exc
        if result["ok"] or time.monotonic() >= deadline or condition.hopeless(result["count"]):
            result["seconds"] = time.monotonic() - started
            return result
