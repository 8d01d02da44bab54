"""Paste in the TUI: each accepted form is validated like HTTP, stored as source `paste` (a curl command under
its own write key) by the
TUI's own writer, and selected; garbage is explained in the dialog and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input, TextArea

from debugger.tui.screens.paste import PasteScreen
from debugger.tui.widgets.event_detail import EventDetail
from debugger.tui.widgets.event_list import EventList
from tests.tui_support import fill, main_screen, make_app, settle, stored_events, track

#: The source each form is stored under: `paste`, except a curl command that names its key.
SOURCES = {"curl": "prod"}

FORMS = {
    "json message": ('{"type":"track","event":"Pasted JSON","userId":"u1"}', ["Pasted JSON"]),
    "batch": (
        '{"batch":[{"type":"track","event":"B1","userId":"u"},{"type":"track","event":"B2","userId":"u"}]}',
        ["B1", "B2"],
    ),
    "ndjson": ('{"type":"track","event":"N1","userId":"u"}\n{"type":"page","name":"N2","userId":"u"}', ["N1", "N2"]),
    "curl": (
        (
            "curl http://localhost:8088/v1/track -u 'prod:' -H 'Content-Type: application/json' \\\n"
            '  -d \'{"userId":"u1","event":"Pasted Curl"}\''
        ),
        ["Pasted Curl"],
    ),
    "call": (
        'analytics.track("Pasted Call", { plan: "pro" });\nanalytics.identify("u1", { email: "a@b.c" })',
        ["Pasted Call", None],
    ),
}


async def _paste(pilot: object, text: str) -> PasteScreen:
    await pilot.press("p")  # type: ignore[attr-defined]
    await settle(pilot)
    dialog = pilot.app.screen  # type: ignore[attr-defined]
    assert isinstance(dialog, PasteScreen)
    dialog.query_one(TextArea).text = text
    return dialog


@pytest.mark.parametrize("form", list(FORMS))
async def test_each_form_is_stored_as_paste_and_selected(db_path: Path, form: str) -> None:
    """p, paste, ctrl+s: the events are stored with source `paste` (a curl command: its own key, `-u prod:`),
    the notification names the source, and the last one is selected."""
    text, names = FORMS[form]
    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dialog = await _paste(pilot, text)
        dialog.check()
        assert str(dialog.query_one("#paste-result").content).startswith("✓")
        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = main_screen(app)
        assert app.screen is screen
        source = SOURCES.get(form, "paste")
        pasted = [e for e in stored_events(db_path) if e["write_key"] == source]
        assert [e["name"] for e in pasted] == names
        assert any(str(n.message).endswith(f"source {source}.") for n in app._notifications)
        assert screen.query_one(EventList).selected_id == pasted[-1]["id"]
        assert screen.query_one(EventDetail).event["id"] == pasted[-1]["id"]


async def test_garbage_is_explained_in_the_dialog_and_nothing_is_stored(db_path: Path) -> None:
    """The dialog stays open with the reason; the capture is untouched."""
    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        dialog = await _paste(pilot, "this is not an event")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is dialog
        result = dialog.query_one("#paste-result")
        assert result.has_class("-error") and "Paste a JSON message" in str(result.content)
        dialog.query_one(TextArea).text = '{"type":"track",'
        await pilot.press("ctrl+s")
        assert "Not valid JSON" in str(result.content)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is main_screen(app)
        assert len(stored_events(db_path)) == 1


async def test_a_terminal_paste_opens_the_dialog_with_the_text(db_path: Path) -> None:
    """Pasting into the terminal (bracketed paste) outside the search box opens the dialog, checked."""
    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main_screen(app).query_one(EventList).post_message(
            events.Paste('{"type":"track","event":"Dropped In","userId":"u"}')
        )
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PasteScreen)
        assert "track message → 1 event" in str(dialog.query_one("#paste-result").content)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert main_screen(app).query_one(EventDetail).event["name"] == "Dropped In"


async def test_pasting_while_paused_resumes_and_selects(db_path: Path) -> None:
    """A paste is something you want to see: the stream resumes and the pasted event is selected."""
    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await pilot.press("space")
        fill(db_path, [track(2)])
        await _paste(pilot, '{"type":"track","event":"While Paused","userId":"u"}')
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert screen.live
        assert screen.query_one(EventDetail).event["name"] == "While Paused"
        assert len(screen.query_one(EventList).order) == 3


async def test_invalid_pasted_events_are_stored_with_their_problems(db_path: Path) -> None:
    """Like HTTP: a message Segment would drop is still stored, marked invalid, with its problems."""
    fill(db_path, [])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await _paste(pilot, '{"type":"track","properties":{"x":1}}')
        await pilot.press("ctrl+s")
        await settle(pilot)
        event = main_screen(app).query_one(EventDetail).event
        assert event["status"] == "invalid" and {p["code"] for p in event["problems"]} >= {
            "missing_event",
            "no_user_anon_id",
        }


def _said(app: object) -> list[str]:
    return [str(n.message) for n in app._notifications]  # type: ignore[attr-defined]


async def _search(pilot: object, text: str) -> None:
    await pilot.press("slash")  # type: ignore[attr-defined]
    main_screen(pilot.app).query_one("#search", Input).value = text  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(pilot)


@pytest.mark.parametrize("paused", [False, True])
async def test_a_pasted_event_the_search_does_not_match_is_not_listed_and_the_notice_says_why(
    db_path: Path, paused: bool
) -> None:
    """Under a search, a pasted event that does not match stays out of the searched list (live or paused);
    the notification names it and the search; esc shows it."""
    fill(db_path, [track(1, properties={"plan": "pro"}), track(2)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        await _search(pilot, "properties.plan:pro")
        listed = list(stream.order)
        if paused:
            await pilot.press("space")
        await _paste(pilot, '{"type":"track","event":"Elsewhere","userId":"u"}')
        await pilot.press("ctrl+s")
        await settle(pilot)
        pasted = [e["id"] for e in stored_events(db_path) if e["write_key"] == "paste"]
        assert screen.live and stream.order == listed
        assert all(stream.events[i]["name"] != "Elsewhere" for i in stream.order)
        notice = f"Stored #{pasted[0]}; it does not match the search `properties.plan:pro` (esc shows everything)."
        assert notice in _said(app)
        await pilot.press("escape")
        await settle(pilot)
        assert stream.order[-1] == pasted[0]


async def test_of_a_pasted_batch_the_newest_match_is_selected(db_path: Path) -> None:
    """A batch half matching the search: only its matches are listed, the newest of them is selected,
    and the notice says the newest pasted event does not match."""
    fill(db_path, [track(1, properties={"plan": "pro"})])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await _search(pilot, "properties.plan:pro")
        await _paste(
            pilot,
            '{"type":"track","event":"Hit","userId":"u","properties":{"plan":"pro"}}\n'
            '{"type":"track","event":"Miss","userId":"u"}',
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        hit, miss = (e["id"] for e in stored_events(db_path) if e["write_key"] == "paste")
        stream = screen.query_one(EventList)
        assert [stream.events[i]["name"] for i in stream.order] == ["Event 1", "Hit"]
        assert stream.selected_id == hit and screen.query_one(EventDetail).event["id"] == hit
        assert any(f"#{miss} does not match the search" in said for said in _said(app))
