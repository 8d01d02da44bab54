"""`segdbg replay --resume [RUN|last]`: the command-line side of continuing a run (see :mod:`debugger.replay.resume`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from debugger.cli import resolve_db

#: With --resume, everything but these comes from the run itself (the retry settings, when given, replace the run's).
RESUME_OPTIONS = ("write_key", "report_file", "junit_file", "dry_run", "resume", "retries", "backoff", "timeout")


def resume(query: tuple[str, ...], url: str | None, db: Path | None, opts: dict[str, Any]) -> None:
    """Continue a recorded run: its own target, selection and options."""
    from click.core import ParameterSource

    from debugger.replay.resume import Complete, NotResumable, load

    context = click.get_current_context()
    given = [
        name for name in opts
        if name not in RESUME_OPTIONS and context.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    ]
    if query or url is not None or given:
        extra = ["QUERY"] * bool(query) + ["--to"] * (url is not None) + [f"--{n.replace('_', '-')}" for n in given]
        raise click.UsageError(f"--resume continues a run with its own target, query and options; drop {', '.join(extra)}.")
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
    retry = {name: opts[name] for name in ("retries", "backoff", "timeout")
             if context.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    if retry:
        from dataclasses import replace

        config = replace(config, policy=replace(config.policy, **retry))
    click.echo(
        f"Resuming run #{run['id']} to {run['target']} ({run['status']}, started {run['started_at']}): "
        "events recorded as delivered are not sent again.",
        err=True,
    )
    from debugger.cli.commands.replay import _dry_run, _run

    if opts["dry_run"]:
        _dry_run(config)
        return
    raise SystemExit(_run(config, opts["report_file"], opts["junit_file"]))
