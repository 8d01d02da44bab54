"""Where the intercept proxy may connect, and the one thing it fetches upstream: files on Segment's CDN
that segdbg does not answer itself (analytics.js bundles), so a real page still loads (docs/intercept.md).

Every outbound connection of the proxy goes through :func:`allowed`, so a dial-out policy holds for
tunnels and CDN files alike. With ``loopback`` (what the test suite sets) nothing but a loopback literal
or ``localhost`` is dialled and no name is looked up, so no packet, not even DNS, leaves the machine.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from debugger.core.http.headers import HOP_BY_HOP
from debugger.core.http.hosts import FILE_HOSTS, host_name
from debugger.core.http.routes import UNKNOWN, match_route
from debugger.core.pretty.render import inert
from debugger.server.addresses import is_loopback
from debugger.server.settings import DIAL_ANY, DIAL_LOOPBACK

log = logging.getLogger(__name__)

#: Seconds a CDN file may take upstream before the client gets a 502.
RELAY_TIMEOUT = 30.0


class DialRefused(ConnectionRefusedError):
    """The dial-out policy forbids connecting to this host."""


def allowed(host: str, policy: str) -> bool:
    """Whether ``policy`` lets the proxy connect to ``host`` (a name or an address literal)."""
    if policy == DIAL_ANY:
        return True
    if policy == DIAL_LOOPBACK:
        return is_loopback(host_name(host) if not host.startswith("[") else host)
    return False


def check(host: str, policy: str) -> None:
    """Raise :class:`DialRefused` unless ``policy`` allows ``host``."""
    if not allowed(host, policy):
        raise DialRefused(f"the dial-out policy ({policy}) forbids connecting to {host}")


async def open_connection(
    host: str, port: int, policy: str, factory: Callable[[], asyncio.Protocol]
) -> asyncio.Transport:
    """Connect to ``host:port`` if ``policy`` allows it; returns the transport.

    Raises:
        DialRefused: the policy forbids it.
        OSError: the connection failed.
    """
    check(host, policy)
    transport, _ = await asyncio.get_running_loop().create_connection(factory, host, port)
    assert isinstance(transport, asyncio.Transport)
    return transport


class _PolicyResolver(AbstractResolver):
    """aiohttp's resolver, asked only for hosts the policy allows (so a forbidden name is never looked up)."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        check(host, self.policy)
        return await self.inner.resolve(host, port, family)

    async def close(self) -> None:
        await self.inner.close()


def cdn_session(policy: str) -> aiohttp.ClientSession:
    """The session CDN files are fetched with: bytes as they come (no decompression), no proxy from the
    environment (segdbg's own ``HTTPS_PROXY`` must not loop back into itself), the policy's resolver."""
    connector = aiohttp.TCPConnector(resolver=_PolicyResolver(policy))
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=False, trust_env=False, timeout=aiohttp.ClientTimeout(total=RELAY_TIMEOUT)
    )


def relayed(request: web.Request) -> bool:
    """Whether segdbg passes ``request`` upstream: a GET or HEAD for a Segment CDN (or CDP fork) path it
    does not answer itself (the settings route is answered by segdbg; a bundle or analytics.min.js is not)."""
    if request.method not in ("GET", "HEAD") or host_name(request.host) not in FILE_HOSTS:
        return False
    return match_route(request.method, request.path).kind == UNKNOWN


async def relay(request: web.Request, session: aiohttp.ClientSession) -> web.StreamResponse:
    """Fetch the same URL from the real CDN and answer with what it answered (status, headers, bytes);
    a 502 naming the reason when it cannot be reached or the dial-out policy forbids it. Not recorded:
    these are script files, not events."""
    host = host_name(request.host)
    url = f"https://{host}{request.raw_path}"
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    answer: web.StreamResponse | None = None
    try:
        async with session.request(request.method, url, headers=headers, allow_redirects=False) as upstream:
            answer = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    answer.headers.add(name, value)
            length = upstream.headers.get("content-length")
            if length is not None and length.isdigit() and request.method != "HEAD":
                answer.content_length = int(length)
            await answer.prepare(request)
            if request.method != "HEAD":
                async for chunk in upstream.content.iter_chunked(65536):
                    await answer.write(chunk)
            await answer.write_eof()
            return answer
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        reason = _reason(exc)
        log.info("could not fetch %s from the CDN: %s", inert(url, 200), reason)
        if answer is not None and answer.prepared:
            # Cut off mid-file: the status is gone, so the only honest signal left is the closed connection.
            if request.transport is not None:
                request.transport.close()
            return answer
        return web.Response(
            status=502,
            text=f"segdbg intercept could not fetch {url} from Segment's CDN: {reason}\n",
            headers={"Cache-Control": "no-store"},
        )


def _reason(exc: BaseException) -> str:
    seen: Any = exc
    while seen is not None:
        if isinstance(seen, DialRefused):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__
