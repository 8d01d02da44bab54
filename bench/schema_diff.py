"""Schema diff benchmark: `segdbg diff --schema` over a capture of N stored events (target: ≤ 5 s at 1,000,000).

Run by hand (the 1M capture takes minutes to build; it is kept for re-runs):

    python bench/schema_diff.py                     # 1,000,000 events in /tmp/segdbg-bench-schema.db
    python bench/schema_diff.py --events 50000 --fresh
    python bench/schema_diff.py --diff-only         # reuse the capture, time the diffs again

The capture is bench/search.py's realistic traffic (12 track events, pages, identifies; five
libraries) with ``context.app.version`` 1.2 for the first half and 1.3 for the second, where
build 1.3 of analytics-ios stops sending ``properties.currency`` on Order Completed. Timed, each
the whole command as the CLI runs it (both sides read, compared, printed as JSON):

1. ``--db C 'context.app.version:1.2' 'context.app.version:1.3'`` (a JSON-path slice: every row's
   ``stored`` is read by SQLite on both passes);
2. ``--db C 'lib:analytics-ios context.app.version:1.2' 'lib:analytics-ios context.app.version:1.3'``
   — must exit 3 naming properties.currency 100% → 0% on Order Completed;
3. ``--db C lib:analytics.js lib:analytics-ios`` (column slices);
4. ``C C`` (the whole capture against itself).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from search import build, load, realistic_messages  # noqa: E402

from debugger.cli import cli  # noqa: E402


def releases(count: int) -> Iterator[tuple[str, dict[str, Any], datetime]]:
    """bench/search.py's traffic, split into builds 1.2 and 1.3; iOS 1.3 drops currency on Order Completed."""
    for n, (key, message, received) in enumerate(realistic_messages(count, seed=13)):
        version = "1.2" if n < count // 2 else "1.3"
        message["context"]["app"] = {"version": version, "build": version.replace(".", "")}
        ios = message["context"]["library"]["name"] == "analytics-ios"
        if version == "1.3" and ios and message.get("event") == "Order Completed":
            message["properties"].pop("currency", None)
        yield key, message, received


def fill(path: Path, count: int) -> None:
    """Build the capture through the store's writer, exactly as the server stores events."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    seconds, total, writer = load(path, build(releases(count)), indexer=False)
    writer.close()
    print(f"capture: {total:,} events in {seconds:.1f} s → {path}")


def ceilings(db: str, *queries: str) -> tuple[float, float]:
    """Seconds for SQLite alone, on the same capture, each side's query compiled as the diff compiles it:

    - the scan: reading every row's id, type, name and identity and judging each side's condition,
      as the diff's own scan does, counted in SQL (nothing handed to Python): the floor under any
      schema diff that reads the capture once;
    - the SQL count: counting both sides' events and distinct identities per kind in one scan, the
      faster of two exact ways to write it (``count(DISTINCT)`` per kind; a group per identity summed
      per kind): what the diff would pay if SQLite counted.
    """
    # Lazily: bench-only imports.
    import sqlite3
    from datetime import UTC

    from debugger.core.query import language as q
    from debugger.core.query.sql import compile as compile_sql

    now = datetime.now(UTC)
    sides = [compile_sql(q.parse(text), now=now) if text else ("1", []) for text in queries]
    flags = ", ".join(f"CASE WHEN {sql} THEN 1 ELSE 0 END AS f{n}" for n, (sql, _) in enumerate(sides))
    who = "coalesce(nullif(user_id, ''), nullif(anonymous_id, ''))"
    scan = f"SELECT id, type, name, {who} AS who, {flags} FROM events WHERE status = 'ok' LIMIT -1 OFFSET 0"
    any_flag = " OR ".join(f"f{n}" for n in range(len(sides)))
    distinct = ", ".join(f"sum(f{n}), count(DISTINCT CASE WHEN f{n} THEN who END)" for n in range(len(sides)))
    inner = ", ".join(f"sum(f{n}) AS e{n}" for n in range(len(sides)))
    outer = ", ".join(f"sum(e{n}), sum(e{n} > 0 AND who IS NOT NULL)" for n in range(len(sides)))
    counts = [
        f"SELECT type, name, {distinct} FROM ({scan}) GROUP BY type, name",
        f"SELECT type, name, {outer} FROM (SELECT type, name, who, {inner} FROM ({scan})"
        " GROUP BY type, name, who) GROUP BY type, name",
    ]
    params = [p for _, ps in sides for p in ps]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

    def seconds(sql: str) -> float:
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        return time.perf_counter() - started

    floor = seconds(f"SELECT count(*) FROM ({scan}) WHERE {any_flag}")
    sql_count = min(seconds(sql) for sql in counts)
    conn.close()
    return floor, sql_count


def timed(*args: str) -> tuple[float, int, dict[str, Any]]:
    """One `segdbg diff --schema ... --format json`: seconds, exit code, document."""
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["diff", "--schema", *args, "--format", "json"], catch_exceptions=False)
    seconds = time.perf_counter() - started
    return seconds, result.exit_code, orjson.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/segdbg-bench-schema.db"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the capture even if it exists")
    parser.add_argument("--diff-only", action="store_true", help="reuse the capture as it is")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the median is reported")
    args = parser.parse_args()
    if not args.diff_only and (args.fresh or not args.db.exists()):
        fill(args.db, args.events)
    db = str(args.db)
    cases = [
        ("app version 1.2 vs 1.3", ("--db", db, "context.app.version:1.2", "context.app.version:1.3")),
        (
            "iOS 1.2 vs iOS 1.3",
            ("--db", db, "lib:analytics-ios context.app.version:1.2", "lib:analytics-ios context.app.version:1.3"),
        ),
        ("analytics.js vs analytics-ios", ("--db", db, "lib:analytics.js", "lib:analytics-ios")),
        ("whole capture vs itself", (db, db)),
    ]
    worst = 0.0
    for label, spec in cases:
        runs = []
        for _ in range(args.repeats):
            seconds, code, document = timed(*spec)
            runs.append(seconds)
        seconds = statistics.median(runs)
        worst = max(worst, seconds)
        queries = [x for x in spec if x not in ("--db", db)] or ["", ""]
        floor, sql_count = ceilings(db, *queries)
        print(
            f"{label:<32} {seconds:6.2f} s (runs {' · '.join(f'{r:.2f}' for r in runs)})  exit {code}"
            f"  A {document['total_a']:>9,}  B {document['total_b']:>9,}  beyond {document['beyond']:>3}"
            f"  sampled {document['sampled']}"
        )
        print(
            f"{'':<32} ceiling, SQLite alone scanning and judging both sides: {floor:.2f} s"
            f" (ratio {seconds / floor:.1f}); SQLite counting them exactly: {sql_count:.2f} s"
        )
        if label.startswith("iOS"):
            orders = next(e for e in document["events"] if e["key"] == 'track "Order Completed"')
            currency = next(p for p in orders["paths"] if p["path"] == "properties.currency")
            caught = code == 3 and currency["presence_a"] == 100.0 and currency["presence_b"] == 0.0
            print(f"{'':<32} properties.currency {currency['presence_a']:g}% → {currency['presence_b']:g}%")
            if not caught:
                sys.exit("the iOS currency change was not caught")
    print(f"slowest: {worst:.2f} s (target ≤ 5 s at 1,000,000 events)")


if __name__ == "__main__":
    main()
