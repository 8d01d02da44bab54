"""The routes beside ingest and the answers a client reads (pure core: :func:`wire.handle` on a request
value, no server): the CDN settings analytics.js loads, the pixel's message, the hints in a 404, the
refusal of an oversized URL or header set, and the exact messages of a cut body (docs/protocol.md)."""

from __future__ import annotations

import base64
import gzip
import zlib
from datetime import UTC, datetime

import orjson
import pytest

from debugger.core.http import bodies, limits, model, routes, wire
from debugger.core.http.bodies import RequestError, inflate

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def _handle(method: str, path: str, body: bytes = b"", **fields: object) -> model.Outcome:
    request = model.IncomingRequest(method=method, path=path, body=body, remote="127.0.0.1", **fields)  # type: ignore[arg-type]
    return wire.handle(request, received_at=T0, new_id=lambda: "generated")


def _error(outcome: model.Outcome) -> tuple[int, str, str]:
    body = orjson.loads(outcome.reply.body)
    assert body["success"] is False
    return outcome.reply.status, body["code"], body["message"]


def test_the_settings_point_analytics_js_at_the_host_it_asked() -> None:
    outcome = _handle("GET", "/v1/projects/wk1/settings", headers=(("Host", "localhost:9000"),))
    assert outcome.reply.status == 200 and outcome.record is not None and outcome.record.write_key == "wk1"
    assert orjson.loads(outcome.reply.body) == {
        "integrations": {
            "Segment.io": {
                "apiKey": "wk1",
                "apiHost": "localhost:9000/v1",
                "protocol": "http",
                "addBundledMetadata": True,
                "unbundledIntegrations": [],
                "maybeBundledConfigIds": {},
                "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": True, "integrations": {}}},
            "identify": {"__default": {"enabled": True}},
            "group": {"__default": {"enabled": True}},
        },
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
        "edgeFunction": {},
    }


def test_the_settings_follow_a_proxy_and_fall_back_to_the_default_address() -> None:
    proxied = _handle(
        "GET",
        "/v1/projects/wk/settings",
        headers=(("Host", "inner:1"), ("X-Forwarded-Host", "dev.example"), ("X-Forwarded-Proto", "https, http")),
    )
    segment = orjson.loads(proxied.reply.body)["integrations"]["Segment.io"]
    assert (segment["apiHost"], segment["protocol"]) == ("dev.example/v1", "https")
    bare = orjson.loads(_handle("GET", "/v1/projects/wk/settings", scheme="https").reply.body)
    assert bare["integrations"]["Segment.io"]["apiHost"] == "127.0.0.1:8088/v1"
    assert bare["integrations"]["Segment.io"]["protocol"] == "https"


@pytest.mark.parametrize(
    ("path", "host", "integration", "api_host"),
    [
        # A CDP fork pointed at segdbg with its own CDN host after segdbg's URL (cdnURL).
        (
            "/cdp.customer.io/v1/projects/wk/settings",
            "localhost:8088",
            "Customer.io Data Pipelines",
            "localhost:8088/v1",
        ),
        (
            "/cdp-eu.customer.io/v1/projects/wk/settings",
            "localhost:8088",
            "Customer.io Data Pipelines",
            "localhost:8088/v1",
        ),
        # The fork's own CDN host, reached through an intercepting proxy.
        ("/v1/projects/wk/settings", "cdp.customer.io", "Customer.io Data Pipelines", "cdp.customer.io/v1"),
        ("/v1/projects/wk/settings", "CDP.Customer.IO:443", "Customer.io Data Pipelines", "cdp.customer.io/v1"),
        # Segment's libraries, anywhere else.
        ("/v1/projects/wk/settings", "localhost:8088", "Segment.io", "localhost:8088/v1"),
        ("/v1/projects/wk/settings", "[::1]:8088", "Segment.io", "[::1]:8088/v1"),
    ],
)
def test_the_settings_name_one_integration_the_fork_that_asked_or_segment(
    path: str, host: str, integration: str, api_host: str
) -> None:
    """analytics-next and its forks load device-mode destinations from their CDN when the settings name more
    than one integration, so the answer names exactly the one the asking library reads (docs/protocol.md §12)."""
    outcome = _handle("GET", path, headers=(("Host", host),))
    assert outcome.reply.status == 200 and outcome.record is not None and outcome.record.write_key == "wk"
    integrations = orjson.loads(outcome.reply.body)["integrations"]
    assert list(integrations) == [integration]
    assert (integrations[integration]["apiKey"], integrations[integration]["apiHost"]) == ("wk", api_host)


def test_a_settings_path_under_an_unknown_host_is_not_found() -> None:
    assert _handle("GET", "/cdn.example.com/v1/projects/wk/settings").reply.status == 404


