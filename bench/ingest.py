"""Ingest benchmark: segdbg against its ceilings, in one run on this machine.

Measures (issue 2):
  1. batch ingest events/s — POST /v1/batch, 100 realistic events per batch, unique messageIds
  2. single-event requests/s — POST /v1/track, vs a bare aiohttp handler that only answers 200
  3. ack latency p50/p99 at a steady 1,000 req/s (open loop), segdbg and bare
  4. raw SQLite appends (the events table, same rows, one writer) — the storage ceiling
  5. server peak RSS

Load comes from `wrk` (a separate, efficient process) when it is installed, else from an
aiohttp client in this process (which then is usually the bottleneck: the figures say so).

Usage:  python bench/ingest.py [--seconds 10] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BARE_SERVER = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    async def ok(request):
        await request.read()
        return web.Response(body=b'{"success":true}', content_type="application/json")
    app = web.Application(client_max_size=2**21)
    app.router.add_route("*", "/{tail:.*}", ok)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)


def realistic_event(thread: int, n: int, i: int) -> dict[str, object]:
    """A track call shaped like analytics-python sends it (about 450 bytes)."""
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": f"user-{(n * 7 + i) % 5000}",
        "anonymousId": None,
        "messageId": f"bench-{thread}-{n}-{i}",
        "timestamp": "2026-11-28T10:15:55.292+00:00",
        "properties": {
            "order_id": f"o-{n}-{i}",
            "revenue": 42.5,
            "currency": "USD",
            "products": [{"product_id": "p-1", "sku": "45790-32", "price": 19.0, "quantity": 2}],
        },
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        "integrations": {},
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_segdbg(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "debugger", "serve", "--headless", "--quiet", "--port", str(port), "--db", str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/healthz")
    return proc, url


def start_bare() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/")
    return proc, url


def wait_up(url: str) -> None:
    import urllib.request

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- wrk load

WRK_BATCH = r"""
local counter = 0
local tid = 0
local ids = 0
function setup(thread) ids = ids + 1; thread:set("tid", ids) end
function init(args) tid = tonumber(wrk.thread:get("tid")) or 0 end
local template = '{"type":"track","event":"Order Completed","userId":"user-%d","anonymousId":null,"messageId":"bench-%d-%d-%d","timestamp":"2026-11-28T10:15:55.292+00:00","properties":{"order_id":"o-%d-%d","revenue":42.5,"currency":"USD","products":[{"product_id":"p-1","sku":"45790-32","price":19.0,"quantity":2}]},"context":{"library":{"name":"analytics-python","version":"2.4.0"}},"integrations":{}}'
local headers = {["Content-Type"] = "application/json"}
request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, SIZE do parts[i] = string.format(template, (counter * 7 + i) % 5000, tid, counter, i, counter, i) end
  local body
  if SIZE == 1 and SINGLE then
    body = string.sub(parts[1], 1, -2) .. ',"writeKey":"bench"}'
    return wrk.format("POST", "/v1/track", headers, body)
  end
  body = '{"writeKey":"bench","sentAt":"2026-11-28T10:15:55.500+00:00","batch":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/v1/batch", headers, body)
end
"""


WRK_PACED = """
-- each connection waits a random 0..2×gap ms between requests (mean gap: connections / gap is
-- about the request rate); a fixed gap would march the connections in lockstep bursts
function delay() return math.random(0, 2 * GAP) end
"""


def run_wrk(url: str, seconds: float, connections: int, script: str) -> str:
    """Run wrk (one thread) with a Lua ``script`` against ``url``; its report."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        return subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)


def wrk_paced(url: str, seconds: int, rate: int, connections: int = 20) -> dict[str, float]:
    """A steady single-event load from wrk (light on CPU): latency percentiles at ``rate`` req/s."""
    gap_ms = connections * 1000 // rate
    script = WRK_BATCH.replace("SIZE", "1").replace("SINGLE", "true") + WRK_PACED.replace("GAP", str(gap_ms))
    out = run_wrk(url, seconds, connections, script)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rate": rps, "p50_ms": wrk_ms(out, "50"), "p90_ms": wrk_ms(out, "90"), "p99_ms": wrk_ms(out, "99")}


def wrk_ms(out: str, percentile: str) -> float:
    """A latency percentile from wrk's ``--latency`` table, in milliseconds."""
    match = re.search(rf"{percentile}%\s+([\d.]+)(us|ms|s)", out)
    assert match, out
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url: str, seconds: int, size: int, single: bool, connections: int) -> dict[str, float]:
    script = WRK_BATCH.replace("SIZE", str(size)).replace("SINGLE", "true" if single else "false")
    out = run_wrk(url, seconds, connections, script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": rps, "events_per_s": rps * size, "non_2xx": float(errors.group(1)) if errors else 0.0}


# --------------------------------------------------------------------------- python load (fallback + latency)


async def python_load(url: str, seconds: float, size: int, single: bool, concurrency: int) -> dict[str, float]:
    counter = itertools.count()
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession, tid: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            n = next(counter)
            if single:
                body = orjson.dumps({**realistic_event(tid, n, 0), "writeKey": "bench"})
                path = "/v1/track"
            else:
                body = orjson.dumps({"writeKey": "bench", "batch": [realistic_event(tid, n, i) for i in range(size)]})
                path = "/v1/batch"
            async with session.post(url + path, data=body) as response:
                await response.read()
                assert response.status == 200
            done += 1

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(worker(session, t) for t in range(concurrency)))
    rps = done / (time.monotonic() - started)
    return {"requests_per_s": rps, "events_per_s": rps * size, "non_2xx": 0.0}


