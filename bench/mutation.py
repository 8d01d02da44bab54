"""Mutation score of the pure core and of the store's writer (issue 20; docs/quality.md).

mutmut (3.x) plants one small bug at a time (a flipped comparison, an off-by-one, a dropped argument, a changed string)
in ``debugger/core/`` and ``debugger/store/writer.py`` / ``rows.py`` and runs, for each mutant, only the fast tests that
call the mutated function (the selection is ``[tool.mutmut]`` in pyproject.toml: pure-core and store tests, no server
subprocesses). A mutant is *killed* when a test fails. The score is killed / all mutants of the package, where a mutant
no selected test reaches counts as surviving.

One worker, niced: a mutation run is CPU-bound for a long time and the machine is shared. Results are kept in
``mutants/`` (git-ignored) and reused: a rerun tests again only the mutants not killed yet (and those of functions
that changed).

Usage:
  python bench/mutation.py                       # every package, every mutant (hours on one core)
  python bench/mutation.py core/http store       # only these packages
  python bench/mutation.py --sample 60           # a fixed random sample of 60 mutants per package (seeded)
  python bench/mutation.py --report              # only print the scores of what was run so far
  python bench/mutation.py --survivors core/http # list the surviving mutants (then `mutmut show NAME` for a diff)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Package name → the mutant-name prefixes it covers (mutmut names mutants ``module.x_function__mutmut_N``).
PACKAGES: dict[str, tuple[str, ...]] = {
    "core/http": ("debugger.core.http.",),
    "core/query": ("debugger.core.query.",),
    "core/lint": ("debugger.core.lint.",),
    "core/pretty": ("debugger.core.pretty.",),
    "core/replay": ("debugger.core.replay.",),
    "core/inputs": ("debugger.core.inputs.",),
    "core (top-level modules)": tuple(
        f"debugger.core.{p.stem}." for p in sorted((ROOT / "debugger" / "core").glob("*.py")) if p.stem != "__init__"
    ),
    "store writer/rows": ("debugger.store.writer.", "debugger.store.rows."),
}
#: Short names accepted on the command line.
ALIASES = {"core": "core (top-level modules)", "store": "store writer/rows"}
#: Exit codes mutmut records per mutant (mutmut.stats.status_by_exit_code), grouped the way the score counts them.
#: Killed: a test failed, pytest broke, the tests timed out or crashed, or the type checker caught it.
KILLED = {1, 3, 24, -24, 36, 37, 152, 255, -9, -11}
SURVIVED = {0}
NO_TESTS = {5, 33}  # no selected test calls the function: counted as surviving
SEED = 20


def all_results() -> dict[str, int | None]:
    """Every generated mutant's recorded exit code (None: not run yet), read from mutmut's ``.meta`` files."""
    results: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants" / "debugger").rglob("*.py.meta")):
        results.update(json.loads(meta.read_text())["exit_code_by_key"])
    return results


def package_of(name: str) -> str | None:
    for package, prefixes in PACKAGES.items():
        if name.startswith(prefixes):
            return package
    return None


def mutmut(*args: str) -> None:
    """``mutmut ARGS`` at the checkout's root: one worker, at a low priority."""
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", *args]
    print("$", " ".join(command[3:]), flush=True)
    done = subprocess.run(command, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"mutmut exited with {done.returncode}")


def chosen(
    results: dict[str, int | None], packages: list[str], sample: int | None, seed: int = SEED
) -> dict[str, list[str]]:
    """The mutants each package is scored on: all of them, or a fixed seeded sample.

    The sample ranks each mutant by a hash of its name, so it does not move when mutants are added elsewhere
    (code changed), and a larger sample contains every smaller one (results are reused)."""
    by_package: dict[str, list[str]] = {p: [] for p in packages}
    for name in sorted(results):
        package = package_of(name)
        if package in by_package:
            by_package[package].append(name)
    if sample is not None:
        for package, names in by_package.items():
            ranked = sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).digest())
            by_package[package] = sorted(ranked[:sample])
    return by_package