@pytest.mark.parametrize(
    "data",
    [
        "eyJ1c2VySWQiOiJ1PzEiLCJldmVudCI6IkE-QiIsIndyaXRlS2V5Ijoid2sifQ==",  # standard, padded
        "eyJ1c2VySWQiOiJ1PzEiLCJldmVudCI6IkE-QiIsIndyaXRlS2V5Ijoid2sifQ",  # no padding
        "eyJ1c2VySWQiOiJ1PzEiLCJldmVudCI6IkE+QiIsIndyaXRlS2V5Ijoid2sifQ",  # '+' as sent
        "eyJ1c2VySWQiOiJ1PzEiLCJldmVudCI6IkE QiIsIndyaXRlS2V5Ijoid2sifQ ",  # '+' read as a space from a query
        "eyJ1c2VySWQiOiJ1PzEiLCJldmVudCI6IkE-QiIsIndyaXRlS2V5Ijoid2sifQ",  # URL-safe alphabet
    ],
)
def test_a_pixel_carries_its_message_in_base64_data(data: str) -> None:
    assert routes.pixel_message([("other", "x"), ("data", data)]) == {"userId": "u?1", "event": "A>B", "writeKey": "wk"}


def test_a_pixel_with_url_safe_characters_decodes() -> None:
    message = {"event": "é?>~", "writeKey": "wk"}
    data = base64.urlsafe_b64encode(orjson.dumps(message)).decode().rstrip("=")
    assert "-" in data or "_" in data
    assert routes.pixel_message([("data", data)]) == message


def test_a_pixel_without_data_nests_dotted_keys() -> None:
    query = [("event", "Viewed"), ("properties.plan", "pro"), ("properties.seats", "3"), ("context.app.name", "x")]
    assert routes.pixel_message(query) == {
        "event": "Viewed",
        "properties": {"plan": "pro", "seats": "3"},
        "context": {"app": {"name": "x"}},
    }
    # A key that was a plain value becomes an object when a dotted key nests under it.
    assert routes.pixel_message([("a", "1"), ("a.b", "2")]) == {"a": {"b": "2"}}


def test_a_pixel_with_bad_data_is_recorded_with_the_reason_and_still_gets_its_gif() -> None:
    for data, message in (("!!!", "`data` is not base64."), ("WzFd", "`data` must encode a JSON object.")):
        with pytest.raises(RequestError) as caught:
            routes.pixel_message([("data", data)])
        assert (caught.value.code, caught.value.message, str(caught.value)) == ("invalid_pixel_data", message, message)
        outcome = _handle("GET", "/v1/pixel/track", query=(("data", data),))
        assert outcome.reply.status == 200 and outcome.reply.body == routes.PIXEL_GIF
        assert outcome.record is not None and (outcome.record.code, outcome.record.message) == (
            "invalid_pixel_data",
            message,
        )
    no_key = _handle("GET", "/v1/pixel/page", query=(("name", "Home"),))
    assert no_key.record is not None and no_key.record.message == "The pixel carries no writeKey."
    assert ("Cache-Control", "no-store") in no_key.reply.headers and no_key.reply.content_type == "image/gif"


def test_a_good_pixel_stores_its_event_with_the_path_type() -> None:
    outcome = _handle("GET", "/v1/pixel/page", query=(("name", "Home"), ("writeKey", "wk"), ("userId", "u")))
    assert [(e.type, e.name, e.write_key, e.status) for e in outcome.events] == [("page", "Home", "wk", "ok")]


def test_a_404_says_where_the_routes_are() -> None:
    assert _error(_handle("POST", "/v1/v1/track", b"{}")) == (
        404,
        "not_found",
        "No Segment route at POST /v1/v1/track. The path repeats /v1: set your library's host to the server root, "
        "without /v1.",
    )
    assert _error(_handle("POST", "/track", b"{}")) == (
        404,
        "not_found",
        "No Segment route at POST /track. Segment routes live under /v1/ (e.g. POST /v1/batch, POST /v1/track).",
    )
    assert _error(_handle("POST", "/v1/nope", b"{}")) == (404, "not_found", "No Segment route at POST /v1/nope.")
    # A browser's GET of a stray page is answered but not recorded; a stray ingest path is recorded.
    assert _handle("GET", "/robots.txt").record is None
    assert _handle("GET", "/v1/nope").record is not None


def test_a_405_names_the_method_to_use() -> None:
    status, code, message = _error(_handle("POST", "/v1/projects/wk/settings"))
    assert (status, code, message) == (405, "method_not_allowed", "POST is not allowed here; use GET.")
    assert _error(_handle("PUT", "/v1/batch"))[2] == "PUT is not allowed here; use POST."


