"""Forward benchmark: does `segdbg serve --forward` add latency to the client's answer? (issue 18)

Target: the answer's p99 with `--forward` (to a local upstream) within 1 ms of the p99 without it, in the same run.

Each round starts a fresh `segdbg serve --headless --quiet` three times: without `--forward`; with `--forward` to a
bare aiohttp upstream in its own process (answering 200, counting events); and, as the ceiling, without `--forward`
while a separate process sends the same traffic straight to that upstream (what the forwarded traffic costs this
machine with no forwarder at all: on 2 cores the sender and the upstream take CPU from the server). Each gets the
same paced load:
`--requests` POSTs of a `--batch`-event /v1/batch at `--rate` requests/s from `--clients` keep-alive connections,
timing every answer on the client. The figures are the median over `--rounds` rounds of each round's p50/p99; the
upstream's count checks that every forwarded event arrived.

Usage:  python bench/forward.py [--requests 5000] [--rate 500] [--batch 10] [--rounds 3] [--json results.json]
Tiny check that it works (not a measurement):  python bench/forward.py --requests 60 --rate 100 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import free_port, realistic_event, stop, wait_up

UPSTREAM = textwrap.dedent(
    """
    import sys, orjson
    from aiohttp import web
    count = [0]
    async def ingest(request):
        body = orjson.loads(await request.read())
        count[0] += len(body["batch"]) if "batch" in body else 1
        return web.Response(body=b'{"success":true}', content_type="application/json")
    async def stats(request):
        return web.json_response({"events": count[0]})
    app = web.Application(client_max_size=2**21)
    app.router.add_get("/stats", stats)
    app.router.add_post("/{tail:.*}", ingest)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    """The bare upstream in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", UPSTREAM, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/stats")
    return proc, url


def start_serve(db: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """`segdbg serve --headless --quiet` on a free port, with ``extra`` options."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "debugger",
            "serve",
            "--headless",
            "--quiet",
            "--port",
            str(port),
            "--db",
            str(db),
            *extra,
        ],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/healthz")
    return proc, url


def bodies(count: int, size: int) -> list[bytes]:
    """``count`` realistic /v1/batch bodies of ``size`` events each."""
    return [
        orjson.dumps({"batch": [realistic_event(0, n, i) for i in range(size)], "sentAt": "2024-05-01T12:00:00Z"})
        for n in range(count)
    ]


async def load(url: str, payloads: list[bytes], rate: float, clients: int) -> list[float]:
    """Send ``payloads`` paced at ``rate`` requests/s over ``clients`` connections; each answer's latency in ms."""
    latencies: list[float] = []
    headers = {"Authorization": "Basic YmVuY2g6", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        for payload in payloads[: clients * 2]:  # warm the connections and the server
            async with session.post(url + "/v1/batch", data=payload, headers=headers) as response:
                await response.read()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        slots = asyncio.Semaphore(clients)

        async def one(index: int, payload: bytes) -> None:
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
            async with slots:
                began = time.perf_counter()
                async with session.post(url + "/v1/batch", data=payload, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(one(i, p) for i, p in enumerate(payloads)))
    return latencies


def side_sender(url: str, count: int, rate: float, batch: int, clients: int) -> None:
    """The ceiling's second process: the forwarded traffic sent straight to the upstream, paced the same."""
    asyncio.run(load(url, bodies(count, batch), rate, clients))


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def upstream_events(url: str) -> int:
    """How many events the upstream counted."""
    with urllib.request.urlopen(url + "/stats", timeout=5) as response:
        return int(json.loads(response.read())["events"])


def main() -> None:
    """Run the rounds and print (and optionally write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    payloads = bodies(args.requests + args.clients * 2, args.batch)
    upstream, upstream_url = start_upstream()
    rounds: dict[str, list[dict[str, float]]] = {"no-forward": [], "forward": [], "ceiling": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for number in range(args.rounds):
                for mode in rounds:
                    db = Path(tmp) / f"{mode}-{number}.db"
                    extra = ("--forward", upstream_url) if mode == "forward" else ()
                    before = upstream_events(upstream_url)
                    proc, url = start_serve(db, *extra)
                    side = None
                    if mode == "ceiling":
                        side = multiprocessing.Process(
                            target=side_sender, args=(upstream_url, len(payloads), args.rate, args.batch, args.clients)
                        )
                        side.start()
                    try:
                        latencies = asyncio.run(load(url, payloads, args.rate, args.clients))
                    finally:
                        stop(proc)  # SIGTERM: the forwarder drains before serve exits
                        if side is not None:
                            side.join()
                    figures = {"p50_ms": percentile(latencies, 0.50), "p99_ms": percentile(latencies, 0.99)}
                    if mode == "forward":
                        figures["forwarded_events"] = upstream_events(upstream_url) - before
                    rounds[mode].append(figures)
                    print(f"round {number + 1} {mode:<10} " + "  ".join(f"{k} {v:,.3f}" for k, v in figures.items()))
    finally:
        stop(upstream)
    sent = (len(payloads) + min(len(payloads), args.clients * 2)) * args.batch  # the warm-up requests too
    result: dict[str, object] = {"requests": args.requests, "rate": args.rate, "batch": args.batch, "rounds": rounds}
    for mode, figures in rounds.items():
        result[mode] = {key: statistics.median(f[key] for f in figures) for key in ("p50_ms", "p99_ms")}
    delta = result["forward"]["p99_ms"] - result["no-forward"]["p99_ms"]  # type: ignore[index]
    ceiling = result["ceiling"]["p99_ms"] - result["no-forward"]["p99_ms"]  # type: ignore[index]
    result["p99_delta_ms"], result["ceiling_delta_ms"] = delta, ceiling
    result["all_forwarded"] = all(f["forwarded_events"] == sent for f in rounds["forward"])
    for mode in rounds:
        medians = result[mode]
        print(f"median {mode:<10} p50 {medians['p50_ms']:.3f} ms  p99 {medians['p99_ms']:.3f} ms")  # type: ignore[index]
    verdict = "met" if delta <= 1.0 else "NOT met"
    print(
        f"p99 with --forward - without: {delta:+.3f} ms (target ≤ 1 ms: {verdict}); every event forwarded: {result['all_forwarded']}"
    )
    print(
        f"ceiling: the same traffic sent to the upstream by another process, no forwarder: {ceiling:+.3f} ms"
        f" (--forward is {'within' if delta <= ceiling + 1.0 else 'beyond'} 1 ms of it)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
