"""The ingest server as a child process (`segdbg serve` with the TUI in this process)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import click

from debugger.server.addresses import is_loopback
from debugger.server.settings import Settings

_LISTENING = re.compile(r"listening on (http://\S+)")


class ChildServer:
    """`python -m debugger serve --headless --quiet` with this process as its parent.

    Its stderr is read on a thread (kept for the summary and for errors), never printed
    while the TUI owns the terminal.
    """

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.lines: deque[str] = deque(maxlen=200)
        self._reader = threading.Thread(target=self._drain, name="segdbg-child-stderr", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, settings: Settings, *, timeout: float = 30, extra: Sequence[str] = ()) -> ChildServer:
        """Start the server and wait until it listens; ``extra`` are more `serve` options (``--forward ...``).

        Raises:
            click.ClickException: it exited first (port in use, bad capture file, ...).
        """
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        args = [
            sys.executable,
            "-m",
            "debugger",
            "serve",
            "--headless",
            "--quiet",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--db",
            str(settings.db),
            "--exit-with-parent",
            str(os.getpid()),
        ]
        for key in sorted(settings.write_keys):
            args += ["--write-key", key]
        if settings.retention.max_events is not None:
            args += ["--max-events", str(settings.retention.max_events)]
        if settings.retention.max_age is not None:
            args += ["--max-age", f"{int(settings.retention.max_age.total_seconds())}s"]
        if settings.routing is not None:
            args += ["--routing", settings.routing.source]
        if settings.intercept is not None:
            args += ["--intercept", str(settings.intercept.port), "--intercept-others", settings.intercept.others]
            args += ["--ca-dir", str(settings.intercept.ca_dir)]
        for rule in settings.faults:
            args += ["--fault", rule.text]
        if settings.fault_seed is not None:
            args += ["--fault-seed", str(settings.fault_seed)]
        if not is_loopback(settings.host):
            args.append("--allow-remote")  # the parent already checked it was asked for
        args += extra
        proc = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert proc.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            match = _LISTENING.search(line)
            if match:
                return cls(proc, match.group(1))
            seen.append(line.rstrip())
        proc.kill()
        proc.wait()
        proc.stderr.close()
        detail = "\n".join(line.removeprefix("Error: ") for line in seen if line.strip()) or "it exited without a word"
        raise click.ClickException(detail)

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())

    def stop(self, timeout: float = 60) -> str | None:
        """SIGTERM, wait for the drain, and return the server's summary line."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return next((line for line in reversed(self.lines) if line.startswith("Stopped.")), None)
