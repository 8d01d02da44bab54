"""The intercept proxy of `segdbg serve --intercept` (docs/intercept.md).

An HTTP proxy (``CONNECT host:port``, and plain ``GET http://host/...`` absolute-form requests) beside
the ingest endpoint. For Segment's hosts (:data:`debugger.core.http.hosts.INTERCEPTED_HOSTS`) it answers
``200 Connection Established``, terminates TLS with a leaf certificate from the local CA
(:mod:`debugger.server.ca`), and hands the decrypted connection to the very same aiohttp request handler
the direct endpoint's sockets get (through the same :class:`~debugger.server.guard.ConnectionGuard`), so
what is captured, answered and recorded is exactly what the direct endpoint does. Every other host is
either tunnelled byte for byte (never decrypted, never recorded) or refused, by ``--intercept-others``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from aiohttp import web

from debugger.core.http.hosts import (
    INTERCEPT,
    INTERCEPTED_HOSTS,
    MAX_HEAD,
    REFUSE,
    ProxyRequest,
    decide,
    parse_proxy_head,
)
from debugger.core.pretty.render import inert
from debugger.server.ca import CertificateAuthority
from debugger.server.guard import ConnectionGuard
from debugger.server.settings import Intercept
from debugger.server.upstream import DialRefused, open_connection

log = logging.getLogger(__name__)

ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"


def _answer(status: int, reason: str, text: str) -> bytes:
    body = (text + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Pipe(asyncio.Protocol):
    """One side of a tunnel: what arrives is written to the other side's transport, with flow control."""

    def __init__(self, other: asyncio.Transport) -> None:
        self.other = other
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.other.write(data)

    def eof_received(self) -> bool:
        if self.other.can_write_eof():
            self.other.write_eof()
        return True  # keep the other direction open (half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.other.close()

    def pause_writing(self) -> None:
        self.other.pause_reading()

    def resume_writing(self) -> None:
        self.other.resume_reading()


class _Pending(asyncio.Protocol):
    """Holds what arrives on a fresh TLS connection until the request handler takes it over
    (``loop.start_tls`` may deliver data before its caller gets the transport)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = False
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class _Front(asyncio.Protocol):
    """A client's connection to the proxy: reads the first request head, then becomes a tunnel or is
    handed to the request handler."""

    def __init__(self, proxy: InterceptProxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pipe: asyncio.Transport | None = None  # the upstream side, once tunnelling
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.proxy.fronts.add(self)
        self.timer = asyncio.get_running_loop().call_later(self.proxy.header_timeout, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.pipe is not None:
            self.pipe.write(data)
            return
        self.buffer += data
        if self.task is not None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self.refuse(431, "Request Header Fields Too Large", "segdbg intercept: the request head is too long.")
            return
        head, rest = bytes(self.buffer[: end + 4]), bytes(self.buffer[end + 4 :])
        self.buffer.clear()
        assert self.transport is not None
        self.transport.pause_reading()
        if self.timer is not None:
            self.timer.cancel()
        self.task = asyncio.ensure_future(self.proxy.dispatch(self, head, rest))

    def eof_received(self) -> bool:
        if self.pipe is not None:
            if self.pipe.can_write_eof():
                self.pipe.write_eof()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.proxy.fronts.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if self.pipe is not None:
            self.pipe.close()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def pause_writing(self) -> None:
        if self.pipe is not None:
            self.pipe.pause_reading()

    def resume_writing(self) -> None:
        if self.pipe is not None:
            self.pipe.resume_reading()

    def refuse(self, status: int, reason: str, text: str) -> None:
        """Answer the proxy request with ``status`` and close."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_answer(status, reason, text))
            self.transport.close()


