"""Waking the debugger API's long-polls when the writer commits."""

from __future__ import annotations

import asyncio


class Notifier:
    """Wakes long-polls when the writer commits; the writer calls :meth:`fire_threadsafe` from its thread.

    Only an *armed* notifier (someone took :meth:`changed` since the last commit) costs the
    loop a wake-up, so ingest keeps its one wake-up per commit group when nobody polls.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._event, self.closed = loop, asyncio.Event(), False
        self._armed = False

    def changed(self) -> asyncio.Event:
        """The event the next commit sets; take it *before* looking at the data."""
        self._armed = True
        return self._event

    def fire_threadsafe(self) -> None:
        """Called by the writer thread after a commit."""
        if self._armed and not self.closed and not self._loop.is_closed():
            self._armed = False
            try:
                self._loop.call_soon_threadsafe(self._fire)
            except RuntimeError:  # the loop closed meanwhile: nobody is waiting
                pass

    def _fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()
