"""Line-API widgets' base style, worked out once per style change.

Textual recomputes ``rich_style`` from every ancestor on each call (50–80 µs here), which was
most of the time a list row or a detail line took to render.
"""

from __future__ import annotations

from rich.style import Style


class CachedBaseStyle:
    """Mixin for Line-API widgets, listed before the widget class: :attr:`base_style` is
    ``rich_style``, kept until the styles change (focus, theme: :meth:`notify_style_update`).
    Not a ``Widget`` itself, so it adds no CSS type name or default styles."""

    _base: Style | None = None

    def notify_style_update(self) -> None:
        """Styles changed: work the base style out again."""
        super().notify_style_update()  # type: ignore[misc]
        self._base = None

    @property
    def base_style(self) -> Style:
        """The widget's ``rich_style``, cached."""
        if self._base is None:
            self._base = self.rich_style  # type: ignore[attr-defined]
        return self._base
