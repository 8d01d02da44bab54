"""`segdbg replay` on the console: run a replay (with a Rich progress bar on a terminal), a dry
run, a resumed run, and the summary, first failures and reports that follow.

Imported only when `segdbg replay` runs: it loads Rich and aiohttp, which `segdbg --help` must not.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import sys
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import click
import orjson
from click.core import ParameterSource
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from debugger.cli.options import resolve_db
from debugger.core.exitcode import ExitCode
from debugger.core.pretty.render import inert
from debugger.core.replay.report import DELIVERED, Tally, junit_xml, summary_lines
from debugger.replay.config import RunConfig
from debugger.replay.delivery import Deliverer
from debugger.replay.resume import Complete, NotResumable, load
from debugger.replay.run import DryRunTally, RunOutcome, dry_run_lines, execute, prepare
from debugger.store.capture import StoreError, connect
from debugger.store.runs import count_not_delivered, get_run, iter_deliveries, write_report


def run_replay(config: RunConfig, report_file: Path | None, junit_file: Path | None) -> int:
    console = Console(stderr=True)
    progress = Progress(console) if console.is_terminal else None
    ended: list[RunOutcome] = []

    async def main() -> None:
        # SIGTERM (CI cancelling a job) ends the run like Ctrl-C: recorded as interrupted.
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await execute(config, progress=progress, done=ended.append)

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not ended:
            raise KeyboardInterrupt from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    outcome = ended[0]
    if outcome.summary["total"] == 0 and outcome.status != "interrupted":
        click.echo(
            f"Nothing to replay: no events in {config.db} match"
            + (f" {config.query!r}" if config.query else " (only accepted events are replayed without a status: term)")
            + ".",
            err=True,
        )
    for line in summary_lines(outcome.summary, config.target):
        click.echo(line)
    if outcome.summary["not_delivered"]:
        _first_failures(config.db, outcome.run_id)
    if outcome.unreachable:
        click.echo(f"error: {outcome.unreachable}", err=True)
    if outcome.record_error:
        click.echo(f"warning: some deliveries could not be recorded in {config.db}: {outcome.record_error}", err=True)
    click.echo(f"Run #{outcome.run_id} recorded in {config.db} ({outcome.status}).", err=True)
    hint = continue_hint(outcome, config)
    if hint:
        click.echo(hint, err=True)
    _write_reports(config.db, outcome.run_id, report_file, junit_file)
    return outcome.exit_code if outcome.status != "interrupted" else int(ExitCode.INTERRUPTED)


def continue_hint(outcome: RunOutcome, config: RunConfig) -> str | None:
    """How to continue a run that did not deliver everything: what is left, and the command that sends it."""
    summary = outcome.summary
    left, failed = summary.get("left", 0), summary["not_delivered"]
    if outcome.status == DELIVERED or not (left or failed):
        return None
    command = ["segdbg", "replay", "--resume", str(outcome.run_id)]
    if config.db != resolve_db(None):
        command += ["--db", str(config.db)]
    if config.options.write_key is not None:
        command += ["--write-key", "KEY"]
    parts = [f"{left:,} not sent yet"] * bool(left) + [f"{failed:,} not delivered"] * bool(failed)
    why = {"interrupted": "Interrupted", "unreachable": "The target could not be reached"}.get(outcome.status, "")
    return (
        (f"{why}: " if why else "")
        + " and ".join(parts)
        + f". To {'retry them' if outcome.status == 'failed' else 'continue'} (what was delivered is not sent again): "
        + shlex.join(command)
        + (" with the same --write-key" if config.options.write_key is not None else "")
    )


FIRST_FAILURES = 5


def _first_failures(db: Path, run_id: int) -> None:
    """The first few events not delivered, so the summary points at something concrete."""
    with closing(connect(db)) as conn:
        first = list(islice(iter_deliveries(conn, run_id, failures_only=True), FIRST_FAILURES))
        more = count_not_delivered(conn, run_id) - len(first)
    click.echo("  not delivered:")
    for delivery in first:
        label = " ".join(
            x for x in (delivery["type"] or "event", f'"{delivery["name"]}"' if delivery["name"] else "") if x
        )
        click.echo(
            f"    #{delivery['event_id']} {inert(label, 50)}  {inert(delivery['error'] or delivery['reason'], 100)}"
        )
    if more > 0:
        click.echo(f"    … and {more:,} more: --report FILE has each one, and so does `segdbg tui` (d: Deliveries)")


def _write_reports(db: Path, run_id: int, report_file: Path | None, junit_file: Path | None) -> None:
    if report_file is None and junit_file is None:
        return
    with closing(connect(db)) as conn:
        run = get_run(conn, run_id)
        assert run is not None
        try:
            if report_file is not None:
                with report_file.open("wb") as out:
                    write_report(conn, run, out)
                click.echo(f"Report written to {report_file}.", err=True)
            if junit_file is not None:
                junit_file.write_bytes(junit_xml(run, iter_deliveries(conn, run_id)))
                click.echo(f"JUnit XML written to {junit_file}.", err=True)
        except OSError as exc:
            raise click.ClickException(f"cannot write the report: {exc}") from exc


def dry_run(config: RunConfig) -> None:
    now = datetime.now(UTC)
    options, count = prepare(config, now)
    out = sys.stdout.buffer
    tally = DryRunTally()
    with closing(connect(config.db)) as conn:
        for line in dry_run_lines(conn, config, options, now):
            tally.add(line)
            out.write(orjson.dumps(line) + b"\n")
    out.flush()
    click.echo(
        f"Dry run: would send {tally.events:,} of {count:,} events in {tally.requests:,} requests to {config.target}"
        + (f"; {tally.skipped:,} would not be sent" if tally.skipped else "")
        + ". Nothing was sent or recorded.",
        err=True,
    )


#: With --resume, everything but these comes from the run itself (the retry settings, when given, replace the run's).
RESUME_OPTIONS = ("write_key", "report_file", "junit_file", "dry_run", "resume", "retries", "backoff", "timeout")


def resume(query: str, url: str | None, db: Path | None, opts: dict[str, Any]) -> None:
    """Continue a recorded run: its own target, selection and options."""
    context = click.get_current_context()
    given = [
        name
        for name in opts
        if name not in RESUME_OPTIONS and context.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    ]
    if query or url is not None or given:
        extra = ["QUERY"] * bool(query) + ["--to"] * (url is not None) + [f"--{n.replace('_', '-')}" for n in given]
        raise click.UsageError(
            f"--resume continues a run with its own target, query and options; drop {', '.join(extra)}."
        )
    path = resolve_db(db)
    if not path.exists():
        raise click.ClickException(f"{path}: no such capture; pass --db PATH.")
    try:
        config, run = load(path, opts["resume"], opts["write_key"])
    except Complete as done:
        click.echo(str(done), err=True)
        return
    except NotResumable as exc:
        raise click.ClickException(str(exc)) from exc
    retry = {
        name: opts[name]
        for name in ("retries", "backoff", "timeout")
        if context.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    }
    if retry:
        config = replace(config, policy=replace(config.policy, **retry))
    click.echo(
        f"Resuming run #{run['id']} to {run['target']} ({run['status']}, started {run['started_at']}): "
        "events recorded as delivered are not sent again.",
        err=True,
    )
    if opts["dry_run"]:
        dry_run(config)
        return
    raise SystemExit(run_replay(config, opts["report_file"], opts["junit_file"]))


class Progress:
    """A Rich progress bar (events done, rate, ETA) and the sender's current wait."""

    def __init__(self, console: Any) -> None:
        self._bar = RichProgress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=True,
            refresh_per_second=8,
        )
        self._task: Any = None
        self.deliverer: Deliverer | None = None

    def begin(self, total: int) -> None:
        """Show the bar for ``total`` events."""
        self._bar.start()
        self._task = self._bar.add_task("replay", total=total, rate="", note="")

    def advance(self, events: int, tally: Tally) -> None:
        """Count ``events`` more events done."""
        self._bar.update(self._task, advance=events)
        self._show(tally)

    async def tick(self, tally: Tally) -> None:
        """Keep the note fresh while nothing completes (a retry wait, a slow target)."""
        while True:
            await asyncio.sleep(0.25)
            self._show(tally)

    def _show(self, tally: Tally) -> None:
        speed = self._bar.tasks[0].speed
        note = self.deliverer.status if self.deliverer is not None else ""
        failed = f"[red]{tally.not_delivered:,} not delivered[/] " if tally.not_delivered else ""
        self._bar.update(self._task, rate=f"{speed:,.0f} ev/s" if speed else "", note=failed + note)

    def end(self) -> None:
        """Remove the bar."""
        self._bar.stop()
