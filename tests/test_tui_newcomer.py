"""The newcomer's first minutes, end to end: a real server, `segdbg send sample_events/`, and
the TUI guiding each step with what is on screen (the key hints and the empty-state text)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from debugger.server.app import ServerThread
from debugger.tui.widgets.event_detail import EventDetail
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.json_tree import JsonTree
from debugger.tui.widgets.status import HeaderBar, KeyHints, StatusLine
from tests.helpers import events, run_segdbg
from tests.tui_support import SAMPLES, main_screen, make_app, plain, settle


@pytest.mark.slow
async def test_send_samples_find_one_read_it_and_paste(server: ServerThread) -> None:
    """Empty screen says what to run; the samples appear; / finds one; 1 and 2 read it; p pastes."""
    app = make_app(server.settings.db, url=server.url)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        hint = plain(screen.query_one("#empty-hint").content)
        assert f"segdbg send sample_events/ --to {server.url}" in hint
        hints = screen.query_one(KeyHints).text.plain
        for key in ("/  search", "1-4  views", "p  paste", "?  help"):
            assert key in hints

        sent = run_segdbg("send", str(SAMPLES), "--to", server.url)
        assert sent.returncode == 3  # the invalid/ samples are answered 400 on purpose
        stored = events(server.settings.db)
        screen.poll()
        await settle(pilot)
        stream = screen.query_one(EventList)
        # Every request shows, each rejected one as one row (the 2,501-message batch too, so the
        # good samples are not pushed out), and the header counts the refusals apart.
        shown_requests = {stream.events[i]["request_id"] for i in stream.order}
        assert shown_requests == {e["request_id"] for e in stored}
        assert len(stream.order) == len(stored) < 100
        assert "sampling" not in screen.query_one(StatusLine).text.plain
        assert "7 requests rejected" in screen.query_one(HeaderBar).text.plain
        assert {"Order Completed", "Signed Up"} <= {stream.events[i]["name"] for i in stream.order}

        await pilot.press("slash")
        screen.query_one("#search", Input).value = 'event:"Report Created"'
        await pilot.press("enter")
        await settle(pilot)
        assert [stream.events[i]["name"] for i in stream.order] == ["Report Created"]
        detail = screen.query_one(EventDetail)
        assert 'analytics.track("Report Created"' in plain(screen.query_one("#detail-pretty").content)
        await pilot.press("2")
        await settle(pilot)
        assert detail.active == "raw"
        assert 'event: "Report Created"' in [str(n.label) for n in detail.query_one(JsonTree).root.children]

        await pilot.press("escape", "p")
        await settle(pilot)
        app.screen.query_one(TextArea).text = 'analytics.track("First Paste", { from: "newcomer" })'
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert detail.event["name"] == "First Paste" and detail.event["write_key"] == "paste"
