"""Headless Chromium for the browser tests (Debian's ``chromium``; ``.ci/run`` installs it), and the
loopback server their pages come from."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from aiohttp import web

from tests.helpers import events

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PageServer:
    """A page at ``/`` and the SDK bundle at ``/sdk.js`` (and any ``routes``: ``(path, GET handler)``), on their
    own loopback port and loop."""

    def __init__(self, page: str, sdk: Path, routes: Sequence[tuple[str, Handler]] = ()) -> None:
        self.page, self.sdk, self.routes = page, sdk, routes
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Self:
        async def page(_: web.Request) -> web.StreamResponse:
            return web.Response(text=self.page, content_type="text/html")

        async def sdk(_: web.Request) -> web.StreamResponse:
            return web.FileResponse(self.sdk)

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/sdk.js", sdk)
        for path, handler in self.routes:
            app.router.add_get(path, handler)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def launch(url: str, profile: Path, *resolver_rules: str, extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """Open ``url`` in a headless Chromium of its own profile and process group (stop it with
    ``os.killpg(browser.pid, signal.SIGKILL)``); ``resolver_rules`` become ``--host-resolver-rules``;
    ``extra`` flags are added as given (e.g. ``--proxy-server``)."""
    assert os.path.exists(CHROMIUM), "headless Chromium is needed: apt-get install chromium (.ci/run does)"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]
    if resolver_rules:
        flags.append(f"--host-resolver-rules={', '.join(resolver_rules)}")
    flags.extend(extra)
    return subprocess.Popen(
        [CHROMIUM, *flags, url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def until_stored(db: Path, count: int, timeout: float) -> list[dict[str, Any]]:
    """The capture's events once there are ``count`` of them, or whatever there is after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = events(db)
        if len(stored) >= count:
            return stored
        time.sleep(0.1)
    return events(db)


#: Loopback only: every other name fails to resolve, so a page's library cannot reach past this machine.
LOOPBACK_ONLY = ("MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1")


class Browser:
    """A Chromium opened by :func:`browsing`; ``log`` is the end of what it printed, once it is closed."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.log = ""


@contextmanager
def browsing(url: str, profile: Path, *resolver_rules: str, extra: Sequence[str] = ()) -> Iterator[Browser]:
    """Chromium open on ``url`` for the block (see :func:`launch`); on leaving it, it is killed with its
    helpers (its own process group) and the end of its output kept in ``log`` for the assertion messages."""
    browser = Browser(launch(url, profile, *resolver_rules, extra=extra))
    try:
        yield browser
    finally:
        os.killpg(browser.process.pid, signal.SIGKILL)  # our own process group: chromium and its helpers
        _, err = browser.process.communicate(timeout=10)
        browser.log = err.decode(errors="replace")[-1500:]
