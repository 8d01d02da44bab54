"""The segdbg command group: the commands of docs/cli.md, loaded lazily, and the console entry point.

Heavy imports (aiohttp, textual) happen inside the commands that need them, so
``segdbg --help`` stays fast and never loads Textual.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys

import click

from debugger import __version__
from debugger.core.exitcode import ExitCode

EPILOG = """\b
Exit codes: 0 ok · 1 error · 2 usage · 3 expectation/violation failed or request rejected
            4 target unreachable · 130 interrupted
"""


#: Command name → the module that defines it (as `command`). Imported only when used, so
#: `segdbg --help` stays fast and a command module can import the CLI's own modules without a cycle.
COMMANDS: dict[str, str] = {
    "serve": "debugger.cli.commands.serve",
    "tui": "debugger.cli.commands.tui",
    "send": "debugger.cli.commands.send",
    "events": "debugger.cli.commands.events",
    "expect": "debugger.cli.commands.expect",
    "stats": "debugger.cli.commands.stats",
    "reset": "debugger.cli.commands.reset",
    "check": "debugger.cli.commands.check",
    "schema": "debugger.cli.commands.schema",
    "replay": "debugger.cli.commands.replay",
    "diff": "debugger.cli.commands.diff",
    "vacuum": "debugger.cli.commands.vacuum",
    "pin": "debugger.cli.commands.pin",
    "unpin": "debugger.cli.commands.unpin",
    "query": "debugger.cli.commands.query",
    "mcp": "debugger.cli.commands.mcp",
    "preview": "debugger.cli.commands.preview",
    "user": "debugger.cli.commands.user",
    "route": "debugger.cli.commands.route",
    "ca": "debugger.cli.commands.ca",
    "delivery-check": "debugger.cli.commands.delivery_check",
}


class LazyGroup(click.Group):
    """A click group that imports each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            command = importlib.import_module(COMMANDS[cmd_name]).command
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="segdbg")
def cli() -> None:
    """segdbg: a local debugger for Segment-style analytics events.

    Run `segdbg serve`, point any Segment library at http://127.0.0.1:8088, and every call
    it makes is stored in a SQLite file, validated, and ready to search, export and replay.

    \b
    Examples:
      segdbg serve                         # listen on 127.0.0.1:8088, store in ./segdbg.db, open the TUI
      segdbg tui --db capture.db           # browse a capture, following it live
      segdbg send sample_events/           # send the bundled sample payloads
      segdbg events 'type:track properties.plan:pro'   # search everything stored
      segdbg expect 'event:"Order Completed"' --timeout 10   # in CI: wait for it
      segdbg check --plan plan.yaml        # explain problems and tracking-plan violations
      segdbg replay --to http://127.0.0.1:9000   # resend the capture elsewhere
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the group, mapping Ctrl-C to exit code 130."""
    try:
        code = cli.main(args=argv, prog_name="segdbg", standalone_mode=False)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except sqlite3.DatabaseError as exc:  # met while reading: a damaged capture, not a bug to show as a traceback
        from debugger.store.capture import RECOVER_HINT  # lazily: the store loads sqlite_utils

        click.echo(f"Error: the capture could not be read: {exc}. " + RECOVER_HINT.format(path="FILE"), err=True)
        sys.exit(ExitCode.ERROR)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)
