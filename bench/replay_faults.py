"""Longer replay fault run by hand: python bench/replay_faults.py [--kills 30] [--events 20000] [--seed N].

SIGKILLs `segdbg replay` at random points while it sends into a real segdbg server, resumes it
each time, and prints the figure for docs/performance.md (see tests/replay_faults.py for what is checked).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import replay_faults  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=3000.0, help="events/s the replay sends (paced, 8 in flight)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = replay_faults.run(
            Path(tmp),
            events=args.events,
            kills=args.kills,
            seed=args.seed,
            rate=args.rate,
            timeout=60 + args.kills * 10,
        )
    print(report.summary())
    bad = report.resent_after_recorded or report.missing or report.integrity != "ok" or report.status != "delivered"
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
