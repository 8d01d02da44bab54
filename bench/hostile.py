"""Hostile load against a real `segdbg serve --headless`: is memory bounded, does a real client still get in?

Run by hand (not part of the suite). Each phase sends one kind of abuse, then a normal event,
and prints the server's resident memory and the normal event's latency:

    slowloris     300 connections that trickle their headers and never finish them
    headers       500 requests with 70 KB of headers (431 each)
    bodies        20 requests promising 100 MB bodies, 2 MB of which are sent (stopped at 1 MB)
    gzip bombs    200 bodies that inflate to 1 GB each (stopped at the limit)
    deep JSON     200 bodies nested 10,000 deep
    big batches   100 batches of 2,501 tiny events

    python bench/hostile.py
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson

from tests.helpers import ServeProcess, http, integrity

TRACK = orjson.dumps({"writeKey": "wk", "userId": "u", "event": "Still Works"})


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def gzip_bomb(size: int) -> bytes:
    """gzip of ``size`` zero bytes (1 GB → about 1 MB), built a megabyte at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    return b"".join(packer.compress(chunk) for _ in range(size >> 20)) + packer.flush()


def normal_latency_ms(url: str) -> float:
    """One ordinary event, as a client library would send it: milliseconds until its 200."""
    started = time.perf_counter()
    answer = http(url + "/v1/track", body=TRACK, timeout=30)
    assert answer.status == 200, answer.status
    return (time.perf_counter() - started) * 1000


def slowloris(url: str, port: int) -> int:
    """300 connections trickling headers for 5 s; returns how many the server closed meanwhile."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
    for sock in socks:
        sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\n")
        sock.setblocking(False)
    closed = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for sock in socks:
            try:
                sock.send(b"X-A: b\r\n")
            except OSError:
                pass
        time.sleep(0.5)
    for sock in socks:
        try:
            closed += sock.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    return closed


def many(count: int, send: Callable[[], int], threads: int = 4) -> dict[int, int]:
    """Run ``send`` ``count`` times on a few threads; count the statuses."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    per = count // threads

    def worker() -> None:
        for _ in range(per):
            status = send()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return statuses


def huge_body(port: int) -> int:
    """Promise 100 MB, send 2 MB, read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
        try:
            for _ in range(32):
                sock.sendall(b"[" * 65536)
        except OSError:
            pass
        answer = sock.recv(200)
    return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def main() -> int:
    """Run every phase; print memory and a normal client's latency after each."""
    bomb = gzip_bomb(1 << 30)
    deep = b'{"writeKey":"wk","batch":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    batch = orjson.dumps({"writeKey": "wk", "batch": [{"type": "track", "event": "E", "userId": "u"}] * 2501})
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "hostile.db"
        server = ServeProcess(db, "--quiet")
        pid, url = server.proc.pid, server.url
        port = int(url.rsplit(":", 1)[1])
        print(
            f"segdbg at {url} (pid {pid}); RSS {rss_mb(pid):.1f} MB; a normal event takes {normal_latency_ms(url):.1f} ms"
        )
        peak = rss_mb(pid)
        phases: list[tuple[str, Callable[[], object]]] = [
            ("slowloris", lambda: f"{slowloris(url, port)} of 300 closed by the server"),
            (
                "headers",
                lambda: many(
                    500,
                    lambda: (
                        http(url + "/v1/track", body=TRACK, headers={f"X-{i}": "v" * 1000 for i in range(70)}).status
                    ),
                ),
            ),
            ("bodies", lambda: many(20, lambda: huge_body(port))),
            (
                "gzip bombs",
                lambda: many(
                    200, lambda: http(url + "/v1/batch", body=bomb, headers={"Content-Encoding": "gzip"}).status
                ),
            ),
            ("deep JSON", lambda: many(200, lambda: http(url + "/v1/batch", body=deep).status)),
            ("big batches", lambda: many(100, lambda: http(url + "/v1/batch", body=batch, timeout=60).status)),
        ]
        for name, phase in phases:
            started = time.perf_counter()
            outcome = phase()
            seconds = time.perf_counter() - started
            rss = rss_mb(pid)
            peak = max(peak, rss)
            print(
                f"{name:12} {seconds:6.1f} s  {outcome}  RSS {rss:.1f} MB  normal event {normal_latency_ms(url):.1f} ms"
            )
        code, _, err = server.stop()
        tracebacks = err.count("Traceback")
        print(
            f"peak RSS seen {peak:.1f} MB; integrity_check {integrity(db)}; server exit {code}; {tracebacks} tracebacks"
        )
        return 0 if code == 0 and tracebacks == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
