"""Giving a scroll view a new virtual size without re-laying out the whole screen.

``virtual_size`` is a layout reactive: setting it costs a layout pass of the whole screen
(15-20 ms of the event loop here), which is needed only when the vertical scroll bar comes or
goes (it takes columns from the content). Otherwise only the bar's thumb changes.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Give ``view`` (no horizontal scroll bar) a new virtual size; lay out only if its vertical
    scroll bar comes or goes, else set the size and resize the thumb as Textual does for a
    resize without layout."""
    if size == view.virtual_size:
        return
    height = view.container_size.height
    if (size.height > height) == (view.virtual_size.height > height):
        view.set_reactive(ScrollView.virtual_size, size)
        view._scroll_update(size)
        view.refresh()
    else:
        view.virtual_size = size
