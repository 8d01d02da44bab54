"""TUI benchmark: ack→row latency and keypress→refresh while a real server ingests
~10,000 events/s, and the ingest rate with the TUI open vs headless.

Run by hand (figures go in docs/performance.md):

    python bench/tui.py                       # everything, server in a child process (as `serve` does)
    python bench/tui.py --server thread       # the server on a thread of the TUI process instead
    python bench/tui.py --rate 10000 --seconds 10 --rounds 3 --keys 40

The load generator runs in its own processes (``--senders``), sending batches of 100 over
keep-alive connections, paced to ``--rate``; every 200 ms it also sends a one-event probe and
records when it was acknowledged. The TUI is the real app (headless driver) following the
capture (no key is pressed in the flat-out runs); a hook records when each new row reached the
list. Targets: ack→row ≤ 250 ms, keypress→refresh ≤ 50 ms, ingest with the TUI open ≥ 90% of
headless.

Headless and TUI-open flat-out runs alternate (``--rounds``, each pair on fresh captures), and
the ratio is reported per round and as the median: on the 2-core machine one headless run
alone moved between 8,900 and 13,500 events/s, so a single pair said more about the moment
than about the TUI. The CPU the TUI's process used during each flat-out run (a share of one
core) is printed too: it is what the TUI takes from the server, and varies far less.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 100


def _sender(url: str, rate: float, seconds: float, probes: bool, out: str) -> None:
    """One load process: paced batches, plus probes (only in the first process)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    probe_conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    sent = 0
    acked: list[tuple[float, str]] = []
    start = time.monotonic()
    next_probe = start + 0.5
    interval = BATCH / rate if rate > 0 else 0.0
    due = start
    while (now := time.monotonic()) < start + seconds:
        if probes and now >= next_probe:
            message_id = f"probe-{uuid.uuid4()}"
            body = json.dumps({"userId": "probe", "event": "Probe", "messageId": message_id, "writeKey": "bench"})
            probe_conn.request("POST", "/v1/track", body, {"Content-Type": "application/json"})
            probe_conn.getresponse().read()
            acked.append((time.monotonic(), message_id))
            next_probe += 0.2
        if interval and now < due:
            time.sleep(min(due - now, 0.002))
            continue
        batch = [
            {
                "type": "track",
                "event": "Bench Event",
                "userId": f"u{sent + i}",
                "properties": {"i": sent + i, "plan": "pro"},
            }
            for i in range(BATCH)
        ]
        conn.request(
            "POST", "/v1/batch", json.dumps({"batch": batch, "writeKey": "bench"}), {"Content-Type": "application/json"}
        )
        conn.getresponse().read()
        sent += BATCH
        due += interval
    Path(out).write_text(json.dumps({"sent": sent, "seconds": time.monotonic() - start, "probes": acked}))


def load(url: str, rate: float, seconds: float, senders: int, workdir: Path) -> tuple[list[mp.Process], list[Path]]:
    """Start the load processes; returns them and their result files."""
    ctx = mp.get_context("spawn")
    outs = [workdir / f"sender-{n}.json" for n in range(senders)]
    procs = [
        ctx.Process(target=_sender, args=(url, rate / senders, seconds, n == 0, str(out))) for n, out in enumerate(outs)
    ]
    for proc in procs:
        proc.start()
    return procs, outs


class Server:
    """The ingest server: a child `segdbg serve --headless --quiet`, or a ServerThread here."""

    def __init__(self, db: Path, mode: str) -> None:
        self.mode = mode
        if mode == "thread":
            from debugger.server.app import ServerThread
            from debugger.server.settings import Settings

            self.thread = ServerThread(Settings(db=db, port=0, quiet=True)).start()
            self.url = self.thread.url
            return
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "debugger", "serve", "--headless", "--quiet", "--port", "0", "--db", str(db)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        while True:
            line = self.proc.stderr.readline()
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
            if not line:
                raise RuntimeError("server did not start")

    def stop(self) -> None:
        """Drain and stop."""
        if self.mode == "thread":
            self.thread.stop()
        else:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.communicate(timeout=60)


