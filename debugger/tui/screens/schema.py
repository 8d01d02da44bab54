"""The Schema screen: the capture's inventory per source and event, with type drift flagged; with a plan, its coverage."""

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

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.coverage import MARKS, describe
from debugger.core.lint.inventory import Inventory
from debugger.core.pretty.render import inert
from debugger.store.capture import reader
from debugger.store.coverage import coverage
from debugger.store.reads import iter_events, source_labels

Loader = Callable[[], dict[str, Any]]


class SchemaScreen(Screen[None]):
    """Sources → events → property paths, with types, presence, examples and drift (`segdbg schema`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("d", "toggle_drift", "Drift only"),
        Binding("r", "reload", "Reload"),
        Binding("c", "toggle_coverage", "Plan coverage"),
    ]
    drift_only: reactive[bool] = reactive(False)
    show_coverage: reactive[bool] = reactive(False)

    @dataclass
    class Loaded(Message):
        """The inventory was read (in a worker thread)."""

        doc: dict[str, Any]
        report: dict[str, Any] | None = None

    def __init__(self, load: Loader, coverage: Loader | None = None) -> None:
        super().__init__()
        self.load = load
        self.coverage = coverage
        self.doc: dict[str, Any] | None = None
        self.report: dict[str, Any] | None = None

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
        self.post_message(self.Loaded(self.load(), self.coverage() if self.coverage is not None else None))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.doc = message.doc
        self.report = message.report
        self._draw()

    def action_toggle_coverage(self) -> None:
        """With a plan (`segdbg tui --plan`): planned events seen valid, only invalid, never; unplanned ones."""
        if self.coverage is None:
            self.notify("Start the TUI with --plan FILE to see the plan's coverage.", title="No tracking plan")
            return
        self.show_coverage = not self.show_coverage

    def watch_show_coverage(self) -> None:
        if self.doc is not None:
            self._draw()

    def action_toggle_drift(self) -> None:
        """Show only paths whose type drifted (and the events and sources that have them)."""
        self.drift_only = not self.drift_only

    def watch_drift_only(self) -> None:
        if self.doc is not None:
            self._draw()

    def _draw(self) -> None:
        if self.show_coverage and self.report is not None:
            self._draw_coverage(self.report)
            return
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
        if self.report is not None:
            summary.append(f" · plan coverage {self.report['coverage']}%", style="bold")
            summary.append("  (c shows it)", style="dim")
        self.query_one("#schema-summary", Static).update(summary)

    def _draw_coverage(self, report: dict[str, Any]) -> None:
        """Planned events (✓ seen valid, ✗ only invalid with why, · never) with a line per source; then unplanned."""
        tree = self.query_one("#schema-tree", Tree)
        tree.clear()
        tree.root.expand()
        for event in report["planned_events"]:
            mark, style = MARKS[event["status"]]
            label = Text.assemble(
                (f"{mark} ", style), (inert(event["label"], 60), "bold"), (f"  {event['events']:,}×", "dim")
            )
            if event["status"] == "invalid":
                label.append(f"  only invalid: {inert(describe(event['reasons']), 120)}", style=style)
            elif event["status"] == "never":
                label.append("  never seen", style=style)
            node = tree.root.add(label, expand=event["status"] != "valid")
            for source, cell in event["by"]["source"].items():
                cell_mark, cell_style = MARKS[cell["status"]]
                node.add_leaf(
                    Text.assemble(
                        (f"{cell_mark} ", cell_style),
                        ("source ", "dim"),
                        inert(source or "(none)", 40),
                        f"  {cell['events']:,}×",
                    )
                )
            for prop in event["properties"]:
                prop_mark, prop_style = MARKS[prop["status"]]
                node.add_leaf(
                    Text.assemble(
                        (f"{prop_mark} ", prop_style), (inert(prop["path"], 80), "cyan"), f"  {prop['status']}"
                    )
                )
        if report["unplanned"]:
            unplanned = tree.root.add(Text("Unplanned (not in the plan)", style="bold yellow"), expand=True)
            for u in report["unplanned"]:
                name = u["name"] if u["type"] == "track" and u["name"] else f"{u['type']} {u['name'] or ''}".strip()
                unplanned.add_leaf(Text(f"? {inert(name, 60)}  {u['events']:,}×", style="yellow"))
        summary = Text(f"Plan {inert(report['plan'], 40)}: coverage {report['coverage']}% · ", style="bold")
        summary.append(
            f"{report['valid']} valid, {report['invalid']} only invalid, {report['never']} never seen, "
            f"{len(report['unplanned'])} unplanned",
            style="",
        )
        summary.append("  (c shows the schema)", style="dim")
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


def coverage_loader(db: Any, plan: Callable[[], CompiledPlan | None]) -> Loader | None:
    """Read the coverage of the current plan (``plan()``, e.g. the TUI's live-reloaded one); ``None`` without a plan."""
    if plan() is None:
        return None

    def load() -> dict[str, Any]:
        current = plan()
        if current is None:
            return {}
        with reader(db) as conn:
            return coverage(conn, current).to_json()

    return load