def test_an_oversized_url_is_refused_with_a_bounded_copy() -> None:
    path = "/v1/track/" + "a" * limits.MAX_TARGET_BYTES
    outcome = _handle("GET", path, query_string="q=1", headers=(("Origin", "http://app"),))
    status, code, message = _error(outcome)
    assert (status, code) == (414, "uri_too_long")
    assert message.startswith(f"The URL is {len(path) + 4:,} bytes; segdbg accepts at most 65,536.")
    assert ("Access-Control-Allow-Origin", "http://app") in outcome.reply.headers
    record = outcome.record
    assert record is not None and (record.code, record.message, record.status) == (code, message, 414)
    assert len(record.path) == limits.KEPT_TARGET_CHARS and record.path.endswith("…")
    assert record.query_string == "q=1" and record.headers == [["Origin", "http://app"]]
    assert [(e.status, e.problems[0].code) for e in outcome.events] == [("rejected", "uri_too_long")]


def test_an_oversized_header_set_is_refused_keeping_the_first_headers_cut() -> None:
    headers = tuple((f"X-{i}", "v" * 2000) for i in range(100))
    outcome = _handle("POST", "/v1/batch", b"{}", headers=headers)
    status, code, message = _error(outcome)
    assert (status, code) == (431, "headers_too_large")
    assert message == (
        "The request carries 100 headers (200,790 bytes); segdbg accepts at most 128 headers and 65,536 bytes of "
        "them. The first 64 are kept, each cut to 1,024 characters."
    )
    assert outcome.record is not None and len(outcome.record.headers) == limits.KEPT_HEADERS
    assert outcome.record.headers[0] == ["X-0", "v" * 1023 + "…"]
    many = tuple((f"X-{i}", "") for i in range(limits.MAX_HEADER_COUNT + 1))
    assert _error(_handle("POST", "/v1/batch", b"{}", headers=many))[1] == "headers_too_large"
    assert _handle("POST", "/v1/batch", b"{}", headers=many[:-1]).reply.status != 431


def test_limits_count_the_question_mark_and_header_framing() -> None:
    at = "/" + "p" * (limits.MAX_TARGET_BYTES - 3)
    assert limits.oversize(at, "q", ()) is None  # path + "?" + query == the limit
    assert limits.oversize(at + "p", "q", ()) is not None
    assert limits.oversize(at + "pp", "", ()) is None
    assert limits.header_bytes([("Ab", "cde"), ("F", "")]) == (2 + 3 + 4) + (1 + 0 + 4)
    assert limits.kept_headers([("n" * 2000, "short")]) == (("n" * 1024, "short"),)
    assert limits.kept_target("x" * 2048) == "x" * 2048 and limits.kept_target("x" * 2049) == "x" * 2047 + "…"


@pytest.mark.parametrize(
    ("cut", "status", "code", "message"),
    [
        (
            model.TOO_LARGE,
            400,
            "payload_too_large",
            "Exceed payload limit: the limit is 512,000 bytes after decompression.",
        ),
        (
            model.TIMED_OUT,
            408,
            "request_timeout",
            "The body did not arrive in time (3 bytes received); send it in one go.",
        ),
        (model.DISCONNECTED, 400, "client_disconnected", "The client went away after 3 bytes."),
    ],
)
def test_a_cut_body_is_answered_with_what_arrived(cut: str, status: int, code: str, message: str) -> None:
    assert _error(_handle("POST", "/v1/batch", b'{"b', cut=cut)) == (status, code, message)


def test_payload_limits_are_per_route_and_name_the_item() -> None:
    big = b'{"userId":"u","event":"E","writeKey":"w","properties":{"x":"' + b"y" * 33_000 + b'"}}'
    assert _error(_handle("POST", "/v1/track", big))[2] == (
        "Exceed payload limit: the limit is 32,768 bytes after decompression."
    )
    batch = b'{"batch":[{"event":"ok"},' + big + b'],"writeKey":"w"}'
    assert _error(_handle("POST", "/v1/batch", batch))[2] == (
        f"Exceed payload limit: the limit is 32,768 bytes after decompression (batch[1] is {len(big) - 0:,} bytes)."
    )


