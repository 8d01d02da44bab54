"""The shell of one `segdbg replay` run: select, plan (in a thread), send, record, count.

Wires the selection (:mod:`debugger.store.selection`), the pure plan (:mod:`debugger.core.replay.planning`),
the sender (:mod:`debugger.replay.delivery`), the recorder (:mod:`debugger.store.runs`, rows from
:mod:`debugger.replay.rows`) and the accounting (:mod:`debugger.core.replay.report`) together; a terminal
shows it through a :class:`ProgressView` (:mod:`debugger.cli.replay_console`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from debugger.core.exitcode import ExitCode
from debugger.core.replay.planning import (
    SHIFT,
    ReplayOptions,
    ReplayRequest,
    Skipped,
    plan_replay,
    request_body,
    shift_delta,
)
from debugger.core.replay.report import DELIVERED, Tally
from debugger.core.timefmt import format_timestamp
from debugger.replay.config import RunConfig, StableIds, bounded, spec
from debugger.replay.delivery import END, Deliverer, Feed, Sent
from debugger.replay.rows import delivery_rows, request_row, skipped_row
from debugger.store.capture import StoreError, connect
from debugger.store.runs import INTERRUPTED, RunRecorder
from debugger.store.selection import selected_events, selection_stats, top_id


@dataclass(slots=True)
class RunOutcome:
    """How a run ended."""

    run_id: int
    status: str
    exit_code: int
    summary: dict[str, Any]
    unreachable: str | None = None
    record_error: str | None = None


class ProgressView(Protocol):
    """What :func:`execute` shows a run through (:class:`debugger.cli.replay_console.Progress`)."""

    deliverer: Deliverer | None

    def begin(self, total: int) -> None: ...

    def advance(self, events: int, tally: Tally) -> None: ...

    async def tick(self, tally: Tally) -> None: ...

    def end(self) -> None: ...


def prepare(config: RunConfig, now: datetime) -> tuple[ReplayOptions, int]:
    """Count the selection and work out ``--timestamps shift``; returns options and count."""
    with closing(connect(config.db)) as conn:
        count, first, last = selection_stats(conn, config.selection)
    options = config.options
    if config.timestamps == SHIFT:
        options = replace(options, shift_by=shift_delta(first, last, now, start_at_now=options.speed is not None))
    return options, count


def planned(
    conn: sqlite3.Connection, config: RunConfig, options: ReplayOptions, first: tuple[int, int] = (0, 0)
) -> Iterator[Any]:
    """The plan of a run's selection; new messageIds are stable per event within a run."""
    ids = StableIds(config.token or uuid.uuid4().hex)
    return plan_replay(
        ids.track(selected_events(conn, config.selection)),
        options,
        new_id=ids,
        first_seq=first[0],
        first_request=first[1],
    )


def dry_run_lines(
    conn: sqlite3.Connection, config: RunConfig, options: ReplayOptions, now: datetime
) -> Iterator[dict[str, Any]]:
    """A dry run: each planned request as a line (``method``, ``url``, ``write_key``, ``at_s``, ``events``,
    ``body``), and each event that would not be sent as a ``skipped`` line. Nothing is sent or recorded."""
    for piece in planned(conn, config, options):
        if isinstance(piece, ReplayRequest):
            line: dict[str, Any] = {"method": "POST", "url": config.target + piece.path}
            if piece.write_key is not None:
                line["write_key"] = piece.write_key
            if piece.at is not None:
                line["at_s"] = round(piece.at, 4)
            line["events"] = len(piece.items)
            line["body"] = orjson.loads(request_body(piece, now))
        else:
            line = {"skipped": piece.reason, "event_id": piece.item.event_id, "message": piece.message}
        yield line


@dataclass(slots=True)
class DryRunTally:
    """What a dry run would do, counted from its lines (:func:`dry_run_lines`)."""

    requests: int = 0
    events: int = 0
    skipped: int = 0

    def add(self, line: dict[str, Any]) -> None:
        """Count one line: a planned request (and its events) or an event that would not be sent."""
        if "skipped" in line:
            self.skipped += 1
        else:
            self.requests += 1
            self.events += line["events"]


