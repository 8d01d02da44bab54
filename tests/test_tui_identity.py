"""The TUI's Identity screen through Pilot: `u` on the highlighted event opens its user's timeline across sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Static, Tree

from debugger.tui.screens.identity import IdentityScreen
from debugger.tui.widgets.event_list import EventList
from tests.tui_support import fill, main_screen, make_app, message_request, plain, settle


def _labels(node: Any) -> list[str]:
    out = []
    for child in node.children:
        out.append(str(child.label))
        out.extend(_labels(child))
    return out


async def test_u_opens_the_highlighted_events_identity(db_path: Path) -> None:
    """The newest event is Ann's phone; `u` shows both her userIds, both devices, merged traits; esc goes back."""
    fill(
        db_path,
        [
            message_request({"type": "page", "name": "Pricing", "anonymousId": "anon-web"}, key="wk_web"),
            message_request(
                {"type": "identify", "userId": "ann", "anonymousId": "anon-web", "traits": {"email": "a@old.com"}},
                key="wk_web",
            ),
            message_request({"type": "alias", "previousId": "ann", "userId": "ann-2"}, key="wk_web"),
            message_request({"type": "identify", "userId": "bob", "anonymousId": "anon-bob"}, key="wk_web"),
            message_request(
                {"type": "identify", "userId": "ann-2", "anonymousId": "anon-ios", "traits": {"email": "a@new.com"}},
                key="wk_ios",
            ),
            message_request(
                {"type": "track", "event": "Order Completed", "userId": "ann-2", "anonymousId": "anon-ios"},
                key="wk_ios",
            ),
            message_request({"type": "track", "event": "No One"}),  # no ids: stored invalid
        ],
    )
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        assert stream.events[stream.selected_id]["user_id"] is None  # the newest: nobody's
        await pilot.press("u")
        await settle(pilot)
        assert not isinstance(app.screen, IdentityScreen)  # nothing to open: a notification says so
        await pilot.press("up")
        await settle(pilot)
        assert stream.events[stream.selected_id]["user_id"] == "ann-2"
        await pilot.press("u")
        await settle(pilot)
        await app.workers.wait_for_complete()
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IdentityScreen) and screen.seed == "ann-2"
        head = plain(screen.query_one("#identity-summary", Static).content)
        assert "identity 'ann-2': 2 userIds · 2 anonymousIds · 2 sources · 5 events" in head
        labels = _labels(screen.query_one("#identity-tree", Tree).root)
        assert any(label.startswith('email = "a@new.com"') for label in labels), labels
        assert any("anon-web" in label for label in labels) and not any("bob" in label for label in labels)
        assert any("Order Completed" in label for label in labels)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is main_screen(app)
