"""`segdbg events` cuts nothing silently: piped it prints every row, on a terminal the newest screenful and a
line saying how many of how many; --include-problems (alias --all) means every status, not every row."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.server.app import ServerThread
from tests.helpers import cli_env, http

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ROW = re.compile(r"^\s*(?:📌 )?(\d+)\s+\d{4}-\d\d-\d\d ", re.MULTILINE)


def fill(server: ServerThread, count: int, *, invalid: int = 0) -> None:
    """``count`` accepted track events E1..E<count>, then ``invalid`` events without any id."""
    batch = [{"type": "track", "event": f"E{n}", "userId": "u1"} for n in range(1, count + 1)]
    batch += [{"type": "track", "event": "No ids"} for _ in range(invalid)]
    assert http(f"{server.url}/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200


def events(*args: str, lines: int = 24) -> Result:
    """`segdbg events` in-process: stdout is not a terminal, and the terminal size says ``lines`` rows."""
    return CliRunner(env={"LINES": str(lines), "COLUMNS": "120"}).invoke(cli, ["events", *args], catch_exceptions=False)


def in_a_terminal(*args: str, rows: int = 24, cols: int = 120) -> str:
    """`segdbg events` in a real pty of ``rows`` × ``cols``: everything it wrote, escapes removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = cli_env(TERM="xterm-256color")
    for name in ("LINES", "COLUMNS"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "debugger", "events", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while True:
            assert select.select([master], [], [], max(0.0, deadline - time.monotonic()))[0], seen
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=30) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return ANSI.sub("", seen.decode()).replace("\r\n", "\n")


def test_a_piped_table_has_every_row(server: ServerThread, db_path: Path) -> None:
    """Piped (not a terminal) the table lists all 60 events, not the 18 a 24-line screen would hold."""
    fill(server, 60, invalid=2)
    result = events("--db", str(db_path))
    assert result.exit_code == 0, result.output
    assert [int(n) for n in ROW.findall(result.stdout)] == list(range(1, 61))
    assert "newest" not in result.stderr
    assert "(2 invalid hidden; add --include-problems to include them)" in result.stderr


def test_a_piped_table_of_any_size_keeps_one_header_and_its_columns(server: ServerThread, db_path: Path) -> None:
    """2,500 rows are printed in slices with the widths of the first: one header, every row, one width."""
    fill(server, 2500)
    result = events("--db", str(db_path))
    lines = result.stdout.splitlines()
    assert len(lines) == 2501 and lines[0].split()[:2] == ["#", "received"]
    assert [int(n) for n in ROW.findall(result.stdout)] == list(range(1, 2501))
    assert len({len(line) for line in lines}) == 1


def test_on_a_terminal_the_newest_screenful_says_what_it_left_out(server: ServerThread, db_path: Path) -> None:
    """In a 24-line pty: the newest 18 rows, then "newest 18 of 60 — ...", then the note on hidden events."""
    fill(server, 60, invalid=2)
    shown = in_a_terminal("--db", str(db_path), rows=24)
    assert [int(n) for n in ROW.findall(shown)] == list(range(43, 61))
    assert "newest 18 of 60 — --limit N or pipe for all" in shown
    assert "(2 invalid hidden; add --include-problems to include them)" in shown
    with_problems = in_a_terminal("--db", str(db_path), "--include-problems", rows=24)
    assert [int(n) for n in ROW.findall(with_problems)] == list(range(45, 63))
    assert "newest 18 of 62 — --limit N or pipe for all" in with_problems and "hidden" not in with_problems


def test_on_a_terminal_a_table_that_fits_has_no_footer(server: ServerThread, db_path: Path) -> None:
    """Ten events on a 24-line screen: all of them, and no line about rows left out."""
    fill(server, 10)
    shown = in_a_terminal("--db", str(db_path), rows=24)
    assert [int(n) for n in ROW.findall(shown)] == list(range(1, 11))
    assert "newest" not in shown


def test_limit_says_what_it_cut(server: ServerThread, db_path: Path) -> None:
    """--limit keeps the newest N of the table and the first N of an export, and says so on stderr."""
    fill(server, 60)
    table = events("--db", str(db_path), "--limit", "3")
    assert [int(n) for n in ROW.findall(table.stdout)] == [58, 59, 60]
    assert "newest 3 of 60 — drop --limit for all" in table.stderr
    export = events("--db", str(db_path), "--limit", "7", "--format", "jsonl")
    assert [orjson.loads(line)["id"] for line in export.stdout.splitlines()] == list(range(1, 8))
    assert "first 7 of 60 — drop --limit for all" in export.stderr
    everything = events("--db", str(db_path), "--limit", "60", "--format", "jsonl")
    assert len(everything.stdout.splitlines()) == 60 and "of 60" not in everything.stderr


@pytest.mark.parametrize("flag", ["--include-problems", "--all"])
def test_include_problems_and_its_alias_add_statuses_not_rows(server: ServerThread, db_path: Path, flag: str) -> None:
    """--include-problems and --all both add the invalid events; the help says it is about statuses."""
    fill(server, 3, invalid=1)
    result = events("--db", str(db_path), flag, "--format", "jsonl")
    assert [orjson.loads(line)["status"] for line in result.stdout.splitlines()] == ["ok", "ok", "ok", "invalid"]
    help_text = " ".join(events("--help").output.split())
    assert "--include-problems, --all" in help_text
    assert "invalid and duplicate events (and rejected requests) too" in help_text
    assert "it means every status, not every row" in help_text
