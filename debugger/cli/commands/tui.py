"""`segdbg tui`: browse a capture and follow it live while another process writes it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from debugger.cli.options import F, db_option, load_routing, resolve_db, routing_option

if TYPE_CHECKING:  # the routing core loads PyYAML: only --routing needs it
    from debugger.core.routing import Routing

DEFAULT_CAP = 500


def cap_option(func: F) -> F:
    """``--cap N``: how many rows the stream keeps on screen."""
    return click.option(
        "--cap",
        type=click.IntRange(10, 100_000),
        default=DEFAULT_CAP,
        show_default=True,
        help="Rows the stream keeps on screen (like Segment's debugger); the capture keeps everything.",
    )(func)


def plan_option(func: F) -> F:
    """``--plan FILE``: a tracking plan the Problems tab and the stream check every event against."""
    return click.option(
        "--plan",
        type=click.Path(exists=True, path_type=Path),
        default=None,
        help="Tracking plan (segdbg YAML, Segment's JSON export, JSON Schemas) to check events against; edits are picked up live.",
    )(func)


@click.command("tui")
@db_option
@cap_option
@click.option(
    "--url", default=None, help="The server that fills this capture, if any (shown, and used by copy as curl)."
)
@plan_option
@routing_option(
    "A routing file (docs/routing.md): the detail's Routes tab (5) shows each destination's verdict.", required=False
)
def command(db: Path | None, cap: int, url: str | None, plan: Path | None, routing_path: Path | None) -> None:
    """Browse a capture in the terminal UI, following new events live.

    Opens any segdbg capture; when another process writes to it (a `segdbg serve
    --headless`, a test run, a CI job), new events appear as they are committed. Search
    with the filter language, read each event as its library's call (Pretty), as stored
    (Raw), as received (HTTP) and its problems; paste payloads to check them.

    \b
    Examples:
      segdbg tui                          # ./segdbg.db (or $SEGDBG_DB)
      segdbg tui --db /tmp/checkout.db
      segdbg serve --headless --db ci.db & segdbg tui --db ci.db
      segdbg tui --routing routing.yaml   # 5: which destinations get the event, and why not
    """
    path = resolve_db(db)
    if not path.exists():
        raise click.ClickException(f"{path}: no such capture; start `segdbg serve` or pass --db PATH.")
    if not terminal():
        raise click.UsageError("segdbg tui needs a terminal; for scripts use `segdbg events`.")
    routing = load_routing(routing_path) if routing_path is not None else None
    run_tui(path, url=url, cap=cap, plan=plan, routing=routing)


def terminal() -> bool:
    """Whether keys come from, and the screen goes to, a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_tui(
    path: Path,
    *,
    url: str | None,
    cap: int,
    plan: Path | None = None,
    notice: str | None = None,
    routing: Routing | None = None,
) -> None:
    """Run the TUI in this terminal until the user quits."""
    # Lazily: tracking plans load PyYAML (kept off `segdbg --help`, which imports every command).
    from debugger.core.lint.plan import PlanError
    from debugger.store.capture import StoreError, migrate
    from debugger.tui.app import make_tui

    try:
        migrate(path)
        app = make_tui(path, url=url, cap=cap, plan=plan, notice=notice, routing=routing)
    except (StoreError, PlanError) as exc:
        raise click.ClickException(str(exc)) from exc
    app.run()
