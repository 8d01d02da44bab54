"""Plain helpers shared by the tests: raw HTTP to a real server, reading the capture, running the CLI."""

from __future__ import annotations

import base64
import gzip
import http.client as httpclient
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from debugger.core.http.model import RequestRecord
from debugger.core.timefmt import format_timestamp
from debugger.store import capture, reads

ROOT = Path(__file__).resolve().parent.parent
#: Requests captured byte for byte from the real client libraries (tests/fixtures/README.md).
WIRE = ROOT / "tests" / "fixtures" / "wire"


@dataclass
class Response:
    """An HTTP answer: status, headers (lower-cased names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


def http(
    url: str,
    method: str = "POST",
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    *,
    chunked: bool = False,
    timeout: float = 10,
) -> Response:
    """Send one request with exactly these headers and bytes (http.client adds only Host, unless given)."""
    parts = urlsplit(url)
    if isinstance(body, dict | list):
        body = orjson.dumps(body)
    elif isinstance(body, str):
        body = body.encode()
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        own_host = any(name.lower() == "host" for name, _ in pairs)  # e.g. a DNS-rebinding Host
        conn.putrequest(method, path, skip_host=own_host, skip_accept_encoding=True)
        for name, value in pairs:
            conn.putheader(name, value)
        if body is not None and not chunked:
            conn.putheader("Content-Length", str(len(body)))
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        if body is not None:
            if chunked:
                for start in range(0, len(body), 1000):
                    piece = body[start : start + 1000]
                    conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                conn.send(b"0\r\n\r\n")
            else:
                conn.send(body)
        answer = conn.getresponse()
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
    finally:
        conn.close()


def request_record(received: datetime, key: str = "wk", status: int = 200) -> RequestRecord:
    """The record of one batch request received at ``received`` (refused ``invalid_json`` unless
    ``status`` is 200), for tests that write through the store's writer without a server."""
    return RequestRecord(
        received_at=format_timestamp(received),
        method="POST",
        path="/v1/batch",
        query_string="",
        remote_addr="127.0.0.1",
        headers=[],
        kind="batch",
        write_key=key,
        content_type="application/json",
        content_encoding=None,
        wire_size=10,
        body_size=10,
        status=status,
        code=None if status == 200 else "invalid_json",
        message=None,
        body=None if status == 200 else b"{",
    )


def basic(key: str) -> str:
    """An ``Authorization: Basic`` value for a write key, as the libraries encode it."""
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def gz(data: bytes | str) -> bytes:
    """gzip-compress a body."""
    return gzip.compress(data.encode() if isinstance(data, str) else data)


def events(db: Path, *, statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every stored event (all statuses unless given), oldest first."""
    conn = capture.connect(db)
    try:
        return list(reads.iter_events(conn, statuses=statuses))
    finally:
        conn.close()


def requests_rows(db: Path) -> list[dict[str, Any]]:
    """Every stored request, oldest first, headers decoded."""
    conn = capture.connect(db)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM requests ORDER BY id")]
        return [reads.get_request(conn, i) for i in ids]  # type: ignore[misc]
    finally:
        conn.close()


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for running segdbg from this checkout in a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("SEGDBG_DB", None)
    env.update(extra)
    return env


def run_segdbg(
    *args: str, cwd: Path | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m debugger ARGS`` from this checkout and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "debugger", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class ServeProcess:
    """A real `segdbg serve --headless` subprocess on a free loopback port."""

    def __init__(self, db: Path, *extra: str) -> None:
        self.db = db
        # Both streams go to files: a full pipe would block the server's per-request lines, and
        # reading one pipe two ways (readline, then communicate) loses what Python buffered.
        self._stdout = tempfile.TemporaryFile(mode="w+")
        self._stderr = tempfile.NamedTemporaryFile(mode="w+", suffix=".stderr")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "debugger", "serve", "--headless", "--port", "0", "--db", str(db), *extra],
            env=cli_env(),
            stdout=self._stdout,
            stderr=self._stderr,
            text=True,
        )
        deadline = time.monotonic() + 20
        self.url = ""
        while time.monotonic() < deadline:
            match = re.search(r"listening on (http://\S+)", Path(self._stderr.name).read_text())
            if match:
                self.url = match.group(1)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if not self.url:
            self.proc.kill()
            self.proc.wait(timeout=30)
            err = Path(self._stderr.name).read_text()
            self._close()
            raise RuntimeError(f"segdbg serve did not start: {err}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, str, str]:
        """Signal the process (by its id) and wait; returns exit code, stdout, stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=timeout)
        self._stdout.seek(0)
        out = self._stdout.read()
        err = Path(self._stderr.name).read_text()
        self._close()
        return self.proc.returncode, out, err

    def _close(self) -> None:
        self._stdout.close()
        self._stderr.close()


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of a capture."""
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
