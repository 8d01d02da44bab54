"""How the TUI runs: one :class:`TuiConfig`, built by the CLI (or a test) and passed in."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from debugger.core.http.routes import DEFAULT_URL
from debugger.core.routing import Routing
from debugger.store.clock import now_utc


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
        notice: a warning from start-up to show once the screen is up (e.g. another server
            already writes this capture), since the terminal's own lines are hidden by the TUI.
        routing: destinations to judge each event for, in the detail's Routes tab (docs/routing.md).
        copy_dir: where a copy goes as a file when no clipboard command takes it (``None``:
            the system's temporary folder).
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
    notice: str | None = None
    copy_dir: Path | None = None
    routing: Routing | None = None

    @property
    def base_url(self) -> str:
        """Where curl commands send: this server, else the default address."""
        return self.url or DEFAULT_URL

    @property
    def where(self) -> str:
        """The header's ``URL · FILE``."""
        return f"{self.url} · {self.db.name}" if self.url else f"{self.db.name} (no server in this process)"
