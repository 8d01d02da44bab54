"""A scrolling view of one Rich renderable (the Pretty, HTTP and Problems tabs).

Showing another event repaints at once: the renderable is rendered to lines here, and the
virtual size (which costs a layout pass of the whole screen) is applied after the paint,
so a keypress in the list is not held up by a layout.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.segment import Segment
from rich.text import Text
from textual import messages
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from debugger.tui.widgets.sizing import set_virtual_size
from debugger.tui.widgets.styled import CachedBaseStyle


class LinesView(CachedBaseStyle, ScrollView, can_focus=True):
    """``show(renderable)``; arrows and page keys scroll it when focused."""

    DEFAULT_CSS = """
    LinesView {
        height: 1fr;
        background: $surface;
        overflow-x: hidden;
        &:focus { background-tint: $foreground 5%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.content: RenderableType = Text("")
        self._lines: list[Strip] = []
        self._width = -1

    def show(self, renderable: RenderableType) -> None:
        """Show ``renderable`` from its first line.

        The screen hears of the repaint at once (what ``refresh()`` posts only when this
        widget's own queue next goes idle): otherwise the frame painting the keypress that
        chose the event showed the old detail, and the new one came a frame later — a
        keypress took ~48 ms to show its event instead of ~20.
        """
        self.content = renderable
        self._width = -1
        self.scroll_to(y=0, animate=False, immediate=True, force=True)
        self.refresh()
        if self.is_mounted:
            self.screen.post_message(messages.Update(self))
        self.call_after_refresh(self._apply_size)

    def _render_lines(self) -> None:
        width = max(1, self.scrollable_content_region.width)
        if width == self._width:
            return
        console = self.app.console
        lines = console.render_lines(self.content, console.options.update_width(width), pad=False)
        self._lines = [Strip(line) for line in lines]
        self._width = width

    def _apply_size(self) -> None:
        self._render_lines()
        set_virtual_size(self, Size(self._width, len(self._lines)))

    @property
    def max_scroll_y(self) -> int:
        """Scroll within the rendered lines, even before the virtual size is applied."""
        return max(0, len(self._lines) - self.scrollable_content_region.height)

    def on_resize(self) -> None:
        """A new width re-wraps the content."""
        self._width = -1
        self._apply_size()

    def render_line(self, y: int) -> Strip:
        """One line of the content at the scroll offset."""
        self._render_lines()
        width = self.scrollable_content_region.width
        base = self.base_style
        index = int(self.scroll_y) + y
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, base)
        segments = [Segment(s.text, base + s.style if s.style else base) for s in self._lines[index]]
        return Strip(segments).adjust_cell_length(width, base)
