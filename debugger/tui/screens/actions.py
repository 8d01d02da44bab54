"""The main screen's actions (keys and command palette), kept apart from its follow loop."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from textual import events
from textual.app import SystemCommand
from textual.widgets import Input

from debugger.core.pretty.render import DIALECTS, render_call
from debugger.core.protocol import TYPES
from debugger.store.retention import pin_event
from debugger.tui.messages import MatchFound, PasteStored, PinChanged, RequestLoaded
from debugger.tui.screens.copy import CopyScreen
from debugger.tui.screens.dialect import AUTO, DialectScreen
from debugger.tui.screens.help import HelpScreen
from debugger.tui.screens.paste import PasteScreen
from debugger.tui.widgets.event_detail import TABS, EventDetail
from debugger.tui.widgets.event_list import EventList
from debugger.tui.widgets.filter_bar import FilterBar, count_label

if TYPE_CHECKING:
    from debugger.core.inputs import paste
    from debugger.tui.screens.main import MainScreen

    _Base = MainScreen
else:
    _Base = object


class ActionsMixin(_Base):
    """``action_*`` methods and the palette commands of :class:`MainScreen`."""

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
                position = known + (-1 if older else 1) if known is not None else reader.position(where, int(event["id"]))
            self.post_message(MatchFound(event, older, position, generation))

        self.run_worker(find, thread=True, group="match", exclusive=True, exit_on_error=False)

    def action_tab(self, name: str) -> None:
        """Show a detail tab."""
        self.query_one(EventDetail).show_tab(name)

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
        from debugger.tui.screens.deliveries import DeliveriesScreen

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
        summary = f"Stored {count} pasted event{'s' if count != 1 else ''} ({pasted.form}), source paste."
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
            self.notify(f"Event #{message.event_id} is no longer stored (deleted by retention or reset).", severity="warning")
            return
        self.query_one(EventList).set_pinned(message.event_id, message.pinned)
        if message.pinned:
            self.notify(f"Pinned #{message.event_id}: retention never deletes it (P again unpins).", timeout=3)
        else:
            self.notify(f"Unpinned #{message.event_id}: retention may delete it once it is old enough.", timeout=3)

    # -- copy -------------------------------------------------------------------------------

    def action_copy(self) -> None:
        """Choose a format and copy the selected event."""
        if self.query_one(EventDetail).event is None:
            self.notify("Select an event first.", severity="warning")
            return
        self.app.push_screen(CopyScreen(self.query_one(EventDetail).dialect), self.copy_as)

    def copy_as(self, fmt: str | None) -> None:
        """Copy the selected event as ``json``, ``pretty`` or ``curl`` (OSC 52)."""
        detail = self.query_one(EventDetail)
        event = detail.event
        if fmt is None or event is None:
            return
        text, label = self.copy_text(event, fmt, detail.dialect)
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {label} ({len(text):,} characters).", timeout=2)

    def copy_text(self, event: dict[str, Any], fmt: str, dialect: str) -> tuple[str, str]:
        """The text to copy and a label for the notification."""
        base_url = self.tui.config.base_url
        if fmt == "json":
            return orjson.dumps(event.get("stored") or event.get("raw"), option=orjson.OPT_INDENT_2).decode(), "the event as JSON"
        if fmt == "curl":
            return render_call(event, "curl", base_url=base_url), "a curl command"
        return render_call(event, dialect, base_url=base_url), f"the {dialect} call"

    # -- messages from the widgets and the workers (on_* names: this is a plain mixin) -----------

    def on_event_detail_request_wanted(self, message: EventDetail.RequestWanted) -> None:
        """Load the HTTP request row off the UI thread."""
        message.stop()
        request_id = message.request_id
        reader = self.tui.reader
        self.run_worker(
            lambda: self.post_message(RequestLoaded(request_id, reader.request(request_id))),
            thread=True, group="request", exit_on_error=False,
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
        from debugger.core.query import language as query
        from debugger.store.follow import Search

        self.search = message.text
        # Relative times (after:10m) count from when the search was entered, like the CLI's.
        self.where = Search(query.parse(message.text), self.tui.clock()) if message.text else None
        self.load(select=self.query_one(EventList).selected_id)

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
            self.query_one(FilterBar).set_count(count_label(self.matches, counting=self.counting, position=message.position))

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
        last = message.event_ids[-1]
        if not self.live:
            self.set_reactive(type(self).live, True)  # type: ignore[arg-type]
            self.load(select=last)
            return
        self.include, self.select_after = message.event_ids, last
        self.poll()

    def select_pasted(self, event_id: int) -> None:
        """Select a pasted event at once (chosen, not followed: never deferred)."""
        if self.query_one(EventList).select_id(event_id):
            self.show_selected()
        else:
            self.notify(f"Stored as #{event_id}, but the search hides it; esc clears the search.", severity="warning")

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
        yield SystemCommand("Pin / unpin the event", "P: retention (--max-events, --max-age) never deletes a pinned event", self.action_toggle_pin)
        for fmt, what in (("json", "the event as stored JSON"), ("pretty", "the Pretty call"), ("curl", "a curl command")):
            yield SystemCommand(f"Copy as {fmt}", f"copy {what} (OSC 52)", partial(self.copy_as, fmt))
        for tab in TABS:
            yield SystemCommand(f"Show {tab.capitalize()}", "detail tab", partial(self.action_tab, tab))
        yield SystemCommand("Pretty: pick a dialect", "L: from the list", self.action_pick_dialect)
        yield SystemCommand("Pretty: the sender's dialect", "follow context.library.name", partial(self._dialect, None))
        for dialect in DIALECTS:
            yield SystemCommand(f"Pretty as {dialect}", "show the call in this library", partial(self._dialect, dialect))
        for kind in TYPES:
            yield SystemCommand(f"Toggle type {kind}", "type filter", partial(self.query_one(FilterBar).toggle_type, kind))
        yield SystemCommand("Schema", "s: every event's properties, types and drift", self.action_schema)  # type: ignore[attr-defined]
        yield SystemCommand("Deliveries", "d: replay runs, what was not delivered and why", self.action_deliveries)
        yield SystemCommand("Help", "?: keys, search and paste", self.action_help)

    def _dialect(self, dialect: str | None) -> None:
        detail = self.query_one(EventDetail)
        detail.set_dialect(dialect)
        detail.show_tab("pretty")
