"""The TUI's lint views through Pilot: the Problems content for an event, the stream mark, the Schema screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Static, Tree

from debugger.core.lint.checker import CompiledPlan
from debugger.core.lint.linter import Linter
from debugger.core.lint.plan import parse_text
from debugger.server.app import ServerThread
from debugger.tui.screens.schema import SchemaScreen, capture_loader
from debugger.tui.widgets.problems import lint_mark, problems_view
from tests.helpers import events, http


def _text(renderable: Any) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_problems_view_lists_every_category_with_paths_and_expectations(server: ServerThread) -> None:
    """One event: a protocol problem, strict, semantic, naming and plan findings, each under its heading."""
    http(
        f"{server.url}/v1/track",
        body={
            "anonymousId": "a",
            "userId": "undefined",
            "event": "product added",
            "writeKey": "wk",
            "properties": {"price": "19.99"},
            "traits": {"plan": "pro"},
        },
    )
    (event,) = events(server.settings.db)
    plan = CompiledPlan(parse_text("name: Web\nevents:\n  Product Added:\n    properties:\n      price: number\n"))
    text = _text(problems_view(event, Linter(plan=plan).event(event), plan.name))
    assert "✗ Accepted by Segment, but it violates the tracking plan." in text
    for piece in (
        "Accepted, then dropped or mangled downstream",
        "traits_on_track",
        "placeholder_id",
        "Tracking plan Web",
        "unplanned_event",
        "Segment Spec",
        "near_miss_event",
        '"Product Added"',
    ):
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
        http(
            f"{server.url}/v1/track",
            body={
                "userId": "u",
                "event": "Cart Emptied",
                "writeKey": "wk_web",
                "properties": {"items": value, "reason": "timeout"},
            },
        )
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


async def test_app_problems_tab_stream_marks_plan_reload_and_schema_key(db_path: Path, tmp_path: Path) -> None:
    """segdbg tui --plan: the stream marks lint findings, Problems lists plan violations, an edited plan re-judges, s opens Schema."""
    from debugger.tui.widgets.event_detail import EventDetail
    from debugger.tui.widgets.event_list import EventList
    from tests.tui_support import fill, main_screen, make_app, message_request, plain, settle

    plan = tmp_path / "plan.yaml"
    plan.write_text("name: Web\nevents:\n  Video Played:\n    properties:\n      title: number\n")
    fill(
        db_path,
        [message_request({"type": "track", "event": "Video Played", "userId": "u1", "properties": {"title": "Intro"}})],
    )
    app = make_app(db_path, plan=plan)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        (event,) = stream.events.values()
        assert str(stream.cells(event)[-1]).startswith("✗ type")
        await pilot.press("4")
        await settle(pilot)
        detail = main_screen(app).query_one(EventDetail)
        text = plain(detail.query_one("#detail-problems").content)
        assert "Tracking plan Web (1)" in text and "properties.title" in text and "expected number · got string" in text

        plan.write_text("name: Web\nevents:\n  Video Played:\n    properties:\n      title: string\n")
        assert app.lint.refresh()
        app._plan_reloaded()
        await settle(pilot)
        assert "No problems" in plain(detail.query_one("#detail-problems").content)
        assert str(stream.cells(event)[-1]) == "✓"

        await pilot.press("s")
        await settle(pilot)
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert isinstance(app.screen, SchemaScreen)
        labels = [str(n.label) for n in _walk(app.screen.query_one("#schema-tree", Tree).root)]
        assert any("properties.title" in label for label in labels)


async def test_a_broken_plan_edit_keeps_the_last_good_plan(db_path: Path, tmp_path: Path) -> None:
    """A plan file saved half-edited: the TUI says why and keeps checking with the previous plan."""
    from tests.tui_support import fill, make_app, message_request, settle

    plan = tmp_path / "plan.yaml"
    plan.write_text("name: Web\nevents:\n  Video Played: {}\n")
    fill(db_path, [message_request({"type": "track", "event": "Video Played", "userId": "u1"})])
    app = make_app(db_path, plan=plan)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        plan.write_text("name: Web\nevents:\n  Video Played: {properties: {title: strng}}\n")
        assert app.lint.refresh()
        app._plan_reloaded()
        await settle(pilot)
        assert app.lint.plan_name == "Web" and "unknown type 'strng'" in (app.lint.error or "")
        assert any("Plan not reloaded" in (n.title or "") for n in app._notifications)


def test_tui_passes_the_plan_and_reports_a_broken_one_before_starting(
    db_path: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """`segdbg tui --plan FILE` hands the plan to the app; an unreadable plan is a one-line error, no TUI."""
    from click.testing import CliRunner

    from debugger.cli import cli
    from debugger.store.capture import migrate

    migrate(db_path)
    made: list[Any] = []

    class FakeApp:
        def run(self) -> None:
            made.append("ran")

    monkeypatch.setattr("debugger.cli.commands.tui.terminal", lambda: True)
    monkeypatch.setattr("debugger.tui.app.make_tui", lambda path, **options: made.append(options) or FakeApp())
    plan = tmp_path / "plan.yaml"
    plan.write_text("events:\n  Video Played: {}\n")
    assert CliRunner().invoke(cli, ["tui", "--db", str(db_path), "--plan", str(plan)]).exit_code == 0
    assert made[0]["plan"] == plan and made[-1] == "ran"

    monkeypatch.undo()
    monkeypatch.setattr("debugger.cli.commands.tui.terminal", lambda: True)
    plan.write_text("events: [oops]\n")
    result = CliRunner().invoke(cli, ["tui", "--db", str(db_path), "--plan", str(plan)])
    assert result.exit_code == 1 and "events must be a mapping" in result.output


def test_problems_view_shows_each_findings_consequence_and_the_fix_for_the_events_library(server: ServerThread) -> None:
    """Each finding says what Segment does with it and how to fix it, in the sending library's words."""
    library = {"name": "analytics-python", "version": "2.3.3"}
    http(
        f"{server.url}/v1/track",
        body={"event": "Viewed", "writeKey": "wk", "traits": {"plan": "pro"}, "context": {"library": library}},
    )
    (event,) = events(server.settings.db)
    text = _text(problems_view(event, Linter().event(event)))
    assert "dropped · fix: Pass `user_id=` or `anonymous_id=` to every call" in text
    assert "altered · fix: `analytics.track(user_id, event, properties, context={'traits'" in text
    http(f"{server.url}/v1/track", body={"event": "Viewed", "writeKey": "wk"})
    other = events(server.settings.db)[-1]
    assert "dropped · fix: Set `userId` once the user is known" in _text(problems_view(other, Linter().event(other)))
