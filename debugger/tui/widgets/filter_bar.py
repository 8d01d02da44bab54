"""The search box: the filter language (debugger.core.query.language), its match count, and type toggles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static

from debugger.core.pretty.render import inert
from debugger.core.protocol import TYPES
from debugger.core.query import language as query

#: Typing pauses this long before the search runs (each run counts over all stored events).
DEBOUNCE = 0.15


class TypeToggles(Widget, can_focus=True):
    """``☐ track ☐ identify ☐ page ...``: one widget (click, or ←/→ and space when focused)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Previous type", show=False),
        Binding("right", "move(1)", "Next type", show=False),
        Binding("space,enter", "toggle", "Toggle type", show=False),
    ]

    @dataclass
    class Changed(Message):
        """The ticked types changed."""

        types: tuple[str, ...]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ticked: set[str] = set()
        self.position = 0

    def render(self) -> Text:
        """Each type with its box; the focused one underlined."""
        text = Text()
        for index, kind in enumerate(TYPES):
            style = "bold" if kind in self.ticked else "dim"
            if self.has_focus and index == self.position:
                style += " underline"
            text.append(("☑ " if kind in self.ticked else "☐ ") + kind, style=style)
            text.append("  ")
        return text

    def _spans(self) -> list[tuple[int, int, str]]:
        spans, x = [], 0
        for kind in TYPES:
            width = len(kind) + 2
            spans.append((x, x + width, kind))
            x += width + 2
        return spans

    def on_click(self, event: events.Click) -> None:
        """Click a type to tick or untick it."""
        for start, end, kind in self._spans():
            if start <= event.x < end:
                self.toggle(kind)

    def action_move(self, delta: int) -> None:
        """Move the keyboard focus between types."""
        self.position = (self.position + delta) % len(TYPES)
        self.refresh()

    def action_toggle(self) -> None:  # type: ignore[override]  # this widget's key, not DOMNode's attribute toggle
        """Tick or untick the focused type."""
        self.toggle(TYPES[self.position])

    def toggle(self, kind: str, value: bool | None = None) -> None:
        """Tick (or untick) a type and say so."""
        on = kind not in self.ticked if value is None else value
        if on == (kind in self.ticked):
            return
        (self.ticked.add if on else self.ticked.discard)(kind)
        self.refresh()
        self.post_message(self.Changed(tuple(k for k in TYPES if k in self.ticked)))

    def on_focus(self) -> None:
        """Show which type the keys act on."""
        self.refresh()

    def on_blur(self) -> None:
        """Hide the keyboard marker."""
        self.refresh()


def count_label(matches: int, *, counting: bool = False, position: int | None = None) -> str:
    """``12 matches``, ``3 of 12``; while the matches are still being counted, ``counting…`` or ``3 of …``."""
    total = "…" if counting else f"{matches:,}"
    if position is not None:
        return f"{position:,} of {total}"
    return "counting…" if counting else f"{total} match{'es' if matches != 1 else ''}"


class FilterBar(Vertical):
    """``/`` focuses the input; the query is checked as you type and errors show inline."""

    @dataclass
    class Changed(Message):
        """A valid search was entered (``text`` empty: show everything)."""

        text: str

    class Done(Message):
        """Enter was pressed in the search: back to the list."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._timer: Timer | None = None
        self.text = ""
        self._count = ""  # the last count the screen gave for ``text`` (hidden while the query is invalid)

    def compose(self) -> ComposeResult:
        """Input, match count and type toggles; below them, the error (when there is one)."""
        with Horizontal(id="filter-row"):
            yield Input(placeholder='/ search, e.g. event:"Order Completed" user:u1', id="search", compact=True)
            yield Static("", id="match-count")
            yield TypeToggles(id="type-toggles")
        yield Static("", id="search-error")

    @property
    def types(self) -> list[str]:
        """The types ticked (none ticked: every type)."""
        return [kind for kind in TYPES if kind in self.query_one(TypeToggles).ticked]

    def effective(self) -> str:
        """The search text with the ticked types added as a ``type:`` term."""
        text = self.query_one("#search", Input).value.strip()
        types = self.types
        return f"{text} type:{','.join(types)}".strip() if types else text

    @property
    def invalid(self) -> bool:
        """Whether the query in the box does not parse (the list still shows the last valid one)."""
        return self.has_class("-error")

    def set_count(self, text: str) -> None:
        """The match count of the search the list shows; while the query in the box is invalid it
        is kept for later, not shown (it would be the count of another query)."""
        self._count = text
        if not self.invalid:
            self._show_count(text)

    def _show_count(self, text: str) -> None:
        # Fixed width: no layout pass per update.
        self.query_one("#match-count", Static).update(Text(text, style="bold"), layout=False)

    def show_error(self, error: Exception | None) -> None:
        """Mark the offending part of the query under the input, with the message and what the
        list still shows; ``None`` clears."""
        if self.invalid != (error is not None):
            self.set_class(error is not None, "-error")
        if error is None:
            return
        start = getattr(error, "start", 0)
        end = max(getattr(error, "end", start + 1), start + 1)
        line = Text(" " * start + "^" * (end - start), style="bold red")
        line.append("  " + inert(getattr(error, "message", str(error)), 200), style="red")
        shown = f"the last valid search, {inert(self.text, 60)}" if self.text else "every event"
        line.append(f"  (the list shows {shown})", style="dim")
        self.query_one("#search-error", Static).update(line)
        self._show_count("✗ invalid")

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self.submit)

    @on(Input.Submitted, "#search")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self.submit()
        self.post_message(self.Done())

    @on(TypeToggles.Changed)
    def _toggled(self, event: TypeToggles.Changed) -> None:
        event.stop()
        self.submit()

    def toggle_type(self, kind: str) -> None:
        """Tick or untick one type."""
        self.query_one(TypeToggles).toggle(kind)

    def clear(self) -> None:
        """Empty the search and untick every type."""
        self.query_one("#search", Input).value = ""
        toggles = self.query_one(TypeToggles)
        toggles.ticked.clear()
        toggles.refresh()
        self.submit()

    def submit(self) -> None:
        """Check the search now; post :class:`Changed` when it is valid (and new)."""
        text = self.effective()
        if text:
            try:
                query.parse(text)
            except query.QueryError as exc:
                self.show_error(exc)
                return
        if self.invalid:
            self.show_error(None)
            self._show_count(self._count)  # back to the search the list shows: its count is current
        if text != self.text:
            self.text = text
            self.set_count("…" if text else "")
            self.post_message(self.Changed(text))
