"""The sending half of `segdbg replay`: one aiohttp session, pacing on the loop clock, retries.

:class:`Deliverer` takes the planned requests from a :class:`Feed` (filled by a planning
thread, so reading the capture never blocks this loop) and sends them in order:

- as fast as possible with at most ``concurrency`` requests in flight, or each at its
  scheduled offset (``ReplayRequest.at``) from the start;
- every attempt gets a fresh ``sentAt`` and, on retries, ``X-Retry-Count`` (as analytics-next);
- a 429 pauses *all* new requests until its ``Retry-After`` has passed, like one client would;
- a request that still gets no answer after its retries marks the target unreachable: the
  rest of the run is recorded as not sent instead of trying every remaining batch.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from debugger import __version__
from debugger.core.replay.planning import ReplayRequest, Skipped, request_body
from debugger.core.replay.retry import DELIVERED, FAILED, RetryPolicy, next_wait, verdict

#: How much of a response body is kept for the Response view.
RESPONSE_LIMIT = 64 * 1024
UNREACHABLE, NOT_SENT = "unreachable", "not_sent"
#: Connections a paced run opens before its clock starts.
WARM_CONNECTIONS = 4
#: Marks the end of the planned stream on the queue.
END = object()


class Feed:
    """A bounded hand-off from a planning thread to the sending loop.

    The thread blocks when ``maxsize`` items are waiting (so a huge capture is never read
    ahead into memory) and resumes only when the loop has taken them down to a quarter, so
    the two threads hand over in bursts rather than waking each other for every request.
    It gives up when :attr:`stopped` is set (the run was interrupted).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 64) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._space = threading.Event()
        self._space.set()
        self._maxsize, self._resume_at = maxsize, maxsize // 4
        self.stopped = threading.Event()

    def put(self, item: object) -> bool:
        """Hand ``item`` over (thread side); ``False`` when the run has stopped."""
        while True:
            with self._lock:
                if self._waiting < self._maxsize:
                    self._waiting += 1
                    break
                self._space.clear()
            if self.stopped.is_set():
                return False
            self._space.wait(0.2)
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: the run is over
            return False
        return True

    async def get(self) -> object:
        """The next item (loop side)."""
        item = await self._queue.get()
        with self._lock:
            self._waiting -= 1
            if self._waiting <= self._resume_at and not self._space.is_set():
                self._space.set()
        return item


@dataclass(slots=True)
class Sent:
    """What happened to one planned request: the outcome and the three views of a delivery.

    Attributes:
        outcome: ``delivered``, ``failed``, ``unreachable`` (no answer after the retries) or
            ``not_sent`` (the target was already unreachable).
        reason: a short key failures are grouped by (``HTTP 400 invalid_json``); ``error``
            is the full sentence.
        attempts: one dict per attempt: number, status, error, latency_ms, wait_s.
        headers: the request headers of the last attempt, credentials masked.
        body: the request body of the last attempt.
        drift_ms: how late the first attempt started against its schedule (paced runs).
        method: the HTTP method (a forward sends a pixel's GET as a GET).
    """

    request: ReplayRequest
    url: str
    outcome: str = NOT_SENT
    http_status: int | None = None
    reason: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    headers: list[list[str]] = field(default_factory=list)
    body: bytes = b""
    sent_at: str | None = None
    response_headers: list[list[str]] = field(default_factory=list)
    response_body: bytes = b""
    drift_ms: float | None = None
    method: str = "POST"

    def log_attempt(self, attempt: int, status: int | None, error: str | None, latency_ms: float) -> None:
        """Add one attempt to :attr:`attempts` (``wait_s`` is set once the retry rules have spoken)."""
        self.attempts.append(
            {
                "attempt": attempt,
                "sent_at": self.sent_at,
                "status": status,
                "error": error,
                "latency_ms": round(latency_ms, 3),
            }
        )