class InterceptProxy:
    """The proxy: listens, decides per connection, tunnels or hands over.

    Args:
        config: where it listens and what it does with hosts that are not Segment's.
        guard: the endpoint's connection guard (intercepted connections count against the same caps).
        header_timeout: seconds a client gets to send its first request head.
    """

    def __init__(self, config: Intercept, guard: ConnectionGuard, header_timeout: float) -> None:
        self.config = config
        self.guard = guard
        self.header_timeout = header_timeout
        self.ca = CertificateAuthority(config.ca_dir)
        self.fronts: set[_Front] = set()
        self.port: int | None = None
        self._handler: Callable[[], asyncio.Protocol] | None = None
        self._server: asyncio.Server | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    async def start(self, server: web.Server) -> int:
        """Create the CA if needed, make the leaf certificates, listen; returns the bound port.

        Args:
            server: the endpoint runner's request-handler factory (``runner.server``).
        """

        def prepare() -> dict[str, ssl.SSLContext]:
            self.ca.ensure()
            return {host: self.ca.context(host) for host in sorted(INTERCEPTED_HOSTS)}

        # Key generation and file reads stay off the loop; afterwards no TLS context is ever built on it.
        self._contexts = await asyncio.to_thread(prepare)
        self._handler = self.guard.factory(server)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Front(self), self.config.host, self.config.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def close(self) -> None:
        """Stop listening and close the tunnels and the connections still being decided (connections
        handed to the request handler are the runner's: it drains them)."""
        if self._server is not None:
            self._server.close()
        for front in list(self.fronts):
            if front.transport is not None:
                front.transport.close()

    async def wait_closed(self) -> None:
        """Wait until the listener is gone; call it after the runner closed the handed-over connections
        (from Python 3.12 on, ``Server.wait_closed`` also waits for every connection it accepted)."""
        if self._server is not None:
            await self._server.wait_closed()

    async def dispatch(self, front: _Front, head: bytes, rest: bytes) -> None:
        """Decide what the first request of a connection gets."""
        rest += bytes(front.buffer)  # anything that arrived while reading was being paused
        front.buffer.clear()
        request = parse_proxy_head(head)
        if isinstance(request, str):
            front.refuse(400, "Bad Request", f"segdbg intercept: {request}.")
            return
        action = decide(request.authority, self.config.others)
        if action == REFUSE:
            front.refuse(
                403,
                "Forbidden",
                f"segdbg intercept: {request.host} is not a Segment host, and this proxy refuses other hosts "
                "(--intercept-others refuse).",
            )
            return
        try:
            if action == INTERCEPT:
                await self._intercept(front, request, head, rest)
            else:
                await self._tunnel(front, request, head, rest)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            # A client that does not trust the CA aborts the handshake: say how to fix it.
            hint = " (does the client trust segdbg's CA? segdbg ca --install-hint)" if action == INTERCEPT else ""
            log.warning(
                "intercept: %s %s from %s failed: %s%s",
                request.method,
                inert(request.authority, 200),
                inert(_peer(front), 60),
                inert(str(exc) or type(exc).__name__, 200),
                hint,
            )
            if front.transport is not None:
                front.transport.close()

    async def _tunnel(self, front: _Front, request: ProxyRequest, head: bytes, rest: bytes) -> None:
        """Pass the connection through to the host asked for, byte for byte, never decrypted or recorded."""
        assert front.transport is not None
        client = front.transport
        try:
            upstream = await open_connection(request.host, request.port, self.config.dial, lambda: _Pipe(client))
        except DialRefused as exc:
            front.refuse(502, "Bad Gateway", f"segdbg intercept: {exc}.")
            return
        except OSError as exc:
            front.refuse(502, "Bad Gateway", f"segdbg intercept: cannot reach {request.authority}: {exc}.")
            return
        if client.is_closing():
            upstream.close()
            return
        front.pipe = upstream
        if request.tunnel:
            client.write(ESTABLISHED)
            if rest:
                upstream.write(rest)
        else:
            upstream.write(head + rest)  # absolute-form is valid for an origin server too (RFC 9112, section 3.2.2)
        client.resume_reading()

    async def _intercept(self, front: _Front, request: ProxyRequest, head: bytes, rest: bytes) -> None:
        """Terminate TLS for a Segment host (or take its plain HTTP), then hand the connection over."""
        assert front.transport is not None and self._handler is not None
        transport = front.transport
        if not request.tunnel:
            self._hand_over(front, transport, head + rest, eof=False)
            transport.resume_reading()
            return
        if rest:
            # The client sent its TLS hello before reading our answer; no client we know of does.
            front.refuse(400, "Bad Request", "segdbg intercept: data sent before the CONNECT was answered.")
            return
        transport.write(ESTABLISHED)
        pending = _Pending()
        tls = await asyncio.get_running_loop().start_tls(
            transport,
            pending,
            self._contexts[request.host],
            server_side=True,
            ssl_handshake_timeout=self.header_timeout,
        )
        assert isinstance(tls, asyncio.Transport)
        if pending.lost:
            return
        self._hand_over(front, tls, bytes(pending.data), eof=pending.eof)

    def _hand_over(self, front: _Front, transport: asyncio.Transport, data: bytes, *, eof: bool) -> None:
        """Give the connection to the endpoint's request handler, with what was already read."""
        assert self._handler is not None
        self.fronts.discard(front)
        protocol = self._handler()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if data:
            protocol.data_received(data)
        if eof:
            protocol.eof_received()


def _peer(front: _Front) -> str:
    peer = front.transport.get_extra_info("peername") if front.transport is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"
