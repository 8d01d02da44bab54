"""`segdbg tui` and `segdbg serve` with the TUI: arguments, errors, and a real run in a pty."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from debugger.cli import cli
from debugger.cli.child import ChildServer
from debugger.server.settings import Settings
from tests.helpers import ServeProcess, cli_env, events, http, run_segdbg
from tests.tui_support import fill, track


def test_tui_help_has_examples_and_is_listed() -> None:
    """`segdbg tui --help` explains itself; `segdbg --help` lists it."""
    result = run_segdbg("tui", "--help")
    assert result.returncode == 0 and "Examples:" in result.stdout and "--cap" in result.stdout
    assert " tui " in run_segdbg("--help").stdout


def test_tui_without_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    """A missing file: one line, exit 1."""
    result = run_segdbg("tui", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 1 and "no such capture" in result.stderr


def test_tui_needs_a_terminal(db_path: Path) -> None:
    """Piped output is a usage error that points at `segdbg events`: exit 2."""
    fill(db_path, [track(1)])
    result = run_segdbg("tui", "--db", str(db_path))
    assert result.returncode == 2 and "segdbg events" in result.stderr


def test_tui_builds_the_app_from_its_options(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--db, --cap and --url reach the app (the app itself is replaced: this checks the wiring)."""
    fill(db_path, [track(1)])
    made: list[tuple[Any, ...]] = []

    class FakeApp:
        def run(self) -> None:
            made.append(("ran",))

    def fake_make_tui(path: Path, **options: Any) -> FakeApp:
        made.append((path, options))
        return FakeApp()

    monkeypatch.setattr("debugger.cli.commands.tui.terminal", lambda: True)
    monkeypatch.setattr("debugger.tui.app.make_tui", fake_make_tui)
    result = CliRunner().invoke(cli, ["tui", "--db", str(db_path), "--cap", "50", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 0, result.output
    assert made == [
        (db_path, {"url": "http://127.0.0.1:9", "cap": 50, "plan": None, "notice": None, "routing": None}),
        ("ran",),
    ]
    routing = db_path.parent / "routing.yaml"
    routing.write_text("destinations:\n  Amplitude:\n    consent: [Analytics]\n")
    made.clear()
    result = CliRunner().invoke(cli, ["tui", "--db", str(db_path), "--routing", str(routing)])
    assert result.exit_code == 0, result.output
    given = made[0][1]["routing"]
    assert [(d.name, d.consent) for d in given.destinations] == [("Amplitude", ("Analytics",))]


async def test_a_start_up_notice_is_shown_in_the_tui(tmp_path: Path) -> None:
    """`serve` with the TUI hands its start-up warning (another server writes the capture) to the screen."""
    from tests.tui_support import make_app, settle

    app = make_app(tmp_path / "c.db", notice="c.db is already written by another segdbg server")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        [shown] = list(app._notifications)
        assert shown.message == "c.db is already written by another segdbg server" and shown.severity == "warning"


def test_serve_without_a_terminal_stays_headless(tmp_path: Path) -> None:
    """With stdout piped, `segdbg serve` prints request lines instead of opening the TUI."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "debugger", "serve", "--port", "0", "--db", str(tmp_path / "c.db")],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = proc.stderr.readline().split("listening on ")[1].split()[0]
        assert http(url + "/v1/track", body={"userId": "u", "event": "Piped", "writeKey": "k"}).status == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "/v1/track" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_child_server_reports_a_busy_port(tmp_path: Path) -> None:
    """Before the TUI opens, a port in use is a one-line error (exit 1), not a crash."""
    other = ServeProcess(tmp_path / "a.db", "--quiet")
    try:
        port = int(other.url.rsplit(":", 1)[1])
        with pytest.raises(click.ClickException) as caught:
            ChildServer.start(Settings(db=tmp_path / "b.db", port=port))
        assert "already in use" in caught.value.message
    finally:
        other.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read(fd: int, until: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while until not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.slow
def test_serve_in_a_terminal_opens_the_tui_and_q_stops_everything(tmp_path: Path) -> None:
    """In a real pty: the TUI shows an event a client sent, q quits, the server drains, the summary prints."""
    db = tmp_path / "pty.db"
    port = _free_port()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    env = cli_env(TERM="xterm-256color", COLUMNS="120", LINES="36")
    proc = subprocess.Popen(
        [sys.executable, "-m", "debugger", "serve", "--port", str(port), "--db", str(db)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    try:
        assert b"segdbg" in _read(master, b"LIVE")
        deadline = time.monotonic() + 20
        while True:  # the child server may still be binding when the TUI first draws
            try:
                response = http(
                    f"http://127.0.0.1:{port}/v1/track", body={"userId": "u1", "event": "PtyEvent", "writeKey": "k"}
                )
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status == 200
        assert b"PtyEvent" in _read(master, b"PtyEvent")
        os.write(master, b"q")
        output = _read(master, b"Stopped.")
        assert proc.wait(timeout=30) == 0
        assert b"1 requests" in output and b"1 events" in output
        assert [e["name"] for e in events(db)] == ["PtyEvent"]
        with socket.socket() as sock:  # the server child is gone with the TUI
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(master)


def test_pure_modules_and_command_modules_stay_light() -> None:
    """Pretty, paste and the serve/tui command modules import neither Textual nor aiohttp."""
    code = (
        "import sys, debugger.core.pretty.render, debugger.core.inputs.paste, debugger.core.inputs.calls, debugger.cli.commands.serve, debugger.cli.commands.tui;"
        "print(sorted(m for m in ('textual', 'aiohttp', 'sqlite_utils') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True)
    assert result.stdout.strip() == "[]"


def test_the_childs_server_keeps_the_serve_options(tmp_path: Path) -> None:
    """--write-key reaches the server the TUI starts: other keys are refused, the summary is returned."""
    child = ChildServer.start(Settings(db=tmp_path / "k.db", port=0, write_keys=frozenset({"only-me"})))
    try:
        ok = http(child.url + "/v1/track", body={"userId": "u", "event": "E", "writeKey": "only-me"})
        refused = http(child.url + "/v1/track", body={"userId": "u", "event": "E", "writeKey": "someone-else"})
        assert (ok.status, refused.status) == (200, 400)
    finally:
        summary = child.stop()
    assert summary is not None and summary.startswith("Stopped.")


async def test_the_tui_exempts_its_start_up_objects_from_full_collections(tmp_path: Path) -> None:
    """A full garbage collection walked every object Textual and the app built at start (a ~90 ms
    pause mid-keypress); the real app freezes them once its first frame is up."""
    import gc

    from tests.tui_support import make_app, settle

    gc.unfreeze()
    app = make_app(tmp_path / "c.db", freeze_gc=True)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            frozen = gc.get_freeze_count()
            tracked = len(gc.get_objects())  # what a full collection still walks
        assert frozen > 50_000, frozen
        assert tracked < frozen, (tracked, frozen)
    finally:
        gc.unfreeze()
