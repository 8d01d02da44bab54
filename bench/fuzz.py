"""Fuzz a real `segdbg serve --headless` for a long while (run by hand; not part of the suite).

Drives the generator of tests/test_fuzz.py (random methods, paths, headers, encodings, bodies,
messages and batches) against a server subprocess and holds it to the same invariants: never a
5xx, never a dropped connection, the same status as the pure core, every recordable request
recorded. Meanwhile it watches the server: its memory (RSS), that it logs no traceback, and at
the end that the capture passes ``PRAGMA integrity_check``. A failing example is shrunk by
Hypothesis and printed: turn it into a test in tests/test_fuzz.py.

    python bench/fuzz.py                      # 3,000 requests
    python bench/fuzz.py --examples 50000 --seed 7
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, seed, settings

from tests.helpers import ServeProcess, integrity
from tests.strategies import fuzz_requests
from tests.test_fuzz import check, counts


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def main() -> int:
    """Run the fuzz; print throughput, memory, the server's complaints and the file's health."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=3000, help="requests to generate (default 3,000)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed, to repeat a run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "fuzz.db"
        server = ServeProcess(db, "--quiet")
        pid = server.proc.pid
        start_rss = rss_mb(pid)
        peak = [start_rss]
        sent = [0]
        failures: list[dict[str, object]] = []
        print(f"fuzzing {server.url} (pid {pid}) with {args.examples:,} requests; RSS {start_rss:.1f} MB", flush=True)

        @settings(
            max_examples=args.examples,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
        )
        @given(request=fuzz_requests())
        def fuzz(request: dict[str, object]) -> None:
            try:
                check(server.url, db, request)
            except Exception:
                failures.append(request)  # the last one is the shrunk example Hypothesis replays
                raise
            sent[0] += 1
            if sent[0] % 500 == 0:
                peak[0] = max(peak[0], rss_mb(pid))
                print(f"  {sent[0]:,} requests, RSS {rss_mb(pid):.1f} MB", flush=True)

        runner = seed(args.seed)(fuzz) if args.seed is not None else fuzz
        started = time.monotonic()
        failed = False
        try:
            runner()
        except Exception as exc:  # noqa: BLE001 - reported, then the server is still checked
            failed = True
            print(f"FAILED: {exc!r}\n  request: {failures[-1] if failures else '?'!r:.2000}", flush=True)
        elapsed = time.monotonic() - started
        end_rss = rss_mb(pid)
        requests, events = counts(db)
        size_mb = sum(f.stat().st_size for f in db.parent.glob(db.name + "*")) / 2**20
        code, _, err = server.stop()
        complaints = [line for line in err.splitlines() if "Traceback" in line or "ERROR" in line or "Error" in line]
        print(f"{sent[0]:,} requests in {elapsed:.1f} s ({sent[0] / elapsed:.0f}/s), shrinking included")
        print(
            f"server RSS {start_rss:.1f} MB at start, {end_rss:.1f} MB at the end, peak seen {max(peak[0], end_rss):.1f} MB"
        )
        print(
            f"capture: {requests:,} requests, {events:,} events, {size_mb:.1f} MB (SQLite keeps up to 32 MB of it cached "
            f"per connection), integrity_check {integrity(db)}; server exit {code}"
        )
        print(f"server stderr: {len(err.splitlines())} lines, {len(complaints)} tracebacks/errors")
        for line in complaints[:10]:
            print("  " + line)
        return 1 if failed or complaints or code != 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
