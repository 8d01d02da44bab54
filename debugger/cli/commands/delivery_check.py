"""`segdbg delivery-check`: what each client delivered under `serve --fault`, judged from every attempt it made."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from debugger.cli.options import db_option, resolve_db
from debugger.core.delivery import judge, text_report
from debugger.core.exitcode import ExitCode
from debugger.core.pretty.render import inert


@click.command("delivery-check")
@db_option
@click.option("--write-key", "write_keys", multiple=True, help="Only this write key's messages (repeatable).")
@click.option(
    "--sequence",
    "sequence",
    metavar="PATH",
    default=None,
    help="A JSON path holding the client's own counter (e.g. properties.seq): numbers missing between the "
    "lowest and highest that arrived are reported as never arrived.",
)
@click.option(
    "--require-retry-after",
    is_flag=True,
    help="Also fail (exit 3) when a client came back before a Retry-After it was sent had passed.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
def command(
    db: Path | None, write_keys: tuple[str, ...], sequence: str | None, require_retry_after: bool, fmt: str
) -> None:
    """Say, per client, which events arrived exactly once, more than once, or never.

    A client is a write key with a library name and version. Every request it made to a
    route that carries events is an attempt: accepted ones count as arrived; the ones a
    `serve --fault` rule refused (answered 429/5xx, reset or held) are read back from the
    body the capture kept. An event arrived more than once when its messageId was accepted
    twice, or when the same content was accepted under a new messageId (flagged: the retry
    changed the id); never, when it was only ever refused, or when --sequence says a number
    is missing. It also says whether each Retry-After was waited out and how the gaps
    between a batch's attempts grew (docs/faults.md).

    Exits 0 when every client delivered every event exactly once, 3 when one lost or
    repeated any (or, with --require-retry-after, came back too early).

    \b
    Examples:
      segdbg serve --headless --fault '503 30%' --fault-seed 7 &
      python my_app.py                          # the client under test sends to :8088
      segdbg delivery-check
      segdbg delivery-check --format json | jq '.clients[] | {library, never}'
      segdbg delivery-check --sequence properties.seq --write-key ios-dev
    """
    # Lazily: the store loads sqlite_utils (kept off `segdbg --help`, which imports every command).
    from debugger.store.capture import StoreError, reader
    from debugger.store.delivery import delivery_attempts

    path = tuple(sequence.split(".")) if sequence else ()
    if sequence is not None and not all(path):
        raise click.BadParameter(f"{sequence!r} is not a JSON path like properties.seq.", param_hint="--sequence")
    try:
        with reader(resolve_db(db)) as conn:
            attempts = delivery_attempts(conn, write_keys=write_keys, sequence=path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    reports = judge(attempts)
    late = require_retry_after and any(not r.honoured for report in reports for r in report.retry_after)
    failed = any(report.failed for report in reports) or late
    if fmt == "json":
        data = {"ok": not failed, "clients": [report.to_dict() for report in reports]}
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for line in text_report(reports):
            click.echo(inert(line, 2000))
        if late:
            click.echo("A client came back before its Retry-After had passed (--require-retry-after).")
    if failed:
        sys.exit(ExitCode.FAILED)
