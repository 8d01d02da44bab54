"""The detail tabs and copy, driven through Pilot: Pretty in the sender's dialect (and by hand),
Raw as a foldable tree, HTTP as received, Problems with paths; untrusted text stays inert."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from debugger.core.pretty import render as pretty
from debugger.tui.widgets.event_detail import EventDetail
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.json_tree import JsonTree
from tests.helpers import basic
from tests.tui_support import (
    fill,
    layout_requests,
    main_screen,
    make_app,
    message_request,
    plain,
    settle,
    track,
    wire_requests,
)

EVIL = {
    "type": "track",
    "event": "product added\x1b[31m [bold]x[/bold]",
    "userId": "u\x1b]52;c;aGk=\x07",
    "properties": {"note": "[red]not markup[/red] \u202etxt"},
}


def _detail(app: object) -> EventDetail:
    return main_screen(app).query_one(EventDetail)


def _pretty_text(app: object) -> str:
    return plain(main_screen(app).query_one("#detail-pretty").content)


async def test_tabs_switch_with_number_keys_and_render_the_selected_event(db_path: Path) -> None:
    """1-4 show Pretty, Raw, HTTP and Problems for the highlighted event."""
    fill(
        db_path,
        [
            message_request(
                {
                    "type": "track",
                    "event": "Signed Up",
                    "userId": "u1",
                    "properties": {"plan": "pro"},
                    "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
                }
            )
        ],
    )
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = _detail(app)
        assert detail.active == "pretty"
        assert 'analytics.track(user_id="u1", event="Signed Up", properties={"plan": "pro"})' in _pretty_text(app)
        await pilot.press("2")
        await settle(pilot)
        assert detail.active == "raw"
        tree = detail.query_one(JsonTree)
        labels = [str(node.label) for node in tree.root.children]
        assert 'event: "Signed Up"' in labels and "receivedAt" in " ".join(labels)
        await pilot.press("3")
        await settle(pilot)
        assert detail.active == "http"
        http_text = plain(detail.query_one("#detail-http").content)
        assert "POST /v1/track" in http_text and "Basic ••••••" in http_text and "200" in http_text
        assert basic("wk_test").split()[1] not in http_text  # the key never reaches the screen
        await pilot.press("4")
        await settle(pilot)
        assert detail.active == "problems"
        assert "No problems" in plain(detail.query_one("#detail-problems").content)


async def test_raw_tree_folds_and_unfolds(db_path: Path) -> None:
    """enter on a node of the Raw tree folds it; again unfolds it."""
    fill(db_path, [track(1, properties={"a": {"b": 1}})])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("2", "enter")  # Raw, then into the tree
        await settle(pilot)
        tree = _detail(app).query_one(JsonTree)
        assert tree.has_focus
        properties = next(n for n in tree.root.children if str(n.label).startswith("properties"))
        tree.move_cursor(properties)
        assert properties.is_expanded
        await pilot.press("space")
        assert not properties.is_expanded
        await pilot.press("space")
        assert properties.is_expanded
        await pilot.press("escape")
        assert main_screen(app).query_one(EventList).has_focus


async def test_problems_tab_lists_codes_and_json_paths(db_path: Path) -> None:
    """An invalid event shows its problem count on the tab and each problem's code and path."""
    fill(db_path, [message_request({"type": "track", "properties": {"x": 1}, "anonymousId": "a"}, path="/v1/track")])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = _detail(app)
        await pilot.press("4")
        await settle(pilot)
        text = plain(detail.query_one("#detail-problems").content)
        assert "Segment would drop this event" in text
        assert "missing_event" in text and "event" in text
        assert "Problems (1)" in str(detail.query_one("#detail-tabs").get_tab("tab-problems").label)


