"""Plan coverage benchmark: N realistic stored events, then `segdbg check --plan P --coverage` timed.

Run by hand (the full size takes minutes to build; it keeps the capture for re-runs):

    python bench/coverage.py                        # 1,000,000 events in /tmp/segdbg-bench-coverage.db
    python bench/coverage.py --events 50000 --fresh # a quick check that it works
    python bench/coverage.py --json results.json

What it measures (target: ≤ 5 s at 1,000,000 events, docs/performance.md):

1. **Building** ``--events`` events (bench/search.py's realistic traffic from three sources and five
   libraries, plus ``context.app.version`` 1.0–1.4) through ``EventWriter``, as the server stores them.
2. **`check --coverage`** as a user runs it: a fresh ``python -m debugger check --plan P --coverage
   --format json`` process (start-up, plan compile, the one GROUP BY pass, the sampled validation),
   best of ``--repeat`` wall-clock runs; and the in-process pass alone (:func:`debugger.store.coverage.coverage`).

The plan plans 10 of the 12 track names (two stay "unplanned"), one event never sent, and
requires ``order_id`` as an integer on Order Completed (sent as a string: "only invalid").
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from search import build, load, realistic_messages  # noqa: E402 - bench/search.py, beside this file

from debugger.store import capture  # noqa: E402
from debugger.store.coverage import coverage  # noqa: E402
from debugger.store.planfile import load as load_plan  # noqa: E402

PLAN = """\
name: Bench shop
allow_unplanned_properties: true
events:
  Product Viewed: {properties: {product_id: string, price: number}}
  Product Added: {properties: {product_id: string}}
  Cart Viewed: {properties: {order_id: string}}
  Checkout Started: {properties: {revenue: number, currency: string}}
  Order Completed: {properties: {order_id: integer}}
  Products Searched: {properties: {query: string}}
  Product List Viewed: {}
  Signed In: {}
  Coupon Applied: {}
  Video Playback Started: {}
  Subscription Cancelled: {}
identify:
  traits: {email: string}
"""
VERSIONS = ["1.0", "1.1", "1.2", "1.3", "1.4"]


def messages(count: int) -> Any:
    """bench/search.py's traffic, each message with an app version."""
    rng = random.Random(11)
    for key, message, received in realistic_messages(count):
        message["context"]["app"] = {"version": rng.choice(VERSIONS), "build": "100"}
        yield key, message, received


def main() -> None:
    """Build (or reuse) the capture, time coverage, print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/segdbg-bench-coverage.db"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the capture even if it exists")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    plan_path = args.db.with_suffix(".plan.yaml")
    plan_path.write_text(PLAN)
    results: dict[str, Any] = {"events": args.events}
    if args.fresh or not args.db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        seconds, total, writer = load(args.db, build(messages(args.events)), indexer=False)
        writer.close()
        results["build_s"] = round(seconds, 1)
        print(f"built {total:,} events in {seconds:.1f} s → {args.db}")
    plan = load_plan(plan_path)
    conn = capture.connect(args.db)
    try:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        started = time.perf_counter()
        report = coverage(conn, plan).to_json()
        results["pass_s"] = round(time.perf_counter() - started, 3)
    finally:
        conn.close()
    results["stored"] = stored
    command = [sys.executable, "-m", "debugger", "check", "--db", str(args.db), "--plan", str(plan_path)]
    command += ["--coverage", "--format", "json"]
    walls = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
    results["check_coverage_s"] = round(min(walls), 3)
    summary = json.loads(done.stdout)
    results["coverage"] = summary["coverage"]
    results["statuses"] = {k: summary[k] for k in ("valid", "invalid", "never")}
    results["unplanned"] = [u["name"] for u in summary["unplanned"]]
    print(f"{stored:,} stored events; coverage {report['coverage']}%")
    print(f"  in-process pass (GROUP BY + sampled validation): {results['pass_s']:.3f} s")
    print(
        f"  `segdbg check --plan P --coverage --format json`, best of {args.repeat}: {results['check_coverage_s']:.3f} s"
    )
    print(f"  statuses {results['statuses']}, unplanned {results['unplanned']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
