"""The Identity screen: the highlighted event's identity across sources, as `segdbg user ID` shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree

from debugger.core.pretty.render import inert
from debugger.core.timeline import Timeline, summary
from debugger.store.capture import reader
from debugger.store.reads import source_labels
from debugger.store.timeline import identity_timeline

Loader = Callable[[], tuple[Timeline, dict[str, str]]]


class IdentityScreen(Screen[None]):
    """One identity: its userIds and anonymousIds, identity calls, merged traits, groups and newest events."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    @dataclass
    class Loaded(Message):
        """The timeline was read (in a worker thread)."""

        timeline: Timeline
        labels: dict[str, str]

    def __init__(self, seed: str, load: Loader) -> None:
        super().__init__()
        self.seed = seed
        self.load = load
        self.timeline: Timeline | None = None

    def compose(self) -> ComposeResult:
        """A summary line and the tree."""
        yield Static(Text(f"Reading {inert(self.seed, 60)}'s timeline…", style="dim"), id="identity-summary")
        yield Tree("Identity", id="identity-tree")
        yield Footer()

    def on_mount(self) -> None:
        """Read the timeline off the UI thread."""
        self.action_reload()

    def action_reload(self) -> None:
        """Read the capture again."""
        self._read()

    @work(thread=True, exclusive=True, group="identity", exit_on_error=False)
    def _read(self) -> None:
        self.post_message(self.Loaded(*self.load()))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.timeline = message.timeline
        self._draw(message.timeline, message.labels)

    def _draw(self, timeline: Timeline, labels: dict[str, str]) -> None:
        tree = self.query_one("#identity-tree", Tree)
        tree.clear()
        tree.root.expand()

        def source(key: str | None) -> str:
            return inert(labels.get(key or "") or key or "?", 40)

        def branch(title: str, count: int) -> Any:
            return tree.root.add(Text.assemble((title, "bold"), (f"  {count:,}", "dim")), expand=True)

        ids = branch("userIds", len(timeline.user_ids))
        for u in timeline.user_ids:
            ids.add_leaf(
                Text.assemble(inert(u.id, 60), (f"  {u.events:,} events  #{u.first_id} … #{u.last_id}", "dim"))
            )
        anonymous = branch("anonymousIds", len(timeline.anonymous_ids))
        for a in timeline.anonymous_ids:
            anonymous.add_leaf(
                Text.assemble(inert(a.id, 60), (f"  {a.events:,} events  #{a.first_id} … #{a.last_id}", "dim"))
            )
        together = branch("seen together", len(timeline.links))
        for user, anon, key, n in timeline.links:
            together.add_leaf(Text(f"{inert(user, 40)} · {inert(anon, 40)} · {source(key)}  {n:,} events"))
        calls = branch("identify / alias / group", timeline.calls_total)
        for call in (summary(c) for c in timeline.calls):
            label = Text.assemble((f"#{call['id']} ", "dim"), (f"{call['type']:9}", "bold"), inert(call["label"], 60))
            if call.get("traits"):
                label.append(f"  {_json(call['traits'])}", style="cyan")
            calls.add_leaf(label)
        traits = branch("traits (merged: a later identify overwrites the keys it sends)", len(timeline.traits))
        for key, value in timeline.traits.items():
            traits.add_leaf(
                Text.assemble(
                    (inert(key, 40), "cyan"), f" = {_json(value)}", (f"  #{timeline.trait_source[key]}", "dim")
                )
            )
        if timeline.groups:
            groups = branch("groups", len(timeline.groups))
            for group, group_traits in timeline.groups.items():
                groups.add_leaf(Text.assemble((inert(group, 40), "bold"), f"  {_json(group_traits)}"))
        events = branch(f"events (newest {len(timeline.events):,}, oldest first)", timeline.total)
        for event in (summary(e) for e in timeline.events):
            events.add_leaf(
                Text.assemble(
                    (f"#{event['id']} {str(event['timestamp'] or '')[:23]} ", "dim"),
                    (f"{event['type']:9}", "bold"),
                    inert(event["label"], 50),
                    (
                        f"  {inert(event['user_id'] or event['anonymous_id'] or '', 30)} · {source(event['write_key'])}",
                        "dim",
                    ),
                )
            )
        if timeline.more:
            events.add_leaf(Text(f"… {timeline.more:,} older events (segdbg user --limit N)", style="italic dim"))
        head = Text(
            f"identity {inert(timeline.seed, 60)!r}: {len(timeline.user_ids)} userIds · "
            f"{len(timeline.anonymous_ids)} anonymousIds · {len(timeline.sources)} sources · {timeline.total:,} events",
            style="bold",
        )
        if timeline.placeholder:
            head.append("  (a placeholder id: links not followed)", style="yellow")
        if timeline.incomplete:
            head.append("  (more ids linked than followed)", style="yellow")
        self.query_one("#identity-summary", Static).update(head)


def _json(value: object) -> str:
    return inert(orjson.dumps(value).decode(), 80)


def timeline_loader(db: Any, seed: str, limit: int = 100) -> Loader:
    """Read ``seed``'s timeline (the newest ``limit`` events) on a fresh read connection: for the worker thread."""

    def load() -> tuple[Timeline, dict[str, str]]:
        with reader(db) as conn:
            return identity_timeline(conn, seed, limit=limit), source_labels(conn)

    return load
