"""Replay benchmark: `segdbg replay` throughput and pacing precision, end to end.

Measures (issue 5):
  1. events/s to a local sink, batched (the default 500/batch; concurrency 1 and 4) — target ≥ 20,000
  2. events/s to the same sink, one request per event (--no-batch; concurrency 1 and 8)
  3. events/s into a second real `segdbg serve` (batched), where the target's ingest is the ceiling
  4. pacing drift at --rate 500 (one request per event): each event's arrival at the sink
     against its schedule (up to a constant offset), p50/p99 (target p99 ≤ 5 ms), plus the
     sender's own recorded drift (how late each request left against its schedule)

Each figure is the real command (`python -m debugger replay`, in its own process) reading a
capture, planning, sending, retrying and recording every delivery; "events/s" is delivered
events over the run's duration as the run reports it. The sink is a bare aiohttp app in its own
process that answers 200 and notes when each event arrived.

Usage:  python bench/replay.py [--events 50000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import free_port, start_segdbg, stop, wait_up

from debugger.core.protocol import Envelope, build_event
from debugger.store.writer import EventWriter

SINK = textwrap.dedent(
    """
    import sys, time, orjson
    from aiohttp import web
    arrivals = []
    async def ingest(request):
        body = orjson.loads(await request.read())
        now = time.perf_counter()
        arrivals.extend([now] * (len(body["batch"]) if "batch" in body else 1))
        return web.Response(body=b'{"success":true}', content_type="application/json")
    async def stats(request):
        return web.json_response({"arrivals": arrivals})
    async def reset(request):
        arrivals.clear()
        return web.json_response({})
    app = web.Application(client_max_size=2**21)
    app.router.add_get("/stats", stats)
    app.router.add_get("/reset", reset)
    app.router.add_route("OPTIONS", "/{tail:.*}", lambda r: web.Response(status=204))
    app.router.add_post("/{tail:.*}", ingest)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)


def build_capture(db: Path, count: int) -> None:
    """A capture of ``count`` realistic track events (about 450 bytes each), written directly."""
    writer = EventWriter(db).start()
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    futures = []
    for chunk in range(0, count, 1000):
        batch = []
        for i in range(chunk, min(count, chunk + 1000)):
            message = {
                "type": "track",
                "event": "Order Completed",
                "userId": f"user-{i % 500}",
                "messageId": str(uuid.uuid4()),
                "timestamp": (start + timedelta(milliseconds=10 * i)).isoformat(),
                "properties": {
                    "order_id": f"o-{i}",
                    "total": 30.5,
                    "currency": "USD",
                    "products": [{"sku": "45790-32", "price": 19, "quantity": 1}],
                },
                "context": {"library": {"name": "analytics-python", "version": "2.3.4"}},
            }
            envelope = Envelope(write_key="wk_bench", received_at=start + timedelta(milliseconds=10 * i))
            batch.append(build_event(message, envelope, new_id=lambda: str(uuid.uuid4())))
        futures.append(writer.submit(None, batch))
    for future in futures:
        future.result()
    writer.close()


def start_sink() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/stats")
    return proc, url


def replay(db: Path, url: str, *args: str) -> dict[str, object]:
    """Run `segdbg replay` in its own process; the run's summary from its --report."""
    report = db.with_suffix(f".{uuid.uuid4().hex[:6]}.json")
    result = subprocess.run(
        [sys.executable, "-m", "debugger", "replay", "--db", str(db), "--to", url, "--report", str(report), *args],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"replay failed ({result.returncode}): {result.stdout}{result.stderr}")
    summary: dict[str, object] = json.loads(report.read_text())["summary"]
    report.unlink()
    return summary


def arrivals(url: str, reset: bool = False) -> list[float]:
    with urllib.request.urlopen(url + ("/reset" if reset else "/stats"), timeout=30) as answer:
        return list(json.load(answer).get("arrivals", []))


def rate(summary: dict[str, object]) -> float:
    return float(summary["delivered"]) / float(summary["duration_s"])  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="events in the batched capture")
    parser.add_argument("--single-events", type=int, default=10_000, help="events replayed one request each")
    parser.add_argument("--paced-events", type=int, default=2_500, help="events in the --rate 500 pacing run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, object] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        big, small, paced = Path(tmp) / "big.db", Path(tmp) / "small.db", Path(tmp) / "paced.db"
        build_capture(big, args.events)
        build_capture(small, args.single_events)
        build_capture(paced, args.paced_events)
        sink, url = start_sink()
        try:
            for name, db, extra in (
                ("batched_c1", big, ()),
                ("batched_c4", big, ("--concurrency", "4")),
                ("unbatched_c1", small, ("--no-batch",)),
                ("unbatched_c8", small, ("--no-batch", "--concurrency", "8")),
            ):
                summary = replay(db, url, *extra)
                results[name] = {
                    "events_per_s": round(rate(summary)),
                    "p50_ms": summary["p50_ms"],
                    "p99_ms": summary["p99_ms"],
                }
            arrivals(url, reset=True)
            summary = replay(paced, url, "--no-batch", "--rate", "500")
            seen = arrivals(url)
            # Each arrival against its schedule, up to one constant offset (the network and the
            # sink's own latency): pacing is about the gaps, not about the first packet.
            offsets = [t - i / 500 for i, t in enumerate(seen)]
            base = statistics.median(offsets)
            drift = [abs(o - base) * 1000 for o in offsets]
            results["paced_500"] = {
                "events": len(seen),
                "achieved_rate": round((len(seen) - 1) / (seen[-1] - seen[0]), 1),
                "arrival_drift_p50_ms": round(statistics.median(drift), 2),
                "arrival_drift_p99_ms": round(sorted(drift)[int(len(drift) * 0.99) - 1], 2),
                "sender_drift_p99_ms": summary["drift_p99_ms"],
            }
        finally:
            stop(sink)
        target, target_url = start_segdbg(Path(tmp) / "target.db")
        try:
            summary = replay(big, target_url, "--concurrency", "4")
            results["into_segdbg_c4"] = {
                "events_per_s": round(rate(summary)),
                "p50_ms": summary["p50_ms"],
                "p99_ms": summary["p99_ms"],
            }
        finally:
            stop(target)
    print(json.dumps(results, indent=2))
    print()
    for name, label in (
        ("batched_c1", "batched, 1 in flight"),
        ("batched_c4", "batched, 4 in flight"),
        ("unbatched_c1", "one per request, 1 in flight"),
        ("unbatched_c8", "one per request, 8 in flight"),
        ("into_segdbg_c4", "batched into segdbg serve, 4"),
    ):
        figures = results[name]
        print(
            f"{label:<32} {figures['events_per_s']:>9,} events/s   p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms"
        )  # type: ignore[index]
    paced_figures = results["paced_500"]
    print(
        f"pacing --rate 500 ({paced_figures['events']:,} events): achieved {paced_figures['achieved_rate']}/s, "  # type: ignore[index]
        f"arrival drift p50 {paced_figures['arrival_drift_p50_ms']} ms, p99 {paced_figures['arrival_drift_p99_ms']} ms "  # type: ignore[index]
        f"(target ≤ 5); sender drift p99 {paced_figures['sender_drift_p99_ms']} ms"
    )  # type: ignore[index]
    print("targets: ≥ 20,000 events/s batched; pacing drift p99 ≤ 5 ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
