"""The aiohttp shell around :mod:`debugger.core.http.wire`: read bytes, handle, await the commit, answer.

Every route of docs/protocol.md §1 goes through one catch-all handler, because the route table
itself is part of the pure wire contract (:func:`debugger.core.http.routes.match_route`). The server is
started with ``auto_decompress=False`` (see :func:`start`) so the wire bytes, their size and
their encoding reach the pure core as they arrived, and gzip is inflated with a bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future
from datetime import UTC, datetime

import aiohttp
import aiohttp.http_exceptions
import orjson
from aiohttp import web

from debugger.core.fault import RESET, SLOW, TIMEOUT, Rule, faulted
from debugger.core.http import limits, model, wire
from debugger.core.http.limits import PARSER_LIMITS
from debugger.core.http.validate import debug_request, mirrored, validated
from debugger.core.lint.linter import for_plan
from debugger.server.api import API_HEADERS, refusal, setup_routes
from debugger.server.fault import Injector
from debugger.server.guard import ConnectionGuard, GuardedSite, ParserLog
from debugger.server.intercept import InterceptProxy
from debugger.server.keys import (
    Handled,
    Observer,
    fault_key,
    guard_key,
    intercept_key,
    observer_key,
    settings_key,
    upstream_key,
    writer_key,
)
from debugger.server.settings import Settings
from debugger.server.upstream import cdn_session, relay, relayed
from debugger.store.capture import StoreError
from debugger.store.clock import now_utc
from debugger.store.index import Indexer
from debugger.store.retention import Chain, Retention
from debugger.store.rows import WriteResult
from debugger.store.servers import register_server, unregister_server
from debugger.store.writer import EventWriter, IdleTask

log = logging.getLogger(__name__)


def make_app(settings: Settings, *, observer: Observer | None = None) -> web.Application:
    """Build the ingest application; its cleanup context owns the writer thread.

    Args:
        settings: where the capture lives and how to write it.
        observer: called after each handled request (headless printing, counters).
    """
    guard = ConnectionGuard(settings.peer_connections, settings.max_connections)
    app = web.Application(client_max_size=limits.WIRE_LIMIT + 1, middlewares=[guard.middleware])
    app[settings_key] = settings
    app[guard_key] = guard
    app[observer_key] = [observer] if observer is not None else []
    app[fault_key] = Injector(settings.faults, settings.fault_seed)
    app.on_shutdown.append(_release_held)
    app.cleanup_ctx.append(_writer_context)
    if settings.intercept is not None:  # docs/intercept.md: the proxy hands its connections to this app
        app[intercept_key] = InterceptProxy(settings.intercept, guard, settings.header_timeout)
        app.cleanup_ctx.append(_upstream_context)
        app.on_shutdown.append(_close_proxy)
    app.router.add_get("/healthz", _healthz)
    setup_routes(app)  # before the catch-all, so /debugger/api/* never reaches CORS-enabled ingest
    app.router.add_route("*", "/{tail:.*}", _ingest)
    return app


#: With a retention policy, the writer looks for expired events at least this often when idle.
RETENTION_WAKE = 5.0


def _idle_task(settings: Settings) -> IdleTask | None:
    """The writer's background work: retention first (rows about to go need no indexing), then the index."""
    tasks: list[IdleTask] = []
    if settings.retention.active:
        tasks.append(Retention(settings.retention, clock=now_utc))
    if settings.search_index:
        tasks.append(Indexer())
    return None if not tasks else tasks[0] if len(tasks) == 1 else Chain(*tasks)


async def _writer_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    writer = EventWriter(
        settings.db,
        max_rows=settings.commit_rows,
        lock_timeout=settings.lock_timeout,
        max_pages=settings.max_pages,
        idle_task=_idle_task(settings),
        idle_wake=RETENTION_WAKE if settings.retention.active else None,
    )
    await asyncio.to_thread(writer.start, check=True)  # a damaged capture is refused at start
    app[writer_key] = writer
    yield
    pid = os.getpid()
    try:
        await asyncio.wrap_future(writer.call(lambda conn: unregister_server(conn, pid)))
    except Exception as exc:  # noqa: BLE001 - a stale note is found dead by its pid later
        log.info("could not remove the server note from the capture: %s", exc)
    await asyncio.to_thread(writer.close)


async def _upstream_context(app: web.Application) -> AsyncIterator[None]:
    """The session Segment CDN files segdbg does not answer are fetched with (docs/intercept.md)."""
    intercept = app[settings_key].intercept
    assert intercept is not None
    session = cdn_session(intercept.dial)
    app[upstream_key] = session
    yield
    await session.close()
    await app[intercept_key].wait_closed()  # cleanup runs after the runner closed every connection


