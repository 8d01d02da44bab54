"""The shell of one `segdbg replay` run: select, plan (in a thread), send, record, count.

Wires the pure plan (:mod:`debugger.replay`), the sender (:mod:`debugger.delivery`), the
recorder (:mod:`debugger.runs`) and the accounting (:mod:`debugger.report`) together, with a
Rich progress bar on a terminal.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from debugger.cli import ExitCode
from debugger.delivery import END, Deliverer, Feed, Sent
from debugger.query import Query
from debugger.replay import (
    SHIFT,
    ReplayOptions,
    Skipped,
    event_time,
    plan_replay,
    shift_delta,
)
from debugger.report import DELIVERED, Tally
from debugger.resume import bounded, spec
from debugger.retry import RetryPolicy
from debugger.runs import INTERRUPTED, RunRecorder
from debugger.search import DEFAULT_STATUSES, matching_sql, select_rows
from debugger.store import StoreError, connect
from debugger.timefmt import format_timestamp


@dataclass(frozen=True, slots=True)
class Selection:
    """What a run replays: a parsed query (``None``: everything), read through the search index.

    Attributes:
        query: the filter (:mod:`debugger.query`).
        now: the instant its relative times (``after:1h``) count from.
        statuses: only these statuses; by default what Segment would have accepted and
            forwarded (:func:`debugger.search.view_statuses`).
        upto: only events with ``id <= upto`` (a run covers the events stored when it started).
        skip_delivered_of: leave out the events this run recorded as delivered (``--resume``).
    """

    query: Query | None = None
    now: datetime | None = None
    statuses: tuple[str, ...] | None = DEFAULT_STATUSES
    upto: int | None = None
    skip_delivered_of: int | None = None

    @property
    def before_id(self) -> int | None:
        return None if self.upto is None else self.upto + 1


OK_ONLY = Selection()


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one run needs, built by the command from its options."""

    db: Path
    target: str
    query: str | None
    options: ReplayOptions
    policy: RetryPolicy
    concurrency: int
    timestamps: str
    recorded_options: Mapping[str, Any] = field(default_factory=dict)
    selection: Selection = OK_ONLY
    resume_of: int | None = None  # continue this run (`replay --resume`) instead of starting one
    token: str | None = None  # the run's seed for --new-message-ids (see debugger.resume)


@dataclass(slots=True)
class RunOutcome:
    """How a run ended."""

    run_id: int
    status: str
    exit_code: int
    summary: dict[str, Any]
    unreachable: str | None = None
    record_error: str | None = None


#: The columns planning reads (problems are not needed to resend an event).
_PLAN_COLUMNS = ("id", "type", "name", "message_id", "write_key", "timestamp", "received_at", "raw", "stored")


def selected_events(conn: sqlite3.Connection, selection: Selection) -> Iterator[dict[str, Any]]:
    """The events a selection names, in capture order, with the columns planning needs.

    Free text is found through the FTS index up to its watermark (the rest is scanned), so
    ``replay "rare words"`` on a big capture reads only the matching rows.
    """
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    rows = select_rows(
        conn, _PLAN_COLUMNS, query=selection.query, now=selection.now, statuses=selection.statuses,
        before_id=selection.before_id,
    )
    if selection.skip_delivered_of is not None:
        rows = _without(rows, _delivered_ids(conn, selection.skip_delivered_of))
    for row in rows:
        event = dict(zip(_PLAN_COLUMNS, row))
        for key in ("raw", "stored"):
            try:
                event[key] = loads(event[key]) if event[key] is not None else None
            except decode_error:
                pass  # a raw body that was not JSON stays text: planning reports it as not resendable
        yield event


_DELIVERED = "SELECT event_id FROM deliveries WHERE run_id = ? AND status = 'delivered' AND event_id IS NOT NULL"


def _delivered_ids(conn: sqlite3.Connection, run_id: int) -> Iterator[int]:
    """The ids of the events ``run_id`` recorded as delivered, ascending."""
    cursor = conn.cursor()  # its own cursor: it is read alongside the selection's
    return (row[0] for row in cursor.execute(f"{_DELIVERED} ORDER BY event_id", (run_id,)))


def _without(rows: Iterator[Any], skip: Iterator[int]) -> Iterator[Any]:
    """``rows`` (ascending by their first column, the id) except those whose id is in ``skip`` (ascending)."""
    pending = next(skip, None)
    for row in rows:
        while pending is not None and pending < row[0]:
            pending = next(skip, None)
        if pending != row[0]:
            yield row


def selection_stats(conn: sqlite3.Connection, selection: Selection) -> tuple[int, datetime | None, datetime | None]:
    """How many events a selection holds, and the earliest and latest event time among them."""
    sql, params = matching_sql(
        conn, ("id", "timestamp", "received_at"), query=selection.query, now=selection.now, statuses=selection.statuses,
        before_id=selection.before_id,
    )
    where = ""
    if selection.skip_delivered_of is not None:
        where, params = f" WHERE id NOT IN ({_DELIVERED})", (*params, selection.skip_delivered_of)
    count, first, last = conn.execute(
        "SELECT count(*), min(coalesce(timestamp, received_at)), max(coalesce(timestamp, received_at))"
        f" FROM ({sql}){where}",
        params,
    ).fetchone()
    return int(count), event_time({"timestamp": first}), event_time({"timestamp": last})


