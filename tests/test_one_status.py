"""Issue 15, item 10: one status everywhere. `segdbg events`, the debugger API and the TUI stream
show the same mark for an event, lint findings included (not ✓ in the CLI where the TUI says ⚠)."""

from __future__ import annotations

from pathlib import Path

from debugger.server.app import ServerThread
from debugger.tui.widgets.event_list import EventList
from tests.helpers import http, run_segdbg
from tests.tui_support import main_screen, make_app, settle

NEAR_MISS = {"type": "track", "event": "product added", "userId": "u1", "writeKey": "web-dev"}
CLEAN = {"type": "track", "event": "Signed Up", "userId": "u1", "writeKey": "web-dev"}


async def test_events_api_and_tui_agree_on_each_events_mark(server: ServerThread, db_path: Path) -> None:
    for message in (CLEAN, NEAR_MISS):
        assert http(f"{server.url}/v1/track", body=message).status == 200
    assert http(f"{server.url}/v1/track", body=b"{").status == 400
    listed = http(f"{server.url}/debugger/api/events?all=1", "GET").json()["events"]
    api = {e["id"]: e["mark"] for e in listed}
    assert api[1] == "✓" and api[2].startswith("⚠ ") and api[3] == "✗ 400 invalid_json"
    assert "near_miss_event" in {f["code"] for f in listed[1]["findings"]}
    table = run_segdbg("events", "--include-problems", "--db", str(db_path)).stdout
    app = make_app(db_path)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        tui = {i: stream.cells(stream.events[i])[5].plain for i in stream.order}
    assert tui == api
    rows = [line for line in table.splitlines() if line.strip()[:1].isdigit()]
    assert [next(m for m in api.values() if m in row) for row in rows] == list(api.values())
