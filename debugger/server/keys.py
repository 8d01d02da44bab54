"""Every :class:`aiohttp.web.AppKey` of the server in one place, with the small types they carry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from debugger.core.http.model import IncomingRequest, Outcome
from debugger.server.fault import Injector
from debugger.server.guard import ConnectionGuard
from debugger.server.intercept import InterceptProxy
from debugger.server.notifier import Notifier
from debugger.server.settings import Settings
from debugger.store.rows import WriteResult
from debugger.store.writer import EventWriter


@dataclass(frozen=True, slots=True)
class Handled:
    """What the server did with one request, for the headless log, the summary and the forwarder.

    Observers are called after the commit (``result``) and before the answer goes out, on the
    server's loop: one must only note the request and return (``serve --forward`` queues it).
    ``request`` is the request as routed (bytes and headers as they arrived); ``validate`` says it
    asked for validation (docs/protocol.md §14) rather than being an app's traffic.
    """

    outcome: Outcome
    result: WriteResult | None
    seconds: float
    request: IncomingRequest | None = None
    validate: bool = False


#: Called after each handled request (headless printing, counters).
Observer = Callable[[Handled], None]

settings_key = web.AppKey("settings", Settings)
writer_key = web.AppKey("writer", EventWriter)
observer_key = web.AppKey("observer", list[Observer])
guard_key = web.AppKey("guard", ConnectionGuard)
notifier_key = web.AppKey("notifier", Notifier)
#: The ``--fault`` rules' state (docs/faults.md).
fault_key = web.AppKey("fault", Injector)
#: One vacuum at a time.
vacuum_lock_key = web.AppKey("vacuum_lock", asyncio.Lock)
#: The intercept proxy (``--intercept``), and the session it fetches Segment CDN files with.
intercept_key = web.AppKey("intercept", InterceptProxy)
upstream_key = web.AppKey("upstream", aiohttp.ClientSession)