def request_row(sent: Sent) -> dict[str, Any]:
    """The ``replay_requests`` row of a sent request; bodies kept only when not delivered."""
    kept = sent.outcome != DELIVERED
    return {
        "seq": sent.request.seq,
        "method": "POST",
        "url": sent.url,
        "headers": orjson.dumps(sent.headers).decode(),
        "body": sent.body if kept else None,
        "body_size": len(sent.body),
        "event_count": len(sent.request.items),
        "outcome": sent.outcome,
        "http_status": sent.http_status,
        "reason": sent.reason,
        "error": sent.error,
        "latency_ms": sent.latency_ms,
        "attempts": len(sent.attempts),
        "attempt_log": orjson.dumps(sent.attempts).decode(),
        "sent_at": sent.sent_at,
        "drift_ms": sent.drift_ms,
        "response_headers": orjson.dumps(sent.response_headers).decode() if kept else None,
        "response_body": sent.response_body if kept else None,
    }


def delivery_rows(sent: Sent) -> list[tuple[Any, ...]]:
    """One ``deliveries`` row per event of a request (:data:`debugger.runs.DELIVERY_FIELDS`);
    the message as sent is kept when not delivered."""
    kept = sent.outcome != DELIVERED
    outcome = (sent.outcome, sent.http_status, sent.reason, sent.error, sent.latency_ms, len(sent.attempts))
    return [
        (item.seq, item.event_id, item.type, item.name, item.message_id, item.sent_message_id, *outcome,
         item.message.decode() if kept else None)
        for item in sent.request.items
    ]


def skipped_row(skipped: Skipped) -> tuple[Any, ...]:
    """The ``deliveries`` row of an event the plan left out."""
    item = skipped.item
    return (
        item.seq, item.event_id, item.type, item.name, item.message_id, item.sent_message_id, "not_sent",
        None, skipped.reason, skipped.message, None, 0, item.message.decode("utf-8", "replace") or None,
    )


def _top_id(db: Path) -> int:
    """The newest event id now: a run covers the events stored when it started."""
    with closing(connect(db)) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


def prepare(config: RunConfig, now: datetime) -> tuple[ReplayOptions, int]:
    """Count the selection and work out ``--timestamps shift``; returns options and count."""
    with closing(connect(config.db)) as conn:
        count, first, last = selection_stats(conn, config.selection)
    options = config.options
    if config.timestamps == SHIFT:
        options = replace(options, shift_by=shift_delta(first, last, now, start_at_now=options.speed is not None))
    return options, count


def planned(conn: sqlite3.Connection, config: RunConfig, options: ReplayOptions, first: tuple[int, int] = (0, 0)) -> Iterator[Any]:
    """The plan of a run's selection; new messageIds are stable per event within a run."""
    from debugger.resume import StableIds

    ids = StableIds(config.token or uuid.uuid4().hex)
    return plan_replay(
        ids.track(selected_events(conn, config.selection)), options, new_id=ids, first_seq=first[0], first_request=first[1]
    )


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
    progress: Progress | None = None,
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
        top = await asyncio.to_thread(_top_id, config.db)
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
        tally.add_request(sent.outcome, len(sent.request.items), len(sent.attempts), latency, sent.drift_ms, sent.reason)
        recorder.request(request_row(sent) if sent.attempts else None, delivery_rows(sent))
        if progress is not None:
            progress.advance(len(sent.request.items), tally)

    def on_skipped(skipped: Skipped) -> None:
        tally.add_skipped(skipped.reason)
        recorder.request(None, [skipped_row(skipped)])
        if progress is not None:
            progress.advance(1, tally)

    deliverer = Deliverer(
        config.target, policy=config.policy, concurrency=config.concurrency, on_sent=on_sent, on_skipped=on_skipped,
        warm_up=options.paced,
    )
    if progress is not None:
        progress.deliverer = deliverer
    planner = threading.Thread(target=_plan_into, args=(config, options, feed, failure, first), name="segdbg-plan", daemon=True)
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
            run_id, status, int(code), summary, deliverer.unreachable,
            str(recorder.error) if recorder.error is not None else None,
        )
        done(outcome)
    if failure:
        raise StoreError(f"reading the capture failed during the replay: {failure[0]}")
    return outcome


class Progress:
    """A Rich progress bar (events done, rate, ETA) and the sender's current wait."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=True,
            refresh_per_second=8,
        )
        self._task: Any = None
        self.deliverer: Deliverer | None = None

    def begin(self, total: int) -> None:
        """Show the bar for ``total`` events."""
        self._bar.start()
        self._task = self._bar.add_task("replay", total=total, rate="", note="")

    def advance(self, events: int, tally: Tally) -> None:
        """Count ``events`` more events done."""
        self._bar.update(self._task, advance=events)
        self._show(tally)

    async def tick(self, tally: Tally) -> None:
        """Keep the note fresh while nothing completes (a retry wait, a slow target)."""
        while True:
            await asyncio.sleep(0.25)
            self._show(tally)

    def _show(self, tally: Tally) -> None:
        speed = self._bar.tasks[0].speed
        note = self.deliverer.status if self.deliverer is not None else ""
        failed = f"[red]{tally.not_delivered:,} not delivered[/] " if tally.not_delivered else ""
        self._bar.update(self._task, rate=f"{speed:,.0f} ev/s" if speed else "", note=failed + note)

    def end(self) -> None:
        """Remove the bar."""
        self._bar.stop()
