"""Intercept benchmark: ingest through `segdbg serve --intercept` against direct ingest, in the same run.

One `segdbg serve --headless --quiet --intercept` process (a fresh capture and CA in a temporary
directory; the proxy may dial loopback only). The load is POST /v1/batch, 100 realistic events per batch,
from N concurrent keep-alive connections of an aiohttp client in this process:
  direct     http://127.0.0.1:PORT/v1/batch
  intercept  https://api.segment.io/v1/batch through the proxy (CONNECT, TLS with the local CA)
The two alternate, each measured `--runs` times for `--seconds`; the figure is the median events/s of each
and their ratio (target: intercept >= 50% of direct, docs/intercept.md). The client does the TLS on its side
too, in the same process, so the ratio is a lower bound for the server's own cost.

Usage:  python bench/intercept.py [--seconds 10] [--runs 3] [--concurrency 8] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import realistic_event  # noqa: E402 - after the path is set

TARGET = 0.5
BATCH = 100


def start_server(workdir: Path) -> tuple[subprocess.Popen[str], int, int, Path]:
    """`segdbg serve --intercept` on free ports; returns the process, the endpoint and proxy ports, the CA."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["SEGDBG_CA_DIR"] = str(workdir / "ca")
    env["SEGDBG_INTERCEPT_DIAL"] = "loopback"
    stderr = workdir / "serve.stderr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "debugger", "serve", "--headless", "--quiet", "--port", "0", "--intercept", "0"]
        + ["--db", str(workdir / "bench.db")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr.open("w"),
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = stderr.read_text()
        endpoint = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        proxy = re.search(r"Intercept proxy on http://127\.0\.0\.1:(\d+) .*; CA (\S+) ", text)
        if endpoint and proxy:
            return proc, int(endpoint.group(1)), int(proxy.group(1)), Path(proxy.group(2))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"segdbg serve --intercept did not start:\n{stderr.read_text()}")


async def load(url: str, seconds: float, concurrency: int, proxy: str | None, ca: Path, tag: str) -> float:
    """Post batches from ``concurrency`` workers for ``seconds``; returns accepted events per second."""
    context = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)
    accepted = 0
    failed = 0
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def worker(thread: int) -> None:
            nonlocal accepted, failed
            n = 0
            while time.perf_counter() < stop:
                body = orjson.dumps(
                    {"batch": [realistic_event(thread, n, i) for i in range(BATCH)], "writeKey": f"bench-{tag}"}
                )
                n += 1
                async with session.post(
                    url, data=body, headers={"Content-Type": "application/json"}, proxy=proxy
                ) as reply:
                    await reply.read()
                    if reply.status == 200:
                        accepted += BATCH
                    else:
                        failed += 1

        started = time.perf_counter()
        stop = started + seconds
        await asyncio.gather(*(worker(t) for t in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failed:
        print(f"  warning: {failed} batches not answered 200 ({tag})", file=sys.stderr)
    return accepted / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode (the median is reported)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent keep-alive connections")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segdbg-bench-intercept-") as tmp:
        proc, port, proxy_port, ca = start_server(Path(tmp))
        try:
            direct_url = f"http://127.0.0.1:{port}/v1/batch"
            proxy = f"http://127.0.0.1:{proxy_port}"
            direct: list[float] = []
            intercepted: list[float] = []
            for run in range(args.runs):
                tag = str(run)
                direct.append(asyncio.run(load(direct_url, args.seconds, args.concurrency, None, ca, "d" + tag)))
                intercepted.append(
                    asyncio.run(
                        load("https://api.segment.io/v1/batch", args.seconds, args.concurrency, proxy, ca, "i" + tag)
                    )
                )
                print(f"run {run + 1}: direct {direct[-1]:,.0f} events/s · intercept {intercepted[-1]:,.0f} events/s")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    d, i = statistics.median(direct), statistics.median(intercepted)
    ratio = i / d if d else 0.0
    verdict = "ok" if ratio >= TARGET else "BELOW TARGET"
    print(
        f"median of {args.runs}: direct {d:,.0f} events/s · intercept {i:,.0f} events/s · "
        f"{ratio:.0%} of direct (target >= {TARGET:.0%}): {verdict}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"direct_events_s": direct, "intercept_events_s": intercepted, "ratio": ratio}, indent=2)
        )


if __name__ == "__main__":
    main()
