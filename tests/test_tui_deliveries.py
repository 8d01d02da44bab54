"""The Deliveries screen through Pilot: runs, metrics, and You Sent / Request / Response of each
event not delivered, read from a capture that real replays wrote."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent
from textual.worker import WorkerCancelled

from debugger.cli import cli
from debugger.server.app import ServerThread
from debugger.tui.screens.deliveries import EMPTY, DeliveriesScreen
from tests.helpers import http
from tests.sinks import Reply, ScriptedTarget


class Harness(App[None]):
    """An app that opens the Deliveries screen over a capture."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db

    def compose(self) -> ComposeResult:
        yield Static("stream")

    def on_mount(self) -> None:
        self.push_screen(DeliveriesScreen(self.db))


@pytest.fixture
def replayed(server: ServerThread, db_path: Path) -> Path:
    """A capture of three events replayed twice: delivered, then answered 400 with a JSON body."""
    batch = {
        "writeKey": "wk",
        "batch": [{"type": "track", "userId": "u", "event": f"Step [red]{i}", "messageId": f"m{i}"} for i in range(3)],
    }
    assert http(f"{server.url}/v1/batch", body=batch).status == 200
    with ScriptedTarget() as ok:
        assert CliRunner().invoke(cli, ["replay", "--db", str(db_path), "--to", ok.url]).exit_code == 0
    bad = Reply(400, b'{"success":false,"code":"invalid_json","message":"Invalid JSON"}')
    with ScriptedTarget([bad]) as target:
        assert CliRunner().invoke(cli, ["replay", "--db", str(db_path), "--to", target.url]).exit_code == 3
    return db_path


def text(app: App[None], selector: str) -> str:
    """The plain text a Static shows."""
    return str(app.screen.query_one(selector, Static).render())


async def settle(app: App[None], pilot: Pilot[None]) -> None:
    """Let every worker finish (a newer read cancels an older one) and its messages be handled."""
    for _ in range(3):
        for worker in list(app.workers):
            with contextlib.suppress(WorkerCancelled):
                await asyncio.wait_for(worker.wait(), 30)
        await pilot.pause()


async def test_runs_newest_first_with_failures_and_three_views(replayed: Path) -> None:
    """The newest run is selected: its metrics, its 3 failures, and You Sent / Request / Response."""
    app = Harness(replayed)
    async with app.run_test(size=(140, 48)) as pilot:
        await settle(app, pilot)
        runs = app.screen.query_one("#runs", DataTable)
        assert runs.row_count == 2 and str(runs.get_row_at(0)[0]) == "2"
        assert "3 not delivered" in text(app, "#run-metrics") and "3 HTTP 400 invalid_json" in text(app, "#run-metrics")
        failures = app.screen.query_one("#failures", DataTable)
        assert failures.row_count == 3
        assert '"messageId": "m0"' in text(app, "#view-sent-text")
        assert "Step [red]0" in text(app, "#view-sent-text")  # payload text is shown, never taken as markup
        await pilot.press("2")
        assert app.screen.query_one("#views", TabbedContent).active == "view-request"
        assert "POST http://127.0.0.1:" in text(app, "#view-request-text") and "Authorization: Basic ••••••" in text(
            app, "#view-request-text"
        )
        assert "attempt 1: HTTP 400" in text(app, "#view-request-text")
        await pilot.press("3")
        assert "HTTP 400" in text(app, "#view-response-text") and '"message": "Invalid JSON"' in text(
            app, "#view-response-text"
        )


async def test_moving_through_failures_and_runs(replayed: Path) -> None:
    """Down in the failures shows the next event; the older run shows that everything was delivered."""
    app = Harness(replayed)
    async with app.run_test(size=(140, 48)) as pilot:
        await settle(app, pilot)
        app.screen.query_one("#failures", DataTable).focus()
        await pilot.press("down")
        await settle(app, pilot)
        assert '"messageId": "m1"' in text(app, "#view-sent-text")
        app.screen.query_one("#runs", DataTable).focus()
        await pilot.press("down")
        await settle(app, pilot)
        assert "Run #1 · replay · delivered" in text(app, "#run-metrics")
        assert app.screen.query_one("#failures", DataTable).row_count == 0
        assert "Every event of this run was delivered." in text(app, "#view-sent-text")


async def test_no_runs_says_how_to_make_one(server: ServerThread, db_path: Path) -> None:
    """A capture without replays explains how to get some; escape goes back."""
    app = Harness(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        assert text(app, "#run-metrics") == EMPTY
        await pilot.press("escape")
        assert not isinstance(app.screen, DeliveriesScreen)


async def test_d_opens_deliveries_from_the_stream_and_escape_returns(replayed: Path) -> None:
    """In the real app, `d` opens the Deliveries screen over the capture it shows; esc goes back."""
    from debugger.tui.screens.main import MainScreen
    from tests.tui_support import make_app

    app = make_app(replayed)
    async with app.run_test(size=(140, 48)) as pilot:
        await settle(app, pilot)
        await pilot.press("d")
        await settle(app, pilot)
        assert isinstance(app.screen, DeliveriesScreen)
        assert app.screen.query_one("#runs", DataTable).row_count == 2
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
