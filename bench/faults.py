"""Longer fault run by hand: python bench/faults.py [--kills 50] [--seed N]. Prints the figure for docs/performance.md."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import faults  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = faults.run(Path(tmp) / "faults.db", kills=args.kills, seed=args.seed)
    print(report.summary())
    sys.exit(1 if report.lost or report.integrity != "ok" else 0)


if __name__ == "__main__":
    main()
