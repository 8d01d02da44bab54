"""MCP answer bounds: every `segdbg mcp` tool's answer size and time on a large capture.

Run by hand (loading 1,000,000 events takes a few minutes; the capture is kept for re-runs):

    python bench/mcp_bounds.py                          # 1M events in /tmp/segdbg-bench-mcp.db
    python bench/mcp_bounds.py --events 100000 --fresh
    python bench/mcp_bounds.py --calls-only             # reuse the capture

What it measures: for each tool call (search_events with and without fields, newest, a cursor page, get_event,
explain_match, wait_for that holds at once and one that times out, validate_payload, check, schema, stats, diff,
replay dry run), the bytes of the answer as the server sends it (debugger.agents.results.encode) and the seconds
it took; then the same search_events through the SDK's own client over stdio (`python -m debugger mcp`). Exits 1
if any answer is over MAX_RESULT_BYTES. Properties carry long strings so an unbounded answer would show.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debugger.agents.results import MAX_RESULT_BYTES, encode
from debugger.agents.tools import Tools
from debugger.core.http import model, wire
from debugger.store import writer as store_writer

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NAMES = ["Order Completed", "Product Viewed", "Checkout Started", "product added", "Signed Up"]


def requests(total: int, per_batch: int = 100) -> Iterator[model.IncomingRequest]:
    """Batches of tracks and identifies with a 360-character description each (and one invalid track in 50)."""
    for first in range(0, total, per_batch):
        batch = []
        for n in range(first, min(total, first + per_batch)):
            if n % 10 == 9:
                batch.append({"type": "identify", "userId": f"u_{n % 5000}", "traits": {"email": f"u{n}@acme.co"}})
                continue
            message: dict[str, Any] = {
                "type": "track",
                "event": NAMES[n % len(NAMES)],
                "properties": {"plan": ["pro", "free"][n % 2], "revenue": n % 100, "description": "lorem " * 60},
            }
            if n % 50 != 7:
                message["userId"] = f"u_{n % 5000}"
            batch.append(message)
        yield model.IncomingRequest(
            method="POST",
            path="/v1/batch",
            headers=(("Authorization", "Basic d2tfYmVuY2g6"),),
            body=orjson.dumps({"batch": batch}),
            remote="127.0.0.1",
        )


def load(db: Path, total: int) -> None:
    """Write ``total`` events through the store's writer, as the server does."""
    counter = itertools.count()
    writer = store_writer.EventWriter(db).start()
    started = time.perf_counter()
    try:
        pending = []
        for index, request in enumerate(requests(total)):
            outcome = wire.handle(
                request, received_at=START + timedelta(milliseconds=index), new_id=lambda: f"b-{next(counter)}"
            )
            pending.append(writer.submit(outcome.record, outcome.events))
            if len(pending) > 200:
                pending.pop(0).result()
        for future in pending:
            future.result()
    finally:
        writer.close()
    print(f"loaded {total:,} events in {time.perf_counter() - started:.1f} s")


def measure(tools: Tools) -> bool:
    """Call every tool; print bytes and seconds; whether all answers are within the bound."""
    calls: list[tuple[str, Callable[[], dict[str, Any]], str | None]] = [
        ("search_events all", lambda: tools.search_events("", limit=200), "events"),
        (
            "search_events fields",
            lambda: tools.search_events("type:track", limit=200, fields=["properties.description"]),
            "events",
        ),
        ("search_events newest", lambda: tools.search_events("", limit=200, newest=True), "events"),
        ("search_events free text", lambda: tools.search_events("lorem", limit=50), "events"),
        (
            "search_events cursor",
            lambda: tools.search_events('event:"Order Completed"', limit=50, cursor=500_000),
            "events",
        ),
        ("get_event", lambda: tools.get_event(12), None),
        ("explain_match", lambda: tools.explain_match("properties.plan:pro user:u_1", 12), None),
        ("wait_for holds", lambda: tools.wait_for("type:identify", timeout=5), None),
        ("wait_for times out", lambda: tools.wait_for('event:"Never Sent"', timeout=2), None),
        ("validate_payload", lambda: tools.validate_payload('analytics.track("product added", {price: 19})'), None),
        ("check", lambda: tools.check(), None),
        ("schema", lambda: tools.schema(), None),
        ("stats", tools.stats, None),
        ("diff", lambda: tools.diff("properties.plan:pro", "properties.plan:free"), None),
        ("replay dry run", lambda: tools.replay_dry_run("http://127.0.0.1:9", "type:identify"), None),
    ]
    ok = True
    for name, call, items in calls:
        started = time.perf_counter()
        size = len(encode(call(), items=items).encode())
        seconds = time.perf_counter() - started
        over = size > MAX_RESULT_BYTES
        ok = ok and not over
        print(f"{name:26} {size:>8,} bytes {seconds:>8.2f} s{'  OVER THE BOUND' if over else ''}")
    return ok


async def over_stdio(db: Path) -> int:
    """search_events through the SDK's client and a real `python -m debugger mcp` process: the text's bytes."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "debugger", "mcp", "--db", str(db)])
    async with Client(params) as client:
        started = time.perf_counter()
        result = await client.call_tool("search_events", {"query": "", "limit": 200})
        text = result.content[0].text  # type: ignore[union-attr]
        print(f"{'stdio search_events':26} {len(text.encode()):>8,} bytes {time.perf_counter() - started:>8.2f} s")
        return len(text.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/segdbg-bench-mcp.db"))
    parser.add_argument("--fresh", action="store_true", help="delete the capture first")
    parser.add_argument("--calls-only", action="store_true", help="reuse the capture as it is")
    args = parser.parse_args()
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.db) + suffix).unlink(missing_ok=True)
    if not args.calls_only and not args.db.exists():
        load(args.db, args.events)
    ok = measure(Tools(args.db))
    ok = asyncio.run(over_stdio(args.db)) <= MAX_RESULT_BYTES and ok
    print("every answer within", f"{MAX_RESULT_BYTES:,} bytes" if ok else "the bound: NO")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
