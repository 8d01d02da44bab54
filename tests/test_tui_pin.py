"""Pinning in the TUI: P pins the highlighted event in the capture (through the TUI's own writer),
shows 📌 on its row, P again unpins; the help screen and the command palette list it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from debugger.store.retention import Policy, apply
from debugger.tui.screens.help import HelpScreen
from debugger.tui.widgets.event_list import EventList
from tests.tui_support import T0, fill, main_screen, make_app, settle, track


def _pinned(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM events WHERE pinned = 1 ORDER BY id")]


async def test_p_pins_and_unpins_the_highlighted_event(db_path: Path) -> None:
    """P on event 2 pins it in the capture and shows the pin on its row; P again unpins it."""
    ids = fill(db_path, [track(n) for n in range(1, 4)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        await pilot.press("up")
        assert stream.selected_id == ids[1]
        await pilot.press("P")
        await settle(pilot)
        assert _pinned(db_path) == [ids[1]]
        assert stream.events[ids[1]]["pinned"] is True
        assert str(stream.cells(stream.events[ids[1]])[2]).startswith("📌 Event 2")
        assert not str(stream.cells(stream.events[ids[2]])[2]).startswith("📌")
        await pilot.press("P")
        await settle(pilot)
        assert _pinned(db_path) == []
        assert not str(stream.cells(stream.events[ids[1]])[2]).startswith("📌")


async def test_a_pinned_event_survives_retention_and_shows_its_pin_after_a_reload(db_path: Path) -> None:
    """Pinned from the TUI, the event outlives --max-events; the list loads it with its pin."""
    ids = fill(db_path, [track(n) for n in range(1, 6)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        await pilot.press("g", "P")
        await settle(pilot)
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        apply(conn, Policy(max_events=2), T0)
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        assert stream.order == [ids[0], ids[3], ids[4]]
        assert str(stream.cells(stream.events[ids[0]])[2]).startswith("📌")


async def test_pinning_an_event_retention_deleted_says_so(db_path: Path) -> None:
    """The row on screen was deleted meanwhile: P warns instead of pretending, nothing is written."""
    ids = fill(db_path, [track(n) for n in range(1, 4)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        with sqlite3.connect(db_path, isolation_level=None) as conn:
            apply(conn, Policy(max_events=1), T0)
        await pilot.press("g", "P")
        await settle(pilot)
        assert _pinned(db_path) == []
        assert any(f"Event #{ids[0]} is no longer stored" in str(n.message) for n in app._notifications)


async def test_pin_is_in_the_help_screen_and_the_palette(db_path: Path) -> None:
    """The key hints are full at 120 columns, so P is listed by ? and ctrl+p instead."""
    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        titles = [command.title for command in main_screen(app).commands()]
        assert "Pin / unpin the event" in titles
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        from debugger.tui.screens.help import HELP

        assert "| `P` | pin / unpin the event" in HELP
