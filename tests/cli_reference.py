"""docs/cli.md: every command's ``--help``, generated from the CLI itself.

``python -m tests.cli_reference`` rewrites the file; ``tests/test_docs.py`` fails when it is stale.
"""

from __future__ import annotations

from click.testing import CliRunner

from debugger.cli.group import COMMANDS, cli
from tests.helpers import ROOT

PATH = ROOT / "docs" / "cli.md"
#: Help is wrapped at this width whatever the terminal, so the file is the same on every machine.
WIDTH = 100

HEADER = """# Command reference

Every command's `--help`, generated from the CLI itself by `python -m tests.cli_reference`
(`tests/test_docs.py` fails when this file and the CLI disagree). The README has one line per command;
[architecture.md](architecture.md) says where each command's code lives (`debugger/cli/commands/`).
"""


def help_text(*args: str) -> str:
    """What ``segdbg ARGS --help`` prints, at :data:`WIDTH` columns."""
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="segdbg", terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    return result.output.rstrip() + "\n"


def render() -> str:
    """The whole of docs/cli.md."""
    parts = [HEADER, "## segdbg\n\n```\n" + help_text() + "```\n"]
    for name in sorted(COMMANDS):
        parts.append(f"## segdbg {name}\n\n```\n" + help_text(name) + "```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    PATH.write_text(render())
    print(f"wrote {PATH.relative_to(ROOT)}")
