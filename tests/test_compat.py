"""docs/protocol.md §10: the fifteen compatibility cases and the further cases, against a real server.

Each test sends real bytes to a real segdbg server on a loopback port and asserts both the
answer and what was stored in the real SQLite file.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import orjson
import pytest

from debugger.core.timefmt import format_timestamp, parse_timestamp
from debugger.server.app import ServerThread
from tests.helpers import basic, events, gz, http, requests_rows

CASE1_BATCH = {
    "batch": [
        {
            "type": "track",
            "event": "Signed Up",
            "userId": "u1",
            "messageId": "m1",
            "timestamp": "2024-05-01T12:00:00.000+00:00",
            "context": {"library": {"name": "analytics-python", "version": "2.3.4"}},
        }
    ],
    "sentAt": "2024-05-01T12:00:01.123456+00:00",
    "writeKey": "WK",
}


def _skew_corrected(received_at: str, seconds: float) -> str:
    received = parse_timestamp(received_at)
    assert received is not None
    return format_timestamp(received - timedelta(seconds=seconds))


def test_case_01_batch_with_body_write_key_and_no_auth_header(server: ServerThread) -> None:
    """A python-style batch with the key only in the body is accepted and enriched per docs/protocol.md §4.3."""
    reply = http(f"{server.url}/v1/batch", body=CASE1_BATCH, headers={"Content-Type": "application/json"})
    assert (reply.status, reply.json()) == (200, {"success": True})
    [event] = events(server.settings.db)
    stored = event["stored"]
    assert event["write_key"] == "WK" and event["status"] == "ok"
    assert stored["originalTimestamp"] == "2024-05-01T12:00:00.000Z"
    assert stored["sentAt"] == "2024-05-01T12:00:01.123456+00:00"
    assert stored["receivedAt"] == event["received_at"]
    assert stored["timestamp"] == _skew_corrected(stored["receivedAt"], 1.123456)
    assert "writeKey" not in stored
    assert event["raw"] == CASE1_BATCH["batch"][0]


def test_case_02_gzip_batch_with_basic_auth_only(server: ServerThread) -> None:
    """rudder-python style: gzip body, key only in the Basic header → the same row as case 1."""
    body = dict(CASE1_BATCH)
    del body["writeKey"]
    reply = http(
        f"{server.url}/v1/batch",
        body=gz(orjson.dumps(body)),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip", "Authorization": basic("WK")},
    )
    assert (reply.status, reply.json()) == (200, {"success": True})
    [event] = events(server.settings.db)
    assert event["write_key"] == "WK"
    assert event["stored"]["originalTimestamp"] == "2024-05-01T12:00:00.000Z"
    assert event["stored"]["timestamp"] == _skew_corrected(event["received_at"], 1.123456)
    [request] = requests_rows(server.settings.db)
    assert request["content_encoding"] == "gzip"
    assert request["wire_size"] < request["body_size"]


def test_case_03_preflight_echoes_origin_and_requested_headers(server: ServerThread) -> None:
    """An analytics-next ≥1.84 preflight passes: origin and asked headers echoed, credentials allowed."""
    reply = http(
        f"{server.url}/v1/t",
        method="OPTIONS",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )
    assert reply.status in (200, 204)
    assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert reply.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip() for h in reply.headers["access-control-allow-headers"].lower().split(",")}
    assert {"authorization", "content-type", "x-retry-count"} <= allowed
    assert "POST" in reply.headers["access-control-allow-methods"]
    assert "origin" in reply.headers["vary"].lower()
    assert events(server.settings.db) == [] and requests_rows(server.settings.db) == []


def test_case_03b_private_network_preflight(server: ServerThread) -> None:
    """Chrome's Private Network Access preflight from a public page gets its allow header."""
    reply = http(
        f"{server.url}/v1/t",
        method="OPTIONS",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert reply.headers["access-control-allow-private-network"] == "true"
    assert reply.headers["access-control-allow-origin"] == "https://shop.example.com"


ANALYTICS_NEXT_TRACK = {
    "timestamp": "2024-05-01T12:00:00.000Z",
    "integrations": {},
    "type": "track",
    "event": "Product Added",
    "properties": {"sku": "45790-32", "price": 19},
    "context": {
        "page": {"path": "/cart", "url": "http://localhost:3000/cart"},
        "userAgent": "Mozilla/5.0",
        "library": {"name": "analytics.js", "version": "npm:next-1.84.3"},
    },
    "messageId": "ajs-next-1714564800000-3f2a",
    "anonymousId": "anon-3f2a",
    "writeKey": "WK",
    "userId": None,
    "sentAt": "2024-05-01T12:00:00.050Z",
    "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
}


def test_case_04_analytics_next_text_plain_track(server: ServerThread) -> None:
    """text/plain + Basic + body key: 200 with CORS, _metadata kept, context.ip filled from the socket."""
    reply = http(
        f"{server.url}/v1/t",
        body=ANALYTICS_NEXT_TRACK,
        headers={"Content-Type": "text/plain", "Authorization": basic("WK"), "Origin": "http://localhost:3000"},
    )
    assert (reply.status, reply.json()) == (200, {"success": True})
    assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert reply.headers["access-control-allow-credentials"] == "true"
    [event] = events(server.settings.db)
    assert event["type"] == "track" and event["status"] == "ok"
    assert event["stored"]["_metadata"] == ANALYTICS_NEXT_TRACK["_metadata"]
    assert event["stored"]["context"]["ip"] == "127.0.0.1"
    assert event["stored"]["context"]["page"]["path"] == "/cart"
    assert event["library_name"] == "analytics.js"


def test_case_05_type_comes_from_the_path(server: ServerThread) -> None:
    """A page body without `type` posted to /v1/p is stored as a page."""
    reply = http(f"{server.url}/v1/p", body={"anonymousId": "a1", "name": "Pricing", "writeKey": "WK"})
    assert reply.status == 200
    [event] = events(server.settings.db)
    assert (event["type"], event["stored"]["type"], event["name"]) == ("page", "page", "Pricing")


def test_case_06_b_batch_items_share_received_at_and_envelope_sent_at(server: ServerThread) -> None:
    """/v1/b: both items stored, same receivedAt, both carrying the envelope sentAt."""
    body = {
        "writeKey": "WK",
        "sentAt": "2024-05-01T12:00:05.000Z",
        "batch": [
            {"type": "track", "event": "A", "anonymousId": "x", "timestamp": "2024-05-01T12:00:00.000Z"},
            {"type": "page", "anonymousId": "x", "timestamp": "2024-05-01T12:00:01.000Z"},
        ],
    }
    assert http(f"{server.url}/v1/b", body=body, headers={"Content-Type": "text/plain"}).status == 200
    first, second = events(server.settings.db)
    assert first["received_at"] == second["received_at"]
    assert first["stored"]["sentAt"] == second["stored"]["sentAt"] == "2024-05-01T12:00:05.000Z"
    assert first["stored"]["timestamp"] == _skew_corrected(first["received_at"], 5)
    assert second["stored"]["timestamp"] == _skew_corrected(second["received_at"], 4)


def test_case_07_item_context_wins_over_envelope_context(server: ServerThread) -> None:
    """Envelope context is merged into each item; the item's own keys win."""
    body = {
        "writeKey": "WK",
        "context": {"device": {"type": "phone"}, "locale": "en-GB"},
        "batch": [
            {
                "type": "track",
                "event": "E",
                "userId": "u",
                "context": {"library": {"name": "analytics-java", "version": "3"}, "device": {"type": "tablet"}},
            }
        ],
    }
    assert http(f"{server.url}/v1/batch", body=body).status == 200
    [event] = events(server.settings.db)
    context = event["stored"]["context"]
    assert context["device"]["type"] == "tablet"
    assert context["library"]["name"] == "analytics-java"
    assert context["locale"] == "en-GB"


def test_case_08_no_ids_is_accepted_and_stored_as_rejected(server: ServerThread) -> None:
    """No userId/anonymousId: 200 like Segment, stored invalid with no_user_anon_id, hidden by default."""
    reply = http(f"{server.url}/v1/track", body={"event": "X", "writeKey": "WK"})
    assert (reply.status, reply.json()) == (200, {"success": True})
    [event] = events(server.settings.db)
    assert event["status"] == "invalid"
    assert [p["code"] for p in event["problems"]] == ["no_user_anon_id"]
    assert events(server.settings.db, statuses=("ok",)) == []


def test_case_09_track_without_event_is_rejected(server: ServerThread) -> None:
    """A track without `event`: 200, stored invalid with missing_event at path `event`."""
    assert http(f"{server.url}/v1/track", body={"userId": "u", "writeKey": "WK"}).status == 200
    [event] = events(server.settings.db)
    assert event["status"] == "invalid"
    assert [(p["code"], p["path"]) for p in event["problems"]] == [("missing_event", "event")]


def test_case_10_invalid_json_is_400_and_python_does_not_retry(server: ServerThread) -> None:
    """Truncated JSON: 400 with success/code/message (what analytics-python needs to not retry); body kept."""
    reply = http(f"{server.url}/v1/track", body='{"userId":', headers={"Content-Type": "application/json"})
    assert reply.status == 400
    answer = reply.json()
    assert answer["success"] is False and answer["code"] == "invalid_json" and answer["message"]
    [request] = requests_rows(server.settings.db)
    assert (request["status"], request["code"], request["body"]) == (400, "invalid_json", b'{"userId":')
    [row] = events(server.settings.db)  # the rejected request's one row, with the body as received
    assert (row["status"], row["request_id"], row["raw"]) == ("rejected", request["id"], '{"userId":')
    assert row["problems"][0]["code"] == "invalid_json" and request["event_count"] == 0


def test_case_11_oversize_single_message_and_batch(server: ServerThread) -> None:
    """A 33,000-byte message and a 600 KB batch are 400 'Exceed payload limit'; nothing stored as events."""
    big_message = {"userId": "u", "event": "Big", "writeKey": "WK", "properties": {"blob": "x" * 33_000}}
    reply = http(f"{server.url}/v1/track", body=big_message)
    assert reply.status == 400 and reply.json()["code"] == "payload_too_large"
    assert "Exceed payload limit" in reply.json()["message"]
    item = {"type": "track", "userId": "u", "event": "E", "properties": {"blob": "y" * 20_000}}
    big_batch = {"writeKey": "WK", "batch": [item] * 30}
    assert len(orjson.dumps(big_batch)) > 600_000
    reply = http(f"{server.url}/v1/batch", body=big_batch)
    assert reply.status == 400 and "Exceed payload limit" in reply.json()["message"]
    rows = events(server.settings.db)
    assert [(e["status"], e["problems"][0]["code"]) for e in rows] == [("rejected", "payload_too_large")] * 2
    assert [r["status"] for r in requests_rows(server.settings.db)] == [400, 400]


def test_case_11b_oversize_is_measured_after_decompression(server: ServerThread) -> None:
    """A small gzip body that inflates past 500 KB is rejected (limits apply to inflated bytes)."""
    body = orjson.dumps(
        {"writeKey": "WK", "batch": [{"type": "track", "userId": "u", "event": "E", "p": "z" * 600_000}]}
    )
    compressed = gz(body)
    assert len(compressed) < 10_000
    reply = http(f"{server.url}/v1/batch", body=compressed, headers={"Content-Encoding": "gzip"})
    assert reply.status == 400 and reply.json()["code"] == "payload_too_large"


def test_case_12_same_message_id_twice_marks_the_second_duplicate(server: ServerThread) -> None:
    """Both posts answered 200; two rows; the second is a duplicate pointing at the first."""
    body = {"userId": "u", "event": "E", "messageId": "dup-1", "writeKey": "WK"}
    assert http(f"{server.url}/v1/track", body=body).status == 200
    assert http(f"{server.url}/v1/track", body=body).status == 200
    first, second = events(server.settings.db)
    assert (first["status"], second["status"]) == ("ok", "duplicate")
    assert second["duplicate_of"] == first["id"]
    assert [p["code"] for p in second["problems"]] == ["duplicate_message_id"]


def test_case_12b_same_message_id_under_another_write_key_is_not_a_duplicate(server: ServerThread) -> None:
    """Dedupe is keyed by write key + messageId (docs/protocol.md §6)."""
    for key in ("WK1", "WK2"):
        http(f"{server.url}/v1/track", body={"userId": "u", "event": "E", "messageId": "same", "writeKey": key})
    assert [e["status"] for e in events(server.settings.db)] == ["ok", "ok"]


def test_case_13_no_write_key_anywhere_is_400(server: ServerThread) -> None:
    """No Basic header, no writeKey: 400 invalid_write_key with Segment's message; request kept with its body."""
    reply = http(f"{server.url}/v1/track", body={"userId": "u", "event": "E"})
    assert reply.status == 400
    assert reply.json() == {
        "success": False,
        "code": "invalid_write_key",
        "message": "An invalid write key was provided",
    }
    [row] = events(server.settings.db)
    assert (row["status"], row["raw"]["event"]) == ("rejected", "E")
    [request] = requests_rows(server.settings.db)
    assert request["code"] == "invalid_write_key" and orjson.loads(request["body"])["event"] == "E"


def test_case_14_pixel_url_safe_unpadded_and_garbage(server: ServerThread) -> None:
    """Pixel GETs always answer a 1×1 GIF; URL-safe unpadded base64 is stored, garbage stores nothing."""
    message = b'{"writeKey":"WK","userId":"u","event":"Email Opened","properties":{"subject":"Hi?>"}}'
    data = base64.urlsafe_b64encode(message).rstrip(b"=").decode()
    assert "=" not in data
    good = http(f"{server.url}/v1/pixel/track?data={data}", method="GET")
    bad = http(f"{server.url}/v1/pixel/track?data=not-base64!", method="GET")
    for reply in (good, bad):
        assert reply.status == 200
        assert reply.headers["content-type"] == "image/gif"
        assert reply.body.startswith(b"GIF89a") and reply.body[6:10] == b"\x01\x00\x01\x00"
    event, rejected = events(server.settings.db)
    assert (rejected["status"], rejected["problems"][0]["code"]) == ("rejected", "invalid_pixel_data")
    assert (event["type"], event["name"], event["write_key"]) == ("track", "Email Opened", "WK")
    assert event["stored"]["properties"] == {"subject": "Hi?>"}
    bad_request = requests_rows(server.settings.db)[1]
    assert bad_request["code"] == "invalid_pixel_data" and bad_request["status"] == 200


def test_case_14b_pixel_plain_query_parameters(server: ServerThread) -> None:
    """The non-base64 pixel form: dotted query parameters build the nested message."""
    reply = http(
        f"{server.url}/v1/pixel/track?writeKey=WK&userId=u9&event=Email%20Opened&properties.subject=Welcome",
        method="GET",
    )
    assert reply.status == 200
    [event] = events(server.settings.db)
    assert event["user_id"] == "u9" and event["stored"]["properties"] == {"subject": "Welcome"}


def test_case_15_settings_make_analytics_js_send_here(server: ServerThread) -> None:
    """Settings for any key: apiKey echoed, apiHost = this server, metrics off, CORS headers, only Segment.io."""
    host = server.url.removeprefix("http://")
    reply = http(f"{server.url}/v1/projects/WK/settings", method="GET", headers={"Origin": "http://localhost:3000"})
    assert reply.status == 200
    settings = reply.json()
    assert list(settings["integrations"]) == ["Segment.io"]
    segment = settings["integrations"]["Segment.io"]
    assert segment["apiKey"] == "WK"
    assert segment["apiHost"] == f"{host}/v1" and segment["protocol"] == "http"
    assert settings["metrics"]["sampleRate"] == 0
    assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert events(server.settings.db) == []


# Further cases (docs/protocol.md §10, the further cases)


def test_metrics_route_is_accepted_and_not_an_event(server: ServerThread) -> None:
    """/v1/m answers 200 and is recorded as a metrics request, never as an event."""
    body = {
        "series": [
            {"type": "Counter", "metric": "analytics_js.invoke", "value": 1, "tags": {"library": "analytics.js"}}
        ]
    }
    reply = http(f"{server.url}/v1/m", body=body, headers={"Content-Type": "text/plain"})
    assert (reply.status, reply.json()) == (200, {"success": True})
    assert events(server.settings.db) == []
    [request] = requests_rows(server.settings.db)
    assert request["kind"] == "metrics" and orjson.loads(request["body"]) == body


def test_unknown_type_item_is_rejected_and_siblings_are_stored(server: ServerThread) -> None:
    """A batch item with type 'foo' is stored invalid; its siblings are stored ok; 200."""
    body = {
        "writeKey": "WK",
        "batch": [
            {"type": "track", "event": "A", "userId": "u"},
            {"type": "foo", "userId": "u"},
            {"type": "identify", "userId": "u", "traits": {"email": "a@b.co"}},
        ],
    }
    assert http(f"{server.url}/v1/batch", body=body).status == 200
    stored = events(server.settings.db)
    assert [e["status"] for e in stored] == ["ok", "invalid", "ok"]
    assert [p["code"] for p in stored[1]["problems"]] == ["invalid_type"]


def test_numeric_user_id_is_stored_as_a_string(server: ServerThread) -> None:
    """userId 42 → "42", as the python and node libraries stringify ids."""
    http(f"{server.url}/v1/identify", body={"userId": 42, "writeKey": "WK"})
    [event] = events(server.settings.db)
    assert event["user_id"] == "42" and event["stored"]["userId"] == "42"
    assert event["raw"]["userId"] == 42


def test_unpadded_timestamp_is_accepted(server: ServerThread) -> None:
    """Segment's own example timestamp `2015-2-02T00:30:08.276Z` parses."""
    http(
        f"{server.url}/v1/track",
        body={"userId": "u", "event": "E", "writeKey": "WK", "timestamp": "2015-2-02T00:30:08.276Z"},
    )
    [event] = events(server.settings.db)
    assert event["stored"]["originalTimestamp"] == "2015-02-02T00:30:08.276Z"
    assert event["status"] == "ok" and event["problems"] == []


def test_unparseable_timestamp_falls_back_with_a_warning(server: ServerThread) -> None:
    """A bad timestamp never rejects the event: timestamp = receivedAt, warning kept."""
    http(f"{server.url}/v1/track", body={"userId": "u", "event": "E", "writeKey": "WK", "timestamp": "yesterday"})
    [event] = events(server.settings.db)
    assert event["status"] == "ok"
    assert event["stored"]["timestamp"] == event["received_at"]
    assert [(p["code"], p["severity"]) for p in event["problems"]] == [("invalid_timestamp", "warning")]


def test_classic_android_import_chunked_and_gzip(server: ServerThread) -> None:
    """/v1/import with a chunked, gzip body and no Content-Length (classic analytics-android)."""
    body = {
        "batch": [
            {"type": "screen", "name": f"Screen {i}", "anonymousId": "dev-1", "messageId": f"a-{i}"} for i in range(50)
        ],
        "writeKey": "android-key",
        "sentAt": "2024-05-01T12:00:00Z",
    }
    reply = http(
        f"{server.url}/v1/import",
        body=gz(orjson.dumps(body)),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        chunked=True,
    )
    assert (reply.status, reply.json()) == (200, {"success": True})
    stored = events(server.settings.db)
    assert len(stored) == 50 and {e["type"] for e in stored} == {"screen"}


def test_client_context_ip_is_preserved(server: ServerThread) -> None:
    """A context.ip sent by the client is never overwritten by the socket address."""
    http(
        f"{server.url}/v1/track", body={"userId": "u", "event": "E", "writeKey": "WK", "context": {"ip": "203.0.113.9"}}
    )
    [event] = events(server.settings.db)
    assert event["stored"]["context"]["ip"] == "203.0.113.9"
    assert requests_rows(server.settings.db)[0]["remote_addr"] == "127.0.0.1"


def test_batch_of_2501_messages_is_200_and_one_rejected_row(server: ServerThread) -> None:
    """Over 2,500 messages: 200 (as Segment, which drops the whole batch); one rejected row with the
    body, not 2,501 rows pushing everything else out of the stream (docs/protocol.md §3.4)."""
    body = {"writeKey": "WK", "batch": [{"type": "track", "event": "E", "userId": "u"}] * 2501}
    reply = http(f"{server.url}/v1/batch", body=body)
    assert (reply.status, reply.json()) == (200, {"success": True})
    [row] = events(server.settings.db)
    assert (row["status"], row["write_key"], row["problems"][0]["code"]) == ("rejected", "WK", "batch_too_large")
    assert "2,501 messages" in row["problems"][0]["message"]
    assert orjson.dumps(body).decode().startswith(row["raw"])  # Raw shows the first 64 KB; the request keeps all
    [request] = requests_rows(server.settings.db)
    assert (request["status"], request["code"], request["event_count"]) == (200, "batch_too_large", 0)
    assert len(orjson.loads(request["body"])["batch"]) == 2501


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
def test_any_content_type_is_parsed_as_json(server: ServerThread, content_type: str | None) -> None:
    """The body is JSON whatever the Content-Type says, including none (sendBeacon, kotlin, curl)."""
    headers = {"Content-Type": content_type} if content_type else {}
    reply = http(f"{server.url}/v1/track", body={"userId": "u", "event": "E", "writeKey": "WK"}, headers=headers)
    assert reply.status == 200
    assert len(events(server.settings.db)) == 1


def test_cors_headers_are_on_error_responses_too(server: ServerThread) -> None:
    """A browser can read a 400 (and its code) because CORS headers are on errors as well."""
    reply = http(f"{server.url}/v1/t", body="{bad", headers={"Origin": "http://localhost:3000"})
    assert reply.status == 400
    assert reply.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "retry-after" in reply.headers["access-control-expose-headers"].lower()


def test_write_key_resolution_order(server: ServerThread) -> None:
    """Basic username wins over the envelope key, which wins over a per-event key; per-event keys alone work."""
    http(
        f"{server.url}/v1/track",
        body={"userId": "u", "event": "E", "writeKey": "BODY"},
        headers={"Authorization": basic("HEADER")},
    )
    http(f"{server.url}/v1/batch", body={"batch": [{"type": "track", "userId": "u", "event": "E", "writeKey": "ITEM"}]})
    http(
        f"{server.url}/v1/track",
        body={"userId": "u", "event": "E", "writeKey": "BODY"},
        headers={"Authorization": "Bearer xyz"},
    )
    http(
        f"{server.url}/v1/track",
        body={"userId": "u", "event": "E", "writeKey": "K2"},
        headers={"Authorization": "Basic " + base64.b64encode(b"K1").decode()},
    )
    assert [e["write_key"] for e in events(server.settings.db)] == ["HEADER", "ITEM", "BODY", "K1"]


def test_unknown_route_is_a_helpful_404_and_is_recorded(server: ServerThread) -> None:
    """A misconfigured host (…/v1/v1/batch) gets a 404 saying why, and the request is kept."""
    reply = http(f"{server.url}/v1/v1/batch", body={"batch": []})
    assert reply.status == 404
    assert "without /v1" in reply.json()["message"]
    [request] = requests_rows(server.settings.db)
    assert request["kind"] == "unknown" and request["body"] == b'{"batch":[]}'


def test_request_headers_are_recorded_with_auth_masked(server: ServerThread) -> None:
    """The HTTP view keeps every header in order, with the Authorization value masked."""
    http(
        f"{server.url}/v1/track",
        body={"userId": "u", "event": "E"},
        headers=[("User-Agent", "analytics-node-next/latest"), ("Authorization", basic("secret-key"))],
    )
    [request] = requests_rows(server.settings.db)
    headers = dict((k.lower(), v) for k, v in request["headers"])
    assert headers["user-agent"] == "analytics-node-next/latest"
    assert headers["authorization"].startswith("Basic ") and "c2VjcmV0" not in headers["authorization"]
    assert request["write_key"] == "secret-key"


def test_bad_gzip_is_a_400_not_a_500(server: ServerThread) -> None:
    """A body that claims gzip but is not: 400 invalid_encoding, request kept."""
    reply = http(f"{server.url}/v1/batch", body=b"plainly not gzip", headers={"Content-Encoding": "gzip"})
    assert reply.status == 400 and reply.json()["code"] == "invalid_encoding"
    assert requests_rows(server.settings.db)[0]["body"] == b"plainly not gzip"


def test_a_write_key_becomes_a_source(server: ServerThread) -> None:
    """Each write key seen is a source row with counts and first/last seen."""
    import sqlite3

    for _ in range(3):
        http(f"{server.url}/v1/track", body={"userId": "u", "event": "E", "writeKey": "web-dev"})
    conn = sqlite3.connect(server.settings.db)
    row = conn.execute("SELECT write_key, event_count, request_count, first_seen <= last_seen FROM sources").fetchone()
    assert row == ("web-dev", 3, 3, 1)