async def steady_latency(url: str, rate: int, seconds: float, single_event: bool = True) -> dict[str, float]:
    """Open-loop: fire a request every 1/rate s regardless of answers; latency per request."""
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        body = orjson.dumps({**realistic_event(9, n, 0), "writeKey": "bench"})
        started = time.perf_counter()
        async with session.post(url + "/v1/track", data=body) as response:
            await response.read()
        latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            target = start + n / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, n)))
        await asyncio.gather(*tasks)
        achieved = len(latencies) / (time.perf_counter() - start)
    latencies.sort()
    return {
        "rate": achieved,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


# --------------------------------------------------------------------------- raw SQLite ceiling


def raw_sqlite_appends(db: Path, total: int = 200_000, per_commit: int = 5000) -> float:
    """Insert rows shaped like segdbg's into the same schema, one connection, group commits."""
    from debugger.core.query.extracted import EXTRACTED, extract
    from debugger.store import capture
    from debugger.store import rows as capture_rows

    capture.migrate(db)
    conn = capture.connect(db)
    message = realistic_event(0, 0, 0)
    stored = orjson.dumps(message).decode()
    extracted = [part for path in EXTRACTED for part in extract(message, path)]
    rows = [
        (
            None,
            None,
            "2026-11-28T10:15:55.500Z",
            "bench",
            "track",
            "Order Completed",
            f"user-{i % 5000}",
            None,
            f"raw-{i}",
            "2026-11-28T10:15:55.292Z",
            "analytics-python",
            "2.4.0",
            "ok",
            None,
            None,
            stored,
            stored,
            *extracted,  # the paths kept as columns (core.query.extracted), as the writer fills them
        )
        for i in range(total)
    ]
    started = time.perf_counter()
    for start in range(0, total, per_commit):
        conn.execute("BEGIN")
        conn.executemany(capture_rows.INSERT_EVENT, rows[start : start + per_commit])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return total / elapsed


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each throughput run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    load = "wrk (-t1)" if use_wrk else "python aiohttp client"
    results: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load": load,
        "cpus": os.cpu_count(),
    }

    def latency(url: str) -> dict[str, float]:
        if use_wrk:
            return wrk_paced(url, args.seconds, 1000)
        return asyncio.run(steady_latency(url, 1000, args.seconds))

    def throughput(url: str, size: int, single: bool, connections: int, pid: int) -> dict[str, float]:
        """Events/s, and the server's CPU time per event (all its threads): what the rate costs."""
        before = cpu_seconds(pid)
        if use_wrk:
            out = wrk(url, args.seconds, size, single, connections)
        else:
            out = asyncio.run(python_load(url, args.seconds, size, single, connections))
        events = out["events_per_s"] * args.seconds
        out["server_cpu_us_per_event"] = (
            round(1e6 * (cpu_seconds(pid) - before) / events, 1) if events else float("nan")
        )
        return out

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_segdbg(Path(tmp) / "batch.db")
        results["segdbg_batch"] = throughput(url, 100, False, 8, proc.pid)
        stop(proc)

        proc, url = start_segdbg(Path(tmp) / "single.db")
        results["segdbg_single"] = throughput(url, 1, True, 32, proc.pid)
        results["segdbg_latency_1000rps"] = latency(url)
        results["segdbg_peak_rss_mb"] = peak_rss_mb(proc.pid)
        stop(proc)

        proc, url = start_bare()
        results["bare_single"] = throughput(url, 1, True, 32, proc.pid)
        results["bare_latency_1000rps"] = latency(url)
        stop(proc)

        results["raw_sqlite_appends_per_s"] = raw_sqlite_appends(Path(tmp) / "raw.db")

    single = results["segdbg_single"]["requests_per_s"]  # type: ignore[index]
    bare = results["bare_single"]["requests_per_s"]  # type: ignore[index]
    results["single_vs_bare"] = single / bare
    print(json.dumps(results, indent=2))
    print()
    print(f"load generator: {load}")
    batch, singles, bares = results["segdbg_batch"], results["segdbg_single"], results["bare_single"]
    print(
        f"batch ingest (100/batch):   {batch['events_per_s']:>10,.0f} events/s   target ≥ 50,000"  # type: ignore[index]
        f"   server CPU {batch['server_cpu_us_per_event']} µs/event"
    )  # type: ignore[index]
    print(
        f"single-event requests:      {single:>10,.0f} req/s     bare aiohttp {bare:,.0f} req/s → {single / bare:.0%} (target ≥ 80%)"
        f"   server CPU {singles['server_cpu_us_per_event']} vs bare {bares['server_cpu_us_per_event']} µs/request"
    )  # type: ignore[index]
    lat = results["segdbg_latency_1000rps"]
    bare_lat = results["bare_latency_1000rps"]
    print(
        f"ack latency @1,000 req/s:   p50 {lat['p50_ms']:.2f} ms  p99 {lat['p99_ms']:.2f} ms (target ≤ 10)   bare p50 {bare_lat['p50_ms']:.2f} p99 {bare_lat['p99_ms']:.2f}"
    )  # type: ignore[index]
    print(f"raw SQLite appends:         {results['raw_sqlite_appends_per_s']:>10,.0f} rows/s")
    print(f"server peak RSS:            {results['segdbg_peak_rss_mb']:>10.1f} MB        target ≤ 150")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
