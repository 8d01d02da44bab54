"""FQL benchmark: an FQL query's first page over 1,000,000 events against the equivalent native query.

Run by hand, alone on the machine (it reuses bench/search.py's capture when it exists):

    python bench/fql.py                          # 1M events in /tmp/segdbg-bench/search-1000000.db
    python bench/fql.py --events 200000          # a smaller capture (built once, then reused)

For each pair it times the first page (the newest 50 matches, as `segdbg events` and the TUI ask) through
the one read path (store.reads: FTS plan, exact re-check), median and worst of 5 runs, and checks both
queries return the same rows. Target (issue 17): an FQL query within the native bound, ≤ 100 ms where an
index serves it (a string the statement requires drives the trigram index, as the native value does).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from search import RARE_COUPON, build, load, realistic_messages  # noqa: E402 - bench/search.py, beside this file

from debugger.core.query import language as q  # noqa: E402
from debugger.core.query import plan  # noqa: E402
from debugger.store import capture, index, reads  # noqa: E402

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
#: (what, native query, the same in FQL)
PAIRS = [
    ("event name", 'event:"Order Completed"', "fql:type = 'track' and event = 'Order Completed'"),
    ("property, common value", "properties.plan:enterprise", "fql:properties.plan = 'enterprise'"),
    ("property, rare value", f"properties.coupon:{RARE_COUPON}", f"fql:properties.coupon = '{RARE_COUPON}'"),
    ("property in a list", "properties.plan:pro,enterprise", "fql:properties.plan in ['pro', 'enterprise']"),
    ("contains / wildcard", "context.library.name:*python*", "fql:contains( context.library.name, 'python' )"),
    ("glob", "type:track event:Product*", "fql:type = 'track' and match( event, 'Product*' )"),
    (
        "numeric and name",
        'type:track event:"Order Completed" properties.revenue:>300',
        "fql:type = 'track' and event = 'Order Completed' and properties.revenue > 300",
    ),
    ("no index (type only)", "type:identify", "fql:type = 'identify'"),
]


def first_page(path: Path, text: str, repeats: int) -> tuple[list[float], list[int]]:
    """Milliseconds per run and the ids of the first page."""
    parsed = q.parse(text)
    statuses = plan.view_statuses(parsed)
    runs, ids = [], []
    with capture.reader(path) as conn:
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = list(reads.iter_events(conn, query=parsed, now=NOW, statuses=statuses, limit=50, newest=True))
            runs.append((time.perf_counter() - t0) * 1000)
            ids = [row["id"] for row in rows]
    return runs, ids


def main() -> None:
    """Build or reuse the capture, then time each pair."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/segdbg-bench"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    big = args.workdir / f"search-{args.events}.db"
    if not big.exists():
        print(f"== loading {args.events:,} events (bench/search.py's generator) and indexing them ==")
        _, total, writer = load(big, build(realistic_messages(args.events)), indexer=False)
        writer.close()
        with capture.reader(big) as conn:
            indexer = index.Indexer()
            while indexer(conn, lambda: False):
                pass
        print(f"  {total:,} events in {big}")
    print(f"== first page (newest 50) on {big.name}: native vs FQL ==")
    for what, native, fql_text in PAIRS:
        native_runs, native_ids = first_page(big, native, args.repeats)
        fql_runs, fql_ids = first_page(big, fql_text, args.repeats)
        fql_ms = statistics.median(fql_runs)
        verdict = "ok" if fql_ms <= max(100.0, statistics.median(native_runs) * 1.2) else "SLOW"
        same = "same rows" if native_ids == fql_ids else f"rows differ ({len(native_ids)} vs {len(fql_ids)})"
        print(
            f"  {what:<24} native {statistics.median(native_runs):>7.1f} ms  fql {fql_ms:>7.1f} ms "
            f"(worst {max(fql_runs):.1f})  {len(fql_ids):>2} rows, {same}  [{verdict}]"
        )


if __name__ == "__main__":
    main()
