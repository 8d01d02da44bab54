"""What the screens need of the app, as a :class:`typing.Protocol`.

Screens type ``self.app`` against :class:`Host` instead of importing :class:`~debugger.tui.app.SegdbgApp`:
the app imports its screens, so a screen importing the app would be an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from debugger.store.follow import CaptureReader
from debugger.store.writer import EventWriter
from debugger.tui.config import TuiConfig
from debugger.tui.linting import LintState


class Host(Protocol):
    """The app as the screens see it: its configuration, reader, clocks, linter and paste writer."""

    config: TuiConfig
    reader: CaptureReader
    lint: LintState
    clock: Callable[[], datetime]
    monotonic: Callable[[], float]

    def paste_writer(self) -> EventWriter:
        """The TUI's own writer for pasted events (and pins), started on first use."""
        ...
