"""`segdbg replay` on a terminal: a Rich progress bar of the run and what the sender waits for."""

from __future__ import annotations

import asyncio
from typing import Any

from debugger.replay.delivery import Deliverer
from debugger.core.replay.report import Tally


class Progress:
    """A Rich progress bar (events done, rate, ETA) and the sender's current wait."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=True,
            refresh_per_second=8,
        )
        self._task: Any = None
        self.deliverer: Deliverer | None = None

    def begin(self, total: int) -> None:
        """Show the bar for ``total`` events."""
        self._bar.start()
        self._task = self._bar.add_task("replay", total=total, rate="", note="")

    def advance(self, events: int, tally: Tally) -> None:
        """Count ``events`` more events done."""
        self._bar.update(self._task, advance=events)
        self._show(tally)

    async def tick(self, tally: Tally) -> None:
        """Keep the note fresh while nothing completes (a retry wait, a slow target)."""
        while True:
            await asyncio.sleep(0.25)
            self._show(tally)

    def _show(self, tally: Tally) -> None:
        speed = self._bar.tasks[0].speed
        note = self.deliverer.status if self.deliverer is not None else ""
        failed = f"[red]{tally.not_delivered:,} not delivered[/] " if tally.not_delivered else ""
        self._bar.update(self._task, rate=f"{speed:,.0f} ev/s" if speed else "", note=failed + note)

    def end(self) -> None:
        """Remove the bar."""
        self._bar.stop()
