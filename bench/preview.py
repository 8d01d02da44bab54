"""Preview benchmark: `segdbg preview` over a capture of 1,000,000 stored events (target: ≤ 10 s).

Run by hand, alone on the machine; it reuses bench/schema_diff.py's capture (built there when missing):

    python bench/preview.py                      # /tmp/segdbg-bench-schema.db, 1,000,000 events
    python bench/preview.py --events 50000 --db /tmp/preview-50k.db

Cases, each the whole command as the CLI runs it (median of --repeats runs), with beside each the
ceiling measured in the same run: SQLite alone reading the rows the case must read, and orjson
parsing their messages (the least any preview of them pays):

1. a narrow rule (`if: event = 'Order Completed'`, rename a property): only those rows are read;
2. a rule without condition on every event (set a field): every row is read, parsed and transformed;
3. case 2 with -o: every event written out transformed (a fixture or a new capture).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from schema_diff import fill  # noqa: E402

from debugger.cli import cli  # noqa: E402

NARROW = """transformations:
  - name: currency renamed
    if: event = 'Order Completed'
    rename: {properties.currency: properties.currency_code}
"""
EVERYWHERE = """transformations:
  - name: channel set
    set: {context.channel_group: web}
"""


def timed(db: str, rules: Path, *extra: str) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    result = CliRunner().invoke(
        cli, ["preview", "--db", db, "-t", str(rules), "--format", "json", *extra], catch_exceptions=False
    )
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    return seconds, orjson.loads(result.stdout)


def ceiling(db: str, where: str) -> float:
    """SQLite alone reading the ``stored`` of the rows ``where`` selects, and orjson parsing each."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    started = time.perf_counter()
    loads = orjson.loads
    for (stored,) in conn.execute(f"SELECT stored FROM events WHERE status = 'ok' AND {where}"):
        loads(stored)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/segdbg-bench-schema.db"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not args.db.exists():
        fill(args.db, args.events)
    db = str(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        narrow, everywhere = Path(tmp) / "narrow.yaml", Path(tmp) / "everywhere.yaml"
        narrow.write_text(NARROW)
        everywhere.write_text(EVERYWHERE)
        out = Path(tmp) / "out.jsonl"
        cases = [
            ("narrow rule (Order Completed)", narrow, (), "name = 'Order Completed'"),
            ("a rule on every event", everywhere, (), "1"),
            ("a rule on every event, -o", everywhere, ("-o", str(out)), "1"),
        ]
        worst = 0.0
        for label, rules, extra, where in cases:
            runs, data = [], {}
            for _ in range(args.repeats):
                seconds, data = timed(db, rules, *extra)
                runs.append(seconds)
            median = statistics.median(runs)
            worst = max(worst, median)
            floor = ceiling(db, where)
            print(
                f"{label:<32} {median:6.2f} s (runs {' · '.join(f'{r:.2f}' for r in runs)})"
                f"  selected {data['selected']:,}  changed {data['changed']:,}"
                f"  | ceiling (SQLite read + orjson parse of those rows) {floor:.2f} s, ratio {median / floor:.1f}"
            )
    print(f"slowest: {worst:.2f} s (target ≤ 10 s at 1,000,000 events)")


if __name__ == "__main__":
    main()