def probe_ids(db: Path, probes: list[tuple[float, str]]) -> list[tuple[float, int]]:
    """(ack time, event id) of each probe."""
    conn = sqlite3.connect(db)
    try:
        out = []
        for acked, message_id in probes:
            row = conn.execute("SELECT id FROM events WHERE message_id = ?", (message_id,)).fetchone()
            if row:
                out.append((acked, row[0]))
        return out
    finally:
        conn.close()


def count_events(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


async def with_tui(
    db: Path, url: str, rate: float, seconds: float, senders: int, workdir: Path, keys_count: int = 0
) -> dict[str, object]:
    """Run the TUI while the load runs; measure ack→row and keypress→refresh."""
    from debugger.tui.app import make_tui
    from debugger.tui.widgets.event_detail import EventDetail
    from debugger.tui.widgets.event_list import EventList

    rows_seen: list[tuple[float, int]] = []
    app = make_tui(db, url=url)
    keys: list[float] = []
    idle_keys: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        stream = screen.query_one(EventList)
        extend = stream.extend

        def hooked(new: object, **options: object) -> int:
            added = extend(new, **options)  # type: ignore[arg-type]
            if added:
                rows_seen.append((time.monotonic(), stream.order[-1]))
            return added

        stream.extend = hooked  # type: ignore[method-assign]
        procs, outs = load(url, rate, seconds, senders, workdir)
        cpu_started, wall_started = time.process_time(), time.monotonic()
        await pilot.pause(min(3.0, seconds / 2))
        detail = screen.query_one(EventDetail)
        pretty_view = screen.query_one("#detail-pretty")
        painted: list[tuple[float, float]] = []  # frames that repainted the Pretty view: (start, end)
        refresh = screen._compositor_refresh

        def hooked_refresh() -> None:
            started = time.perf_counter()
            repaints_detail = pretty_view in screen._dirty_widgets
            refresh()
            if repaints_detail:
                painted.append((started, time.perf_counter()))

        screen._compositor_refresh = hooked_refresh  # type: ignore[method-assign]
        shown: list[float] = []
        show = detail.show

        def timed_show(event: object) -> None:
            show(event)  # type: ignore[arg-type]
            shown.append(time.perf_counter())

        detail.show = timed_show  # type: ignore[method-assign]
        await _keys(app, detail, painted, shown, keys, keys_count)
        for proc in procs:
            await asyncio.to_thread(proc.join)  # a blocking join would freeze the TUI being measured
        cpu = (time.process_time() - cpu_started) / (time.monotonic() - wall_started)
        await pilot.pause(0.5)
        await _keys(app, detail, painted, shown, idle_keys, keys_count)
    results = [json.loads(o.read_text()) for o in outs]
    return {"rows": rows_seen, "keys": keys, "idle_keys": idle_keys, "senders": results, "cpu": cpu}


async def _keys(
    app: object,
    detail: object,
    painted: list[tuple[float, float]],
    shown: list[float],
    out: list[float],
    count: int = 40,
) -> None:
    """Press ↑/↓ ``count`` times; each time, from the key to the end of the first frame that
    repaints the Pretty view after the detail was given the newly highlighted event."""
    from textual import events

    for index in range(count):
        # A key as the terminal would deliver it. The moment the detail gets the new event is
        # taken where it happens (polling for it from here lagged by up to a frame), and only a
        # frame that repainted the Pretty view counts: one that moved only the list's cursor
        # does not show the event.
        before = detail.event  # type: ignore[attr-defined]
        started = time.perf_counter()
        app._driver.send_message(events.Key("up" if index % 2 == 0 else "down", None))  # type: ignore[attr-defined]
        while detail.event is before or not shown or shown[-1] < started:  # type: ignore[attr-defined]
            await asyncio.sleep(0.001)
        given = shown[-1]
        while not any(start > given for start, _ in painted):
            await asyncio.sleep(0.001)
        out.append(next(end for start, end in painted if start > given) - started)
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10_000, help="events/s the load aims at (default 10,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run (the keys need ~0.13 s each)")
    parser.add_argument("--rounds", type=int, default=3, help="headless / TUI-open flat-out pairs, alternating")
    parser.add_argument("--keys", type=int, default=40, help="↑/↓ presses timed while ingesting, and again once idle")
    parser.add_argument("--senders", type=int, default=2, help="load processes")
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    args = parser.parse_args()
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # before Textual swaps stdout/stderr, or spawning fails
    workdir = Path(tempfile.mkdtemp(prefix="segdbg-bench-tui-"))

    # 1–2. Flat out, headless (the most the server ingests with nobody watching) and with the
    # TUI open, alternating so both see the machine in the same moods.
    ratios: list[tuple[float, float]] = []
    tui_cpu: list[float] = []
    for round_ in range(args.rounds):
        db = workdir / f"headless-{round_}.db"
        server = Server(db, args.server)
        procs, outs = load(server.url, 0, args.seconds, args.senders, workdir)
        for proc in procs:
            proc.join()
        server.stop()
        headless = sum(json.loads(o.read_text())["sent"] for o in outs) / args.seconds
        db = workdir / f"open-{round_}.db"
        server = Server(db, args.server)
        report = asyncio.run(with_tui(db, server.url, 0, args.seconds, args.senders, workdir))
        server.stop()
        ratios.append((headless, sum(r["sent"] for r in report["senders"]) / args.seconds))
        tui_cpu.append(report["cpu"])

    # 3. At the target rate with the TUI open: ack→row and keypress→refresh.
    db = workdir / "paced.db"
    server = Server(db, args.server)
    report = asyncio.run(with_tui(db, server.url, args.rate, args.seconds, args.senders, workdir, args.keys))
    server.stop()
    paced = sum(r["sent"] for r in report["senders"]) / args.seconds
    probes = probe_ids(db, report["senders"][0]["probes"])
    latencies = []
    for acked, event_id in probes:
        seen = next((t for t, newest in report["rows"] if newest >= event_id and t >= acked - 1), None)
        if seen is not None:
            latencies.append(max(0.0, seen - acked))
    keys = sorted(report["keys"])
    idle = sorted(report["idle_keys"])

    def ms(values: list[float], q: float) -> str:
        return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.0f} ms" if values else "n/a"

    lat = sorted(latencies)
    print(f"server: {args.server} · load processes: {args.senders} · {os.cpu_count()} CPUs")
    for round_, (headless, open_rate) in enumerate(ratios, start=1):
        print(
            f"round {round_}: ingest headless {headless:>7,.0f} events/s, with the TUI open {open_rate:>7,.0f}"
            f"  ({open_rate / headless:.0%})"
        )
    median = statistics.median(o / h for h, o in ratios)
    print(f"ingest with the TUI open vs headless: median {median:.0%} over {len(ratios)} rounds  (target ≥ 90%)")
    print(
        f"the TUI's own CPU while flat out:     {' · '.join(f'{c:.0%}' for c in tui_cpu)} of one CPU"
        f" (the steadier figure: what the TUI takes from the server)"
    )
    print(f"paced run achieved:              {paced:>9,.0f} events/s  (asked {args.rate:,.0f})")
    print(
        f"ack→row ({len(lat)} probes):          median {ms(lat, 0.5)} · p95 {ms(lat, 0.95)} · max {ms(lat, 1.0)}  (target ≤ 250 ms)"
    )
    print(
        f"keypress→refresh ({len(keys)} keys):    median {ms(keys, 0.5)} · p95 {ms(keys, 0.95)} while ingesting; "
        f"median {ms(idle, 0.5)} · p95 {ms(idle, 0.95)} idle  (target ≤ 50 ms)"
    )
    print(f"events stored in the paced run: {count_events(db):,}")


if __name__ == "__main__":
    main()
