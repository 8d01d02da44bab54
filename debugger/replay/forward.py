"""`segdbg serve --forward URL`: every accepted request sent on to upstreams after it is stored (docs/forward.md).

`segdbg serve` runs it in a process of its own (:mod:`debugger.replay.forward_process`), which feeds
:meth:`Forwarder.offer_parts` each request the server handled; :meth:`Forwarder.offer` is the same as
a server observer on one loop. Either only puts the request on each upstream's bounded queue, so the
client's answer never waits on an upstream. Per upstream, a few worker tasks take requests in order, plan them (``--forward-only`` is a read of the
capture, so planning runs on one thread of its own; :mod:`debugger.core.replay.forward` is the pure
half), send them with the retry rules of a replay (:mod:`debugger.core.replay.retry`) and record
one delivery per event in one ``forward`` run per upstream per serve session
(:class:`debugger.store.runs.RunRecorder`, its own thread), which the Deliveries screen shows.

A full queue does not block and does not drop silently: the request's events are recorded as
``not_sent`` (``forward queue full``); so are those still queued when serve stops and the drain
time is over.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from debugger.core.exitcode import ExitCode
from debugger.core.http.headers import mask_headers
from debugger.core.http.model import IncomingRequest, Outcome
from debugger.core.query.language import Query
from debugger.core.replay.forward import Forward, plan_forward
from debugger.core.replay.planning import ReplayItem, ReplayRequest
from debugger.core.replay.report import DELIVERED, Tally
from debugger.core.replay.retry import FAILED, RetryPolicy, next_wait, verdict
from debugger.core.timefmt import format_timestamp
from debugger.replay.delivery import NOT_SENT, RESPONSE_LIMIT, UNREACHABLE, Sent, http_error, os_reason
from debugger.replay.rows import delivery_rows, request_row
from debugger.store.capture import connect
from debugger.store.clock import now_utc
from debugger.store.reads import matching_ids
from debugger.store.rows import WriteResult
from debugger.store.runs import FORWARD, RunRecorder

log = logging.getLogger(__name__)

#: Headers aiohttp would add on its own; left out when the client did not send them (the upstream
#: gets the client's request, not aiohttp's idea of one).
AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
#: How often waiting delivery rows are handed to the recorder, and the run's counts updated.
FLUSH_SECONDS, SUMMARY_SECONDS = 0.25, 2.0
#: The run's latency percentiles are over at most the last 2 × this many requests (kept cheap to sort on the loop).
LATENCY_WINDOW = 2000
QUEUE_FULL, STOPPED, NOT_PLANNED = "forward queue full", "serve stopped", "forward not planned"


class Handled(Protocol):
    """What the forwarder needs of a request the server handled (``debugger.server.keys.Handled``,
    which replay may not import: the shells are independent; the CLI wires them)."""

    @property
    def outcome(self) -> Outcome: ...

    @property
    def result(self) -> WriteResult | None: ...

    @property
    def request(self) -> IncomingRequest | None: ...

    @property
    def validate(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    """How `serve --forward` forwards.

    Attributes:
        db: the capture (the filter reads it; the runs are recorded in it).
        targets: each upstream's root URL (``--forward``, repeatable).
        write_key: ``--forward-write-key``: replaces the request's key wherever it carried one.
        query: ``--forward-only`` as typed (recorded with the run) and ``only``, parsed.
        policy: retries and timeouts (the replay's rules; ``--forward-retries``).
        concurrency: requests in flight per upstream.
        max_queued: requests waiting per upstream before the next is recorded as not sent.
        max_queued_bytes: the same bound in body bytes.
        drain_timeout: seconds serve gives the queues to empty when it stops.
    """

    db: Path
    targets: tuple[str, ...]
    write_key: str | None = None
    query: str | None = None
    only: Query | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 4
    max_queued: int = 10_000
    max_queued_bytes: int = 64 * 1024 * 1024
    drain_timeout: float = 10.0


def forwardable(handled: Handled) -> bool:
    """Whether a handled request goes upstream: it was accepted (200 after the commit), stored events,
    and is an app's traffic (not a validation request, docs/protocol.md §14)."""
    return (
        handled.request is not None
        and not handled.validate
        and handled.result is not None
        and handled.outcome.reply.status == 200
        and bool(handled.outcome.events)
    )


def items_of(handled: Handled) -> list[ReplayItem]:
    """One item per stored event of a handled request (``seq`` is set when it is recorded)."""
    assert handled.result is not None
    return [
        ReplayItem(0, event_id, e.type, e.name, e.message_id, e.message_id, e.write_key, e.raw)
        for e, event_id in zip(handled.outcome.events, handled.result.event_ids, strict=True)
    ]


class _Job:
    """One accepted request (as it arrived, and one item per stored event), shared by every upstream;
    planned once."""

    __slots__ = ("request", "items", "size", "_planned")

    def __init__(self, request: IncomingRequest, items: list[ReplayItem]) -> None:
        self.request, self.items = request, items
        self.size = len(request.body)
        self._planned: asyncio.Future[Forward | None] | None = None


@dataclass(slots=True)
class UpstreamResult:
    """How one upstream's run ended, for serve's last lines."""

    target: str
    run_id: int
    summary: dict[str, Any]
    record_error: str | None = None


class Forwarder:
    """Forwards accepted requests to every upstream of a :class:`ForwardConfig`.

    Use on the server's loop: ``await start()``, pass :meth:`offer` as the server's observer (with
    any other), ``await close()`` after the server stopped.
    """

    def __init__(self, config: ForwardConfig) -> None:
        self.config = config
        self.upstreams = [_Upstream(self, target) for target in config.targets]
        self._open = False
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="segdbg-forward-plan")
        self._conn: sqlite3.Connection | None = None  # used only on the planning thread

    async def start(self) -> None:
        """Record one run per upstream and start sending."""
        for upstream in self.upstreams:
            await upstream.start()
        self._open = True

    def offer(self, handled: Handled) -> None:
        """Queue a handled request for every upstream (the server's observer; never waits)."""
        if forwardable(handled):
            assert handled.request is not None
            self.offer_parts(handled.request, items_of(handled))

    def offer_parts(self, request: IncomingRequest, items: list[ReplayItem]) -> None:
        """Queue an accepted request, given as it arrived and its stored events, for every upstream."""
        if not self._open:
            return
        job = _Job(request, items)
        for upstream in self.upstreams:
            upstream.accept(job)

    async def planned(self, job: _Job) -> Forward | None:
        """The request to send for ``job`` (planned once for all upstreams), ``None`` if none of its events may go.

        Without ``--forward-only`` planning reads nothing and runs here; with it, on the planning thread.
        """
        if job._planned is None:
            loop = asyncio.get_running_loop()
            if self.config.only is None:
                job._planned = loop.create_future()
                try:
                    job._planned.set_result(self._plan(job))
                except Exception as exc:  # noqa: BLE001 - handed to every upstream awaiting it, which records it
                    job._planned.set_exception(exc)
            else:
                job._planned = loop.run_in_executor(self._reads, self._plan, job)
        return await asyncio.shield(job._planned)

    def _plan(self, job: _Job) -> Forward | None:
        """On the planning thread: which events match ``--forward-only`` (a read of the capture), then the request."""
        items = job.items
        matching = None
        if self.config.only is not None:
            if self._conn is None:
                self._conn = connect(self.config.db)
            ids = [item.event_id for item in items if item.event_id is not None]
            matching = matching_ids(self._conn, ids, self.config.only, now=now_utc())
        return plan_forward(job.request, items, matching=matching, write_key=self.config.write_key)

    async def close(self) -> list[UpstreamResult]:
        """Stop taking requests, give the queues ``drain_timeout`` seconds, record what is left as
        not sent, and finish each run."""
        self._open = False
        results = await asyncio.gather(*(u.close(self.config.drain_timeout) for u in self.upstreams))
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._reads, conn.close)
        self._reads.shutdown(wait=True)
        return list(results)


