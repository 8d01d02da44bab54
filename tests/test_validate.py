"""Validating answers (docs/protocol.md §14): ?validate=1, X-Segdbg-Validate: 1 and the /debug/v1/... mirror
store as usual and answer with validationMessages; a request that did not ask is answered as before."""

from __future__ import annotations

from typing import Any

import requests
from segment.analytics.client import Client as SegmentClient

from debugger.core.http.wire import SUCCESS_BODY
from debugger.server.app import ServerThread
from tests.helpers import basic, events, http, requests_rows

AUTH = {"Authorization": basic("wk"), "Content-Type": "application/json"}
BATCH = {
    "batch": [
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": 10}},
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": "9.99"}},
        {"type": "track", "event": "Signed Up"},
        {"type": "track", "userId": "u1", "event": "Viewed", "traits": {"plan": "pro"}},
    ]
}


def _by_index(messages: list[dict[str, Any]]) -> dict[int | None, set[tuple[str, str]]]:
    found: dict[int | None, set[tuple[str, str]]] = {}
    for m in messages:
        found.setdefault(m["index"], set()).add((m["path"], m["code"]))
    return found


def test_the_debug_mirror_answers_with_validation_messages_by_batch_index(server: ServerThread) -> None:
    answer = http(f"{server.url}/debug/v1/batch", body=BATCH, headers=AUTH)
    assert answer.status == 200
    body = answer.json()
    assert body["success"] is True
    found = _by_index(body["validationMessages"])
    assert ("properties.revenue", "reserved_property_type") in found[1]
    assert ("userId", "no_user_anon_id") in found[2]
    assert ("traits", "traits_on_track") in found[3]
    assert 0 not in found or all(code != "reserved_property_type" for _, code in found[0])
    missing = next(m for m in body["validationMessages"] if m["code"] == "no_user_anon_id")
    assert missing["severity"] == "error" and missing["consequence"] == "dropped" and missing["category"] == "protocol"
    assert "userId" in missing["description"] and missing["fix"]
    traits = next(m for m in body["validationMessages"] if m["code"] == "traits_on_track")
    assert traits["consequence"] == "altered" and traits["severity"] == "warning"
    # Stored as usual, and the request keeps the path it was sent to.
    assert len(events(server.settings.db)) == 4
    assert [r["path"] for r in requests_rows(server.settings.db)] == ["/debug/v1/batch"]


def test_the_query_parameter_and_the_header_ask_any_ingest_route(server: ServerThread) -> None:
    message = {"userId": "u1", "event": "Viewed", "traits": {"plan": "pro"}}
    by_param = http(f"{server.url}/v1/track?validate=1", body=message, headers=AUTH).json()
    by_header = http(f"{server.url}/v1/track", body=message, headers={**AUTH, "X-Segdbg-Validate": "1"}).json()
    mirror = http(f"{server.url}/debug/v1/t", body=message, headers=AUTH).json()
    for body in (by_param, by_header, mirror):
        assert body["success"] is True
        assert ("traits", "traits_on_track") in _by_index(body["validationMessages"])[0]
    assert len(events(server.settings.db)) == 3


def test_a_request_that_does_not_ask_is_answered_byte_for_byte_as_before(server: ServerThread) -> None:
    answer = http(f"{server.url}/v1/batch", body=BATCH, headers=AUTH)
    assert (answer.status, answer.body) == (200, SUCCESS_BODY)
    off = http(f"{server.url}/v1/batch?validate=0", body=BATCH, headers={**AUTH, "X-Segdbg-Validate": "0"})
    assert (off.status, off.body) == (200, SUCCESS_BODY)


def test_a_refused_request_keeps_segments_status_and_gains_the_messages(server: ServerThread) -> None:
    answer = http(f"{server.url}/debug/v1/batch", body=b"{not json", headers=AUTH)
    assert answer.status == 400
    body = answer.json()
    assert body["success"] is False and body["code"] == "invalid_json" and body["message"]
    assert body["validationMessages"] == [
        {
            "index": None,
            "path": "",
            "code": "invalid_json",
            "severity": "error",
            "consequence": "dropped",
            "category": "protocol",
            "description": body["message"],
            "fix": body["validationMessages"][0]["fix"],
        }
    ]
    rejected = events(server.settings.db)
    assert [e["status"] for e in rejected] == ["rejected"]
    assert rejected[0]["stored"]["rejected"]["path"] == "/debug/v1/batch"
    nokey = http(f"{server.url}/debug/v1/track", body={"userId": "u", "event": "E"})
    assert nokey.status == 400 and nokey.json()["validationMessages"][0]["code"] == "invalid_write_key"


