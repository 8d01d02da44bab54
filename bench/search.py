"""Search benchmark: 1,000,000 realistic events through the store, then first-page latency per query kind.

Run by hand (a few minutes; it keeps the capture for re-runs):

    python bench/search.py                      # 1M events in /tmp/segdbg-bench-search.db
    python bench/search.py --events 200000 --fresh
    python bench/search.py --queries-only       # reuse the capture, time the queries again

What it measures:

1. **Ingest with the search index off vs on** (fresh captures of ``--ingest-events`` each):
   saturated (batches of 100 submitted as fast as the writer takes them), paced (a steady
   rate with ack latency p50/p99), and for reference the index updated synchronously by a
   trigger in the same transaction (what docs/architecture.md §2 says not to do).
2. **Loading** ``--events`` events through ``EventWriter`` (built by ``protocol.build_event``,
   exactly like the server), then the background indexer catching up.
3. **First page** (the newest 50 matches, as `segdbg events` and the TUI ask) for: a type
   filter, an event-name filter, a property filter (common and rare value), a user filter,
   free text (rare and common word), and a combined query. Target: each ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debugger.core.protocol import Envelope, Event, build_event  # noqa: E402
from debugger.core.query import language as q  # noqa: E402
from debugger.core.query import plan
from debugger.store import (
    capture,
    index,
    reads,  # noqa: E402
)
from debugger.store import writer as store_writer

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PRODUCTS = [
    ("Monopoly: 3rd Edition", "Games", 19.0),
    ("Uno Card Game", "Games", 3.0),
    ("Wooden Train Set", "Toys", 49.5),
    ("Trail Running Shoes", "Sport", 119.0),
    ("Espresso Machine", "Kitchen", 389.0),
    ("Yoga Mat", "Sport", 25.0),
    ("Noise Cancelling Headphones", "Audio", 299.0),
    ("Desk Lamp", "Home", 34.9),
    ("Cast Iron Pan", "Kitchen", 44.0),
]
TRACKS = [
    ("Product Viewed", 30),
    ("Product Added", 14),
    ("Cart Viewed", 10),
    ("Checkout Started", 7),
    ("Order Completed", 5),
    ("Products Searched", 8),
    ("Product List Viewed", 10),
    ("Signed In", 4),
    ("Coupon Applied", 2),
    ("Video Playback Started", 3),
    ("Application Opened", 5),
    ("Email Opened", 2),
]
LIBRARIES = [
    ({"name": "analytics.js", "version": "next-1.84.1"}, 0.55),
    ({"name": "analytics-python", "version": "2.3.4"}, 0.15),
    ({"name": "@segment/analytics-node", "version": "2.1.2"}, 0.15),
    ({"name": "analytics-ios", "version": "4.1.8"}, 0.10),
    ({"name": "analytics-kotlin", "version": "1.16.3"}, 0.05),
]
PLANS = ["free", "free", "free", "starter", "pro", "pro", "enterprise"]
PAGES = ["/", "/pricing", "/docs/quickstart", "/blog/segment-tips", "/checkout", "/cart", "/account/settings"]
RARE_WORD = "zanzibarite"  # appears in a handful of events: the rare free-text search
RARE_COUPON = "VIP-GOLD-2024"


def realistic_messages(count: int, seed: int = 7) -> Iterator[tuple[str, dict[str, Any], datetime]]:
    """``(write_key, message, received_at)`` tuples shaped like real client traffic over one week."""
    rng = random.Random(seed)
    names, weights = zip(*TRACKS, strict=True)
    libs, lib_weights = zip(*LIBRARIES, strict=True)
    start = NOW - timedelta(days=7)
    step = timedelta(days=7) / count
    for n in range(count):
        user = rng.randrange(60_000)
        lib = rng.choices(libs, lib_weights)[0]
        key = "wk_web" if lib["name"] == "analytics.js" else "wk_mobile" if "i" in lib["name"][-6:] else "wk_backend"
        context: dict[str, Any] = {"library": lib, "locale": "en-US", "timezone": "Europe/Berlin"}
        if lib["name"] == "analytics.js":
            page = rng.choice(PAGES)
            context |= {
                "page": {
                    "path": page,
                    "url": f"https://shop.example.com{page}",
                    "title": "Example Shop",
                    "referrer": "",
                },
                "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
            }
        message: dict[str, Any] = {
            "messageId": f"msg-{seed}-{n:08d}",
            "anonymousId": f"anon-{user:06x}-{rng.randrange(16**6):06x}",
            "context": context,
            "timestamp": (start + step * n - timedelta(milliseconds=rng.randrange(500))).isoformat(),
        }
        if rng.random() < 0.7:
            message["userId"] = f"user_{user}"
        roll = rng.random()
        if roll < 0.70:
            event = rng.choices(names, weights)[0]
            product = rng.choice(PRODUCTS)
            props: dict[str, Any] = {"plan": rng.choice(PLANS)}
            if event.startswith("Product"):
                props |= {
                    "product_id": f"sku-{PRODUCTS.index(product):03d}",
                    "name": product[0],
                    "category": product[1],
                    "price": product[2],
                }
            if event in ("Order Completed", "Checkout Started", "Cart Viewed"):
                items = [rng.choice(PRODUCTS) for _ in range(rng.randrange(1, 4))]
                props |= {
                    "order_id": f"ord_{n:07d}",
                    "revenue": round(sum(i[2] for i in items), 2),
                    "currency": rng.choice(["USD", "EUR", "GBP"]),
                    "products": [
                        {"sku": f"sku-{PRODUCTS.index(i):03d}", "name": i[0], "price": i[2], "quantity": 1}
                        for i in items
                    ],
                }
            if event == "Products Searched":
                props["query"] = rng.choice(["lamp", "shoes", "train", "espresso"])
            message |= {"type": "track", "event": event, "properties": props}
        elif roll < 0.85:
            message |= {
                "type": "page",
                "name": rng.choice(["Home", "Pricing", "Docs", "Blog", "Checkout"]),
                "properties": {"path": rng.choice(PAGES)},
            }
        elif roll < 0.93:
            message |= {
                "type": "identify",
                "traits": {
                    "email": f"user{user}@example{user % 50}.com",
                    "plan": rng.choice(PLANS),
                    "name": f"User {user}",
                },
            }
        elif roll < 0.97:
            message |= {"type": "screen", "name": rng.choice(["Home", "Product", "Cart", "Settings"])}
        elif roll < 0.99:
            message |= {
                "type": "group",
                "groupId": f"org_{user % 900}",
                "traits": {"name": f"Org {user % 900}", "plan": rng.choice(PLANS), "employees": rng.randrange(1, 5000)},
            }
        else:
            message |= {"type": "alias", "previousId": message["anonymousId"], "userId": f"user_{user}"}
        if n % 100_000 == 12_345:  # a rare word: 10 events per million
            context["campaign"] = {"name": RARE_WORD, "source": "newsletter"}
        if n % 250_000 == 777:  # a rare property value: 4 events per million
            message.setdefault("properties", {})["coupon"] = RARE_COUPON
        if rng.random() < 0.01:  # a typical share of broken calls: no ids at all
            message.pop("userId", None)
            message.pop("anonymousId", None)
        yield key, message, start + step * n


def build(messages: Iterator[tuple[str, dict[str, Any], datetime]], batch: int = 100) -> Iterator[list[Event]]:
    """Events in batches, enriched exactly as the server does."""
    chunk: list[Event] = []
    for key, message, received in messages:
        chunk.append(
            build_event(message, Envelope(write_key=key, received_at=received, sent_at=None), new_id=lambda: "x")
        )
        if len(chunk) == batch:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(
    path: Path, batches: list[list[Event]] | Iterator[list[Event]], *, indexer: bool, trigger: bool = False
) -> tuple[float, int, store_writer.EventWriter]:
    """Submit every batch as fast as the writer accepts (≤ 50 in flight); returns seconds, events, writer."""
    writer = store_writer.EventWriter(path, idle_task=index.Indexer() if indexer else None)
    capture.migrate(path)
    if trigger:
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TRIGGER IF NOT EXISTS bench_sync_fts AFTER INSERT ON events BEGIN"
                " INSERT INTO events_fts(rowid, stored) VALUES (new.id, new.stored); END"
            )
            conn.execute("UPDATE meta SET value = '0' WHERE key = 'fts_watermark'")
    writer.start()
    started = time.perf_counter()
    pending = []
    total = 0
    for chunk in batches:
        pending.append(writer.submit(None, chunk))
        total += len(chunk)
        if len(pending) >= 50:
            pending.pop(0).result()
    for future in pending:
        future.result()
    return time.perf_counter() - started, total, writer


def paced(path: Path, batches: list[list[Event]], rate: float, *, indexer: bool) -> dict[str, float]:
    """Submit batches at a steady event rate; ack latency percentiles and the index lag at the end."""
    writer = store_writer.EventWriter(path, idle_task=index.Indexer() if indexer else None).start()
    latencies: list[float] = []
    started = time.perf_counter()
    sent = 0
    for chunk in batches:
        due = started + sent / rate
        while (delay := due - time.perf_counter()) > 0:
            time.sleep(min(delay, 0.005))
        t0 = time.perf_counter()
        writer.submit(None, chunk).result()
        latencies.append((time.perf_counter() - t0) * 1000)
        sent += len(chunk)
    elapsed = time.perf_counter() - started
    with capture.reader(path) as conn:
        lag = index.index_state(conn).lag  # type: ignore[union-attr]
    caught = time.perf_counter()
    while indexer:
        with capture.reader(path) as conn:
            if index.index_state(conn).lag == 0:  # type: ignore[union-attr]
                break
        time.sleep(0.01)
    catch_up = time.perf_counter() - caught
    writer.close()
    latencies.sort()
    return {
        "rate": sent / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "lag_at_end": lag,
        "catch_up_s": catch_up,
    }


def compare_ingest(workdir: Path, count: int, rounds: int = 3) -> None:
    """Ingest with indexing off and on (background), alternating, plus synchronous (trigger) for reference."""
    print(
        f"\n== saturated ingest, {count:,} events in batches of 100 (≤ 50 in flight), fresh captures, {rounds} rounds =="
    )
    batches = list(build(realistic_messages(count, seed=11)))
    rates: dict[str, list[float]] = {}
    for label, indexer, trigger in [("index off", False, False), ("index on (background)", True, False)] * rounds + [
        ("synchronous trigger", False, True)
    ]:
        path = workdir / f"ingest-{indexer}-{trigger}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        time.sleep(2)  # let the previous run's writeback settle: it skews the next run otherwise
        seconds, total, writer = load(path, batches, indexer=indexer, trigger=trigger)
        idle = writer.idle_task
        with capture.reader(path) as conn:
            lag = index.index_state(conn).lag  # type: ignore[union-attr]
        writer.close()
        rates.setdefault(label, []).append(total / seconds)
        spent = (
            f"; {idle.indexed:,} indexed in {idle.seconds:.2f} s of idle time"
            if isinstance(idle, index.Indexer)
            else ""
        )
        print(f"  {label:<24} {total / seconds:>9,.0f} events/s  (lag at end {lag:,}{spent})")
    off, on = statistics.median(rates["index off"]), statistics.median(rates["index on (background)"])
    print(
        f"  median: indexing off {off:,.0f}/s, on {on:,.0f}/s ({on / off:.0%}); "
        f"synchronous indexing {rates['synchronous trigger'][0]:,.0f}/s ({rates['synchronous trigger'][0] / off:.0%})"
    )
    rate, paced_count = 3000, min(count, 30_000)
    print(
        f"\n== paced ingest, {rate:,} events/s in batches of 100 for {paced_count:,} events (twice each, interleaved) =="
    )
    subset = batches[: paced_count // 100]
    for label, indexer in (("index off", False), ("index on (background)", True)) * 2:
        path = workdir / f"paced-{indexer}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        r = paced(path, subset, rate, indexer=indexer)
        print(
            f"  {label:<24} {r['rate']:>7,.0f} events/s  ack p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms  lag at end {r['lag_at_end']:,.0f}  caught up {r['catch_up_s']:.2f} s later"
        )


QUERIES = [
    ("type filter", "type:identify"),
    ("event-name filter", 'event:"Order Completed"'),
    ("property filter (common value)", "properties.plan:enterprise"),
    ("property filter (rare value)", f"properties.coupon:{RARE_COUPON}"),
    ("user filter", "user:user_4242"),
    ("free text, rare word", RARE_WORD),
    ("free text, common word", "espresso"),
    ("combined", 'type:track event:"Order Completed" properties.revenue:>300 properties.currency:EUR after:3d'),
]


def time_queries(path: Path, label: str = "", repeats: int = 5) -> None:
    """First page (newest 50) per query kind: median and worst of ``repeats`` runs, plus match counts."""
    print(f"\n== first page (newest 50) on {path.name}{f' ({label})' if label else ''} ==")
    with capture.reader(path) as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        state = index.index_state(conn)
        print(f"  {total:,} events, index lag {state.lag if state else 'n/a'}")
        for label, text in QUERIES:
            parsed = q.parse(text)
            statuses = plan.view_statuses(parsed)
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                rows = list(reads.iter_events(conn, query=parsed, now=NOW, statuses=statuses, limit=50, newest=True))
                runs.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            count = reads.count_events(conn, query=parsed, now=NOW, statuses=statuses)
            count_ms = (time.perf_counter() - t0) * 1000
            verdict = "ok" if statistics.median(runs) <= 100 else "SLOW"
            print(
                f"  {label:<32} {statistics.median(runs):>7.1f} ms median  {max(runs):>7.1f} ms worst  "
                f"{len(rows):>3} rows  [{verdict}]   full count {count:>9,} in {count_ms:,.0f} ms   {text}"
            )


def main() -> None:
    """Parse options, build or reuse the capture, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--ingest-events", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/segdbg-bench"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the big capture even if it exists")
    parser.add_argument("--queries-only", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--ingest-only", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]}")
    if not args.queries_only and not args.skip_ingest:
        compare_ingest(args.workdir, args.ingest_events)
    if args.ingest_only:
        return
    big = args.workdir / f"search-{args.events}.db"
    if args.fresh or not big.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(big) + suffix).unlink(missing_ok=True)
        print(f"\n== loading {args.events:,} events through EventWriter (index off while loading) ==")
        t0 = time.perf_counter()
        seconds, total, writer = load(big, build(realistic_messages(args.events)), indexer=False)
        writer.close()
        print(f"  {total:,} events built and stored in {time.perf_counter() - t0:.0f} s ({seconds:.0f} s in the loop)")
        t0 = time.perf_counter()
        with capture.reader(big) as conn:
            indexer = index.Indexer()  # exactly what the server's writer does when idle
            while indexer(conn, lambda: False):
                pass
        print(
            f"  indexed {indexer.indexed:,} events the way an idle server does in {time.perf_counter() - t0:.0f} s; file {big.stat().st_size / 1e6:,.0f} MB"
        )
        time_queries(big, "index as built by the server")
        t0 = time.perf_counter()
        with capture.reader(big) as conn:
            index.optimize(conn)
        print(f"\n  index.optimize (one FTS segment) took {time.perf_counter() - t0:.0f} s")
    time_queries(big, "optimized" if not args.queries_only else "")


if __name__ == "__main__":
    main()