async def _close_proxy(app: web.Application) -> None:
    app[intercept_key].close()


async def _healthz(request: web.Request) -> web.Response:
    """Liveness plus counts; the counts say how much was captured, so the API's guard applies."""
    refused = refusal(request)
    if refused is not None:
        return refused
    writer = request.app[writer_key]
    return web.json_response(
        {"ok": True, "events": writer.committed_events, "requests": writer.committed_requests}, headers=API_HEADERS
    )


async def _read_body(request: web.Request, timeout: float) -> tuple[bytes, str | None]:
    """Read at most ``WIRE_LIMIT + 1`` bytes within ``timeout`` seconds.

    Returns the bytes read and why reading stopped early, if it did: ``too_large``,
    ``timeout`` (a slow or stalled client) or ``disconnected``. What arrived is kept either way.
    """
    if request.content_length is not None and request.content_length > limits.WIRE_LIMIT:
        return b"", model.TOO_LARGE
    content = request.content
    if content.is_eof() and content.exception() is None:
        # The whole body came with the headers (most requests): take it, no timer to arm.
        body = content.read_nowait(-1)
        return body, model.TOO_LARGE if len(body) > limits.WIRE_LIMIT else None
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await request.content.read(65536)
                if not chunk:
                    return b"".join(chunks), None
                chunks.append(chunk)
                size += len(chunk)
                if size > limits.WIRE_LIMIT:
                    return b"".join(chunks), model.TOO_LARGE
    except TimeoutError:
        return b"".join(chunks), model.TIMED_OUT
    except (
        ConnectionError,
        web.HTTPException,
        aiohttp.ClientPayloadError,
        aiohttp.http_exceptions.HttpProcessingError,
    ):
        return b"".join(chunks), model.DISCONNECTED


def _header_text(value: str) -> str:
    """A header value as text: aiohttp keeps bytes that are not UTF-8 as lone surrogates
    (surrogateescape), which can be neither stored nor echoed; they become U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _incoming(request: web.Request, body: bytes, cut: str | None) -> model.IncomingRequest:
    return model.IncomingRequest(
        method=request.method,
        path=request.path,
        query_string=request.query_string,
        query=tuple(request.query.items()),
        headers=tuple((name, _header_text(value)) for name, value in request.headers.items()),
        body=body,
        remote=request.remote,
        cut=cut,
        scheme=request.scheme,
    )


async def _ingest(request: web.Request) -> web.StreamResponse:
    """Every route (docs/protocol.md §1): read, handle (pure), await the commit, answer."""
    started = time.perf_counter()
    upstream = request.app.get(upstream_key)
    if upstream is not None and relayed(request):
        return await relay(request, upstream)  # a Segment CDN file, not an event (docs/intercept.md)
    try:
        settings = request.app[settings_key]
        body, cut = (
            await _read_body(request, settings.body_timeout)
            if request.method in ("POST", "PUT", "PATCH")
            else (b"", None)
        )
        incoming, validate = debug_request(_incoming(request, body, cut))  # docs/protocol.md §14
        outcome = wire.handle(incoming, received_at=datetime.now(UTC), new_id=_new_id, allowed_keys=settings.write_keys)
        if incoming.path != request.path:
            outcome = mirrored(outcome)
        rule = request.app[fault_key].choose(request.path, outcome)
        if rule is not None:
            outcome = faulted(outcome, rule, body)
    except Exception:
        # A bug, not bad input (the core never raises on input): a logged JSON 500, which
        # clients retry, so the events are not lost.
        log.exception("unexpected error handling %s %s", request.method, request.path)
        body = orjson.dumps({"success": False, "code": "internal_error", "message": "segdbg hit a bug; see its log."})
        return web.Response(status=500, body=body, content_type="application/json")
    result: WriteResult | None = None
    reply = outcome.reply
    if outcome.record is not None or outcome.events:
        try:
            result = await request.app[writer_key].write(outcome.record, outcome.events)
        except StoreError as exc:
            # 503, not 200: the client keeps the events and retries; nothing is acknowledged unstored.
            reply = model.Reply(
                503, wire.error_body("store_unavailable", str(exc)), headers=(*reply.headers, ("Retry-After", "1"))
            )
    if validate and result is not None:
        reply = validated(outcome, for_plan(None), result.statuses).reply
    observers = request.app[observer_key]
    if observers:
        handled = Handled(outcome, result, time.perf_counter() - started, incoming, validate)
        for observer in observers:
            observer(handled)
    if rule is not None and rule.kind in (RESET, TIMEOUT) and result is not None:
        return await _unanswered(request, rule)
    if rule is not None and rule.kind == SLOW:
        await asyncio.sleep(rule.seconds)
    return web.Response(
        status=reply.status,
        body=reply.body,
        content_type=reply.content_type,
        headers=dict(reply.headers) if reply.headers else None,
    )


async def _unanswered(request: web.Request, rule: Rule) -> web.StreamResponse:
    """``reset`` and ``timeout`` faults (docs/faults.md): the request is recorded; no answer is sent.

    ``timeout`` first holds the connection for the rule's time (or until shutdown begins); then the
    connection is aborted, which a client sees as a reset or a dropped connection.
    """
    if rule.kind == TIMEOUT:
        try:
            await asyncio.wait_for(request.app[fault_key].released.wait(), rule.seconds)
        except TimeoutError:
            pass
    transport = request.transport
    if transport is not None:
        transport.abort()
    # Nothing reaches the client: aiohttp finds the transport gone and drops this answer quietly.
    return web.Response(status=204)


async def _release_held(app: web.Application) -> None:
    """Shutdown must not wait out a ``timeout`` rule's hold."""
    app[fault_key].released.set()


