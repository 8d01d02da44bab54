"""TUI search benchmark: the real app (headless) searching a big capture for a rare free-text word.

Run by hand on the capture `bench/search.py` builds (1,000,000 events, index caught up):

    python bench/search.py --queries-only               # builds /tmp/segdbg-bench/search-1000000.db once
    python bench/tui_search.py                          # search, n/N, match count on it
    python bench/tui_search.py --db other.db --word espresso --repeats 3

What it measures, each ``--repeats`` times (median, worst), as wall time and as CPU time of the
process (the machine may be shared: CPU time is the steadier figure):

1. **search**: from `enter` in the search box to the list holding the newest matches, and to
   the box showing their count (the TUI's load worker: the newest ``cap`` matches, then the count);
2. **N / n**: from the key to the detail showing the previous/next match and the box saying
   ``k of N`` (the match worker: the neighbour plus its position);
3. the same reads called directly on the TUI's ``CaptureReader`` (no UI), as thread CPU time.

It drives the app only through keys and widgets, so the same script measures an older checkout
too (copy it into that checkout's ``bench/``): before/after figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RARE_WORD = "zanzibarite"  # bench/search.py puts it in 10 events per million


class Clock:
    """Wall and process-CPU milliseconds of each measured step."""

    def __init__(self) -> None:
        self.runs: dict[str, list[tuple[float, float]]] = {}

    async def measure(
        self, label: str, step: Callable[[], Awaitable[None]], marks: dict[str, tuple[float, float]] | None = None
    ) -> None:
        """Time ``step``; ``marks`` (label → perf_counter, process_time) it fills are recorded too."""
        wall, cpu = time.perf_counter(), time.process_time()
        if marks is not None:
            marks.clear()
        await step()
        for mark, (at_wall, at_cpu) in (marks or {}).items():
            self.runs.setdefault(mark, []).append(((at_wall - wall) * 1000, (at_cpu - cpu) * 1000))
        self.runs.setdefault(label, []).append(
            ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
        )

    def report(self) -> None:
        for label, runs in self.runs.items():
            walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
            print(
                f"  {label:<34} wall {statistics.median(walls):>8.1f} ms median ({max(walls):>8.1f} worst)"
                f"   cpu {statistics.median(cpus):>8.1f} ms median ({max(cpus):>8.1f} worst)   n={len(runs)}"
            )


async def _until(pilot: Any, done: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            screen = pilot.app.screen_stack[0]
            raise TimeoutError(
                f"the TUI did not show the result within {timeout:.0f} s: box {screen.query_one('#match-count').content!r},"
                f" focus {pilot.app.focused!r}, workers {list(pilot.app.workers)!r}"
            )
        await asyncio.sleep(0.001)


async def through_the_app(db: Path, word: str, repeats: int, clock: Clock) -> None:
    """Search, N and n in the real app, driven by keys."""
    from textual.widgets import Input

    from debugger.tui.app import make_tui
    from debugger.tui.widgets.event_detail import EventDetail
    from debugger.tui.widgets.event_list import EventList

    app = make_tui(db, poll_interval=None)  # no follow timer: only the measured reads run
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()  # the first load counts the whole capture: not measured
        await pilot.pause()
        screen = app.screen_stack[0]
        count = screen.query_one("#match-count")
        detail = screen.query_one(EventDetail)
        stream = screen.query_one(EventList)

        def shown() -> str:
            return str(count.content)

        marks: dict[str, tuple[float, float]] = {}
        replace = stream.replace

        def hooked(*args: Any, **kwargs: Any) -> Any:  # the search's rows reach the list
            result = replace(*args, **kwargs)
            marks.setdefault(f"search '{word}' (rows listed)", (time.perf_counter(), time.process_time()))
            return result

        stream.replace = hooked  # type: ignore[method-assign]

        for _ in range(repeats):
            await pilot.press("slash")
            screen.query_one("#search", Input).value = word
            await pilot.pause(0.05)

            async def search() -> None:
                await pilot.press("enter")
                await _until(pilot, lambda: "match" in shown())

            await clock.measure(f"search '{word}' (rows + count)", search, marks)
            total = shown()
            stream.focus()  # n/N are list keys (enter already went back to the list; make sure)
            await pilot.pause(0.05)
            assert stream.selected_id is not None
            for key, label in (("N", "N (previous match)"), ("N", "N (previous match)"), ("n", "n (next match)")):
                before, event = shown(), detail.event

                async def jump(key: str = key, before: str = before, event: object = event) -> None:
                    await pilot.press(key)
                    await _until(pilot, lambda: detail.event is not event and " of " in shown() and shown() != before)

                await clock.measure(label, jump)
            print(f"    ({total}; then {shown()})")
            await pilot.press("escape")  # clear the search: back to every event
            await app.workers.wait_for_complete()
            await _until(pilot, lambda: shown() == "")
            await pilot.pause(0.05)


def direct(db: Path, word: str, repeats: int) -> None:
    """The same reads on the TUI's CaptureReader, without the UI: thread CPU time."""
    from debugger.core.query import language as query
    from debugger.core.query import sql as query_sql
    from debugger.store import follow as follower
    from debugger.store.follow import CaptureReader

    parsed, now = query.parse(word), datetime.now(UTC)
    search_type = getattr(follower, "Search", None)
    where: Any = (
        search_type(parsed, now) if search_type else query_sql.compile(parsed, now=now)
    )  # an older checkout: SQL
    reader = CaptureReader(db)
    cursor = reader.snapshot(None, 1, since=10**12).cursor  # since beyond the end: no totals scan
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        for label, call in (
            ("snapshot (newest 500 + count)", lambda: reader.snapshot(where, 500, since=cursor)),
            ("neighbour (N from the newest)", lambda: reader.neighbour(where, cursor + 1, True)),
            ("position (k of N)", lambda: reader.position(where, cursor)),
        ):
            started = time.thread_time()
            call()
            runs.setdefault(label, []).append((time.thread_time() - started) * 1000)
    reader.close()
    print(f"\n== CaptureReader directly (thread CPU), '{word}' ==")
    for label, values in runs.items():
        print(f"  {label:<34} cpu {statistics.median(values):>8.1f} ms median ({max(values):>8.1f} worst)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/segdbg-bench/search-1000000.db"))
    parser.add_argument("--word", default=RARE_WORD)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-app", action="store_true", help="only the direct CaptureReader figures")
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db}: no capture; build it with `python bench/search.py --queries-only`.")
    from debugger.store import capture, index

    with capture.reader(args.db) as conn:
        total = conn.execute("SELECT max(id) FROM events").fetchone()[0]
        state = index.index_state(conn)
    print(f"{args.db}: {total:,} events, index lag {state.lag if state else 'n/a'}; code from {ROOT}")
    if not args.skip_app:
        clock = Clock()
        print(f"\n== the TUI (headless, real app), '{args.word}' ==")
        asyncio.run(through_the_app(args.db, args.word, args.repeats, clock))
        clock.report()
    direct(args.db, args.word, args.repeats)


if __name__ == "__main__":
    main()
