"""Snapshots of the main views (Textual is pinned exactly, so these only change when we do).

Review `pytest --snapshot-report` before updating with `--snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, TextArea

from tests.tui_support import fill, main_screen, make_app, message_request, settle, wire_requests

SIZE = (120, 36)


@pytest.fixture
def capture(db_path: Path) -> Path:
    """Real client payloads and one invalid event, at fixed times."""
    requests = list(wire_requests())[:14] + [
        message_request(
            {
                "type": "track",
                "event": "product added",
                "properties": {"sku": "45790-32", "price": 19},
                "context": {"library": {"name": "analytics.js", "version": "npm:next-1.84.3"}},
            }
        )
    ]
    fill(db_path, requests)
    return db_path


async def _ready(pilot: Any) -> None:
    await settle(pilot)


def _keys(*keys: str) -> Any:
    async def run(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


def test_empty(db_path: Path, snap_compare: Any) -> None:
    """An empty capture: where to send, how to paste."""
    fill(db_path, [])
    assert snap_compare(make_app(db_path), terminal_size=SIZE, run_before=_ready)


def test_stream_with_pretty(capture: Path, snap_compare: Any) -> None:
    """The stream, newest selected, shown as its library's call."""
    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=_keys("up", "up", "up"))


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)], ids=["80x24", "100x30", "160x45"])
def test_stream_columns(capture: Path, size: tuple[int, int], snap_compare: Any) -> None:
    """The stream at the sizes people use: status codes whole, name wide enough to read, user and
    source dropped (source first) when narrow, name taking the rest when wide."""
    assert snap_compare(make_app(capture), terminal_size=size, run_before=_keys("up"))


def test_raw_tab(capture: Path, snap_compare: Any) -> None:
    """Raw: the stored JSON as a foldable tree."""
    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=_keys("up", "2"))


def test_http_tab(capture: Path, snap_compare: Any) -> None:
    """HTTP: the request as received, credentials masked."""
    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=_keys("up", "3"))


def test_problems_tab(capture: Path, snap_compare: Any) -> None:
    """Problems: codes and JSON paths of an invalid event."""
    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=_keys("4"))


def _search(text: str) -> Any:
    async def run(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("slash")
        main_screen(pilot.app).query_one("#search", Input).value = text
        await pilot.press("enter")
        await settle(pilot)

    return run


def test_search(capture: Path, snap_compare: Any) -> None:
    """A search with its match count."""
    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=_search('event:"Order Completed"'))


def test_search_error(capture: Path, snap_compare: Any) -> None:
    """A malformed search, marked under the input."""
    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=_search("type:track propertie.plan:pro"))


def test_paste_dialog(capture: Path, snap_compare: Any) -> None:
    """The paste dialog with a verdict on what would be stored."""

    async def run(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        area = pilot.app.screen.query_one(TextArea)
        area.cursor_blink = False
        area.text = 'analytics.track("Signed Up", { plan: "pro" })\nanalytics.identify("u1", { email: "a@b.c" })'
        pilot.app.screen.check()
        await settle(pilot)

    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=run)


def test_help(capture: Path, snap_compare: Any) -> None:
    """The help screen."""
    assert snap_compare(make_app(capture), terminal_size=SIZE, run_before=_keys("question_mark"))
