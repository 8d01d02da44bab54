"""The live stream, driven through Pilot on the real app and a real capture that another
connection (or process) writes: following, pausing with a counter, the cap, sampling, totals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from debugger.tui.widgets.event_detail import EventDetail
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.status import HeaderBar, StatusLine
from tests.helpers import ServeProcess, http
from tests.tui_support import fill, layout_requests, main_screen, make_app, settle, stored_events, track


async def test_events_arriving_while_following_move_the_cursor_along(db_path: Path) -> None:
    """At the newest row, new events are appended and the cursor follows them; the detail shows the newest."""
    fill(db_path, [track(n) for n in range(3)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        assert len(stream.order) == 3 and stream.selected_id == stream.order[-1]
        fill(db_path, [track(n) for n in range(3, 5)])
        screen.poll()
        await settle(pilot)
        assert len(stream.order) == 5
        assert stream.selected_id == stream.order[-1]
        assert screen.query_one(EventDetail).event["name"] == "Event 4"
        assert "5 events" in screen.query_one(HeaderBar).text.plain


async def test_a_cursor_moved_up_stays_put_when_events_arrive(db_path: Path) -> None:
    """Reading an older event is not interrupted by new ones."""
    fill(db_path, [track(n) for n in range(3)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        await pilot.press("up")
        reading = stream.selected_id
        fill(db_path, [track(9)])
        screen.poll()
        await settle(pilot)
        assert len(stream.order) == 4 and stream.selected_id == reading
        assert screen.query_one(EventDetail).event["id"] == reading


async def test_paused_stream_is_frozen_and_counts_what_arrived(db_path: Path) -> None:
    """space pauses: the list stays as it was, the status line counts new events, space resumes with them."""
    fill(db_path, [track(n) for n in range(2)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        await pilot.press("space")
        assert not screen.live
        fill(db_path, [track(n) for n in range(2, 5)])
        screen.poll()
        await settle(pilot)
        assert len(stream.order) == 2
        assert "3 new events since" in screen.query_one(StatusLine).text.plain
        assert "5 events" in screen.query_one(HeaderBar).text.plain  # totals keep counting
        assert "PAUSED" in screen.query_one(HeaderBar).text.plain
        fill(db_path, [track(5)])
        screen.poll()
        await settle(pilot)
        assert "4 new events since" in screen.query_one(StatusLine).text.plain
        await pilot.press("space")
        await settle(pilot)
        assert screen.live and len(stream.order) == 6
        assert "6 events" in screen.query_one(HeaderBar).text.plain
        assert stream.selected_id == stream.order[-1]


async def test_the_cap_keeps_the_newest_rows(db_path: Path) -> None:
    """Beyond --cap rows the oldest leave the screen; storage keeps them all."""
    fill(db_path, [track(n) for n in range(8)])
    app = make_app(db_path, cap=5)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        assert [stream.events[i]["name"] for i in stream.order] == [f"Event {n}" for n in range(3, 8)]
        fill(db_path, [track(n) for n in range(8, 11)])
        screen.poll()
        await settle(pilot)
        assert [stream.events[i]["name"] for i in stream.order] == [f"Event {n}" for n in range(6, 11)]
        assert "showing the newest 5" in screen.query_one(StatusLine).text.plain
        assert len(stored_events(db_path)) == 11


async def test_a_flood_is_sampled_and_the_status_line_says_so(db_path: Path) -> None:
    """Faster than a person reads, the list shows an even sample that ends with the newest event."""
    fill(db_path, [track(0)])
    app = make_app(db_path, readable_rate=1.0, burst=10)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        ids = fill(db_path, [track(n) for n in range(1, 201)], step_ms=1)
        screen.poll()
        await settle(pilot)
        assert 2 <= len(stream.order) <= 11
        assert stream.order[-1] == ids[-1]
        status = screen.query_one(StatusLine).text.plain
        assert "sampling: showing 1 in" in status and "storage keeps 100%" in status
        assert "201 events" in screen.query_one(HeaderBar).text.plain
        assert len(stored_events(db_path)) == 201


async def test_a_sampled_flood_is_polled_less_often_and_normal_pace_returns_after_it(db_path: Path) -> None:
    """While a flood is sampled the stream is read (and repainted) every FLOOD_POLL × poll
    interval instead of every interval: it changes faster than anyone reads, and each repaint
    costs CPU the server on the same machine needs. Events arriving at a readable pace are polled
    at the normal interval."""
    from debugger.tui.screens import main

    fill(db_path, [track(0)])
    app = make_app(db_path, readable_rate=1.0, burst=10)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        delays: list[float] = []
        set_timer = screen.set_timer

        def next_poll(delay: float, callback: object) -> object:
            if callback == screen._tick:
                return delays.append(delay)
            return set_timer(delay, callback)

        screen.set_timer = next_poll  # type: ignore[method-assign]
        app.config = replace(app.config, poll_interval=0.1)  # the timers themselves stay off in tests

        fill(db_path, [track(1)])
        screen._tick()
        await settle(pilot)
        assert not screen.flooding()
        screen._tick()
        fill(db_path, [track(n) for n in range(2, 202)], step_ms=1)
        screen._tick()
        await settle(pilot)
        assert screen.flooding()
        screen._tick()
        assert delays == [0.1, 0.1, 0.1, pytest.approx(0.1 * main.FLOOD_POLL)]

        app.monotonic.now += main.SAMPLE_WINDOW + 1  # the flood is over
        screen.state()
        screen._tick()
        assert delays[-1] == 0.1


async def test_a_small_burst_is_shown_whole(db_path: Path) -> None:
    """`segdbg send sample_events/` arrives at once; every event of it is listed."""
    fill(db_path, [track(0)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        fill(db_path, [track(n) for n in range(1, 120)], step_ms=1)
        screen.poll()
        await settle(pilot)
        assert len(screen.query_one(EventList).order) == 120
        assert "sampling" not in screen.query_one(StatusLine).text.plain


async def test_empty_capture_shows_how_to_get_events(db_path: Path) -> None:
    """With nothing stored, the stream explains where to send and how to paste."""
    fill(db_path, [])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        assert screen.has_class("-empty")
        hint = str(screen.query_one("#empty-hint").content)
        assert "http://127.0.0.1:8088" in hint and "segdbg send sample_events/" in hint and "paste" in hint
        fill(db_path, [track(1)])
        screen.poll()
        await settle(pilot)
        assert not screen.has_class("-empty")


async def test_a_reset_capture_is_reloaded(db_path: Path) -> None:
    """If rows disappear under the follower (segdbg reset), the list reloads instead of going stale."""
    import sqlite3

    fill(db_path, [track(n) for n in range(4)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        with sqlite3.connect(db_path) as conn:
            conn.execute("DELETE FROM events")
        screen.poll()
        await settle(pilot)
        assert screen.query_one(EventList).order == []


@pytest.mark.slow
async def test_follows_a_capture_written_by_another_process(db_path: Path) -> None:
    """`segdbg tui --db` follows a `segdbg serve --headless` in another process, on its own timer."""
    server = ServeProcess(db_path)
    try:
        assert http(server.url + "/v1/track", body={"userId": "u1", "event": "First", "writeKey": "k"}).status == 200
        app = make_app(db_path, poll_interval=0.05)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            stream = main_screen(app).query_one(EventList)
            assert [stream.events[i]["name"] for i in stream.order] == ["First"]
            assert (
                http(server.url + "/v1/track", body={"userId": "u1", "event": "Second", "writeKey": "k"}).status == 200
            )
            for _ in range(200):  # the app's own 50 ms timer picks it up; bounded wait, no fixed sleep
                if len(stream.order) == 2:
                    break
                await pilot.pause(0.02)
            assert [stream.events[i]["name"] for i in stream.order] == ["First", "Second"]
    finally:
        server.stop()


async def test_rows_arriving_grow_the_list_without_a_layout_pass_once_it_scrolls(db_path: Path) -> None:
    """While following, a list that already overflows grows its scroll range without asking for a
    layout pass of the whole screen (15-20 ms each, several a second in a flood); the scroll bar
    covers every row and the cursor stays on the newest."""
    import asyncio

    from debugger.tui.widgets import event_list

    fill(db_path, [track(n) for n in range(60)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        assert stream.show_vertical_scrollbar
        with layout_requests(EventList) as layouts:
            for batch in range(3):
                fill(db_path, [track(n) for n in range(60 + batch * 5, 65 + batch * 5)])
                screen.poll()
                await settle(pilot)
                await asyncio.sleep(event_list.RESIZE_EVERY + 0.05)  # the throttled resize is due
                await settle(pilot)
                assert stream.virtual_size.height == len(stream.order) + 1  # + the header line
                assert stream.vertical_scrollbar.window_virtual_size == stream.virtual_size.height
                assert stream.selected_id == stream.order[-1]
            assert len(stream.order) == 75
            assert layouts == []