def run(packages: list[str], sample: int | None, fresh: bool, seed: int) -> None:
    if not any((ROOT / "mutants").rglob("*.py.meta")):
        # Generating the mutants and collecting which tests call which function happens on any `run`; this one
        # then tests only the first mutant of each function of one small module.
        mutmut("run", "--max-children", "1", "debugger.core.timefmt.*__mutmut_1")
    names = [n for group in chosen(all_results(), packages, sample, seed).values() for n in group]
    # A killed mutant stays killed; one that survived is tried again (tests may have been added since).
    retry = set(names) if fresh else set()
    for _ in range(2):  # a second pass for results mutmut dropped on starting (the test selection changed)
        results = all_results()
        todo = [n for n in names if n in retry or results.get(n) is None or results[n] in SURVIVED | NO_TESTS]
        print(f"\n== {len(todo)} of {len(names)} mutants to run", flush=True)
        # Several hundred at a time: each mutmut start first runs the tests of all its mutants once, clean.
        for start in range(0, len(todo), 400):
            mutmut("run", "--max-children", "1", *todo[start : start + 400])
        retry = set()
        if all(all_results().get(n) is not None for n in names):
            break


def report(packages: list[str], sample: int | None, survivors: bool, seed: int) -> None:
    results = all_results()
    if not results:
        sys.exit("No mutants yet: run `python bench/mutation.py` first.")
    print(f"\n{'package':26} {'killed':>7} {'surv.':>6} {'no test':>7} {'run':>6} {'of':>6} {'score':>7}")
    total: Counter[str] = Counter()
    for package, names in chosen(results, packages, sample, seed).items():
        codes = [results[n] for n in names if results[n] is not None]
        killed = sum(c in KILLED for c in codes)
        survived = sum(c in SURVIVED for c in codes)
        no_tests = sum(c in NO_TESTS for c in codes)
        counted = killed + survived + no_tests
        line = f"{package:26} {killed:7} {survived:6} {no_tests:7} {len(codes):6} {len(names):6}"
        if counted:
            score = killed / counted
            # 95% margin of the estimate when only a sample was run (normal approximation).
            margin = 1.96 * math.sqrt(score * (1 - score) / counted) if len(codes) < len(names) or sample else 0.0
            line += f" {score:7.1%}" + (f" ± {margin:.1%}" if margin else "")
        print(line)
        group = "all of core/" if package.startswith("core") else package
        total.update({f"{group}\0killed": killed, f"{group}\0counted": counted})
        if survivors:
            for name in names:
                if results[name] in SURVIVED | NO_TESTS:
                    print(f"    {'no tests' if results[name] in NO_TESTS else 'survived'}  {name}")
    groups = dict.fromkeys(key.split("\0")[0] for key in total)
    if "all of core/" in groups and len(packages) > 1:
        group = "all of core/"
        killed, counted = total[f"{group}\0killed"], total[f"{group}\0counted"]
        if counted:
            score = killed / counted
            margin = 1.96 * math.sqrt(score * (1 - score) / counted) if sample else 0.0
            print(
                f"{group:26} {killed:7} {'':6} {'':7} {counted:6} {'':6} {score:7.1%}"
                + (f" ± {margin:.1%}" if margin else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs="*", help=f"packages (default: all): {', '.join(PACKAGES)}; or core, store")
    parser.add_argument("--sample", type=int, help="run a fixed seeded sample of N mutants per package")
    parser.add_argument("--seed", type=int, default=SEED, help=f"which sample (default {SEED})")
    parser.add_argument("--fresh", action="store_true", help="rerun killed mutants too")
    parser.add_argument("--report", action="store_true", help="only print the scores of what was run so far")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants under each package")
    args = parser.parse_args()
    packages = [ALIASES.get(p, p) for p in args.packages] or list(PACKAGES)
    unknown = [p for p in packages if p not in PACKAGES]
    if unknown:
        parser.error(f"unknown package {unknown[0]!r}; choose from {', '.join(PACKAGES)}")
    os.chdir(ROOT)
    if not (args.report or args.survivors):
        run(packages, args.sample, args.fresh, args.seed)
    report(packages, args.sample, args.survivors, args.seed)


if __name__ == "__main__":
    main()
