"""Retention benchmark: what `serve --max-events` costs ingest, how fast retention deletes, what vacuum saves.

Run by hand (a few minutes):

    python bench/retention.py                   # 60k paced + saturated events, 100k for delete/vacuum
    python bench/retention.py --events 200000

What it measures:

1. **Paced ingest** (3,000 events/s in batches of 100, like bench/search.py) with the search
   indexer alone, then with retention at its cap (``--max-events`` a third of the events, so
   it deletes continuously): ack latency p50/p99 and how many events the capture holds at the end.
2. **Saturated ingest** (batches submitted as fast as the writer takes them): events/s with and
   without retention, and whether retention kept the capture at the cap meanwhile.
3. **Delete rate** of retention on an idle writer (``apply`` on a filled capture).
4. **vacuum** on that capture: seconds, and the size before and after.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import build, realistic_messages  # noqa: E402

from debugger.store import capture, maintenance
from debugger.store import index as search_index
from debugger.store import writer as store_writer
from debugger.store.retention import Chain, Policy, Retention, apply  # noqa: E402

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def _task(cap: int | None) -> object:
    indexer = search_index.Indexer()
    if cap is None:
        return indexer
    return Chain(Retention(Policy(max_events=cap), clock=lambda: datetime.now(UTC)), indexer)


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def paced(path: Path, batches: list, rate: float, cap: int | None) -> dict[str, float]:  # type: ignore[type-arg]
    """Submit at a steady rate; ack latency percentiles and the event count at the end."""
    writer = store_writer.EventWriter(_fresh(path), idle_task=_task(cap)).start()  # type: ignore[arg-type]
    latencies: list[float] = []
    started, sent = time.perf_counter(), 0
    for chunk in batches:
        due = started + sent / rate
        while (delay := due - time.perf_counter()) > 0:
            time.sleep(min(delay, 0.005))
        t0 = time.perf_counter()
        writer.submit(None, chunk).result()
        latencies.append((time.perf_counter() - t0) * 1000)
        sent += len(chunk)
    elapsed = time.perf_counter() - started
    held = _count(path)
    writer.close()
    latencies.sort()
    return {
        "rate": sent / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "held": held,
    }


def saturated(path: Path, batches: list, cap: int | None) -> dict[str, float]:  # type: ignore[type-arg]
    """Submit as fast as the writer takes (≤ 50 in flight); events/s and the most the capture held."""
    writer = store_writer.EventWriter(_fresh(path), idle_task=_task(cap)).start()  # type: ignore[arg-type]
    pending, total, most = [], 0, 0
    started = time.perf_counter()
    for index, chunk in enumerate(batches):
        pending.append(writer.submit(None, chunk))
        total += len(chunk)
        if len(pending) >= 50:
            pending.pop(0).result()
        if index % 50 == 0:
            most = max(most, _count(path))
    for future in pending:
        future.result()
    seconds = time.perf_counter() - started
    end = _count(path)
    settle = time.perf_counter()
    while cap is not None and _count(path) > cap and time.perf_counter() - settle < 60:
        time.sleep(0.05)
    settled = time.perf_counter() - settle
    writer.close()
    return {"rate": total / seconds, "most": max(most, end), "end": end, "settled_s": settled if cap else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--delete-events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        batches = list(build(realistic_messages(args.events, seed=3)))
        cap = args.events // 3
        print(f"== paced ingest, 3,000 events/s in batches of 100, {args.events:,} events (twice each, interleaved) ==")
        for label, limit in (("index only", None), (f"+ --max-events {cap:,}", cap)) * 2:
            r = paced(work / "paced.db", batches, 3000, limit)
            print(
                f"  {label:<26} {r['rate']:>6,.0f} events/s  ack p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms  held {r['held']:,.0f}"
            )
        print(f"\n== saturated ingest, {args.events:,} events in batches of 100 (≤ 50 in flight) ==")
        for label, limit in (("index only", None), (f"+ --max-events {cap:,}", cap)) * 2:
            r = saturated(work / "sat.db", batches, limit)
            extra = (
                f"  most held {r['most']:,.0f}, {r['end']:,.0f} at the end, at the cap {r['settled_s']:.1f} s later"
                if limit
                else ""
            )
            print(f"  {label:<26} {r['rate']:>7,.0f} events/s{extra}")
        print(f"\n== retention delete rate and vacuum, {args.delete_events:,} events ==")
        path = _fresh(work / "full.db")
        writer = store_writer.EventWriter(path).start()
        for chunk in build(realistic_messages(args.delete_events, seed=5)):
            writer.submit(None, chunk)
        writer.close()
        with sqlite3.connect(path, isolation_level=None) as conn:
            search_index.catch_up(conn)
        size = maintenance.sizes(path)
        conn = capture.connect(path)
        t0 = time.perf_counter()
        deleted, _ = apply(conn, Policy(max_events=args.delete_events // 10), NOW, step=500)
        seconds = time.perf_counter() - t0
        print(
            f"  retention deleted {deleted:,} events in {seconds:.2f} s ({deleted / seconds:,.0f}/s, 500-row transactions)"
        )
        t0 = time.perf_counter()
        report = maintenance.vacuum_capture(lambda fn: fn(conn), path, Policy(), NOW)
        seconds = time.perf_counter() - t0
        conn.close()
        after = report.after or size
        print(
            f"  vacuum {seconds:.2f} s: {maintenance.human(size.total)} → {maintenance.human(after.total)}"
            f" (index rebuilt from {report.reindexed or 0:,} events, {report.stale:,} stale entries dropped)"
        )
    print("\nShared 2-core machine: figures are indicative; the lead re-measures on a quiet one.")


if __name__ == "__main__":
    main()
