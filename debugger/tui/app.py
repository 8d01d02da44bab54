"""SegdbgApp: wiring only (STYLE §1). The main screen carries the behaviour."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from debugger.core.http.routes import DEFAULT_URL
from debugger.store.writer import EventWriter
from debugger.store.clock import now_utc
from debugger.store.follow import CaptureReader
from debugger.tui.linting import LintState


@dataclass(frozen=True, slots=True)
class TuiConfig:
    """How the TUI runs; built by the CLI (or a test) and passed in.

    Attributes:
        db: the capture to show and follow.
        plan: a tracking plan to check every event against (reloaded when the file changes).
        url: the server filling it, when this process runs one (shown, and used by curl).
        cap: the most rows the stream keeps (Segment's debugger shows 500).
        poll_interval: seconds between looks at the capture; ``None`` polls only on demand
            (tests drive :meth:`MainScreen.poll`).
        readable_rate: rows per second shown when events arrive faster (the rest is sampled).
        burst: rows that may arrive at once and all be shown.
        tz: the zone times are shown in (``None``: the local zone).
        clock: the wall clock (relative search times, paste receive time).
        monotonic: the clock for rates and pacing.
        freeze_gc: once the first frame is up, exempt everything start-up built from the
            garbage collector (``gc.freeze``). Off in tests, which start many apps in one process.
    """

    db: Path
    url: str | None = None
    plan: Path | None = None
    cap: int = 500
    poll_interval: float | None = 0.1
    readable_rate: float = 40.0
    burst: int = 300
    tz: tzinfo | None = None
    clock: Callable[[], datetime] = field(default=now_utc)
    monotonic: Callable[[], float] = field(default=time.monotonic)
    freeze_gc: bool = True

    @property
    def base_url(self) -> str:
        """Where curl commands send: this server, else the default address."""
        return self.url or DEFAULT_URL

    @property
    def where(self) -> str:
        """The header's ``URL · FILE``."""
        return f"{self.url} · {self.db.name}" if self.url else f"{self.db.name} (no server in this process)"


class SegdbgApp(App[None]):
    """The segdbg workstation: a live stream of a capture and the detail of each event."""

    CSS_PATH = "app.tcss"
    TITLE = "segdbg"
    # Ctrl-C stops a server in every other tool; here it quits too (after the focused
    # widget had its chance: the paste box still copies with it).
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False)]

    def __init__(self, config: TuiConfig) -> None:
        super().__init__()
        self.config = config
        self.clock = config.clock
        self.monotonic = config.monotonic
        self.reader = CaptureReader(config.db)
        self._writer: EventWriter | None = None
        self._writer_lock = threading.Lock()
        self.lint = LintState(config.plan)

    def on_mount(self) -> None:
        """Follow the plan file, if there is one; exempt what start-up built from the collector."""
        # Textual and the app leave ~70,000 long-lived objects; a full collection walked them all
        # (up to ~90 ms seen while following a capture, freezing the screen mid-keypress). Frozen
        # after the first frame, collections see only what was made since: events come and go.
        if self.config.freeze_gc:
            self.call_after_refresh(gc.freeze)
        if self.lint.watcher is not None and self.config.poll_interval is not None:  # tests reload on demand
            self.set_interval(1.0, self._check_plan)

    def _check_plan(self) -> None:
        self.run_worker(self._reload_plan, thread=True, exclusive=True, group="plan", exit_on_error=False)

    def _reload_plan(self) -> None:
        if self.lint.refresh():
            self.call_from_thread(self._plan_reloaded)

    def _plan_reloaded(self) -> None:
        """Re-judge what is on screen with the new plan, or say why the edit was not used."""
        from debugger.tui.screens.main import MainScreen

        if self.lint.error:
            self.notify(self.lint.error, title="Plan not reloaded", severity="error", timeout=8)
            return
        main = self.screen_stack[0]
        if isinstance(main, MainScreen):
            main.relint()
        self.notify(f"Plan {self.lint.plan_name} reloaded: every event is re-checked.", title="Tracking plan")

    def get_default_screen(self) -> Screen[None]:
        """The main screen."""
        from debugger.tui.screens.main import MainScreen

        return MainScreen()

    def paste_writer(self) -> EventWriter:
        """The TUI's own writer for pasted events, started on first use (from a worker thread);
        SQLite serialises it with the server's writer."""
        with self._writer_lock:
            if self._writer is None:
                self._writer = EventWriter(self.config.db).start()
            return self._writer

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands plus every action of the main screen."""
        from debugger.tui.screens.main import MainScreen

        main = screen if isinstance(screen, MainScreen) else self.screen_stack[0]
        if isinstance(main, MainScreen):
            yield from main.commands()
        yield from super().get_system_commands(screen)

    def on_unmount(self) -> None:
        """Drain pasted writes and close the read connection."""
        if self._writer is not None:
            self._writer.close()
        self.reader.close()


def make_tui(db: Path, **options: object) -> SegdbgApp:
    """The one factory the CLI and the tests use."""
    return SegdbgApp(TuiConfig(db=Path(db), **options))  # type: ignore[arg-type]
