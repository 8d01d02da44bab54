"""The stream's columns, sized by content and priority (docs/tui.md, "Columns"): status codes are
shown whole, name keeps a readable width, user and source are dropped (source first) when narrow,
and widths follow new rows without a re-layout per row. Driven through Pilot on the real app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from debugger.core.http import model
from debugger.tui.widgets import columns, event_list
from debugger.tui.widgets.event_list import EventList
from tests.helpers import basic
from tests.tui_support import fill, main_screen, make_app, message_request, settle, track

LONG_STATUS = "⚠ semantic_missing_property +1"
LONG_USER = "customer-0001@example.com"


def _order_completed(user: str = LONG_USER, key: str = "web-production") -> model.IncomingRequest:
    message = {"type": "track", "event": "Order Completed", "userId": user, "messageId": f"oc-{user}"}
    return message_request({**message, "properties": {"total": 3}}, key)


def _bad_json() -> model.IncomingRequest:
    return model.IncomingRequest(
        method="POST", path="/v1/batch", headers=(("Authorization", basic("wk_test")),), body=b"{", remote="127.0.0.1"
    )


def _shown(stream: EventList) -> list[str]:
    """The rows as seen: the scroll bar is drawn over the last cells of each line."""
    width = stream.size.width - stream.scrollbar_size_vertical
    return [stream.render_line(y).text[:width] for y in range(stream.size.height)]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)], ids=["80", "100", "160"])
async def test_status_codes_are_whole_and_name_readable_at_every_width(db_path: Path, size: tuple[int, int]) -> None:
    """A long problem code keeps its `+1` and a rejected request its code at 80, 100 and 160 columns (the
    scroll bar takes none of it); name is at least 16 wide; at 80 user and source make room; at 160 every
    cell is whole."""
    fill(db_path, [track(n) for n in range(30)] + [_order_completed(), _bad_json(), track(99)])
    app = make_app(db_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        assert stream.show_vertical_scrollbar
        lines = _shown(stream)
        assert any("Order Completed" in line and LONG_STATUS in line for line in lines)
        assert any("REJECTED" in line and "POST /v1/batch" in line and "✗ 400 invalid_json" in line for line in lines)
        widths = stream.column_widths
        assert widths["name"] >= 16 and widths["status"] == len(LONG_STATUS)
        if size[0] == 80:
            assert "source" not in widths and "user" not in widths
            assert lines[0].split() == ["time", "type", "name", "status"]
        if size[0] == 100:
            assert "user" in widths and "source" in widths
        if size[0] == 160:
            row = next(line for line in lines if "Order Completed" in line)
            assert LONG_USER in row and "web-production" in row
            assert widths["name"] <= 40  # the spare width is not put between a name and its user


def test_layout_keeps_status_then_name_then_user_then_source() -> None:
    """At every width from 60 to 220: the columns fit; status gets its content (up to 32) while name keeps
    16; source is never shown without user; name takes no spare width while user or source is cut."""
    content = [12, 8, 30, 25, 14, len(LONG_STATUS) + 6]
    for width in range(60, 221):
        widths = columns.layout(width, content)
        shown = [w for w in widths if w]
        assert sum(shown) + columns.GAP * (len(shown) - 1) <= width
        assert widths[columns.NAME] >= 16
        if width >= 12 + 8 + 32 + 16 + 3 * columns.GAP:
            assert widths[columns.STATUS] >= 32
        assert not widths[columns.SOURCE] or widths[columns.USER]
        if 0 < widths[columns.USER] < 25 or 0 < widths[columns.SOURCE] < 14:
            assert widths[columns.NAME] <= 30
    assert columns.layout(80, content)[columns.USER] == 0
    assert columns.layout(200, content) == (12, 8, 40, 25, 14, 36)


async def test_widths_follow_new_rows_at_most_every_resize_interval(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows no wider than the columns keep every cached row; wider rows widen their columns once the
    throttle allows (two in a row: one re-layout), and then the new code is shown whole."""
    monkeypatch.setattr(event_list, "RESIZE_EVERY", 2.0)
    fill(db_path, [track(n) for n in range(3)])
    app = make_app(db_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        first = stream.order[0]
        before = stream.column_widths
        cached = stream._strips[first]
        fill(db_path, [track(n) for n in range(3, 6)])
        screen.poll()
        await settle(pilot)
        assert stream.column_widths == before and stream._strips[first] is cached  # nothing re-laid out
        fill(db_path, [_order_completed(user="u1", key="wk_test")])
        screen.poll()
        await settle(pilot)
        fill(db_path, [_order_completed(user=LONG_USER, key="wk_test")])
        screen.poll()
        await settle(pilot)
        assert stream.column_widths == before  # within the interval: drawn at the old widths
        await asyncio.sleep(2.1)
        await settle(pilot)
        after = stream.column_widths
        assert after["status"] == len(LONG_STATUS) and after["user"] == len(LONG_USER)
        assert stream._strips.get(first) is not cached
        assert any(LONG_STATUS in line and LONG_USER in line for line in _shown(stream))
