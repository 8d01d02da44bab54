"""Requests captured byte for byte from real client libraries (tests/fixtures/wire) replayed to a real server.

Every request gets the answer the client expects, and what is stored matches what the client
sent, enriched per docs/protocol.md §4.3.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from debugger.server.app import ServerThread
from tests.helpers import WIRE, Response, events, http, requests_rows

FILES = sorted(WIRE.glob("*.jsonl")) + sorted((WIRE / "retry-500").glob("*.jsonl"))
SKIPPED_HEADERS = {"host", "content-length", "connection"}


def load(path: Path) -> list[dict[str, Any]]:
    """The captured requests of one fixture file, in arrival order."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def replay(server: ServerThread, captured: dict[str, Any]) -> Response:
    """Send one captured request as it arrived: method, path, query, headers in order, body bytes."""
    headers = [(k, v) for k, v in captured["headers"] if k.lower() not in SKIPPED_HEADERS]
    body = captured["body_text"].encode() if captured.get("body_text") else None
    if body is not None and captured.get("decoded_from") == "gzip":
        body = gzip.compress(body)
    return http(f"{server.url}{captured['raw_path']}", method=captured["method"], body=body, headers=headers)


def messages_of(captured: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages a captured POST carried."""
    body = captured.get("body")
    if not isinstance(body, dict):
        return []
    return list(body["batch"]) if "batch" in body else [body]


def test_the_captures_are_in_the_repository() -> None:
    """Every capture the suite replays lives in tests/fixtures/wire: a fresh clone runs them all, none skipped."""
    names = {str(p.relative_to(WIRE)) for p in FILES}
    assert len(names) == 14
    assert {
        "segment-python.jsonl",
        "rudder-python.jsonl",
        "analytics-node.jsonl",
        "retry-500/segment-python.jsonl",
    } <= names
    assert (WIRE.parent / "README.md").is_file()  # where each capture came from


@pytest.mark.parametrize("fixture", FILES, ids=lambda p: str(p.relative_to(WIRE)))
def test_every_captured_request_gets_the_expected_answer(server: ServerThread, fixture: Path) -> None:
    """Settings GET → 200 settings; preflight → CORS allow; POST → exactly 200 {"success": true}."""
    for captured in load(fixture):
        reply = replay(server, captured)
        origin = dict((k.lower(), v) for k, v in captured["headers"]).get("origin")
        if captured["method"] == "OPTIONS":
            assert reply.status == 204
            assert reply.headers["access-control-allow-origin"] == origin
            asked = dict((k.lower(), v) for k, v in captured["headers"])["access-control-request-headers"]
            assert reply.headers["access-control-allow-headers"] == asked
        elif captured["method"] == "GET":
            assert reply.status == 200
            assert reply.json()["integrations"]["Segment.io"]["apiKey"] == "wk_test"
        else:
            assert (reply.status, reply.json()) == (200, {"success": True})
        if origin is not None:
            assert reply.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("fixture", FILES, ids=lambda p: str(p.relative_to(WIRE)))
def test_stored_events_match_what_each_client_sent(server: ServerThread, fixture: Path) -> None:
    """One row per message; fields as sent; the anonymous ping keeps its time, ip and integrations."""
    captured = load(fixture)
    for request in captured:
        replay(server, request)
    sent = [m for request in captured for m in messages_of(request)]
    stored = events(server.settings.db)
    assert len(stored) == len(sent)
    assert Counter(e["type"] for e in stored) == Counter(m["type"] for m in sent)
    assert {e["write_key"] for e in stored} == {"wk_test"}
    for event, message in zip(stored, sent, strict=True):
        assert event["raw"] == message
        _assert_enriched(event, message)
    ping = next(e for e in stored if e["name"] == "Anonymous Ping")
    assert ping["stored"]["originalTimestamp"] == "2024-01-02T03:04:05.678Z"
    assert ping["stored"]["context"]["ip"] == "203.0.113.7"
    assert {"All": False, "Mixpanel": True}.items() <= ping["stored"]["integrations"].items()
    assert ping["anonymous_id"] == ping["raw"]["anonymousId"]
    if ping["raw"].get("userId") is None:  # server libraries send an explicit null: treated as absent
        assert ping["user_id"] is None and "userId" not in ping["stored"] and ping["problems"] == []
    recorded = [r for r in requests_rows(server.settings.db) if r["kind"] != "settings"]
    assert len(recorded) == sum(1 for r in captured if r["method"] == "POST")


def _assert_enriched(event: dict[str, Any], message: dict[str, Any]) -> None:
    stored = event["stored"]
    for key, value in message.items():
        if key in ("writeKey", "timestamp") or value is None:
            continue
        if key == "context":
            assert value.items() <= stored["context"].items()
        else:
            assert stored[key] == value, key
    assert stored["receivedAt"] == event["received_at"]
    assert stored["messageId"] == message["messageId"]
    assert "sentAt" in stored
    if "ip" not in message.get("context", {}):
        assert stored["context"]["ip"] == "127.0.0.1"


@pytest.mark.parametrize("fixture", sorted((WIRE / "retry-500").glob("*.jsonl")), ids=lambda p: p.name)
def test_client_retries_are_stored_and_marked_duplicate(server: ServerThread, fixture: Path) -> None:
    """Retries reuse the messageId with a new sentAt: every copy stored, later copies duplicates of the first."""
    captured = load(fixture)
    for request in captured:
        replay(server, request)
    stored = events(server.settings.db)
    first_copy: dict[str, int] = {}
    for event in stored:
        if event["message_id"] in first_copy:
            assert event["status"] == "duplicate"
            assert event["duplicate_of"] == first_copy[event["message_id"]]
        else:
            assert event["status"] == "ok"
            first_copy[event["message_id"]] = event["id"]
    assert sum(e["status"] == "duplicate" for e in stored) > 0
    # skew correction uses the sentAt of the copy that arrived
    sent_ats = [m.get("sentAt") or request["body"].get("sentAt") for request in captured for m in messages_of(request)]
    assert [e["stored"]["sentAt"] for e in stored] == sent_ats
    assert len(set(sent_ats)) > 1


def test_rudder_python_key_from_basic_header_and_identify_traits_in_context(server: ServerThread) -> None:
    """rudder-sdk-python: gzip, no body key, channel kept, identify traits live in context.traits."""
    for request in load(WIRE / "rudder-python.jsonl"):
        replay(server, request)
    stored = events(server.settings.db)
    identify = next(e for e in stored if e["type"] == "identify")
    assert identify["write_key"] == "wk_test"
    assert identify["stored"]["context"]["traits"]["email"]
    assert identify["stored"]["channel"] == "server"
    [request] = requests_rows(server.settings.db)
    assert request["content_encoding"] == "gzip"