def _plan_into(
    config: RunConfig, options: ReplayOptions, feed: Feed, failure: list[BaseException], first: tuple[int, int]
) -> None:
    """The planning thread: read the selection, plan it, hand each piece to the loop."""
    try:
        with closing(connect(config.db)) as conn:
            for piece in planned(conn, config, options, first):
                if not feed.put(piece):
                    return
    except (sqlite3.Error, StoreError) as exc:
        failure.append(exc)
    finally:
        feed.put(END)


async def execute(
    config: RunConfig,
    *,
    progress: ProgressView | None = None,
    done: Callable[[RunOutcome], None] = lambda outcome: None,
) -> RunOutcome:
    """Run one replay and record it; ``done`` sees the outcome even when interrupted.

    Raises:
        StoreError: the capture could not be read.
        asyncio.CancelledError: Ctrl-C; the run is recorded as interrupted first.
    """
    now = datetime.now(UTC)
    recorder = RunRecorder(config.db)
    first = (0, 0)
    if config.resume_of is None:
        top = await asyncio.to_thread(top_id, config.db)
        config = replace(config, token=uuid.uuid4().hex, selection=bounded(config.selection, top))
        options, count = await asyncio.to_thread(prepare, config, now)
        resume = spec(config, upto=top, shift=options.shift_by, token=config.token or "")
        run_id = recorder.start(format_timestamp(now), config.target, config.query, config.recorded_options, resume)
        tally = Tally(planned=count)
    else:
        options, count = await asyncio.to_thread(prepare, config, now)
        continued = recorder.reopen(config.resume_of)
        run_id, first = config.resume_of, (continued.first_seq, continued.first_request)
        tally = Tally(planned=continued.delivered + count, delivered=continued.delivered, already=continued.delivered)
    feed = Feed(asyncio.get_running_loop())
    failure: list[BaseException] = []
    if progress is not None:
        progress.begin(count)

    def on_sent(sent: Sent) -> None:
        latency = sent.latency_ms if sent.http_status is not None else None  # no answer, no latency
        tally.add_request(
            sent.outcome, len(sent.request.items), len(sent.attempts), latency, sent.drift_ms, sent.reason
        )
        recorder.request(request_row(sent) if sent.attempts else None, delivery_rows(sent))
        if progress is not None:
            progress.advance(len(sent.request.items), tally)

    def on_skipped(skipped: Skipped) -> None:
        tally.add_skipped(skipped.reason)
        recorder.request(None, [skipped_row(skipped)])
        if progress is not None:
            progress.advance(1, tally)

    deliverer = Deliverer(
        config.target,
        policy=config.policy,
        concurrency=config.concurrency,
        on_sent=on_sent,
        on_skipped=on_skipped,
        warm_up=options.paced,
    )
    if progress is not None:
        progress.deliverer = deliverer
    planner = threading.Thread(
        target=_plan_into, args=(config, options, feed, failure, first), name="segdbg-plan", daemon=True
    )
    started = time.perf_counter()
    interrupted = False
    ticker = asyncio.create_task(progress.tick(tally)) if progress is not None else None
    try:
        planner.start()
        await deliverer.run(feed.get)
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        feed.stopped.set()
        if ticker is not None:
            ticker.cancel()
        if progress is not None:
            progress.end()
        summary = tally.summary(time.perf_counter() - started)
        if interrupted:
            status, code = INTERRUPTED, ExitCode.INTERRUPTED
        elif failure:
            status, code = "error", ExitCode.ERROR
        elif deliverer.unreachable is not None:
            status, code = "unreachable", ExitCode.UNREACHABLE
        elif tally.not_delivered:
            status, code = "failed", ExitCode.FAILED
        else:
            status, code = DELIVERED, ExitCode.OK
        recorder.finish(format_timestamp(datetime.now(UTC)), status, int(code), summary)
        recorder.close()
        outcome = RunOutcome(
            run_id,
            status,
            int(code),
            summary,
            deliverer.unreachable,
            str(recorder.error) if recorder.error is not None else None,
        )
        done(outcome)
    if failure:
        raise StoreError(f"reading the capture failed during the replay: {failure[0]}")
    return outcome
