"""The real client libraries deliver to a real segdbg server with zero retries, and what is stored
is what they sent, enriched per docs/protocol.md §4.3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from debugger.core.timefmt import format_timestamp, parse_timestamp
from debugger.server.app import ServerThread
from tests.helpers import events, requests_rows

pytestmark = pytest.mark.slow

WHEN = datetime(2024, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def drive(client: Any, count: int) -> list[dict[str, Any]]:
    """Make ``count`` calls of every kind through the library; return what each call should store."""
    expected: list[dict[str, Any]] = []
    for i in range(count):
        when = WHEN + timedelta(seconds=i)
        kind = ("track", "identify", "page", "screen", "group", "alias")[i % 6]
        message_id = f"py-{kind}-{i}"
        if kind == "track":
            client.track(
                user_id=f"user-{i}",
                event="Order Completed",
                properties={"order_id": f"o-{i}", "revenue": 12.5, "products": [{"sku": "a1", "quantity": 2}]},
                timestamp=when,
                message_id=message_id,
            )
            fields = {
                "event": "Order Completed",
                "userId": f"user-{i}",
                "properties": {"order_id": f"o-{i}", "revenue": 12.5, "products": [{"sku": "a1", "quantity": 2}]},
            }
        elif kind == "identify":
            client.identify(
                user_id=f"user-{i}",
                traits={"email": f"u{i}@example.com", "plan": "pro"},
                timestamp=when,
                message_id=message_id,
            )
            fields = {"userId": f"user-{i}", "traits": {"email": f"u{i}@example.com", "plan": "pro"}}
        elif kind == "page":
            client.page(
                anonymous_id=f"anon-{i}",
                category="Docs",
                name="Getting Started",
                properties={"url": "https://example.com/docs"},
                timestamp=when,
                message_id=message_id,
            )
            fields = {"anonymousId": f"anon-{i}", "name": "Getting Started", "category": "Docs"}
        elif kind == "screen":
            client.screen(
                user_id=f"user-{i}", name="Welcome", properties={"step": 1}, timestamp=when, message_id=message_id
            )
            fields = {"userId": f"user-{i}", "name": "Welcome", "properties": {"step": 1}}
        elif kind == "group":
            client.group(
                user_id=f"user-{i}", group_id="acme", traits={"employees": 42}, timestamp=when, message_id=message_id
            )
            fields = {"userId": f"user-{i}", "groupId": "acme", "traits": {"employees": 42}}
        else:
            client.alias(previous_id=f"anon-{i}", user_id=f"user-{i}", timestamp=when, message_id=message_id)
            fields = {"userId": f"user-{i}", "previousId": f"anon-{i}"}
        expected.append({"type": kind, "messageId": message_id, "originalTimestamp": format_timestamp(when), **fields})
    return expected


def assert_stored_as_sent(server: ServerThread, expected: list[dict[str, Any]], library: str) -> None:
    """Every call stored once, ok, with its fields, the right library, and the enrichment of docs/protocol.md §4.3."""
    stored = events(server.settings.db)
    by_id = {e["message_id"]: e for e in stored}
    assert len(stored) == len(expected) == len(by_id), "a retry would have stored a duplicate"
    for want in expected:
        event = by_id[want["messageId"]]
        assert event["status"] == "ok", event["problems"]
        assert event["problems"] == []
        assert event["write_key"] == "wk_py"
        assert event["library_name"] == library
        for key, value in want.items():
            assert event["stored"][key] == value, key
        sent_at = parse_timestamp(event["stored"]["sentAt"])
        received = parse_timestamp(event["stored"]["receivedAt"])
        original = parse_timestamp(want["originalTimestamp"])
        assert sent_at is not None and received is not None and original is not None
        assert event["stored"]["timestamp"] == format_timestamp(received - (sent_at - original))
        assert event["stored"]["context"]["ip"] == "127.0.0.1"
    assert {r["status"] for r in requests_rows(server.settings.db)} == {200}


@pytest.mark.parametrize(
    ("mode", "options"), [("batched", {}), ("sync_mode", {"sync_mode": True}), ("gzip", {"gzip": True})]
)
def test_segment_analytics_python_delivers_with_zero_retries(
    server: ServerThread, mode: str, options: dict[str, Any]
) -> None:
    """segment-analytics-python (batched, sync_mode, gzip=True) → every call stored once, no errors."""
    errors: list[Any] = []
    client = SegmentClient(
        "wk_py", host=server.url, on_error=lambda e, batch: errors.append(e), max_retries=3, **options
    )
    count = 12 if mode == "sync_mode" else 240
    expected = drive(client, count)
    client.flush()
    if mode != "sync_mode":  # the library's shutdown() fails in sync_mode (it has no consumer threads)
        client.shutdown()
    assert errors == []
    assert_stored_as_sent(server, expected, "analytics-python")
    requests = requests_rows(server.settings.db)
    if mode == "sync_mode":
        assert len(requests) == count
    else:
        assert 1 < len(requests) < count  # batched: many messages per request
    if mode == "gzip":
        assert {r["content_encoding"] for r in requests} == {"gzip"}


def test_rudder_sdk_python_delivers_with_zero_retries(server: ServerThread) -> None:
    """rudder-sdk-python (gzip on, key only in the Basic header) → every call stored once."""
    errors: list[Any] = []
    client = RudderClient("wk_py", host=server.url, on_error=lambda e, batch: errors.append(e), max_retries=3)
    expected = drive(client, 60)
    client.flush()
    client.shutdown()
    assert errors == []
    for want in expected:  # rudder sends identify/group traits inside context.traits
        if want["type"] in ("identify",):
            want.pop("traits")
    assert_stored_as_sent(server, expected, "analytics-python")
    assert {r["content_encoding"] for r in requests_rows(server.settings.db)} == {"gzip"}