def test_bodies_that_are_not_a_batch_or_have_no_key() -> None:
    assert _error(_handle("POST", "/v1/track", b"[1]")) == (400, "invalid_json", "The body must be a JSON object.")
    assert _error(_handle("POST", "/v1/batch", b'{"batch":{}}')) == (
        400,
        "invalid_batch",
        'A batch body must be {"batch": [ ...messages ]}; `batch` is missing or not an array.',
    )
    assert _error(_handle("POST", "/v1/track", b'{"event":"E","userId":"u"}')) == (
        400,
        "invalid_write_key",
        "An invalid write key was provided",
    )
    # A key in any one message of the batch is enough; the header's key wins over the body's.
    ok = _handle("POST", "/v1/batch", b'{"batch":[{"type":"track","event":"E","userId":"u","writeKey":"item"}]}')
    assert ok.reply.status == 200 and ok.record is not None and ok.record.write_key == "item"
    basic = "Basic " + base64.b64encode(b"header:").decode()
    both = _handle(
        "POST", "/v1/batch", b'{"writeKey":"body","batch":[{"type":"track","event":"E","userId":"u"}]}',
        headers=(("Authorization", basic),),
    )  # fmt: skip
    assert both.record is not None and both.record.write_key == "header"
    assert [e.write_key for e in both.events] == ["header"]


def test_metrics_are_accepted_and_kept_as_sent() -> None:
    outcome = _handle("POST", "/v1/m", b'{"series":[]}')
    assert outcome.reply.status == 200 and outcome.reply.body == wire.SUCCESS_BODY
    assert outcome.record is not None and outcome.record.body == b'{"series":[]}' and outcome.events == ()


def test_bad_unicode_is_stored_with_a_warning() -> None:
    outcome = _handle("POST", "/v1/track", b'{"event":"a\xffb","userId":"u","writeKey":"w"}')
    assert outcome.reply.status == 200
    (event,) = outcome.events
    assert event.name == "a\ufffdb"
    assert [(p.code, p.severity) for p in event.problems] == [("invalid_unicode", "warning")]


def test_inflate_undoes_every_listed_encoding_in_reverse_order() -> None:
    data = b'{"batch":[]}'
    assert inflate(gzip.compress(data), "gzip", 100) == data
    assert inflate(gzip.compress(data), " GZIP ", 100) == data
    assert inflate(gzip.compress(data), "x-gzip", 100) == data
    assert inflate(zlib.compress(data), "deflate", 100) == data
    assert inflate(gzip.compress(gzip.compress(data)), "gzip, gzip", 100) == data
    assert inflate(gzip.compress(data), "identity, gzip", 100) == data
    assert (
        inflate(data, "identity", 100) == data and inflate(data, None, 100) == data and inflate(data, "", 100) == data
    )
    with pytest.raises(RequestError) as caught:
        inflate(data, "br", 100)
    assert (caught.value.code, caught.value.message) == (
        "invalid_encoding",
        "Unsupported Content-Encoding 'br'; use gzip.",
    )
    assert str(caught.value) == "Unsupported Content-Encoding 'br'; use gzip."
    with pytest.raises(RequestError):
        inflate(gzip.compress(data), "gzip br", 100)  # not comma-separated: one unknown token


def test_inflate_stops_one_byte_past_the_limit() -> None:
    data = b"x" * 1000
    assert inflate(gzip.compress(data), "gzip", 1000) == data
    assert len(inflate(gzip.compress(data), "gzip", 999)) == 1000
    assert len(inflate(gzip.compress(data) * 3, "gzip", 1500)) == 1501


def test_quoted_bounds_a_clients_value() -> None:
    assert bodies.quoted("ab") == "'ab'"
    assert bodies.quoted("a" * 100, 10) == "'aaaaaaa…'"
    assert len(bodies.quoted("a" * 100, 10)) == 10
    assert bodies.quoted("é\x1b", 80) == "'é\\x1b'"


def test_the_lenient_parse_reads_numbers_as_the_fast_one_does() -> None:
    for text in (b"1.5", b"-0.25", b"18446744073709551615", b"-9223372036854775808", b"18446744073709551616", b"1e300"):
        fast = orjson.loads(b'{"n":' + text + b"}")["n"]
        document, repaired = bodies.decode_json_lenient(b'{"s":"\xff","n":' + text + b"}")
        assert repaired and document == {"s": "\ufffd", "n": fast} and type(document["n"]) is type(fast), text
    for text in (b"1e400", b"-1e400", b"NaN", b"Infinity"):
        with pytest.raises(RequestError) as caught:
            bodies.decode_json_lenient(b'{"s":"\xff","n":' + text + b"}")
        assert caught.value.code == "invalid_json", text


def test_a_refused_method_keeps_the_body_that_came_with_it() -> None:
    outcome = _handle("POST", "/v1/projects/wk/settings", b'{"x":1}')
    assert outcome.reply.status == 405 and outcome.record is not None and outcome.record.body == b'{"x":1}'


def test_settings_for_an_empty_key_name_no_key() -> None:
    body = orjson.loads(_handle("GET", "/v1/projects//settings").reply.body)
    assert body["integrations"]["Segment.io"]["apiKey"] == ""
