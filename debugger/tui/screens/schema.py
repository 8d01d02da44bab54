"""The Schema screen: the capture's inventory per source and event, with type drift flagged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree

from debugger.core.lint.inventory import Inventory
from debugger.core.pretty.render import inert
from debugger.store.capture import reader
from debugger.store.reads import iter_events, source_labels

Loader = Callable[[], dict[str, Any]]


class SchemaScreen(Screen[None]):
    """Sources → events → property paths, with types, presence, examples and drift (`segdbg schema`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("d", "toggle_drift", "Drift only"),
        Binding("r", "reload", "Reload"),
    ]
    drift_only: reactive[bool] = reactive(False)

    @dataclass
    class Loaded(Message):
        """The inventory was read (in a worker thread)."""

        doc: dict[str, Any]

    def __init__(self, load: Loader) -> None:
        super().__init__()
        self.load = load
        self.doc: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        """A summary line and the tree."""
        yield Static(Text("Reading the capture…", style="dim"), id="schema-summary")
        yield Tree("Schema", id="schema-tree")
        yield Footer()

    def on_mount(self) -> None:
        """Read the inventory off the UI thread."""
        self.action_reload()

    def action_reload(self) -> None:
        """Read the capture again."""
        self._read()

    @work(thread=True, exclusive=True, group="schema", exit_on_error=False)
    def _read(self) -> None:
        self.post_message(self.Loaded(self.load()))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.doc = message.doc
        self._draw()

    def action_toggle_drift(self) -> None:
        """Show only paths whose type drifted (and the events and sources that have them)."""
        self.drift_only = not self.drift_only

    def watch_drift_only(self) -> None:
        if self.doc is not None:
            self._draw()

    def _draw(self) -> None:
        doc = self.doc or {"sources": [], "total": 0}
        tree = self.query_one("#schema-tree", Tree)
        tree.clear()
        tree.root.expand()
        drifting = 0
        for source in doc["sources"]:
            label = inert(source["write_key"], 40) + (f" ({inert(source['label'], 40)})" if source.get("label") else "")
            source_node = tree.root.add(Text.assemble(("source ", "dim"), (label, "bold")), expand=True)
            for event in source["events"]:
                fields = [f for f in event["fields"] if f["drift"] or not self.drift_only]
                drifting += sum(1 for f in event["fields"] if f["drift"])
                if self.drift_only and not fields:
                    continue
                name = inert(event["name"], 60) if event["name"] else ""
                event_node = source_node.add(
                    Text.assemble(
                        (f"{event['type'].upper():9}", "bold"),
                        (name, "bold"),
                        (f"  {event['count']:,}×  {event['first_seen'][:19]} → {event['last_seen'][:19]}", "dim"),
                    ),
                    expand=self.drift_only,
                )
                for f in fields:
                    event_node.add_leaf(_field_label(f))
            if self.drift_only and not source_node.children:
                source_node.remove()
        summary = Text(f"{doc['total']:,} events · {len(doc['sources'])} sources · ")
        summary.append(
            f"{drifting} path{'s' if drifting != 1 else ''} with type drift",
            style="bold yellow" if drifting else "green",
        )
        if self.drift_only:
            summary.append("  (drift only: d shows all)", style="dim")
        self.query_one("#schema-summary", Static).update(summary)


def _field_label(field: dict[str, Any]) -> Text:
    types = ", ".join(f"{t} {n}" for t, n in sorted(field["types"].items(), key=lambda kv: -kv[1]))
    share = f"{field['present']}/{field['of']}" if field["of"] else str(field["present"])
    text = Text.assemble((inert(field["path"], 80), "cyan"), f"  {types}  ", (share, "dim"))
    if field["drift"]:
        text.append("  ⚠ drift", style="bold yellow")
    if field["examples"]:
        text.append(f"  e.g. {inert(', '.join(field['examples']), 80)}", style="dim")
    return text


def capture_loader(db: Any) -> Loader:
    """Read a capture's inventory (all events) on a fresh read connection: for the worker thread."""

    def load() -> dict[str, Any]:
        inventory = Inventory()
        with reader(db) as conn:
            for row in iter_events(conn):
                inventory.add(row)
            labels = source_labels(conn)
        return inventory.to_json(labels)

    return load
