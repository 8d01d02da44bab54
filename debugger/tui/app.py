"""SegdbgApp: wiring only (docs/architecture.md §5). The main screen carries the behaviour."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from debugger.store.follow import CaptureReader
from debugger.store.writer import EventWriter
from debugger.tui.config import TuiConfig
from debugger.tui.linting import LintState
from debugger.tui.screens.main import MainScreen


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
        if self.config.notice:
            self.notify(self.config.notice, title="Warning", severity="warning", timeout=15)

    def _check_plan(self) -> None:
        self.run_worker(self._reload_plan, thread=True, exclusive=True, group="plan", exit_on_error=False)

    def _reload_plan(self) -> None:
        if self.lint.refresh():
            self.call_from_thread(self._plan_reloaded)

    def _plan_reloaded(self) -> None:
        """Re-judge what is on screen with the new plan, or say why the edit was not used."""
        if self.lint.error:
            self.notify(self.lint.error, title="Plan not reloaded", severity="error", timeout=8)
            return
        main = self.screen_stack[0]
        if isinstance(main, MainScreen):
            main.relint()
        self.notify(f"Plan {self.lint.plan_name} reloaded: every event is re-checked.", title="Tracking plan")

    def get_default_screen(self) -> Screen[None]:
        """The main screen."""
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