async def test_moving_through_events_updates_the_problem_count_without_a_layout_pass(db_path: Path) -> None:
    """↑/↓ through events with different problem counts: the tab shows each one's count, and a
    count as wide as the last repaints the tab only (a layout pass of the screen was ~10 ms of
    most key presses)."""
    from textual.widgets.tabbed_content import ContentTab

    fill(db_path, list(wire_requests()))
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = _detail(app)
        tab = detail.query_one("#detail-tabs").get_tab("tab-problems")
        labels: list[str] = []
        with layout_requests(ContentTab) as layouts:
            for _ in range(8):
                await pilot.press("up")
                await settle(pilot, rounds=1)
                assert tab.label_text == f"Problems ({len(detail.findings)})"
                labels.append(tab.label_text)
        assert len(set(labels)) >= 2  # the counts did change on the way
        assert layouts == []
        await app.workers.wait_for_complete()
        rendered = "".join(s.text for s in app.screen._compositor.render_strips()[tab.region.y])
        assert labels[-1] in rendered  # and the tab bar shows the new label


async def test_pretty_follows_the_sender_and_switches_by_hand(db_path: Path) -> None:
    """Each event shows in its own library's dialect; l cycles, and a picked dialect sticks across events."""
    fill(db_path, list(wire_requests())[:12])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = _detail(app)
        sender = detail.dialect
        assert sender == pretty.dialect_for(detail.event["library_name"])
        await pilot.press("l")
        await settle(pilot)
        picked = detail.dialect
        assert picked == pretty.DIALECTS[(pretty.DIALECTS.index(sender) + 1) % len(pretty.DIALECTS)]
        assert _pretty_text(app).strip() == pretty.inert_lines(pretty.render_call(detail.event, picked)).strip()
        await pilot.press("up")
        await settle(pilot)
        assert detail.dialect == picked
        await pilot.press("L")
        await settle(pilot)
        await pilot.press("home", "enter")  # "the sender's own"
        await settle(pilot)
        assert detail.override is None and detail.dialect == pretty.dialect_for(detail.event["library_name"])


