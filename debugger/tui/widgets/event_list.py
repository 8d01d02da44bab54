"""The stream: one line per event, newest at the bottom, at most ``cap`` rows kept.

A Line-API ``ScrollView`` (like Textual's ``Log`` and toolong's log view) rather than a
DataTable: each row is rendered once and cached by event id, so a flood of new rows costs
only the rows that are new (a DataTable re-renders every visible row on each change).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from debugger.core.pretty.render import event_kind, event_label, event_user, inert, status_text
from debugger.tui.widgets import columns
from debugger.tui.widgets.columns import COLUMNS, GAP
from debugger.tui.widgets.problems import lint_mark
from debugger.tui.widgets.sizing import set_virtual_size
from debugger.tui.widgets.styled import CachedBaseStyle

TYPE_STYLE = {
    "track": "bold cyan",
    "identify": "bold magenta",
    "page": "bold green",
    "screen": "bold green",
    "group": "bold yellow",
    "alias": "bold blue",
}
STATUS_STYLE = {"ok": "green", "invalid": "bold red", "duplicate": "yellow", "rejected": "bold red"}
RESIZE_EVERY = 0.5  # seconds between virtual-size (and column-width) changes while rows stream in


def clock_time(received_at: str, tz: tzinfo | None) -> str:
    """``HH:MM:SS.mmm`` of a stored UTC time, in ``tz`` (the local zone when ``None``)."""
    try:
        moment = datetime.fromisoformat(received_at)
    except ValueError:
        return inert(received_at, 12)
    local = moment.astimezone(tz)
    return local.strftime("%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


class EventList(CachedBaseStyle, ScrollView, can_focus=True):
    """Events keyed by id, a cursor, and follow: new rows carry the cursor when it is on
    the newest row. Every cell is plain ``Text`` (payload strings are untrusted)."""

    DEFAULT_CSS = """
    EventList {
        background: $surface;
        overflow-x: hidden;
    }
    EventList > .event-list--header {
        text-style: bold;
        color: $text-muted;
    }
    EventList > .event-list--cursor {
        background: $block-cursor-blurred-background;
    }
    EventList:focus > .event-list--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"event-list--header", "event-list--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("g,home", "oldest", "Oldest", show=False),
        Binding("G,end", "newest", "Newest", show=False),
        Binding("enter", "select", "Detail", show=False),
    ]

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another event (``None``: the list is empty).

        ``follow`` is true when new rows carried it, not a person.
        """

        event_id: int | None
        follow: bool = False

    @dataclass
    class Selected(Message):
        """Enter (or a double click) on an event."""

        event_id: int

    def __init__(self, *, cap: int, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cap = cap
        self.tz = tz
        self.events: dict[int, dict[str, Any]] = {}
        self.order: list[int] = []
        self._strips: dict[int, Strip] = {}
        self._header: Strip | None = None
        self._cursor_style: Style | None = None
        self._frame: tuple[int, int] | None = None  # (width, first row) while a frame renders
        self.cursor = 0
        self._posted: int | None = None
        self._resize_timer: Timer | None = None
        self._resized_at = 0.0
        #: The widest cell of each column among the rows held (running maxima, capped: columns.py).
        self._content = columns.empty()
        self._widths_applied: tuple[int, ...] | None = None  # (width, *column widths) the strips were drawn at

    # -- contents -----------------------------------------------------------------------------

    @property
    def selected_id(self) -> int | None:
        """The id of the highlighted event."""
        return self.order[self.cursor] if 0 <= self.cursor < len(self.order) else None

    @property
    def at_newest(self) -> bool:
        """Whether the cursor is on the newest row (so new rows carry it along)."""
        return self.cursor >= len(self.order) - 1

    def replace(self, events: Iterable[dict[str, Any]]) -> None:
        """Show exactly these events (oldest first); the cursor goes to the newest."""
        self.events.clear()
        self.order.clear()
        self._strips.clear()
        self._content = columns.empty()
        self.extend(events, follow=True)
        self._measure_around_cursor()
        self._apply_size()  # a full load sizes at once (only streaming defers it)
        self._resized_at = 0.0  # and a row drawn next that is wider (a kept event elsewhere) widens at once

    def extend(self, events: Iterable[dict[str, Any]], *, follow: bool | None = None) -> int:
        """Append events newer than the newest shown; drop the oldest beyond the cap.

        Args:
            events: oldest first.
            follow: move the cursor to the newest row (default: if it was there already).

        Returns:
            How many rows were added.
        """
        following = self.at_newest if follow is None else follow
        selected = self.selected_id
        added = 0
        for event in events:
            event_id = int(event["id"])
            if event_id in self.events or (self.order and event_id < self.order[-1]):
                continue
            self.events[event_id] = event
            self.order.append(event_id)
            added += 1
        excess = len(self.order) - self.cap
        if excess > 0:
            for event_id in self.order[:excess]:
                del self.events[event_id]
                self._strips.pop(event_id, None)
            del self.order[:excess]
        self._resize()
        if following:
            self._set_cursor(len(self.order) - 1, follow=True)
        elif selected is not None and selected in self.events:
            self._set_cursor(self.order.index(selected))
        else:
            self._set_cursor(0)
        self.refresh()
        return added

    def insert(self, event: dict[str, Any]) -> None:
        """Put an event found by ``n``/``N`` in its place; at the cap, drop from the far end."""
        merged = sorted([*self.events.values(), event], key=lambda e: int(e["id"]))
        if len(merged) > self.cap:
            merged = merged[: self.cap] if merged[0] is event else merged[-self.cap :]
        self.events = {int(e["id"]): e for e in merged}
        self.order = [int(e["id"]) for e in merged]
        self._measure(self.cells(event))
        self._apply_size()
        self.select_id(int(event["id"]))
        self.refresh()

    def set_pinned(self, event_id: int, pinned: bool) -> None:
        """Show an event's new pin state (its row is drawn again)."""
        event = self.events.get(event_id)
        if event is not None:
            event["pinned"] = pinned
            self._strips.pop(event_id, None)
            self.refresh()

    def select_id(self, event_id: int) -> bool:
        """Highlight an event if it is shown."""
        if event_id not in self.events:
            return False
        self._set_cursor(self.order.index(event_id))
        return True

    def _resize(self) -> None:
        # A new virtual size is applied at most every RESIZE_EVERY seconds while rows stream in
        # (when the scroll bar comes it costs a layout pass of the whole screen, see sizing.py,
        # and otherwise still a repaint of the bar); until then only the scrollbar lags
        # (rendering, the cursor and max_scroll_y below go by the real rows).
        size = Size(self.size.width, len(self.order) + 1)  # +1: the header line
        if (size == self.virtual_size and not self._widths_changed()) or self._resize_timer is not None:
            return
        wait = RESIZE_EVERY - (time.monotonic() - self._resized_at)
        if wait > 0:
            self._resize_timer = self.set_timer(wait, self._apply_size)
        else:
            self._apply_size()

    def _apply_size(self) -> None:
        if self._resize_timer is not None:
            self._resize_timer.stop()
        self._resize_timer = None
        self._resized_at = time.monotonic()
        if self._widths_changed():
            self._forget_rendering()
            self.refresh()
        set_virtual_size(self, Size(self.size.width, len(self.order) + 1))
        self.call_after_refresh(self._after_size)

    def _after_size(self) -> None:
        self._scroll_to_cursor()
        # A scroll made while the scrollbar was hidden (or the size lagged) never reached it.
        if self.show_vertical_scrollbar:
            self.vertical_scrollbar.position = self.scroll_y

    @property
    def max_scroll_y(self) -> int:
        """Scrolling reaches the newest row even while the virtual size lags behind."""
        return max(0, len(self.order) + 1 - (self.container_size.height - self.scrollbar_size_horizontal))

    def _set_cursor(self, index: int, *, follow: bool = False) -> None:
        index = max(0, min(index, len(self.order) - 1))
        if index != self.cursor:
            self.cursor = index
            self.refresh()
        selected = self.selected_id
        if selected != self._posted:
            self._posted = selected
            self.post_message(self.Highlighted(selected, follow))
        self._scroll_to_cursor()
        # The virtual size applies on the next layout; scroll again once it has.
        self.call_after_refresh(self._scroll_to_cursor)

    def _scroll_to_cursor(self) -> None:
        rows = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True, force=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True, force=True)

    # -- rendering ------------------------------------------------------------------------------

    def on_resize(self) -> None:
        """Column widths depend on the width: re-render rows."""
        self._forget_rendering()
        self._resize()
        self._scroll_to_cursor()

    def notify_style_update(self) -> None:
        """Styles changed (focus, theme): re-render rows."""
        super().notify_style_update()
        self._forget_rendering()

    def _forget_rendering(self) -> None:
        self._strips.clear()
        self._header = None
        self._cursor_style = None
        self._widths_applied = None  # the next line drawn takes the widths of now

    def render_lines(self, crop: Region) -> list[Strip]:
        """Every visible line again on each new row (they all move up): what a line needs from
        the widget is looked up once per frame here, not once per line (``size`` alone walks the
        compositor's map each time)."""
        self._frame = (self.size.width, int(self.scroll_y))
        if self._widths_applied is not None and self._widths_applied[0] != self._line_width():
            self._forget_rendering()  # the scroll bar came or went: it takes columns from the rows
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    # -- column widths (columns.py) -------------------------------------------------------------

    # Widths follow the rows drawn: each row is measured when its strip is built (its cells exist
    # then anyway, so measuring is free; lint makes building cells cost ~60 µs, too much to do for
    # every row of a 500-row load), and a full load measures the rows around the cursor first.

    def _measure(self, cells: list[Text]) -> bool:
        return columns.measure(self._content, [cell.cell_len for cell in cells])

    def _measure_around_cursor(self) -> None:
        rows = max(self.size.height, 24)
        for event_id in self.order[max(0, self.cursor - rows) : self.cursor + rows]:
            self._measure(self.cells(self.events[event_id]))

    def _line_width(self) -> int:
        return self.size.width - self.scrollbar_size_vertical  # the scroll bar is drawn over the rows' last cells

    def _target(self) -> tuple[int, ...]:
        width = self._line_width()
        return (width, *columns.layout(width, self._content))

    def _widths_changed(self) -> bool:
        return self._widths_applied is not None and self._widths_applied != self._target()

    def _widths(self) -> tuple[int, ...]:
        """Each column's width (0: dropped), as the cached strips were drawn; a change waits for
        :meth:`_apply_size` (at most every RESIZE_EVERY while rows stream in), which clears them."""
        if self._widths_applied is None:
            self._widths_applied = self._target()
        return self._widths_applied[1:]

    @property
    def column_widths(self) -> dict[str, int]:
        """The columns shown and their widths."""
        return {column.title: width for column, width in zip(COLUMNS, self._widths(), strict=True) if width}

    def _line(self, cells: list[Text]) -> Text:
        line = Text(no_wrap=True, end="")
        first = True
        for cell, width in zip(cells, self._widths(), strict=True):
            if not width:
                continue
            if not first:
                line.append(" " * GAP)
            first = False
            cell.truncate(width, overflow="ellipsis", pad=True)
            line.append_text(cell)
        return line

    def render_line(self, y: int) -> Strip:
        """Line 0 is the column header; the rest are rows from the scroll offset."""
        width, top = self._frame or (self.size.width, int(self.scroll_y))
        base = self.base_style
        if y == 0:
            if self._header is None:
                header = self._line([Text(column.title) for column in COLUMNS])
                style = self.get_component_rich_style("event-list--header")
                self._header = self._strip(header, base + style, width)
            return self._header
        index = top + y - 1
        if not 0 <= index < len(self.order):
            return Strip.blank(width, base)
        event_id = self.order[index]
        strip = self._strips.get(event_id)
        if strip is None:
            cells = self.cells(self.events[event_id])
            if self._measure(cells):  # wider than its columns: they widen (throttled, see _resize)
                self.call_later(self._resize)
            strip = self._strips[event_id] = self._strip(self._line(cells), base, width)
        if index == self.cursor:
            if self._cursor_style is None:
                self._cursor_style = self.get_component_rich_style("event-list--cursor")
            # Over the row's own styles (each cell carries the widget's background), not under them.
            strip = Strip(Segment.apply_style(strip, post_style=self._cursor_style), strip.cell_length)
        return strip

    def _strip(self, text: Text, style: Style, width: int) -> Strip:
        segments = [Segment(s.text, style + s.style if s.style else style) for s in text.render(self.app.console)]
        return Strip(segments).adjust_cell_length(width, style)

    def relint(self) -> None:
        """Redraw every row's status mark (the tracking plan changed), measured again."""
        self._content = columns.empty()
        self._measure_around_cursor()
        self._forget_rendering()
        self.refresh()

    def cells(self, event: dict[str, Any]) -> list[Text]:
        """The cells of one event, every string made inert."""
        status = str(event.get("status") or "")
        kind = event_kind(event)
        mark_style = STATUS_STYLE.get(status, "")
        mark = status_text(event)
        if status == "ok" and event.get("problems"):
            mark_style = "yellow"
        lint = getattr(self.app, "lint", None)
        if status == "ok" and lint is not None:  # lint and plan findings too, not only what was stored
            findings = lint.findings(event)
            if findings:
                mark, mark_style = lint_mark(findings)
        return [
            Text(clock_time(str(event.get("received_at", "")), self.tz), style="dim"),
            Text(inert(kind.upper(), 9), style=TYPE_STYLE.get(kind, "bold red")),
            Text.assemble(("📌 " if event.get("pinned") else "", "bold"), inert(event_label(event), 80) or "—"),
            Text(inert(event_user(event), 40)),
            Text(inert(event.get("write_key") or "—", 30), style="dim"),
            Text(inert(mark, 40), style=mark_style),
        ]

    # -- keys and mouse ----------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows."""
        if self.order:
            self._set_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor by a screenful."""
        self.action_move(direction * max(1, self.size.height - 2))

    def action_oldest(self) -> None:
        """Highlight the oldest row shown."""
        if self.order:
            self._set_cursor(0)

    def action_newest(self) -> None:
        """Highlight the newest row (new rows then carry the cursor along)."""
        if self.order:
            self._set_cursor(len(self.order) - 1)

    def action_select(self) -> None:
        """Open the highlighted event's detail."""
        if self.selected_id is not None:
            self.post_message(self.Selected(self.selected_id))

    def on_click(self, event: events.Click) -> None:
        """Click highlights a row; a double click opens it."""
        index = int(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.order):
            self._set_cursor(index)
            if event.chain >= 2:
                self.action_select()
