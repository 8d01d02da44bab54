"""The header (where, live state, totals) and the status line (what the stream is doing)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from debugger.core.pretty.render import inert
from debugger.store.follow import Totals


@dataclass(frozen=True, slots=True)
class StreamState:
    """Everything the two bars show."""

    live: bool
    totals: Totals
    rate: float
    shown: int
    cap: int
    new_while_paused: int = 0
    sampled_in: int = 0  # over the last few seconds: events that arrived ...
    sampled_out: int = 0  # ... and how many of them were shown
    searching: bool = False
    spark: tuple[tuple[str, str], ...] = ()  # the last minutes, one (character, kind) per bucket


def about(value: float) -> float:
    """``value`` to two significant figures (9,864 → 9,900; 25.3 → 25).

    The status line says how a flood is sampled: exact figures would change its text, and
    repaint it, at every redraw. The line is at the bottom of the screen, and Textual repaints
    the rectangle around everything that changed in a frame, so repainting it with the stream
    redrew every widget in between (the detail, the tabs): ~5-10 ms a time during a flood.
    """
    if value <= 0:
        return 0.0
    return float(round(value, 1 - math.floor(math.log10(value))))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


class _Bar(Widget):
    """A one-line bar that repaints without a layout pass (it redraws several times a second)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = Text()

    def render(self) -> Text:
        """The current line."""
        return self.text

    def update(self, text: Text) -> None:
        """Show ``text`` (a repaint only when it changed)."""
        if text != self.text:
            self.text = text
            self.refresh()


#: Sparkline colours: a bucket takes the colour of the worst thing that arrived in it.
SPARK_STYLE = {"accepted": "green", "problems": "yellow", "rejected": "bold red"}


class HeaderBar(_Bar):
    """``segdbg · URL · FILE  ● LIVE  1,204 events · 38/s ▂▅█ · 3 sources · 2 with problems · 1 request rejected``."""

    def __init__(self, where: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.where = where

    def show(self, state: StreamState) -> None:
        """Redraw from the stream state."""
        text = Text()
        text.append("segdbg", style="bold")
        text.append(f" · {inert(self.where, 120)}   ", style="dim")
        if state.live:
            text.append("● LIVE", style="bold green")
        else:
            text.append("❚❚ PAUSED", style="bold yellow")
        totals = state.totals
        rejected = totals.by_status.get("rejected", 0)
        text.append(f"   {_plural(totals.events - rejected, 'event')} · {state.rate:,.0f}/s")
        if any(kind for _, kind in state.spark):
            text.append(" ")
            for char, kind in state.spark:
                text.append(char, style=SPARK_STYLE.get(kind, ""))
        text.append(f" · {_plural(totals.sources, 'source')}")
        if totals.with_problems - rejected:
            text.append(" · ")
            text.append(f"{totals.with_problems - rejected:,} with problems", style="bold yellow")
        if rejected:
            text.append(" · ")
            text.append(f"{_plural(rejected, 'request')} rejected", style="bold red")
        self.update(text)


class StatusLine(_Bar):
    """What the stream is doing: following, paused with N new, sampling, capped."""

    def show(self, state: StreamState) -> None:
        """Redraw from the stream state."""
        text = Text()
        if not state.live:
            text.append(f"❚❚ paused: {_plural(state.new_while_paused, 'new event')} since", style="bold yellow")
            text.append(" · space resumes", style="dim")
        elif state.sampled_in > state.sampled_out > 0:
            ratio = state.sampled_in / state.sampled_out
            text.append(
                f"● sampling: showing 1 in {about(ratio):,.0f} ({about(state.rate):,.0f}/s is faster than anyone reads)",
                style="bold cyan",
            )
            text.append(" · storage keeps 100%; / searches all of it", style="dim")
        else:
            text.append("● live", style="bold green")
        if state.shown >= state.cap:
            text.append(f" · showing the newest {state.cap:,} (--cap)", style="dim")
        if state.searching:
            text.append(" · search on: esc clears", style="dim")
        self.update(text)


#: The key hints line (one widget instead of Textual's Footer: it repaints nothing while
#: events stream in, and never re-lays-out the screen).
KEYS = (
    ("space", "pause"),
    ("/", "search"),
    ("1-4", "views"),
    ("p", "paste"),
    ("c", "copy"),
    ("s", "schema"),
    ("d", "deliveries"),
    ("?", "help"),
    ("q", "quit"),
    ("ctrl+p", "commands"),
)


class KeyHints(_Bar):
    """``space pause  / search  n/N match ...``: every main-screen key worth knowing."""

    def __init__(self, *, live: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show(live)

    def show(self, live: bool) -> None:
        """The hints; the first one says what space does now."""
        text = Text()
        for key, what in KEYS:
            if key == "space":
                what = "pause" if live else "resume"
            text.append(f" {key} ", style="bold reverse")
            text.append(f" {what} ")
        self.update(text)
