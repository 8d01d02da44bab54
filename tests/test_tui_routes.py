"""The detail's Routes tab, driven through Pilot: with a routing file, 5 shows each destination's verdict on the
highlighted event, in the words `segdbg route` prints; without one, 5 says how to get it."""

from __future__ import annotations

from pathlib import Path

from debugger.core.routing import parse_text
from debugger.tui.widgets.event_detail import EventDetail
from tests.tui_support import fill, main_screen, make_app, message_request, plain, settle

ROUTING = """\
destinations:
  Amplitude:
    consent: [Analytics]
  Mixpanel:
    mode: device
    filters:
      - title: strip pii
        type: block_properties
        fields: {properties: [email]}
"""


def _fill(db: Path) -> None:
    fill(
        db,
        [
            message_request(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": "u1",
                    "properties": {"email": "a@b.c", "total": 3},
                    "context": {"consent": {"categoryPreferences": {"Analytics": False}}},
                }
            )
        ],
    )


async def test_routes_tab_shows_the_consent_sentence(db_path: Path) -> None:
    _fill(db_path)
    app = make_app(db_path, routing=parse_text(ROUTING, "routing.yaml"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = main_screen(app).query_one(EventDetail)
        await pilot.press("5")
        await settle(pilot)
        assert detail.active == "routes"
        lines = plain(detail.query_one("#detail-routes").content).splitlines()
        assert lines[0].startswith("→ Amplitude: blocked, consent category Analytics is off")
        assert lines[1].startswith('→ Mixpanel: delivered (properties.email removed by filter "strip pii")')
        assert "(device mode)" in lines[1]


async def test_without_a_routing_file_5_says_how(db_path: Path) -> None:
    _fill(db_path)
    app = make_app(db_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = main_screen(app).query_one(EventDetail)
        await pilot.press("5")
        await settle(pilot)
        assert detail.active == "pretty"
        assert any("--routing FILE" in str(n.message) for n in app._notifications)
