"""Search in the TUI with the filter language: live match count over all stored events, n/N
jumps (also to events the sampled list skipped), type toggles, and errors shown inline."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from textual.widgets import Input

from debugger.tui.widgets.event_detail import EventDetail
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.filter_bar import FilterBar
from debugger.tui.widgets.status import HeaderBar
from tests.tui_support import T0, fill, main_screen, make_app, message_request, settle, track


def _names(screen: object) -> list[str]:
    stream = screen.query_one(EventList)  # type: ignore[attr-defined]
    return [stream.events[i]["name"] or stream.events[i]["type"] for i in stream.order]


async def _search(pilot: object, text: str) -> None:
    await pilot.press("slash")  # type: ignore[attr-defined]
    main_screen(pilot.app).query_one("#search", Input).value = text  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(pilot)


def _count(screen: object) -> str:
    return str(screen.query_one("#match-count").content)  # type: ignore[attr-defined]


async def test_search_filters_the_list_and_counts_matches(db_path: Path) -> None:
    """Typing a query shows only matches with their count; new matching events keep arriving; esc clears."""
    fill(db_path, [track(n, properties={"plan": "pro" if n % 2 else "free"}) for n in range(6)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await _search(pilot, "properties.plan:pro")
        assert _names(screen) == ["Event 1", "Event 3", "Event 5"]
        assert _count(screen) == "3 matches"
        assert screen.query_one(EventList).has_focus  # enter goes back to the list
        fill(db_path, [track(7, properties={"plan": "pro"}), track(8, properties={"plan": "free"})])
        screen.poll()
        await settle(pilot)
        assert _names(screen)[-1] == "Event 7" and _count(screen) == "4 matches"
        await pilot.press("escape")
        await settle(pilot)
        assert len(_names(screen)) == 8
        assert "8 events" in screen.query_one(HeaderBar).text.plain  # totals survive reloads, counted once


async def test_typing_searches_after_a_pause(db_path: Path) -> None:
    """No enter needed: the search runs once typing pauses."""
    fill(db_path, [track(1), message_request({"type": "identify", "userId": "u9"})])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await pilot.press("slash", *"type:identify")
        await pilot.pause(0.3)
        await settle(pilot)
        assert _names(screen) == ["identify"] and _count(screen) == "1 match"


async def test_a_malformed_query_is_shown_inline_and_changes_nothing(db_path: Path) -> None:
    """An error marks the offending term under the input with the message; the list keeps the last good search."""
    fill(db_path, [track(n) for n in range(3)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await _search(pilot, "type:track typo:x")
        bar = screen.query_one(FilterBar)
        assert bar.has_class("-error")
        error = str(screen.query_one("#search-error").content)
        assert error.startswith(" " * 11 + "^^^^") and "typo" in error
        assert len(_names(screen)) == 3
        await _search(pilot, "type:track")
        assert not bar.has_class("-error") and _count(screen) == "3 matches"


async def test_an_invalid_query_shows_no_count_of_another_query(db_path: Path) -> None:
    """While the query in the box is invalid the box says so, and new events do not bring back the last
    good query's count; the error says what the list shows; fixing the query brings its live count back."""
    fill(db_path, [track(n) for n in range(3)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await _search(pilot, "type:track")
        assert _count(screen) == "3 matches"
        await _search(pilot, "type:track typo:x")
        assert _count(screen) == "✗ invalid"
        assert "(the list shows the last valid search, type:track)" in str(screen.query_one("#search-error").content)
        fill(db_path, [track(3)])
        screen.poll()
        await settle(pilot)
        assert len(_names(screen)) == 4  # the list keeps following the last valid search
        assert _count(screen) == "✗ invalid"
        await _search(pilot, "type:track")  # the same query as the list's: no reload, its current count
        assert _count(screen) == "4 matches"


def _pinned(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM events WHERE pinned = 1 ORDER BY id")]


def _visible(stream: EventList) -> bool:
    top = int(stream.scroll_y)
    return top <= stream.cursor < top + stream.size.height - 1  # -1: the header line


async def test_esc_keeps_the_highlighted_event_so_p_pins_what_was_seen(db_path: Path) -> None:
    """Clearing the search keeps the highlighted event highlighted and in view, even when it is older than
    the newest rows the cleared list holds (it is put in its place); P then pins that event, not the newest."""
    ids = fill(db_path, [track(n, properties={"plan": "pro" if n % 2 else "free"}) for n in range(40)])
    app = make_app(db_path, cap=20)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        await _search(pilot, "properties.plan:pro")
        for _ in range(15):
            await pilot.press("up")
        assert stream.events[stream.selected_id]["name"] == "Event 9"
        await pilot.press("escape")
        await settle(pilot)
        assert screen.search == "" and stream.selected_id == ids[9]
        assert screen.query_one(EventDetail).event["id"] == ids[9] and _visible(stream)
        await pilot.press("P")
        await settle(pilot)
        assert _pinned(db_path) == [ids[9]]


async def test_a_new_search_keeps_the_highlighted_event_or_the_nearest_match(db_path: Path) -> None:
    """A search the highlighted event matches keeps it; one it does not match highlights the nearest match
    by id (older on a tie), in view; a type toggle acts the same."""
    ids = fill(db_path, [track(n, properties={"plan": "pro" if n % 3 == 0 else "free"}) for n in range(60)])
    fill(db_path, [message_request({"type": "identify", "userId": "u9"})], start=T0 + timedelta(minutes=1))
    app = make_app(db_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        stream.select_id(ids[31])
        await _search(pilot, "type:track")
        assert stream.selected_id == ids[31] and _visible(stream)
        await _search(pilot, "properties.plan:pro")  # 31 is free; 30 and 33 are pro
        assert stream.selected_id == ids[30] and _visible(stream)
        assert screen.query_one(EventDetail).event["id"] == ids[30]
        await _search(pilot, "")
        screen.query_one(FilterBar).toggle_type("identify")
        await settle(pilot)
        assert _names(screen) == ["identify"] and stream.selected_id == stream.order[0]


async def test_n_and_N_jump_between_matches_beyond_the_rows_shown(db_path: Path) -> None:
    """N walks to older matches even past the cap; n walks back; the bar says which match it is."""
    fill(db_path, [track(n, properties={"hit": n % 2 == 0}) for n in range(12)])
    app = make_app(db_path, cap=3)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await _search(pilot, "properties.hit:true")
        assert _names(screen) == ["Event 6", "Event 8", "Event 10"] and _count(screen) == "6 matches"
        detail = screen.query_one(EventDetail)
        seen = []
        for _ in range(4):
            await pilot.press("N")
            await settle(pilot)
            seen.append(detail.event["name"])
        assert seen == ["Event 8", "Event 6", "Event 4", "Event 2"]
        assert _count(screen) == "2 of 6"
        assert "Event 2" in _names(screen)
        await pilot.press("n")
        await settle(pilot)
        assert detail.event["name"] == "Event 4" and _count(screen) == "3 of 6"


async def test_search_and_n_reach_events_the_sampled_list_skipped(db_path: Path) -> None:
    """The list shows a sample of a flood, but search covers every stored event."""
    fill(db_path, [track(0)])
    app = make_app(db_path, readable_rate=1.0, burst=5)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        fill(db_path, [track(n) for n in range(1, 101)], step_ms=1)
        screen.poll()
        await settle(pilot)
        assert "Event 57" not in _names(screen)
        await _search(pilot, "user:user-57")
        assert _names(screen) == ["Event 57"] and _count(screen) == "1 match"
        await pilot.press("escape")
        await settle(pilot)
        stream = screen.query_one(EventList)
        start = stream.selected_id
        await pilot.press("N")
        await settle(pilot)
        assert stream.selected_id == start - 1  # the very previous stored event, shown or not


async def test_type_toggles_narrow_the_search(db_path: Path) -> None:
    """Ticking types adds a type: term to the search."""
    fill(
        db_path,
        [
            track(1),
            message_request({"type": "identify", "userId": "u9"}),
            message_request({"type": "page", "name": "Home", "userId": "u9"}),
        ],
    )
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        bar = screen.query_one(FilterBar)
        bar.toggle_type("identify")
        bar.toggle_type("page")
        await settle(pilot)
        assert _names(screen) == ["identify", "Home"]
        assert bar.text == "type:identify,page"
        await pilot.click("#type-toggles", offset=(2, 0))  # "identify" is first
        await settle(pilot)
        assert _names(screen) == ["Home"]


async def test_search_on_a_capture_whose_index_lags(db_path: Path) -> None:
    """Free text goes through the FTS index for the rows it covers and scans only the rest: the list,
    the count, n/N across the watermark and newly arriving matches are exactly the matching events."""
    from debugger.store import capture, index

    fill(db_path, [track(n, properties={"note": "a quokka" if n % 5 == 0 else "plain"}) for n in range(20)])
    conn = capture.connect(db_path)
    index.Indexer(step=10, rows_per_commit=10)(conn, lambda: True)  # events 0-9 indexed, 10-19 lag
    assert index.index_state(conn) == index.IndexState(10, 20)
    conn.close()
    app = make_app(db_path, cap=3)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        statements: list[str] = []
        with app.reader._lock:  # the reader's connection, used by the worker threads
            app.reader._db().set_trace_callback(statements.append)
        await _search(pilot, "QUOKKA")
        assert any("events_fts MATCH" in s for s in statements)  # the index was used, not a table scan
        assert _names(screen) == ["Event 5", "Event 10", "Event 15"] and _count(screen) == "4 matches"
        detail = screen.query_one(EventDetail)
        seen = []
        for _ in range(3):  # from the newest match down, across the watermark into the indexed rows
            await pilot.press("N")
            await settle(pilot)
            seen.append(detail.event["name"])
        assert seen == ["Event 10", "Event 5", "Event 0"] and _count(screen) == "1 of 4"
        await pilot.press("n")
        await settle(pilot)
        assert detail.event["name"] == "Event 5" and _count(screen) == "2 of 4"
        fill(db_path, [track(20, properties={"note": "quokka!"}), track(21)])
        screen.poll()
        await settle(pilot)
        assert _names(screen)[-1] == "Event 20" and _count(screen) == "5 matches"


async def test_rows_show_before_the_count_and_n_steps_without_recounting(db_path: Path) -> None:
    """A search shows its newest matches at once and says `counting…` until every match is counted
    (slow for a common word on a big capture); n/N from a match whose number is known step ±1
    instead of counting again."""
    import threading

    fill(db_path, [track(n, properties={"hit": n % 2 == 0}) for n in range(12)])
    app = make_app(db_path, cap=3)
    reader = app.reader
    counts: list[int] = []
    release = threading.Event()
    position = reader.position

    def slow_position(where: object, event_id: int) -> int:  # the real count, held back until released
        counts.append(event_id)
        assert release.wait(10)
        return position(where, event_id)  # type: ignore[arg-type]

    reader.position = slow_position  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        await pilot.press("slash")
        screen.query_one("#search", Input).value = "properties.hit:true"
        await pilot.press("enter")
        for _ in range(200):  # the load worker is blocked in the count: wait for its first message
            await pilot.pause(0.01)
            if _names(screen) == ["Event 6", "Event 8", "Event 10"]:
                break
        assert _names(screen) == ["Event 6", "Event 8", "Event 10"] and _count(screen) == "counting…"
        release.set()
        await settle(pilot)
        assert _count(screen) == "6 matches" and len(counts) == 1
        detail = screen.query_one(EventDetail)
        for key, name, label in [
            ("N", "Event 8", "5 of 6"),
            ("N", "Event 6", "4 of 6"),
            ("N", "Event 4", "3 of 6"),
            ("n", "Event 6", "4 of 6"),
        ]:
            await pilot.press(key)
            await settle(pilot)
            assert (detail.event["name"], _count(screen)) == (name, label)
        assert len(counts) == 1  # every step was one away from a known match number
