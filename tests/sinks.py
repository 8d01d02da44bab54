"""Small real HTTP endpoints on loopback for replay tests: a scripted target on its own loop.

A :class:`ScriptedTarget` answers each POST with the next scripted reply (then keeps
repeating the last one) and records what arrived, so a test can check what was retried,
when, and with which body.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b'{"success":true}'
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Arrival:
    """One request the target received: when (monotonic), path, headers and parsed body."""

    at: float
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedTarget:
    """An aiohttp app on its own loop in a thread, answering from a script."""

    script: Sequence[Reply] = (Reply(),)
    arrivals: list[Arrival] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        data = await request.read()
        index = min(len(self.arrivals), len(self.script) - 1)
        self.arrivals.append(Arrival(time.monotonic(), request.path, dict(request.headers), orjson.loads(data)))
        reply = self.script[index]
        return web.Response(
            status=reply.status, body=reply.body, headers=dict(reply.headers), content_type="application/json"
        )

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._ready.set()
        loop.run_forever()
        loop.close()

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
