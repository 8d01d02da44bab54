"""The main screen: header, search, the live stream, the detail tabs, status and keys.

It owns the follow loop: a timer starts a poll worker (never two at once); the worker reads
what is new with the cursor and data version the screen hands it, and posts the result; the
handler here applies it, so the cursor only moves on the UI thread (docs/architecture.md §5). Below the
loop come its actions (keys and the command palette), which act on the same state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, cast

import orjson
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from debugger.core.inputs import paste
from debugger.core.pacing import RateHistory, RateMeter, RowBudget
from debugger.core.pretty.render import DIALECTS, inert, render_call
from debugger.core.protocol import REJECTED, TYPES
from debugger.core.query import language as query
from debugger.store.follow import Search, Totals, Where
from debugger.store.retention import pin_event
from debugger.store.stats import reset
from debugger.tui import clipboard
from debugger.tui.host import Host
from debugger.tui.messages import (
    CaptureCleared,
    CopyDone,
    EventsArrived,
    MatchesCounted,
    MatchFound,
    PasteStored,
    PinChanged,
    RequestLoaded,
    SnapshotLoaded,
)
from debugger.tui.screens.confirm import ConfirmScreen
from debugger.tui.screens.copy import CopyScreen
from debugger.tui.screens.deliveries import DeliveriesScreen
from debugger.tui.screens.dialect import AUTO, DialectScreen
from debugger.tui.screens.help import HelpScreen
from debugger.tui.screens.identity import IdentityScreen, timeline_loader
from debugger.tui.screens.paste import PasteScreen
from debugger.tui.screens.schema import SchemaScreen, capture_loader, coverage_loader
from debugger.tui.widgets.event_detail import TABS, EventDetail
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.filter_bar import FilterBar, count_label
from debugger.tui.widgets.status import HeaderBar, KeyHints, StatusLine, StreamState

#: While following, the detail redraws at most this often (a flood must not keep the UI busy).
FOLLOW_REDRAW = 1.0
BARS_REDRAW = 0.25
FLOOD_POLL = 1.5  # × poll_interval between polls while a flood is sampled
SAMPLE_WINDOW = 5.0


class MainScreen(Screen[None]):
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
        Binding("u", "identity", "Identity", show=False),  # the hints line is full: ? and ctrl+p list it
        Binding("L", "pick_dialect", "Pick dialect", show=False),
        Binding("P", "toggle_pin", "Pin", show=False),  # the hints line is full at 120 columns: ? and ctrl+p list it
        Binding("z", "clear_capture", "Clear the capture", show=False),
        Binding("1", "tab('pretty')", "Views", key_display="1-4"),
        Binding("2", "tab('raw')", "Raw", show=False),
        Binding("3", "tab('http')", "HTTP", show=False),
        Binding("4", "tab('problems')", "Problems", show=False),
        Binding("5", "tab('routes')", "Routes", show=False),
        Binding("r", "raw_received", "Raw as received/stored", show=False),
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
        self.history = RateHistory()
        self.samples: deque[tuple[float, int, int]] = deque()
        self.include: tuple[int, ...] = ()
        self.select_after: tuple[int, ...] = ()  # pasted events to select once the poll brings them
        self._poller: Worker[None] | None = None
        self._loader: Worker[None] | None = None
        self._last_detail = 0.0
        self._detail_timer: Any = None
        self._failed = False
        self._bars_dirty = False
        self._bars_at = 0.0

    @property
    def tui(self) -> Host:
        """The app, typed as what this screen needs of it."""
        return cast(Host, self.app)

    def compose(self) -> ComposeResult:
        """Header, search, stream, detail, status, keys."""
        config = self.tui.config
        yield HeaderBar(config.where, id="header")
        yield FilterBar(id="filter-bar")
        with Vertical(id="stream"):
            yield EventList(cap=config.cap, tz=config.tz, id="event-list")
            yield Static(self._empty_hint(), id="empty-hint")
        yield EventDetail(base_url=config.base_url, routing=config.routing, id="event-detail")
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

    def load(self, *, focus: int | None = None, pasted: tuple[int, ...] = ()) -> Worker[None]:
        """Reload the newest ``cap`` matches (a new search, resume, or a reset capture).

        Args:
            focus: keep this event highlighted (or the match nearest to it by id), not jump to the newest.
            pasted: events a paste stored, to select.
        """
        self.generation += 1
        # The running totals stay current through every poll (paused or not), so a reload
        # counts only what is newer than the cursor; the first load counts everything.
        work = partial(self._load_work, self.generation, self.where, self.tui.config.cap, focus, pasted, self.cursor)
        self._loader = self.run_worker(work, thread=True, group="load", exclusive=True, exit_on_error=False)
        return self._loader

    def _load_work(
        self, generation: int, where: Where, cap: int, focus: int | None, pasted: tuple[int, ...], since: int
    ) -> None:
        reader = self.tui.reader
        version = reader.data_version()
        snap = reader.snapshot(where, cap, since=since, count=False)
        select, found = focus, None
        if focus is not None and snap.events and all(int(e["id"]) != focus for e in snap.events):
            # Not among the newest rows: the event itself if it matches, else the nearest match by id.
            older = reader.neighbour(where, focus + 1, older=True)
            newer = reader.neighbour(where, focus, older=False)
            candidates = [e for e in (older, newer) if e is not None]
            nearest = min(candidates, key=lambda e: abs(int(e["id"]) - focus), default=None)
            select = None if nearest is None else int(nearest["id"])
            if nearest is not None and int(nearest["id"]) < int(snap.events[0]["id"]):
                found = nearest
        self.post_message(SnapshotLoaded(generation, snap, version, select, found, pasted))
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
        select, self.select_after = self.select_after, ()
        work = partial(self._poll_work, self.generation, self.cursor, self.version, self.where, budget, include, select)
        self._poller = self.run_worker(work, thread=True, group="poll", exit_on_error=False)
        return self._poller

    def _poll_work(
        self,
        generation: int,
        after: int,
        known: int | None,
        where: Where,
        budget: int,
        include: tuple[int, ...],
        select: tuple[int, ...],
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
        if message.found is not None:
            stream.insert(message.found)
        elif message.select is not None:
            stream.select_id(message.select)
        if message.pasted:
            self.select_pasted(message.pasted)
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
        rejected = inc.totals.by_status.get(REJECTED, 0)
        self.history.add(
            now, inc.totals.events - inc.totals.with_problems, inc.totals.with_problems - rejected, rejected
        )
        stream = self.query_one(EventList)
        if self.live:
            stream.extend(inc.events)
            self.budget.spend(len(inc.events))
            self.samples.append((now, inc.new_matches, len(inc.events)))
        else:
            self.new_while_paused += inc.new_matches
        if message.pasted:
            self.select_pasted(message.pasted)
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
            spark=tuple(self.history.spark(now)),
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
        db = self.tui.config.db
        self.app.push_screen(SchemaScreen(capture_loader(db), coverage_loader(db, lambda: self.tui.lint.linter.plan)))

    def action_identity(self) -> None:
        """The Identity screen for the highlighted event's userId (else anonymousId), as `segdbg user ID` shows it."""
        stream = self.query_one(EventList)
        event = stream.events.get(stream.selected_id) if stream.selected_id is not None else None
        seed = (event or {}).get("user_id") or (event or {}).get("anonymous_id")
        if not seed:
            self.notify("The highlighted event has no userId or anonymousId.", title="No identity")
            return
        self.app.push_screen(IdentityScreen(str(seed), timeline_loader(self.tui.config.db, str(seed))))

    def watch_live(self, live: bool) -> None:
        """Resuming reloads the newest rows; pausing freezes the list and starts the counter."""
        if live:
            self.load()
        else:
            self.new_while_paused = 0
        self.redraw_bars()

    # -- actions (keys and the command palette) ---------------------------------------------

    def action_toggle_live(self) -> None:
        """Pause or resume the stream (storage never pauses)."""
        self.live = not self.live

    def action_search(self) -> None:
        """Focus the search box."""
        self.query_one("#search", Input).focus()

    def action_back(self) -> None:
        """Back to the list; on the list, clear the search."""
        stream = self.query_one(EventList)
        if not stream.has_focus:
            stream.focus()
        elif self.search or self.query_one(FilterBar).types:
            self.query_one(FilterBar).clear()

    def action_match(self, older: bool) -> None:
        """Jump to the next (newer) or previous (older) match over all stored events."""
        selected = self.query_one(EventList).selected_id
        if selected is None:
            return
        reader, where, generation = self.tui.reader, self.where, self.generation
        known = self.positions.get(selected)

        def find() -> None:
            event = reader.neighbour(where, selected, older)
            # The "3 of 12": one step from a match whose number is known, else a count up to the
            # match (long for a common word); without a search it is not shown.
            position = None
            if event is not None and where is not None:
                position = (
                    known + (-1 if older else 1) if known is not None else reader.position(where, int(event["id"]))
                )
            self.post_message(MatchFound(event, older, position, generation))

        self.run_worker(find, thread=True, group="match", exclusive=True, exit_on_error=False)

    def action_tab(self, name: str) -> None:
        """Show a detail tab."""
        detail = self.query_one(EventDetail)
        if not detail.has_tab(name):
            self.notify(
                "Start with --routing FILE to see each destination's verdict (docs/routing.md).", title="Routes"
            )
            return
        detail.show_tab(name)

    def action_raw_received(self) -> None:
        """Raw: the message as received, or as stored (with what the server changed)."""
        received = self.query_one(EventDetail).toggle_received()
        self.notify(f"Raw shows the message {'as received' if received else 'as stored'}", timeout=1.5)

    def action_dialect(self) -> None:
        """Pretty: the next library dialect."""
        dialect = self.query_one(EventDetail).cycle_dialect()
        self.notify(f"Pretty as {dialect}", timeout=1.5)

    def action_pick_dialect(self) -> None:
        """Choose the Pretty dialect from the list."""
        detail = self.query_one(EventDetail)

        def picked(choice: str | None) -> None:
            if choice is not None:
                self._dialect(None if choice == AUTO else choice)

        self.app.push_screen(DialectScreen(detail.dialect, detail.sender_dialect), picked)

    def action_deliveries(self) -> None:
        """Replay runs: their metrics and You Sent / Request / Response of each event not delivered."""
        self.app.push_screen(DeliveriesScreen(self.tui.config.db))

    def action_help(self) -> None:
        """Keys, search syntax, paste forms."""
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        """Leave segdbg."""
        self.app.exit()

    # -- paste ------------------------------------------------------------------------------

    def action_paste(self, text: str = "") -> None:
        """Open the paste dialog (prefilled with a terminal paste)."""
        self.app.push_screen(PasteScreen(text), self._pasted)

    def _pasted(self, pasted: paste.Pasted | None) -> None:
        if pasted is not None:
            self.run_worker(partial(self._store, pasted), thread=True, group="paste", exit_on_error=False)

    def _store(self, pasted: paste.Pasted) -> None:
        writer = self.tui.paste_writer()
        ids: list[int] = []
        for outcome in pasted.outcomes:
            ids += writer.submit(outcome.record, outcome.events).result().event_ids
        count = len(ids)
        sources = sorted({e.write_key or "" for o in pasted.outcomes for e in o.events}) or [paste.PASTE_KEY]
        summary = (
            f"Stored {count} pasted event{'s' if count != 1 else ''} ({pasted.form}), "
            f"source {', '.join(inert(s, 40) for s in sources)}."
        )
        self.post_message(PasteStored(tuple(ids), summary))

    # -- pin --------------------------------------------------------------------------------

    def action_toggle_pin(self) -> None:
        """Pin the highlighted event (retention never deletes it), or unpin it."""
        stream = self.query_one(EventList)
        event_id = stream.selected_id
        if event_id is None:
            self.notify("Select an event first.", severity="warning")
            return
        pinned = not stream.events[event_id].get("pinned")
        self.run_worker(partial(self._pin, event_id, pinned), thread=True, group="pin", exit_on_error=False)

    def _pin(self, event_id: int, pinned: bool) -> None:
        found = self.tui.paste_writer().call(partial(pin_event, event_id=event_id, pinned=pinned)).result()
        self.post_message(PinChanged(event_id, pinned, bool(found)))

    def on_pin_changed(self, message: PinChanged) -> None:
        """Show the new pin on the row and say what it means."""
        message.stop()
        if not message.found:
            self.notify(
                f"Event #{message.event_id} is no longer stored (deleted by retention or reset).", severity="warning"
            )
            return
        self.query_one(EventList).set_pinned(message.event_id, message.pinned)
        if message.pinned:
            self.notify(f"Pinned #{message.event_id}: retention never deletes it (P again unpins).", timeout=3)
        else:
            self.notify(f"Unpinned #{message.event_id}: retention may delete it once it is old enough.", timeout=3)

    # -- clear ------------------------------------------------------------------------------

    def action_clear_capture(self) -> None:
        """Delete every captured event and request, after asking (``segdbg reset``)."""
        question = f"Delete every captured event in {self.tui.config.db}?"
        detail = "Requests and pinned events go too; source labels and settings stay. This cannot be undone."
        self.app.push_screen(ConfirmScreen(question, detail), self._clear_answered)

    def _clear_answered(self, yes: bool | None) -> None:
        if yes:
            self.run_worker(self._clear, thread=True, group="clear", exit_on_error=False)
        else:
            self.notify("Nothing deleted.", timeout=2)

    def _clear(self) -> None:
        # The TUI's own writer: SQLite serialises it with a server writing the same file.
        deleted = self.tui.paste_writer().call(reset).result()
        self.post_message(CaptureCleared(int(deleted)))

    def on_capture_cleared(self, message: CaptureCleared) -> None:
        """Say how many went, and show the empty capture at once (not at the next poll)."""
        message.stop()
        self.notify(f"Deleted {message.deleted:,} event{'s' if message.deleted != 1 else ''}.", timeout=3)
        self.cursor = 0
        self.load()

    # -- copy -------------------------------------------------------------------------------

    def action_copy(self) -> None:
        """Choose a format and copy the selected event."""
        if self.query_one(EventDetail).event is None:
            self.notify("Select an event first.", severity="warning")
            return
        self.app.push_screen(CopyScreen(self.query_one(EventDetail).dialect), self.copy_as)

    def copy_as(self, fmt: str | None) -> None:
        """Copy the selected event as ``json``, ``pretty`` or ``curl``: OSC 52 to a real terminal, and the
        platform clipboard command, else a file (docs/tui.md); the notification says which arrived."""
        detail = self.query_one(EventDetail)
        event = detail.event
        if fmt is None or event is None:
            return
        text, label = self.copy_text(event, fmt, detail.dialect)
        self.app.copy_to_clipboard(text)  # the app's own clipboard, and OSC 52 to a real terminal
        osc52 = not self.app.is_headless
        folder = self.tui.config.copy_dir or Path(tempfile.gettempdir())
        work = partial(self._copy_work, text, label, fmt, event.get("id"), osc52, folder)
        self.run_worker(work, thread=True, group="copy", exclusive=True, exit_on_error=False)

    def _copy_work(self, text: str, label: str, fmt: str, event_id: object, osc52: bool, folder: Path) -> None:
        command, why = clipboard.run_clipboard(text, clipboard.clipboard_commands(shutil.which, os.environ))
        path = None
        if command is None:
            try:
                path = clipboard.write_fallback(text, folder, event_id, fmt)
            except OSError as exc:
                why = f"{why}; cannot write to {folder}: {exc.strerror or exc}"
        result = clipboard.CopyResult(command, osc52, path, None if command else why)
        self.post_message(CopyDone(label, len(text), result))

    def on_copy_done(self, message: CopyDone) -> None:
        """Say what the copy did: which command took it, or the file it is in."""
        message.stop()
        text, severity = clipboard.report(message.label, message.chars, message.result)
        self.notify(text, severity=severity, timeout=3 if severity == "information" else 10)

    def copy_text(self, event: dict[str, Any], fmt: str, dialect: str) -> tuple[str, str]:
        """The text to copy and a label for the notification."""
        base_url = self.tui.config.base_url
        if fmt == "json":
            return orjson.dumps(
                event.get("stored") or event.get("raw"), option=orjson.OPT_INDENT_2
            ).decode(), "the event as JSON"
        if fmt == "curl":
            return render_call(event, "curl", base_url=base_url), "a curl command"
        return render_call(event, dialect, base_url=base_url), f"the {dialect} call"

    # -- messages from the widgets and the workers ------------------------------------------

    def on_event_detail_request_wanted(self, message: EventDetail.RequestWanted) -> None:
        """Load the HTTP request row off the UI thread."""
        message.stop()
        request_id = message.request_id
        reader = self.tui.reader
        self.run_worker(
            lambda: self.post_message(RequestLoaded(request_id, reader.request(request_id))),
            thread=True,
            group="request",
            exit_on_error=False,
        )

    def on_request_loaded(self, message: RequestLoaded) -> None:
        """Hand the request row to the HTTP tab."""
        message.stop()
        self.query_one(EventDetail).request_arrived(message.request_id, message.request)

    def on_event_detail_dialect_wanted(self, message: EventDetail.DialectWanted) -> None:
        """The dialect name was clicked."""
        message.stop()
        self.action_pick_dialect()

    def on_filter_bar_changed(self, message: FilterBar.Changed) -> None:
        """A new (valid) search: compile it and reload the list."""
        message.stop()
        self.search = message.text
        # Relative times (after:10m) count from when the search was entered, like the CLI's.
        self.where = Search(query.parse(message.text), self.tui.clock()) if message.text else None
        # The highlighted event stays highlighted (or the match nearest to it): the next key acts on
        # what the reader was looking at, not on the newest event.
        self.load(focus=self.query_one(EventList).selected_id)

    def on_filter_bar_done(self, message: FilterBar.Done) -> None:
        """enter in the search box: back to the list."""
        message.stop()
        self.query_one(EventList).focus()

    def on_match_found(self, message: MatchFound) -> None:
        """Select the match n/N found, bringing it into the list if needed."""
        message.stop()
        if message.generation != self.generation:
            return  # found for a search (or a capture) that has changed since
        if message.event is None:
            self.notify(f"No {'older' if message.older else 'newer'} match.", timeout=2)
            return
        stream = self.query_one(EventList)
        if not stream.select_id(int(message.event["id"])):
            stream.insert(message.event)
        if self.search and message.position is not None:
            self.positions[int(message.event["id"])] = message.position
            self.query_one(FilterBar).set_count(
                count_label(self.matches, counting=self.counting, position=message.position)
            )

    def on_paste(self, event: events.Paste) -> None:
        """A terminal paste outside the search box opens the paste dialog with the text."""
        event.stop()
        self.action_paste(event.text)

    def on_paste_stored(self, message: PasteStored) -> None:
        """Show what was pasted: resume if paused, then select the last pasted event."""
        message.stop()
        self.notify(message.summary, timeout=4)
        if not message.event_ids:
            return
        if not self.live:
            self.set_reactive(type(self).live, True)
            self.load(pasted=message.event_ids)
            return
        self.include, self.select_after = message.event_ids, message.event_ids
        self.poll()

    def select_pasted(self, event_ids: tuple[int, ...]) -> None:
        """Select the newest pasted event the list shows, at once (chosen, not followed: never deferred)."""
        stream = self.query_one(EventList)
        shown = [i for i in event_ids if i in stream.events]
        if shown:
            stream.select_id(shown[-1])
            self.show_selected()
        if shown and shown[-1] == event_ids[-1]:
            return
        # Only the search hides the newest pasted event (the newest row is always kept), and when no
        # pasted event is shown none matches (the newest match among them would be).
        search = inert(self.search, 80)
        if len(event_ids) == 1:
            said = f"Stored #{event_ids[0]}; it does not match the search `{search}` (esc shows everything)."
        elif shown:
            said = (
                f"#{event_ids[-1]} does not match the search `{search}`; #{shown[-1]}, the newest pasted event"
                " it matches, is selected (esc shows everything)."
            )
        else:
            said = (
                f"Stored #{event_ids[0]}–#{event_ids[-1]}; none matches the search `{search}` (esc shows everything)."
            )
        self.notify(said, severity="warning", timeout=8)

    # -- palette ------------------------------------------------------------------------------

    def commands(self) -> Iterator[SystemCommand]:
        """Every action, for the command palette."""
        yield SystemCommand("Pause / resume the stream", "space: storage never pauses", self.action_toggle_live)
        yield SystemCommand("Search", "/: the filter language", self.action_search)
        yield SystemCommand("Clear the search", "show every event", self.query_one(FilterBar).clear)
        yield SystemCommand("Next match", "n: over all stored events", partial(self.action_match, False))
        yield SystemCommand("Previous match", "N: over all stored events", partial(self.action_match, True))
        yield SystemCommand("Newest event", "G: and follow new ones", self.query_one(EventList).action_newest)
        yield SystemCommand("Paste a payload", "p: validated like HTTP, stored as source paste", self.action_paste)
        yield SystemCommand(
            "Pin / unpin the event",
            "P: retention (--max-events, --max-age) never deletes a pinned event",
            self.action_toggle_pin,
        )
        for fmt, what in (
            ("json", "the event as stored JSON"),
            ("pretty", "the Pretty call"),
            ("curl", "a curl command"),
        ):
            yield SystemCommand(
                f"Copy as {fmt}", f"copy {what} (clipboard command, OSC 52, else a file)", partial(self.copy_as, fmt)
            )
        for tab in TABS:
            yield SystemCommand(f"Show {tab.capitalize()}", "detail tab", partial(self.action_tab, tab))
        yield SystemCommand("Pretty: pick a dialect", "L: from the list", self.action_pick_dialect)
        yield SystemCommand("Pretty: the sender's dialect", "follow context.library.name", partial(self._dialect, None))
        for dialect in DIALECTS:
            yield SystemCommand(
                f"Pretty as {dialect}", "show the call in this library", partial(self._dialect, dialect)
            )
        for kind in TYPES:
            yield SystemCommand(
                f"Toggle type {kind}", "type filter", partial(self.query_one(FilterBar).toggle_type, kind)
            )
        yield SystemCommand(
            "Clear the capture", "z: delete every captured event (asks first)", self.action_clear_capture
        )
        yield SystemCommand("Schema", "s: every event's properties, types and drift", self.action_schema)
        yield SystemCommand("Deliveries", "d: replay runs, what was not delivered and why", self.action_deliveries)
        yield SystemCommand(
            "Identity", "u: the highlighted event's user across sources: ids, calls, traits", self.action_identity
        )
        yield SystemCommand("Help", "?: keys, search and paste", self.action_help)

    def _dialect(self, dialect: str | None) -> None:
        detail = self.query_one(EventDetail)
        detail.set_dialect(dialect)
        detail.show_tab("pretty")