def test_a_repeated_message_id_is_reported_as_a_duplicate(server: ServerThread) -> None:
    message = {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m-1"}
    http(f"{server.url}/v1/batch", body={"batch": [message]}, headers=AUTH)
    again = http(f"{server.url}/debug/v1/batch", body={"batch": [message]}, headers=AUTH).json()
    assert ("messageId", "duplicate_message_id") in _by_index(again["validationMessages"])[0]


def test_the_fix_is_in_the_words_of_the_sending_library(server: ServerThread) -> None:
    message = {"event": "E", "context": {"library": {"name": "analytics-python", "version": "2.3.3"}}}
    body = http(f"{server.url}/debug/v1/track", body=message, headers=AUTH).json()
    fix = next(m["fix"] for m in body["validationMessages"] if m["code"] == "no_user_anon_id")
    assert "user_id=" in fix


def test_segment_analytics_python_sends_to_the_debug_mirror(server: ServerThread) -> None:
    """The real library with host=<server>/debug posts to /debug/v1/batch, takes the answer as a success,
    and every call is stored."""
    errors: list[Any] = []
    client = SegmentClient(
        "wk_py", host=f"{server.url}/debug", on_error=lambda e, batch: errors.append(e), max_retries=0, sync_mode=True
    )
    client.track(user_id="u1", event="Order Completed", properties={"revenue": "12"})
    client.identify(user_id="u1", traits={"email": "a@b.c"})
    client.flush()
    assert errors == []
    stored = events(server.settings.db)
    assert [e["type"] for e in stored] == ["track", "identify"]
    assert all(e["status"] == "ok" and e["library_name"] == "analytics-python" for e in stored)
    assert {r["path"] for r in requests_rows(server.settings.db)} == {"/debug/v1/batch"}
    # The same message posted raw to the mirror: the library's message 0 has properties.revenue as a string.
    raw = {"batch": [{"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": "12"}}]}
    answer = http(f"{server.url}/debug/v1/batch", body=raw, headers=AUTH).json()
    assert ("properties.revenue", "reserved_property_type") in _by_index(answer["validationMessages"])[0]


def test_preflight_and_settings_on_the_mirror_are_answered_as_on_the_route(server: ServerThread) -> None:
    pre = http(
        f"{server.url}/debug/v1/batch",
        "OPTIONS",
        headers={"Origin": "http://a.test", "Access-Control-Request-Headers": "x-segdbg-validate"},
    )
    assert pre.status == 204 and "x-segdbg-validate" in pre.headers["access-control-allow-headers"]
    settings = http(f"{server.url}/debug/v1/projects/wk/settings", "GET")
    assert settings.status == 200 and "validationMessages" not in settings.json()


def test_a_pixel_on_the_mirror_answers_json_instead_of_the_gif(server: ServerThread) -> None:
    answer = http(f"{server.url}/debug/v1/pixel/track?writeKey=wk&event=Clicked", "GET")
    assert answer.status == 200 and answer.headers["content-type"].startswith("application/json")
    assert ("userId", "no_user_anon_id") in _by_index(answer.json()["validationMessages"])[0]
    plain = http(f"{server.url}/v1/pixel/track?writeKey=wk&event=Clicked", "GET")
    assert plain.headers["content-type"] == "image/gif"


def test_the_ci_md_example_validates_in_a_unit_test(segdbg: Any) -> None:
    """docs/ci.md "Validate in SDK unit tests", run for real with the segdbg fixture."""
    good = {"userId": "u1", "event": "Order Completed", "properties": {"order_id": "o1", "revenue": 1, "products": []}}
    answer = requests.post(f"{segdbg.url}/debug/v1/track", json=good, auth=(segdbg.write_key, ""), timeout=5).json()
    assert answer["validationMessages"] == [], answer["validationMessages"]
    bad = {"event": "Order Completed"}
    answer = requests.post(f"{segdbg.url}/debug/v1/track", json=bad, auth=(segdbg.write_key, ""), timeout=5).json()
    assert "no_user_anon_id" in {m["code"] for m in answer["validationMessages"]}
    assert len(segdbg.events(all=True)) == 2


def test_the_home_page_names_the_debug_mirror(server: ServerThread) -> None:
    assert b"/debug/v1/" in http(f"{server.url}/", "GET").body


def test_a_batch_segment_drops_whole_answers_200_with_the_reason(server: ServerThread) -> None:
    batch = [{"type": "track", "userId": "u", "event": "Ping"}] * 2501
    answer = http(f"{server.url}/debug/v1/batch", body={"batch": batch}, headers=AUTH)
    assert answer.status == 200
    (message,) = answer.json()["validationMessages"]
    assert (message["index"], message["code"], message["consequence"]) == (None, "batch_too_large", "dropped")
