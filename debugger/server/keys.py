"""Every :class:`aiohttp.web.AppKey` of the server in one place, with the small types they carry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from debugger.core.http.model import Outcome
from debugger.server.fault import Injector
from debugger.server.guard import ConnectionGuard
from debugger.server.notifier import Notifier
from debugger.server.settings import Settings
from debugger.store.rows import WriteResult
from debugger.store.writer import EventWriter


@dataclass(frozen=True, slots=True)
class Handled:
    """What the server did with one request, for the headless log and the summary."""

    outcome: Outcome
    result: WriteResult | None
    seconds: float


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
