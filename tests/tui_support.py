"""Building real captures for the Pretty, paste and TUI tests: payloads go through the same
pure core as HTTP (wire.handle) and are committed by the real EventWriter."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from debugger.core.http import model, wire
from debugger.store import capture, reads
from debugger.store import writer as store_writer
from tests.helpers import WIRE, basic

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_events"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def wire_requests() -> Iterator[model.IncomingRequest]:
    """Every POST the real client libraries made (tests/fixtures/wire), as received."""
    for path in sorted(WIRE.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = orjson.loads(line)
            if record["method"] != "POST" or record.get("body") is None:
                continue
            headers = tuple(
                (k, v) for k, v in record["headers"] if k.lower() not in ("content-encoding", "content-length")
            )
            yield model.IncomingRequest(
                method="POST",
                path=record["path"],
                headers=headers,
                body=record["body_text"].encode(),
                remote="127.0.0.1",
            )


def message_request(message: dict[str, Any], key: str = "wk_test", path: str | None = None) -> model.IncomingRequest:
    """One message posted to its own route with Basic auth."""
    route = path or f"/v1/{message.get('type', 'track')}"
    return model.IncomingRequest(
        method="POST",
        path=route,
        headers=(("Authorization", basic(key)),),
        body=orjson.dumps(message),
        remote="127.0.0.1",
    )


def fill(db: Path, requests: Iterable[model.IncomingRequest], *, start: datetime = T0, step_ms: int = 250) -> list[int]:
    """Commit the requests to ``db`` at fixed receive times; returns the event ids."""
    counter = itertools.count()
    writer = store_writer.EventWriter(db).start()
    ids: list[int] = []
    try:
        for index, request in enumerate(requests):
            outcome = wire.handle(
                request,
                received_at=start + timedelta(milliseconds=step_ms * index),
                new_id=lambda: f"gen-{next(counter)}",
            )
            ids += writer.submit(outcome.record, outcome.events).result(timeout=30).event_ids
    finally:
        writer.close()
    return ids


def stored_events(db: Path) -> list[dict[str, Any]]:
    """Every event row, decoded."""
    conn = capture.connect(db)
    try:
        return list(reads.iter_events(conn))
    finally:
        conn.close()


def track(n: int, **extra: Any) -> model.IncomingRequest:
    """A small valid track message number ``n``."""
    return message_request(
        {"type": "track", "event": f"Event {n}", "userId": f"user-{n}", "messageId": f"m-{n}", **extra}
    )


class FakeMonotonic:
    """A monotonic clock the test advances (pacing and rates are deterministic)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_app(db: Path, **options: Any) -> Any:
    """The real app on a real capture: no timers (tests poll on demand), UTC, fixed clocks."""
    from debugger.tui.app import make_tui

    settings: dict[str, Any] = {
        "url": "http://127.0.0.1:8088",
        "poll_interval": None,
        "tz": UTC,
        "clock": lambda: T0 + timedelta(minutes=5),
        "monotonic": FakeMonotonic(),
        "freeze_gc": False,
    }
    settings.update(options)
    return make_tui(db, **settings)


async def settle(pilot: Any, rounds: int = 4) -> None:
    """Let workers finish and their messages be handled (handlers may start more workers)."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def plain(renderable: Any, width: int = 120) -> str:
    """A Rich renderable as plain text."""
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    text = console.export_text()
    console.file.close()
    return text


def main_screen(app: Any) -> Any:
    """The app's main screen (the bottom of the stack, whatever modal is open)."""
    return app.screen_stack[0]


@contextmanager
def layout_requests(widget_class: type[Any]) -> Iterator[list[str]]:
    """The ids of the widgets of ``widget_class`` that ask for a layout pass (``refresh(layout=True)``)
    while the block runs."""
    asked: list[str] = []
    original = widget_class.refresh

    def refresh(widget: Any, *regions: Any, **options: Any) -> Any:
        if options.get("layout"):
            asked.append(str(widget.id))
        return original(widget, *regions, **options)

    widget_class.refresh = refresh
    try:
        yield asked
    finally:
        widget_class.refresh = original