async def test_untrusted_text_is_shown_inert_everywhere(db_path: Path) -> None:
    """Escape sequences and markup in a payload are shown as text: never sent to the terminal, never styled."""
    fill(db_path, [message_request(EVIL)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        stream = screen.query_one(EventList)
        row = " ".join(cell.plain for cell in stream.cells(stream.events[stream.order[0]]))
        assert "\\x1b[31m [bold]x[/bold]" in row and "\x1b" not in row
        for tab in ("1", "2", "3"):
            await pilot.press(tab)
            await settle(pilot)
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "\u202e" not in svg and "\x07" not in svg
        await pilot.press("2")
        await settle(pilot)
        labels = _labels(_detail(app).query_one(JsonTree).root)
        assert any('note: "[red]not markup[/red] \\u202etxt"' == label for label in labels), labels


def _labels(node: object) -> list[str]:
    out = [str(node.label)]  # type: ignore[attr-defined]
    for child in node.children:  # type: ignore[attr-defined]
        out += _labels(child)
    return out


async def test_copy_as_json_pretty_and_curl(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """c then j, p or u puts the event on the clipboard (OSC 52) in that format (no clipboard command on PATH:
    each copy is also written to a file in copy_dir, see tests/test_tui_copy.py)."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    fill(db_path, [message_request({"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}})])
    app = make_app(db_path, copy_dir=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        event = _detail(app).event
        await pilot.press("c", "j")
        await settle(pilot)
        assert orjson.loads(app.clipboard) == event["stored"]
        await pilot.press("c", "p")
        await settle(pilot)
        assert app.clipboard == pretty.render_call(event, _detail(app).dialect, base_url="http://127.0.0.1:8088")
        await pilot.press("c", "u")
        await settle(pilot)
        assert app.clipboard.startswith("curl 'http://127.0.0.1:8088/v1/identify'")
        await pilot.press("c", "escape")
        await settle(pilot)
        assert app.screen is main_screen(app)


async def test_command_palette_offers_every_action(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+p lists the screen's actions (pause, search, paste, copy, dialects, tabs, types, help)."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    fill(db_path, [track(1)])
    app = make_app(db_path, copy_dir=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(main_screen(app))]
        for wanted in (
            "Pause / resume the stream",
            "Search",
            "Next match",
            "Paste a payload",
            "Copy as curl",
            "Show Raw",
            "Pretty as analytics-go",
            "Toggle type track",
            "Help",
        ):
            assert wanted in titles
        command = next(c for c in app.get_system_commands(main_screen(app)) if c.title == "Copy as json")
        command.callback()
        assert orjson.loads(app.clipboard)["event"] == "Event 1"


async def test_help_screen_opens_and_closes(db_path: Path) -> None:
    """? shows the keys, the search language and the paste forms; esc closes it."""
    fill(db_path, [track(1)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is main_screen(app)


async def test_the_frame_after_a_keypress_already_shows_the_new_event(db_path: Path) -> None:
    """↑/↓ in the list: the next frame painted repaints the Pretty view with the newly chosen
    event, not only the list's cursor (the detail used to follow a frame later, ~30 ms on)."""
    from textual.screen import Screen

    from debugger.tui.widgets.lines_view import LinesView

    fill(db_path, [track(n) for n in range(5)])
    app = make_app(db_path)
    frames: list[tuple[float, bool]] = []  # (when the frame started, whether it repainted the Pretty view)
    original = Screen._compositor_refresh

    def painting(screen: Screen) -> None:
        pretty_view = screen.query("#detail-pretty").first(LinesView) if screen.query("#detail-pretty") else None
        frames.append((time.perf_counter(), pretty_view is not None and pretty_view in screen._dirty_widgets))
        original(screen)

    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = _detail(app)
        shown: list[float] = []
        show = detail.show

        def timed_show(event: object) -> None:
            show(event)  # type: ignore[arg-type]
            shown.append(time.perf_counter())

        detail.show = timed_show  # type: ignore[method-assign]
        Screen._compositor_refresh = painting  # type: ignore[method-assign]
        try:
            for key in ("up", "up", "down"):
                before = detail.event
                await pilot.press(key)
                await settle(pilot)
                assert detail.event is not before and shown
                first = next(repainted for started, repainted in frames if started > shown[-1])
                assert first, f"the first frame after {key} did not repaint the detail"
                frames.clear()
        finally:
            Screen._compositor_refresh = original  # type: ignore[method-assign]


async def test_the_detail_and_list_repaint_with_their_current_styles(db_path: Path) -> None:
    """Rows and detail lines take their background from the widget's current style: focusing
    the detail (enter) tints it, and a theme change recolours the list. (The base style is
    cached per style change; a stale cache would keep the old background.)"""
    from debugger.tui.widgets.lines_view import LinesView

    fill(db_path, [track(n) for n in range(3)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        code = screen.query_one("#detail-pretty", LinesView)
        stream = screen.query_one(EventList)

        def detail_background() -> object:
            return list(code.render_line(30))[-1].style.bgcolor  # below the text: the widget's own background

        def list_background() -> object:
            return list(stream.render_line(20))[-1].style.bgcolor  # below the rows

        before = detail_background()
        await pilot.press("enter")
        await settle(pilot)
        assert code.has_focus
        assert detail_background() != before
        assert detail_background() == code.rich_style.bgcolor

        dark = list_background()
        app.theme = "textual-light"
        await settle(pilot)
        assert list_background() != dark
        assert list_background() == stream.rich_style.bgcolor


async def test_the_cursor_row_and_column_header_follow_focus_theme_and_width(db_path: Path) -> None:
    """The list keeps its header line and cursor style between frames (a frame re-renders every
    visible row); a focus move, a theme change and a narrower terminal must still show at once."""
    fill(db_path, [track(n) for n in range(3)])
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)

        def screen_line(y: int) -> list[object]:
            return list(app.screen._compositor.render_strips()[stream.region.y + y])

        def cursor_background() -> object:
            row = 1 + stream.cursor - int(stream.scroll_y)
            return screen_line(row)[0].style.bgcolor  # type: ignore[attr-defined]

        focused = cursor_background()
        assert focused == stream.get_component_rich_style("event-list--cursor").bgcolor
        await pilot.press("enter")  # focus moves to the detail: the cursor row is "blurred"
        await settle(pilot)
        assert not stream.has_focus
        assert cursor_background() != focused
        assert cursor_background() == stream.get_component_rich_style("event-list--cursor").bgcolor

        header = "".join(s.text for s in screen_line(0))  # type: ignore[attr-defined]
        assert header.startswith("time") and "status" in header
        header_colour = screen_line(0)[0].style.color  # type: ignore[attr-defined]
        app.theme = "textual-light"
        await settle(pilot)
        assert screen_line(0)[0].style.color != header_colour  # type: ignore[attr-defined]

        await pilot.resize_terminal(90, 36)
        await settle(pilot)
        header = "".join(s.text for s in screen_line(0)).rstrip()  # type: ignore[attr-defined]
        assert header.endswith("status") and len(header) <= stream.size.width


async def test_a_taller_or_shorter_detail_resizes_its_scroll_bar_without_a_layout_pass(db_path: Path) -> None:
    """Moving between events whose Pretty text overflows the view changes only the scroll bar's
    thumb: the detail applies its new length without asking for a layout pass of the whole screen
    (15-20 ms after every event shown); a text that starts or stops overflowing still brings the
    scroll bar in or takes it away."""
    from debugger.tui.widgets.lines_view import LinesView

    python = {"library": {"name": "analytics-python", "version": "2.4.0"}}  # one property a line
    fill(
        db_path,
        [
            message_request({"type": "track", "event": "Short", "userId": "u", "context": python}),
            message_request(
                {
                    "type": "track",
                    "event": "Long",
                    "userId": "u",
                    "context": python,
                    "properties": {f"p{i}": i for i in range(25)},
                }
            ),
            message_request(
                {
                    "type": "track",
                    "event": "Longer",
                    "userId": "u",
                    "context": python,
                    "properties": {f"p{i}": i for i in range(40)},
                }
            ),
        ],
    )
    app = make_app(db_path)

    async def settled_on(text: str) -> None:
        for _ in range(50):
            await settle(pilot)
            if text in _pretty_text(app) and code.virtual_size.height == len(code._lines):
                return
        raise AssertionError(f"the detail did not settle on {text}")

    async with app.run_test(size=(120, 36)) as pilot:
        code = main_screen(app).query_one("#detail-pretty", LinesView)
        await settled_on('event="Longer"')  # the newest is selected
        longer = code.virtual_size.height
        assert longer > code.container_size.height and code.show_vertical_scrollbar
        with layout_requests(LinesView) as layouts:
            await pilot.press("up")  # Long: still overflows
            await settled_on('event="Long"')
            assert code.virtual_size.height < longer
            assert code.vertical_scrollbar.window_virtual_size == code.virtual_size.height
            assert layouts == []
            await pilot.press("up")  # Short: fits, the bar goes
            await settled_on('event="Short"')
            assert not code.show_vertical_scrollbar
            await pilot.press("down")  # Long again: the bar comes back
            await settled_on('event="Long"')
            assert code.show_vertical_scrollbar


async def test_the_detail_shows_everything(db_path: Path) -> None:
    """Issue 15 item 4: a long value wraps instead of being cut at the edge; the curl body is laid out
    over lines; Raw shows the message as received and as stored (r) and names what the server
    changed; HTTP shows the body segdbg answered."""
    long_value = "x" * 300 + "END"
    fill(db_path, [message_request({"type": "track", "event": "E", "userId": "u", "properties": {"long": long_value}})])
    app = make_app(db_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        view = main_screen(app).query_one("#detail-pretty")
        lines = [strip.text for strip in view._lines]
        assert max(len(line) for line in lines) <= 100
        assert "END" in "".join(lines)  # the end of a 300-character value is on screen, wrapped
        assert any(line.strip() == '"event": "E",' for line in lines)  # one value a line
        detail = _detail(app)
        await pilot.press("2")
        await settle(pilot)
        bar = str(detail.query_one("#raw-bar").render())
        assert "as stored" in bar and "+receivedAt" in bar and "+messageId" in bar
        tree = detail.query_one(JsonTree)
        assert any(str(n.label).startswith("receivedAt") for n in tree.root.children)
        await pilot.press("r")
        await settle(pilot)
        assert "as received" in str(detail.query_one("#raw-bar").render())
        assert not any(str(n.label).startswith("receivedAt") for n in tree.root.children)
        assert "as received" in str(tree.root.label)
        await pilot.press("3")
        await settle(pilot)
        http_text = plain(detail.query_one("#detail-http").content)
        assert '{"success":true}' in http_text and "not kept for an accepted request" in http_text
