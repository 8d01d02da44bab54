"""The TUI's lint views through Pilot: the Problems content for an event, the stream mark, the Schema screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Static, Tree

from debugger.checker import CompiledPlan
from debugger.lint import Linter
from debugger.plan import parse_text
from debugger.server import ServerThread
from debugger.tui.screens.schema import SchemaScreen, capture_loader
from debugger.tui.widgets.problems import lint_mark, problems_view
from tests.helpers import events, http


def _text(renderable: Any) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_problems_view_lists_every_category_with_paths_and_expectations(server: ServerThread) -> None:
    """One event: a protocol problem, strict, semantic, naming and plan findings, each under its heading."""
    http(f"{server.url}/v1/track", body={"anonymousId": "a", "userId": "undefined", "event": "product added", "writeKey": "wk",
                                          "properties": {"price": "19.99"}, "traits": {"plan": "pro"}})
    (event,) = events(server.settings.db)
    plan = CompiledPlan(parse_text("name: Web\nevents:\n  Product Added:\n    properties:\n      price: number\n"))
    text = _text(problems_view(event, Linter(plan=plan).event(event), plan.name))
    assert "✗ Accepted by Segment, but it violates the tracking plan." in text
    for piece in ("Accepted, then dropped or mangled downstream", "traits_on_track", "placeholder_id", "Tracking plan Web",
                  "unplanned_event", "Segment Spec", "near_miss_event", '"Product Added"'):
        assert piece in text, piece


def test_problems_view_of_a_clean_event_says_so() -> None:
    """No findings: a green all-clear naming the plan."""
    event = {"id": 1, "status": "ok", "stored": {}}
    assert "✓ No problems" in _text(problems_view(event, [], "Web")) and "Web" in _text(problems_view(event, [], "Web"))


def test_stream_mark_shows_the_worst_finding_and_the_count() -> None:
    """The list's status cell: worst severity first, then how many more."""
    findings = Linter().lint({"type": "track", "event": "product added", "userId": "u", "traits": {"a": 1}})
    mark, style = lint_mark(findings)
    assert mark.startswith("⚠ ") and mark.endswith(f"+{len(findings) - 1}") and style == "yellow"
    assert lint_mark([]) == ("", "")


class _Harness(App[None]):
    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db

    def compose(self) -> ComposeResult:
        yield Static("main")

    def on_mount(self) -> None:
        self.push_screen(SchemaScreen(capture_loader(self.db)))


async def test_schema_screen_shows_sources_events_and_drift(server: ServerThread) -> None:
    """The Schema screen reads the capture in a worker, lists it per source, and `d` keeps only drifting paths."""
    for value in (12, "12"):
        http(f"{server.url}/v1/track", body={"userId": "u", "event": "Cart Emptied", "writeKey": "wk_web",
                                              "properties": {"items": value, "reason": "timeout"}})
    http(f"{server.url}/v1/identify", body={"userId": "u", "writeKey": "wk_ios", "traits": {"email": "a@example.com"}})
    app = _Harness(server.settings.db)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SchemaScreen)
        tree = screen.query_one("#schema-tree", Tree)
        labels = [str(n.label) for n in _walk(tree.root)]
        assert any("wk_web" in label for label in labels) and any("wk_ios" in label for label in labels)
        assert any("properties.items" in label and "drift" in label for label in labels)
        assert any("properties.reason" in label for label in labels)
        assert "1 path with type drift" in str(screen.query_one("#schema-summary", Static).content)
        await pilot.press("d")
        await pilot.pause()
        labels = [str(n.label) for n in _walk(tree.root)]
        assert not any("properties.reason" in label or "wk_ios" in label for label in labels)
        assert any("properties.items" in label for label in labels)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SchemaScreen)


def _walk(node: Any) -> list[Any]:
    out = []
    for child in node.children:
        out.append(child)
        out.extend(_walk(child))
    return out
