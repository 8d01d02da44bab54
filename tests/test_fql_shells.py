"""FQL through every shell that takes a query: the HTTP API's q= (and its 400 with offsets) and the TUI's search box."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from textual.widgets import Input

from debugger.server.app import ServerThread
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.filter_bar import FilterBar
from tests.helpers import http
from tests.tui_support import fill, main_screen, make_app, settle, track


def test_the_api_takes_fql_and_points_at_its_errors(server: ServerThread) -> None:
    """GET /events?q=fql:... filters by the statement; malformed FQL is 400 invalid_query with its offsets."""
    batch = [
        {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {"total": total}}
        for total in (120, 5)
    ]
    assert http(server.url + "/v1/batch", body={"writeKey": "wk_test", "batch": batch}).status == 200
    base = server.url + "/debugger/api/events?q="
    found = http(base + quote("fql:event = 'Order Completed' and properties.total > 100"), "GET").json()
    assert [e["stored"]["properties"]["total"] for e in found["events"]] == [120]
    answer = http(base + quote("fql:properties.total => 100"), "GET")
    assert answer.status == 400 and answer.json()["code"] == "invalid_query"
    assert (answer.json()["start"], answer.json()["end"]) == (22, 23)  # the `>` after `=`


def _shown(screen: object) -> list[str]:
    stream = screen.query_one(EventList)  # type: ignore[attr-defined]
    return [stream.events[i]["name"] for i in stream.order]


async def test_the_tui_search_takes_fql(db_path: Path) -> None:
    """The search box reads FQL like any query: the list narrows to the statement's matches, errors show inline."""
    fill(db_path, [track(n, properties={"plan": "pro" if n % 2 else "free"}) for n in range(4)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        for text, expected in (
            ("fql:properties.plan = 'pro'", ["Event 1", "Event 3"]),
            ("match( event, 'Event [02]' )", ["Event 0", "Event 2"]),  # detected without the prefix
        ):
            await pilot.press("slash")
            screen.query_one("#search", Input).value = text
            await pilot.press("enter")
            await settle(pilot)
            assert _shown(screen) == expected, text
        await pilot.press("slash")
        screen.query_one("#search", Input).value = "fql:event == 'x'"
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_one(FilterBar).has_class("-error")
        assert "single `=`" in str(screen.query_one("#search-error").content)
        assert _shown(screen) == ["Event 0", "Event 2"]  # the last good search stays
