"""Soak: a steady load for a minute; the server's memory must stay flat and acks fast.

Issue 7 target: under 5,000 events/s for 60 s the server's RSS stays within ±20 MB after warm-up,
and p99 ack latency stays ≤ 10 ms (the ingest target). The load is a mix of single events and
batches of 12 (1 in 5 requests single, ~9.8 events per request on average), like browser and
server clients send. It comes from `wrk` (each connection pausing a random time between
requests, so the rate holds without lockstep bursts) when it is installed: an aiohttp client
in this process would compete with the server for the same cores and time its own event loop.
Without wrk, the Python client is used (open loop: requests fire on schedule).

Usage:  python bench/soak.py [--rate 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import WRK_PACED, realistic_event, run_wrk, start_bare, start_segdbg, stop, wrk_ms


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def soak(url: str, pid: int, rate: int, seconds: int) -> dict[str, object]:
    per_request = 10  # events per request: 1 in 5 requests is single, the rest batches of 12 → ~10 on average
    request_rate = rate / per_request
    latencies: list[float] = []
    failures = 0
    rss: list[tuple[float, float]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal failures
        if n % 5 == 0:
            path, body = "/v1/track", orjson.dumps({**realistic_event(1, n, 0), "writeKey": "soak"})
        else:
            path = "/v1/batch"
            body = orjson.dumps({"writeKey": "soak", "batch": [realistic_event(2, n, i) for i in range(12)]})
        started = time.perf_counter()
        try:
            async with session.post(url + path, data=body) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
        except aiohttp.ClientError:
            failures += 1
            return
        latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        start = time.perf_counter()
        n = 0
        next_sample = start
        while (now := time.perf_counter()) - start < seconds:
            due = int((now - start) * request_rate)
            while n < due:
                task = asyncio.create_task(one(session, n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            if now >= next_sample:
                rss.append((now - start, rss_mb(pid)))
                next_sample += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()
    warm = [m for t, m in rss if t >= 10] or [m for _, m in rss]
    return {
        "events_per_s": (n * 0.2 * 1 + n * 0.8 * 12) / elapsed,
        "requests": n,
        "failures": failures,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rss_after_warmup_min_mb": min(warm),
        "rss_after_warmup_max_mb": max(warm),
        "rss_drift_mb": warm[-1] - warm[0],
    }


WRK_MIX = r"""
local counter = 0
local template = '{"type":"track","event":"Order Completed","userId":"user-%d","anonymousId":null,"messageId":"soak-%d-%d","timestamp":"2026-11-28T10:15:55.292+00:00","properties":{"order_id":"o-%d-%d","revenue":42.5,"currency":"USD","products":[{"product_id":"p-1","sku":"45790-32","price":19.0,"quantity":2}]},"context":{"library":{"name":"analytics-python","version":"2.4.0"}},"integrations":{}}'
local headers = {["Content-Type"] = "application/json"}
request = function()
  counter = counter + 1
  if counter % 5 == 0 then
    local one = string.format(template, counter % 5000, counter, 0, counter, 0)
    return wrk.format("POST", "/v1/track", headers, string.sub(one, 1, -2) .. ',"writeKey":"soak"}')
  end
  local parts = {}
  for i = 1, 12 do parts[i] = string.format(template, (counter * 7 + i) % 5000, counter, i, counter, i) end
  return wrk.format("POST", "/v1/batch", headers, '{"writeKey":"soak","batch":[' .. table.concat(parts, ",") .. ']}')
end
"""

EVENTS_PER_REQUEST = (1 + 4 * 12) / 5


def soak_wrk(url: str, pid: int, rate: int, seconds: int, connections: int = 20) -> dict[str, object]:
    """The same soak driven by wrk; RSS sampled once a second meanwhile."""
    import re
    import threading

    request_rate = rate / EVENTS_PER_REQUEST
    gap_ms = max(1, round(connections * 1000 / request_rate) - 5)  # minus about one answer's time
    script = WRK_MIX + WRK_PACED.replace("GAP", str(gap_ms))
    rss: list[tuple[float, float]] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        start = time.perf_counter()
        while not stop_sampling.wait(1.0):
            rss.append((time.perf_counter() - start, rss_mb(pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = run_wrk(url, seconds, connections, script)
    finally:
        stop_sampling.set()
        sampler.join()

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    warm = [m for t, m in rss if t >= 10] or [m for _, m in rss]
    return {
        "load": "wrk",
        "events_per_s": requests * EVENTS_PER_REQUEST / seconds,
        "requests": requests,
        "failures": int(errors.group(1)) if errors else 0,
        "p50_ms": wrk_ms(out, "50"),
        "p99_ms": wrk_ms(out, "99"),
        "rss_after_warmup_min_mb": min(warm),
        "rss_after_warmup_max_mb": max(warm),
        "rss_drift_mb": warm[-1] - warm[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=5000, help="events per second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--bare", action="store_true", help="the same load against a bare aiohttp handler: the floor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_bare() if args.bare else start_segdbg(Path(tmp) / "soak.db")
        try:
            if shutil.which("wrk"):
                result = soak_wrk(url, proc.pid, args.rate, args.seconds)
            else:
                result = asyncio.run(soak(url, proc.pid, args.rate, args.seconds))
        finally:
            stop(proc)
    for key, value in result.items():
        print(f"{key:28s} {value:,.2f}" if isinstance(value, float) else f"{key:28s} {value}")
    flat = result["rss_after_warmup_max_mb"] - result["rss_after_warmup_min_mb"]  # type: ignore[operator]
    print(f"\nRSS band after warm-up: {flat:.1f} MB (target ≤ 20), p99 {result['p99_ms']:.1f} ms (target ≤ 10)")


if __name__ == "__main__":
    main()
