"""Connection bounds for the server: slowloris on the headers, floods of idle connections,
and one-line logs for requests the HTTP parser refuses.

Time is bounded by aiohttp: a connection that has not sent a complete request line and
headers within ``Settings.header_timeout`` of connecting (or of its last answer) is closed
(``keepalive_timeout``, see :func:`debugger.server.app.start`). Count is bounded here:
:class:`GuardedSite` listens like aiohttp's ``TCPSite`` but wraps each connection, and when a
peer address holds more than ``Settings.peer_connections`` (or all peers more than
``Settings.max_connections``) accepting a new one closes the longest-idle connection: one
between requests or still sending its headers. A connection whose request is being handled
is never closed, so a flood of stalled connections cannot push out real clients; if nothing
is idle, the new connection is the one closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from debugger.core.pretty.render import inert

log = logging.getLogger(__name__)
#: Seconds between two log lines about closed connections (the count in between is summed).
LOG_EVERY = 5.0


class _Connection(asyncio.Protocol):
    """Passes every protocol callback to aiohttp's handler; tells the guard when it opens and closes."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self.inner, self.guard = inner, guard
        self.transport: asyncio.BaseTransport | None = None
        self.peer = "?"
        self.busy = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        self.inner.connection_made(transport)
        self.guard.admit(self)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """Counts open connections per peer address and closes the longest-idle ones past the caps.

    Args:
        per_peer: the most connections one address may hold.
        total: the most connections all addresses together may hold.
    """

    def __init__(self, per_peer: int, total: int) -> None:
        self.per_peer, self.total = per_peer, total
        # Least recently active first: a connection moves to the end when a request finishes.
        self._all: OrderedDict[_Connection, None] = OrderedDict()
        self._peers: dict[str, OrderedDict[_Connection, None]] = {}
        self._by_transport: dict[Any, _Connection] = {}
        self.closed = 0
        self._unlogged = 0
        self._logged_at = 0.0

    def factory(self, make_handler: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` that wraps aiohttp's."""
        return lambda: _Connection(make_handler(), self)

    def open_connections(self, peer: str | None = None) -> int:
        """How many connections are open (from ``peer``, when given)."""
        return len(self._all) if peer is None else len(self._peers.get(peer, ()))

    def admit(self, conn: _Connection) -> None:
        """Register a new connection; close idle ones (or this one) past the caps."""
        peers = self._peers.setdefault(conn.peer, OrderedDict())
        peers[conn] = None
        self._all[conn] = None
        self._by_transport[conn.transport] = conn
        for pool, cap in ((peers, self.per_peer), (self._all, self.total)):
            while len(pool) > cap and conn in pool:
                victim = next((c for c in pool if not c.busy and c is not conn), conn)
                self._close(victim)
                if victim is conn:
                    return

    def forget(self, conn: _Connection) -> None:
        """A connection closed (by either side)."""
        self._all.pop(conn, None)
        self._by_transport.pop(conn.transport, None)
        peers = self._peers.get(conn.peer)
        if peers is not None:
            peers.pop(conn, None)
            if not peers:
                del self._peers[conn.peer]

    def _close(self, conn: _Connection) -> None:
        self.forget(conn)
        if conn.transport is not None:
            conn.transport.close()
        self.closed += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            log.warning(
                "closed %d idle connection(s), the last from %s: over %d open connections from one address "
                "or %d in all (a client that opens connections and stalls?)",
                self._unlogged,
                inert(conn.peer, 60),
                self.per_peer,
                self.total,
            )
            self._unlogged, self._logged_at = 0, now

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Marks the connection busy while its request is handled, then most recently active."""
        conn = self._by_transport.get(request.transport)
        if conn is None:
            return await handler(request)
        conn.busy += 1
        try:
            return await handler(request)
        finally:
            conn.busy -= 1
            for pool in (self._all, self._peers.get(conn.peer)):
                if pool is not None and conn in pool:
                    pool.move_to_end(conn)


class GuardedSite(web.BaseSite):
    """aiohttp's TCP site with every connection passed through a :class:`ConnectionGuard`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self.host, self.port, self.guard = host, port, guard

    @property
    def name(self) -> str:
        """The URL served, as aiohttp's sites name themselves."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; each accepted connection is wrapped before aiohttp's handler sees it."""
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self.guard.factory(server), self.host, self.port, backlog=self._backlog, reuse_address=True
        )


class ParserLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's logger: a request its parser refuses (bad bytes, over the parser's limits) is
    one warning line naming the peer and the reason, not a traceback per hostile request."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        """Parser refusals as one line; anything else as aiohttp logs it."""
        if isinstance(exc_info, HttpProcessingError):
            reason = str(exc_info.message).strip().splitlines()[0] if exc_info.message else type(exc_info).__name__
            peer = args[0] if args else "?"
            self.logger.warning(
                "refused a malformed request from %s before reading it (%s): answered %s, not recorded",
                inert(peer, 60),
                inert(reason, 160),
                exc_info.code,
            )
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)
