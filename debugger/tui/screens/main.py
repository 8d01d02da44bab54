"""The main screen: header, search, the live stream, the detail tabs, status and keys.

It owns the follow loop: a timer starts a poll worker (never two at once); the worker reads
what is new with the cursor and data version the screen hands it, and posts the result; the
handler here applies it, so the cursor only moves on the UI thread (STYLE §2.5).
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from debugger.store.follow import Totals, Where
from debugger.tui.messages import EventsArrived, MatchesCounted, SnapshotLoaded
from debugger.core.pacing import RateMeter, RowBudget
from debugger.tui.screens.actions import ActionsMixin
from debugger.tui.widgets.event_detail import EventDetail
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.filter_bar import FilterBar, count_label
from debugger.tui.widgets.status import HeaderBar, KeyHints, StatusLine, StreamState

if TYPE_CHECKING:
    from debugger.tui.app import SegdbgApp

#: While following, the detail redraws at most this often (a flood must not keep the UI busy).
FOLLOW_REDRAW = 1.0
BARS_REDRAW = 0.25
FLOOD_POLL = 1.5  # × poll_interval between polls while a flood is sampled
SAMPLE_WINDOW = 5.0


class MainScreen(ActionsMixin, Screen[None]):
    """The stream and the detail of the highlighted event."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_live", "Pause"),
        Binding("slash", "search", "Search"),
        Binding("n", "match(False)", "Match", key_display="n/N"),
        Binding("N", "match(True)", "Previous match", show=False),
        Binding("p", "paste", "Paste"),
        Binding("ctrl+v", "paste", "Paste", show=False),
        Binding("c", "copy", "Copy"),
        Binding("s", "schema", "Schema"),
        Binding("l", "dialect", "Dialect"),
        Binding("d", "deliveries", "Deliveries"),
        Binding("L", "pick_dialect", "Pick dialect", show=False),
        Binding("P", "toggle_pin", "Pin", show=False),  # the hints line is full at 120 columns: ? and ctrl+p list it
        Binding("1", "tab('pretty')", "Views", key_display="1-4"),
        Binding("2", "tab('raw')", "Raw", show=False),
        Binding("3", "tab('http')", "HTTP", show=False),
        Binding("4", "tab('problems')", "Problems", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    live: reactive[bool] = reactive(True, init=False)

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0
        self.cursor = 0
        self.version: int | None = None
        self.where: Where = None
        self.search = ""
        self.matches = 0
        self.counting = False  # the search's rows are shown, its matches still being counted
        #: Match numbers known without counting: event id → its number among the matches (n/N step ±1 from them).
        self.positions: dict[int, int] = {}
        self._newest_match: int | None = None
        self.totals = Totals()
        self.new_while_paused = 0
        self.budget = RowBudget(rate=self.tui.config.readable_rate, burst=self.tui.config.burst)
        self.meter = RateMeter()
        self.samples: deque[tuple[float, int, int]] = deque()
        self.include: tuple[int, ...] = ()
        self.select_after: int | None = None
        self._poller: Worker[None] | None = None
        self._loader: Worker[None] | None = None
        self._last_detail = 0.0
        self._detail_timer: Any = None
        self._failed = False
        self._bars_dirty = False
        self._bars_at = 0.0

    @property
    def tui(self) -> SegdbgApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        """Header, search, stream, detail, status, keys."""
        config = self.tui.config
        yield HeaderBar(config.where, id="header")
        yield FilterBar(id="filter-bar")
        with Vertical(id="stream"):
            yield EventList(cap=config.cap, tz=config.tz, id="event-list")
            yield Static(self._empty_hint(), id="empty-hint")
        yield EventDetail(base_url=config.base_url, id="event-detail")
        yield StatusLine(id="status-line")
        yield KeyHints(id="key-hints")

    def _empty_hint(self) -> Text:
        url = self.tui.config.url
        text = Text("No events yet.\n\n", style="bold")
        if url:
            text.append("Point a Segment library at ")
            text.append(url, style="bold cyan")
            text.append(f", e.g. analytics.host = '{url}' in Python,\nor send the samples:  ")
            text.append(f"segdbg send sample_events/ --to {url}", style="bold")
        else:
            text.append("Fill this capture with ")
            text.append(f"segdbg serve --headless --db {self.tui.config.db}", style="bold")
            text.append(" (in another terminal);\nthis view follows it live")
        text.append("\nor press ")
        text.append("p", style="bold")
        text.append(" to paste a payload.  ? shows every key.")
        return text

    def on_mount(self) -> None:
        """First load, then follow."""
        self.query_one(EventList).focus()
        self.load()
        interval = self.tui.config.poll_interval
        if interval:
            self.set_timer(interval, self._tick)
            self.set_interval(BARS_REDRAW, self._flush_bars)

    # -- loading and following -----------------------------------------------------------

    def load(self, select: int | None = None) -> Worker[None]:
        """Reload the newest ``cap`` matches (a new search, resume, or a reset capture)."""
        self.generation += 1
        # The running totals stay current through every poll (paused or not), so a reload
        # counts only what is newer than the cursor; the first load counts everything.
        work = partial(self._load_work, self.generation, self.where, self.tui.config.cap, select, self.cursor)
        self._loader = self.run_worker(work, thread=True, group="load", exclusive=True, exit_on_error=False)
        return self._loader

    def _load_work(self, generation: int, where: Where, cap: int, select: int | None, since: int) -> None:
        reader = self.tui.reader
        version = reader.data_version()
        snap = reader.snapshot(where, cap, since=since, count=False)
        self.post_message(SnapshotLoaded(generation, snap, version, select))
        if where is not None:
            # The rows first, then the count: every match of a common word takes far longer to count
            # than its newest page to read. Polls wait for this worker, so no increment interleaves.
            self.post_message(MatchesCounted(generation, reader.position(where, snap.cursor)))

    def _tick(self) -> None:
        """Poll, then again after ``poll_interval`` — FLOOD_POLL times that while a flood is
        sampled: each poll that brings rows repaints the stream (~7 ms of this process's CPU on
        the 2-core dev box), and a sampled flood changes faster than anyone reads anyway."""
        self.poll()
        interval = self.tui.config.poll_interval or 0.1
        self.set_timer(interval * FLOOD_POLL if self.flooding() else interval, self._tick)

    def flooding(self) -> bool:
        """Whether the stream has been sampled over the last SAMPLE_WINDOW seconds."""
        return sum(s[1] for s in self.samples) > sum(s[2] for s in self.samples)

    def poll(self) -> Worker[None] | None:
        """Read what is new (unless a read is already running)."""
        for worker in (self._poller, self._loader):
            if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
                return None
        budget = self.budget.available(self.tui.monotonic()) if self.live else 0
        include, self.include = self.include, ()
        select, self.select_after = self.select_after, None
        work = partial(self._poll_work, self.generation, self.cursor, self.version, self.where, budget, include, select)
        self._poller = self.run_worker(work, thread=True, group="poll", exit_on_error=False)
        return self._poller

    def _poll_work(
        self, generation: int, after: int, known: int | None, where: Where, budget: int,
        include: tuple[int, ...], select: int | None,
    ) -> None:
        reader = self.tui.reader
        version = reader.data_version()
        if version == known and not include:
            return
        increment = reader.increment(after, where, budget, include)
        self.post_message(EventsArrived(generation, increment, version, select))

    @on(SnapshotLoaded)
    def _loaded(self, message: SnapshotLoaded) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        snap = message.snapshot
        self.totals = self.totals.plus(snap.totals) if snap.since else snap.totals
        self.cursor, self.version = snap.cursor, message.version
        self.counting, self.matches = snap.matches is None, snap.matches or 0
        self.positions = {}
        self._newest_match = int(snap.events[-1]["id"]) if snap.events and self.where is not None else None
        self.new_while_paused = 0
        stream = self.query_one(EventList)
        stream.replace(snap.events)
        if message.select is not None:
            stream.select_id(message.select)
        self._after_change()
        if self.include:  # a paste landed while this load ran: pick it up now
            self.poll()

    @on(MatchesCounted)
    def _counted(self, message: MatchesCounted) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        self.matches += message.matches  # plus what increments added (none can run before this)
        self.counting = False
        if self._newest_match is not None:  # the snapshot's newest row is the last match counted
            self.positions.setdefault(self._newest_match, message.matches)
        self._after_change()

    @on(EventsArrived)
    def _arrived(self, message: EventsArrived) -> None:
        message.stop()
        inc = message.increment
        if message.generation != self.generation or inc.after != self.cursor:
            self.version = None  # a stale read: look again next time
            return
        if inc.reset:
            self.cursor = 0  # count everything again
            self.load()
            return
        now = self.tui.monotonic()
        self.cursor, self.version = inc.cursor, message.version
        self.totals = self.totals.plus(inc.totals)
        self.matches += inc.new_matches
        self.meter.add(now, inc.totals.events)
        stream = self.query_one(EventList)
        if self.live:
            stream.extend(inc.events)
            self.budget.spend(len(inc.events))
            self.samples.append((now, inc.new_matches, len(inc.events)))
        else:
            self.new_while_paused += inc.new_matches
        if message.select is not None:
            self.select_pasted(message.select)
        self._after_change()
        if self.include:
            self.poll()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read is reported once, not on every poll."""
        if event.state == WorkerState.ERROR and not self._failed:
            self._failed = True
            self.notify(f"Cannot read {self.tui.config.db}: {event.worker.error}", severity="error", timeout=10)
        elif event.state == WorkerState.SUCCESS and event.worker.group == "poll":
            self._failed = False
        elif event.state == WorkerState.SUCCESS and event.worker is self._loader and self.include:
            self.poll()  # a paste landed while the load (and its count) ran

    # -- bars ------------------------------------------------------------------------------

    def state(self) -> StreamState:
        """What the header and status line show."""
        now = self.tui.monotonic()
        while self.samples and self.samples[0][0] < now - SAMPLE_WINDOW:
            self.samples.popleft()
        return StreamState(
            live=self.live,
            totals=self.totals,
            rate=self.meter.rate(now),
            shown=len(self.query_one(EventList).order),
            cap=self.tui.config.cap,
            new_while_paused=self.new_while_paused,
            sampled_in=sum(s[1] for s in self.samples),
            sampled_out=sum(s[2] for s in self.samples),
            searching=bool(self.search),
        )

    def redraw_bars(self, *, now: bool = True) -> None:
        """Redraw the header and the status line (``now=False``: at most BARS_REDRAW apart
        while following; the totals need not move ten times a second)."""
        if not now and self.tui.config.poll_interval:
            self._bars_dirty = True
            return
        self._bars_dirty = False
        state = self.state()
        self.query_one(HeaderBar).show(state)
        self.query_one(StatusLine).show(state)
        self.query_one(KeyHints).show(state.live)

    def _flush_bars(self) -> None:
        # Every BARS_REDRAW: redraw if something changed, and at least once a second so the
        # rate decays to 0/s when events stop.
        now = self.tui.monotonic()
        if self._bars_dirty or now - self._bars_at >= 1.0:
            self._bars_at = now
            self.redraw_bars()

    def _after_change(self) -> None:
        stream = self.query_one(EventList)
        if self.has_class("-empty") == bool(stream.order):
            self.set_class(not stream.order, "-empty")
        hint = self.query_one("#empty-hint", Static)
        if self.search and not stream.order:
            hint.update(Text("No stored event matches the search. esc clears it.", style="bold"))
        elif not stream.order:
            hint.update(self._empty_hint())
        if self.search:
            self.query_one(FilterBar).set_count(count_label(self.matches, counting=self.counting))
        self.redraw_bars(now=False)

    # -- selection and detail ---------------------------------------------------------------

    @on(EventList.Highlighted)
    def _highlighted(self, event: EventList.Highlighted) -> None:
        event.stop()
        self.show_selected(following=event.follow)

    @on(EventList.Selected)
    def _selected(self, event: EventList.Selected) -> None:
        event.stop()
        self.query_one(EventDetail).focus_content()

    def show_selected(self, *, following: bool = False) -> None:
        """Show the highlighted event; while following a sampled flood, at most every FOLLOW_REDRAW s
        (the detail would change faster than anyone reads, and costs a layout pass each time)."""
        now = self.tui.monotonic()
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if following and self.flooding() and now - self._last_detail < FOLLOW_REDRAW:
            self._detail_timer = self.set_timer(FOLLOW_REDRAW - (now - self._last_detail), self.show_selected)
            return
        self._last_detail = now
        stream = self.query_one(EventList)
        selected = stream.selected_id
        detail = self.query_one(EventDetail)
        event = stream.events.get(selected) if selected is not None else None
        if event is not detail.event:
            detail.show(event)

    def relint(self) -> None:
        """The tracking plan changed: re-check the rows on screen and the event shown."""
        self.query_one(EventList).relint()
        detail = self.query_one(EventDetail)
        detail.show(detail.event)

    def action_schema(self) -> None:
        """The Schema screen: per source and event, every property path with its types and drift."""
        from debugger.tui.screens.schema import SchemaScreen, capture_loader

        self.app.push_screen(SchemaScreen(capture_loader(self.tui.config.db)))

    def watch_live(self, live: bool) -> None:
        """Resuming reloads the newest rows; pausing freezes the list and starts the counter."""
        if live:
            self.load()
        else:
            self.new_while_paused = 0
        self.redraw_bars()