class Deliverer:
    """Sends planned requests to one target with one session.

    Args:
        root: the target's root URL (paths like ``/v1/batch`` are appended).
        policy: retries and timeouts.
        concurrency: requests in flight at once.
        on_sent: called on the loop after each request has its final outcome.
        on_skipped: called for each event the plan left out.
        jitter: random numbers in [0, 1) for backoff (injected for tests).
        warm_up: open the connection before the clock starts (paced runs).
    """

    def __init__(
        self,
        root: str,
        *,
        policy: RetryPolicy,
        concurrency: int,
        on_sent: Callable[[Sent], None],
        on_skipped: Callable[[Skipped], None],
        jitter: Callable[[], float] = random.random,
        warm_up: bool = False,
    ) -> None:
        self.root = root.rstrip("/")
        self.policy = policy
        self.concurrency = concurrency
        self.on_sent = on_sent
        self.on_skipped = on_skipped
        self.jitter = jitter
        self.warm_up = warm_up
        self.unreachable: str | None = None
        self.status = ""  # what the sender is waiting for right now, for the progress bar
        self._pause_until = 0.0
        self._loop = asyncio.get_running_loop()

    async def run(self, get: Callable[[], Awaitable[object]]) -> None:
        """Send everything ``get`` yields until :data:`END`, then wait for what is in flight."""
        loop = self._loop
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            slots.release()

        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True) as session:
            if self.warm_up:
                await self._warm_up(session)
            start = loop.time()
            try:
                while (planned := await get()) is not END:
                    if isinstance(planned, Skipped):
                        self.on_skipped(planned)
                        continue
                    assert isinstance(planned, ReplayRequest)
                    scheduled = None if planned.at is None else start + planned.at
                    if scheduled is not None and self.unreachable is None:  # no waiting to record "not sent"
                        await asyncio.sleep(max(0.0, scheduled - loop.time()))
                    await slots.acquire()
                    while (pause := self._pause_until - loop.time()) > 0:
                        await asyncio.sleep(pause)
                    if self.unreachable is not None:
                        slots.release()
                        self.on_sent(
                            Sent(
                                planned,
                                self.root + planned.path,
                                NOT_SENT,
                                reason="not sent: target unreachable",
                                error=self.unreachable,
                            )
                        )
                        continue
                    drift = None if scheduled is None else (loop.time() - scheduled) * 1000
                    task = asyncio.create_task(self._deliver(session, planned, drift))
                    tasks.add(task)
                    task.add_done_callback(finished)
                if tasks:
                    await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()

    async def _warm_up(self, session: aiohttp.ClientSession) -> None:
        """Open a few connections before the schedule starts, so no paced event is late by a
        connection setup (the first one, or one sent while another is in flight).

        A CORS preflight carries no event and every Segment-compatible endpoint answers it;
        any failure is left for the real requests to report.
        """

        async def preflight() -> None:
            try:
                async with session.options(
                    self.root + "/v1/batch",
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=min(5.0, self.policy.timeout)),
                ) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError):
                pass

        await asyncio.gather(*(preflight() for _ in range(min(self.concurrency, WARM_CONNECTIONS))))

    async def _deliver(self, session: aiohttp.ClientSession, request: ReplayRequest, drift: float | None) -> None:
        sent = Sent(request, self.root + request.path, drift_ms=drift)
        attempt = 0
        while True:
            attempt += 1
            status, headers, reason, error = await self._attempt(session, sent, attempt)
            wait = next_wait(status, headers, attempt, self.policy, now=datetime.now(UTC), jitter=self.jitter())
            sent.attempts[-1]["wait_s"] = None if wait is None else round(wait, 3)
            if wait is None:
                break
            if status == 429:
                self._pause_until = max(self._pause_until, self._loop.time() + wait)
            self.status = f"retrying in {wait:.1f}s ({reason or f'HTTP {status}'})"
            await asyncio.sleep(wait)
        self.status = ""
        outcome = verdict(status)
        if outcome == DELIVERED:
            sent.outcome = DELIVERED
        elif status is None:
            sent.outcome = UNREACHABLE
            self.unreachable = self.unreachable or f"target unreachable: {error}"
        else:
            sent.outcome = FAILED
        sent.reason, sent.error = reason, error
        self.on_sent(sent)

    async def _attempt(
        self, session: aiohttp.ClientSession, sent: Sent, attempt: int
    ) -> tuple[int | None, dict[str, str], str | None, str | None]:
        request = sent.request
        now = datetime.now(UTC)
        body = request_body(request, now)
        headers = {"Content-Type": "application/json", "User-Agent": f"segdbg-replay/{__version__}"}
        if request.write_key is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{request.write_key}:".encode()).decode()
        if attempt > 1:
            headers["X-Retry-Count"] = str(attempt - 1)
        sent.body, sent.sent_at = body, now.isoformat()
        sent.headers = [[k, "Basic ••••••" if k == "Authorization" else v] for k, v in headers.items()]
        started = time.perf_counter()
        status: int | None = None
        answer: dict[str, str] = {}
        reason: str | None = None
        error: str | None = None
        try:
            async with session.post(sent.url, data=body, headers=headers, allow_redirects=False) as response:
                data = await response.read()
                status = response.status
                answer = dict(response.headers)
                sent.response_headers = [[k, v] for k, v in response.headers.items()]
                sent.response_body = data[:RESPONSE_LIMIT]
                if verdict(status) != DELIVERED:
                    reason, error = http_error(status, data, answer)
        except aiohttp.ClientConnectorError as exc:
            reason = os_reason(exc)
            error = f"cannot connect to {exc.host}:{exc.port} ({reason})"
        except TimeoutError:
            reason, error = "timeout", f"no answer within {self.policy.timeout:g} s"
        except aiohttp.ClientError as exc:
            reason, error = type(exc).__name__, f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - started) * 1000
        sent.http_status, sent.latency_ms = status, latency
        sent.log_attempt(attempt, status, error, latency)
        return status, answer, reason, error


def os_reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if os_error is not None and os_error.errno:  # asyncio's strerror embeds the address; the errno text does not
        return os.strerror(os_error.errno).lower()
    return str(os_error or exc)


def http_error(status: int, data: bytes, headers: dict[str, str]) -> tuple[str, str]:
    """The group key and the one-line error of an unsuccessful answer.

    The key is the status plus Segment's ``code`` when the body has one (``HTTP 400
    invalid_json``); the line adds the ``message`` or the start of a non-JSON body.
    """
    reason = f"HTTP {status}"
    detail = ""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        code, message = parsed.get("code"), parsed.get("message")
        if isinstance(code, str) and code:
            reason += f" {code[:60]}"
        detail = str(message) if message else ""
    elif data.strip():
        detail = data.strip()[:160].decode("utf-8", "replace")
    if 300 <= status < 400 and headers.get("Location"):
        detail = f"redirected to {headers['Location']}; replay to the final URL"
    return reason, reason + (f": {detail}" if detail else "")