def _new_id() -> str:
    return str(uuid.uuid4())


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving ``app`` on ``host:port``; returns the runner and the bound port.

    ``auto_decompress=False`` keeps the body as it arrived: the core inflates it with a
    bound and records the encoding and wire size.
    """
    settings = app[settings_key]
    runner = web.AppRunner(
        app,
        auto_decompress=False,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout,
        # A connection must finish its request line and headers within this many seconds of
        # connecting (or of its last answer), else aiohttp closes it: slowloris on the headers.
        keepalive_timeout=settings.header_timeout,
        # Parser limits above segdbg's own (debugger.core.http.limits), so oversize headers and URLs get a
        # recorded 431/414 instead of aiohttp's unrecorded plain-text 400.
        max_line_size=PARSER_LIMITS["max_line_size"],
        max_field_size=PARSER_LIMITS["max_field_size"],
        max_headers=PARSER_LIMITS["max_headers"],
        logger=ParserLog(log),
    )
    await runner.setup()
    site = GuardedSite(runner, host, port, app[guard_key])
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = int(runner.addresses[0][1])
    if intercept_key in app:
        try:
            assert runner.server is not None
            await app[intercept_key].start(runner.server)
        except BaseException:
            await runner.cleanup()
            raise
    _register(app, host, bound)
    return runner, bound


def _register(app: web.Application, host: str, port: int) -> None:
    """Note this server in the capture, so `segdbg vacuum --db` asks it instead of competing for the file."""
    settings = app[settings_key]
    policy = settings.retention
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    if host in ("0.0.0.0", "::", ""):
        url = f"http://127.0.0.1:{port}"
    described = {
        "max_events": policy.max_events,
        "max_age_s": policy.max_age.total_seconds() if policy.max_age else None,
    }
    pid = os.getpid()
    # Not awaited: if another process holds the write lock, serving must not wait for it.
    future = app[writer_key].call(lambda conn: register_server(conn, pid, url, described))
    future.add_done_callback(_registered)


def _registered(future: Future[None]) -> None:
    if future.exception() is not None:  # locked or full: ingest will say so; vacuum just cannot find us
        log.warning("could not note this server in the capture: %s", future.exception())


class ServerThread:
    """A server on its own event loop in a background thread.

    Used where something else owns the main thread: the TUI (``segdbg serve`` with a
    terminal) and synchronous tests. ``stop()`` drains in-flight requests and the writer.

    Example:
        with ServerThread(Settings(db=path, port=0)) as server:
            requests.post(f"{server.url}/v1/track", ...)
    """

    def __init__(self, settings: Settings, *, observer: Observer | None = None) -> None:
        self.settings = settings
        self.observer = observer
        self.port: int | None = None
        self.app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="segdbg-server", daemon=True)

    @property
    def url(self) -> str:
        """The root URL clients send to."""
        host = self.settings.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> ServerThread:
        """Start and wait until the socket is bound (or raise what prevented it)."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop accepting, finish in-flight requests, drain the writer, end the thread."""
        if self._loop is not None and self._runner is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self.app = make_app(self.settings, observer=self.observer)
            self._runner, self.port = loop.run_until_complete(start(self.app, self.settings.host, self.settings.port))
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()
