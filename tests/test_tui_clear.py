"""Clearing the capture from the TUI: z asks first (y/enter deletes, n/esc keeps everything), like `segdbg reset`."""

from __future__ import annotations

from pathlib import Path

import pytest

from debugger.tui.screens.confirm import ConfirmScreen
from debugger.tui.screens.help import HELP, HelpScreen
from debugger.tui.widgets.event_list import EventList
from tests.tui_support import fill, main_screen, make_app, settle, stored_events, track


@pytest.mark.parametrize("key", ["y", "enter"])
async def test_z_then_yes_clears_the_capture_and_the_list(db_path: Path, key: str) -> None:
    """z opens the question naming the capture; y (or enter) deletes every event, in the file and on screen."""
    fill(db_path, [track(n) for n in range(1, 4)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        assert len(stream.order) == 3
        await pilot.press("z")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and str(db_path) in app.screen.question
        assert len(stored_events(db_path)) == 3  # nothing happens before the answer
        await pilot.press(key)
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert stored_events(db_path) == []
        assert stream.order == []
        assert any("Deleted 3 events." in str(n.message) for n in app._notifications)
    fill(db_path, [track(9)])
    assert [e["name"] for e in stored_events(db_path)] == ["Event 9"]


@pytest.mark.parametrize("key", ["n", "escape"])
async def test_z_then_no_keeps_everything(db_path: Path, key: str) -> None:
    """n (or esc) closes the question and deletes nothing."""
    fill(db_path, [track(n) for n in range(1, 3)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("z")
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert len(stored_events(db_path)) == 2
        assert len(main_screen(app).query_one(EventList).order) == 2
        assert any("Nothing deleted." in str(n.message) for n in app._notifications)


async def test_clear_is_in_the_help_screen_and_the_palette(db_path: Path) -> None:
    """z is listed by ? and by ctrl+p (the key hints line is full)."""
    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        titles = [command.title for command in main_screen(app).commands()]
        assert "Clear the capture" in titles
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert "| `z` | clear the capture" in HELP