class _Upstream:
    """One upstream: its queue, workers, session, tally and run."""

    def __init__(self, forwarder: Forwarder, target: str) -> None:
        self.forwarder = forwarder
        self.config = forwarder.config
        self.target = target.rstrip("/")
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.queued_bytes = 0
        self.tally = Tally()
        self.recorder: RunRecorder | None = None
        self.run_id = 0
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.overflows: set[asyncio.Task[None]] = set()
        self.started = time.perf_counter()
        self.requests = 0  # replay_requests.seq
        self.events = 0  # deliveries.seq
        self.pause_until = 0.0
        self.changed = False

    async def start(self) -> None:
        recorder = await asyncio.to_thread(RunRecorder, self.config.db)
        options: dict[str, Any] = {"retries": self.config.policy.retries, "concurrency": self.config.concurrency}
        if self.config.write_key is not None:
            options["write_key"] = "••••••"
        self.run_id = recorder.start(
            format_timestamp(datetime.now(UTC)), self.target, self.config.query, options, kind=FORWARD
        )
        self.recorder = recorder
        connector = aiohttp.TCPConnector(limit=self.config.concurrency)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.config.policy.timeout), auto_decompress=False
        )
        self.started = time.perf_counter()
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.config.concurrency)]
        self.tasks.append(asyncio.create_task(self._tick()))

    def accept(self, job: _Job) -> None:
        """Queue ``job``, or record it as not sent when the queue is full (never waits)."""
        full = self.queue.qsize() >= self.config.max_queued
        if full or self.queued_bytes + job.size > self.config.max_queued_bytes:
            task = asyncio.get_running_loop().create_task(self._not_sent(job, QUEUE_FULL, "the forward queue was full"))
            self.overflows.add(task)
            task.add_done_callback(self.overflows.discard)
            return
        self.queued_bytes += job.size
        self.queue.put_nowait(job)

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self._forward(job)
            finally:
                self.queued_bytes -= job.size
                self.queue.task_done()

    async def _planned(self, job: _Job) -> tuple[Forward | None, str | None]:
        """The request to send, or, when planning failed (the capture could not be read for
        ``--forward-only``), every event of it with the error: recorded, never sent unchecked."""
        try:
            return await self.forwarder.planned(job), None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded as not sent; forwarding goes on
            log.exception("forwarding to %s: could not plan a request", self.target)
            return plan_forward(job.request, job.items), f"{type(exc).__name__}: {exc}"

    async def _forward(self, job: _Job) -> None:
        try:
            forward, error = await self._planned(job)
        except asyncio.CancelledError:
            await self._not_sent(job, STOPPED, "serve stopped before it was forwarded")
            raise
        if forward is None:
            return  # none of its events may go (--forward-only): not part of this run
        if error is not None:
            self._record_not_sent(forward, NOT_PLANNED, f"not forwarded, so as not to send it unchecked: {error}")
            return
        sent = self._sent(forward)
        try:
            await self._deliver(forward, sent)
        except asyncio.CancelledError:
            sent.outcome = FAILED if sent.attempts else NOT_SENT
            sent.reason = STOPPED
            last = sent.attempts[-1]["error"] or "" if sent.attempts else ""
            sent.error = (
                "serve stopped before it was forwarded"
                if not sent.attempts
                else last
                if last.startswith("serve stopped")
                else f"serve stopped while retrying (last attempt: {last or 'HTTP ' + str(sent.http_status)})"
            )
            self._record(sent)
            raise
        self._record(sent)

    def _sent(self, forward: Forward) -> Sent:
        """A :class:`~debugger.replay.delivery.Sent` for ``forward``, numbered in this run."""
        items = tuple(item._replace(seq=self.events + i) for i, item in enumerate(forward.items))
        self.events += len(items)
        request = ReplayRequest(self.requests, forward.target, None, items)
        self.requests += 1
        sent = Sent(request, self.target + forward.target, method=forward.method)
        sent.body = forward.body
        sent.headers = mask_headers(forward.headers)
        return sent

    async def _not_sent(self, job: _Job, reason: str, error: str) -> None:
        forward, failure = await self._planned(job)
        if forward is not None:
            self._record_not_sent(forward, reason if failure is None else NOT_PLANNED, error)

    def _record_not_sent(self, forward: Forward, reason: str, error: str) -> None:
        sent = self._sent(forward)
        sent.outcome, sent.reason, sent.error = NOT_SENT, reason, error
        self._record(sent)

    def _record(self, sent: Sent) -> None:
        latency = sent.latency_ms if sent.http_status is not None else None
        self.tally.add_request(sent.outcome, len(sent.request.items), len(sent.attempts), latency, None, sent.reason)
        if len(self.tally.latencies) >= 2 * LATENCY_WINDOW:  # a session may last days: percentiles of the recent ones
            del self.tally.latencies[:-LATENCY_WINDOW]
        assert self.recorder is not None
        self.recorder.request(request_row(sent) if sent.attempts else None, delivery_rows(sent))
        self.changed = True

    async def _deliver(self, forward: Forward, sent: Sent) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            while (pause := self.pause_until - loop.time()) > 0:
                await asyncio.sleep(pause)
            status, headers = await self._attempt(forward, sent, attempt)
            wait = next_wait(
                status, headers, attempt, self.config.policy, now=datetime.now(UTC), jitter=random.random()
            )
            sent.attempts[-1]["wait_s"] = None if wait is None else round(wait, 3)
            if wait is None:
                break
            if status == 429:  # like one client: every request to this upstream waits
                self.pause_until = max(self.pause_until, loop.time() + wait)
            await asyncio.sleep(wait)
        sent.outcome = DELIVERED if verdict(status) == DELIVERED else UNREACHABLE if status is None else FAILED
        if sent.outcome == DELIVERED:
            sent.reason = sent.error = None

    async def _attempt(self, forward: Forward, sent: Sent, attempt: int) -> tuple[int | None, dict[str, str]]:
        assert self.session is not None
        headers = CIMultiDict(forward.headers)
        skip = [name for name in AUTO_HEADERS if name not in headers]
        sent.sent_at = datetime.now(UTC).isoformat()
        started = time.perf_counter()
        status: int | None = None
        answer: dict[str, str] = {}
        error: str | None = None
        try:
            async with self.session.request(
                forward.method,
                URL(sent.url, encoded=True),
                data=forward.body if forward.body or forward.method not in ("GET", "HEAD") else None,
                headers=headers,
                skip_auto_headers=skip,
                allow_redirects=False,
            ) as response:
                data = await response.read()
                status = response.status
                answer = dict(response.headers)
                sent.response_headers = [[k, v] for k, v in response.headers.items()]
                sent.response_body = data[:RESPONSE_LIMIT]
                if verdict(status) != DELIVERED:
                    sent.reason, error = http_error(status, data, answer)
        except aiohttp.ClientConnectorError as exc:
            sent.reason = os_reason(exc)
            error = f"cannot connect to {exc.host}:{exc.port} ({sent.reason})"
        except TimeoutError:
            sent.reason, error = "timeout", f"no answer within {self.config.policy.timeout:g} s"
        except aiohttp.ClientError as exc:
            sent.reason, error = type(exc).__name__, f"{type(exc).__name__}: {exc}"
        except asyncio.CancelledError:  # serve stopped mid-request: the upstream may have it; say so
            error = "serve stopped while waiting for the upstream's answer (it may have received the request)"
            sent.log_attempt(attempt, None, error, (time.perf_counter() - started) * 1000)
            raise
        latency = (time.perf_counter() - started) * 1000
        sent.http_status, sent.latency_ms, sent.error = status, latency, error
        sent.log_attempt(attempt, status, error, latency)
        return status, answer

    async def _tick(self) -> None:
        """Hand delivery rows to the recorder often, and the run's counts now and then (a serve session
        may idle for hours: nothing waits for the next request to be written)."""
        assert self.recorder is not None
        last = time.monotonic()
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.recorder.flush()
            if self.changed and time.monotonic() - last >= SUMMARY_SECONDS:
                self.changed, last = False, time.monotonic()
                self.recorder.update(self.tally.summary(time.perf_counter() - self.started))

    async def close(self, drain_timeout: float) -> UpstreamResult:
        try:
            async with asyncio.timeout(drain_timeout):
                await self.queue.join()
                if self.overflows:
                    await asyncio.gather(*self.overflows)
        except TimeoutError:
            log.warning(
                "forwarding to %s: %d requests still queued when serve stopped", self.target, self.queue.qsize()
            )
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        while not self.queue.empty():
            await self._not_sent(self.queue.get_nowait(), STOPPED, "serve stopped before it was forwarded")
        for task in list(self.overflows):
            task.cancel()
        if self.session is not None:
            await self.session.close()
        summary = self.tally.summary(time.perf_counter() - self.started)
        status, code = (DELIVERED, ExitCode.OK) if not self.tally.not_delivered else (FAILED, ExitCode.FAILED)
        assert self.recorder is not None
        self.recorder.finish(format_timestamp(datetime.now(UTC)), status, int(code), summary)
        await asyncio.to_thread(self.recorder.close)
        error = str(self.recorder.error) if self.recorder.error is not None else None
        return UpstreamResult(self.target, self.run_id, summary, error)
