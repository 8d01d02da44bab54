"""The pure core: message validation and enrichment (protocol), request handling (wire), timestamps."""

from __future__ import annotations

import gzip
import itertools
import zlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from debugger.core import protocol
from debugger.core.http import headers, limits, model, routes, wire
from debugger.core.protocol import Envelope, build_event
from debugger.core.timefmt import corrected_timestamp, format_timestamp, parse_timestamp


def ids() -> itertools.count[int]:
    return itertools.count(1)


def new_id_factory() -> object:
    counter = itertools.count(1)
    return lambda: f"gen-{next(counter)}"


def event_of(item: object, fixed_now: datetime, **envelope: object) -> protocol.Event:
    env = Envelope(write_key=envelope.pop("write_key", "WK"), received_at=fixed_now, **envelope)  # type: ignore[arg-type]
    return build_event(item, env, new_id=new_id_factory())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01T12:00:00.123+00:00", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01T12:00:00.123456+00:00", "2024-05-01T12:00:00.123Z"),
        ("2015-2-02T00:30:08.276Z", "2015-02-02T00:30:08.276Z"),
        ("2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T07:00:00.5-0500", "2024-05-01T12:00:00.500Z"),
        ("2024-05-01 12:00:00", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01", "2024-05-01T00:00:00.000Z"),
        (1714564800000, "2024-05-01T12:00:00.000Z"),
        (1714564800, "2024-05-01T12:00:00.000Z"),
    ],
)
def test_every_wire_timestamp_format_parses(text: object, expected: str) -> None:
    """JS, python (ms and µs, +00:00), unpadded, offsets, nanoseconds and epoch numbers all parse."""
    parsed = parse_timestamp(text)
    assert parsed is not None and format_timestamp(parsed) == expected


@pytest.mark.parametrize("text", ["yesterday", "", "2024-13-45T00:00:00Z", None, True, {"a": 1}, "99999-01-01"])
def test_unreadable_timestamps_are_none_not_errors(text: object) -> None:
    """Garbage never raises; it is simply not a time."""
    assert parse_timestamp(text) is None


def test_skew_correction_matches_the_spec_worked_example() -> None:
    """track.md: receivedAt …01.266, sentAt …01.169, originalTimestamp …01.152 → timestamp …01.249."""
    base = datetime(2015, 12, 12, 19, 11, 1, tzinfo=UTC)
    received, sent, original = (base + timedelta(milliseconds=ms) for ms in (266, 169, 152))
    assert format_timestamp(corrected_timestamp(received, sent, original)) == "2015-12-12T19:11:01.249Z"
    assert corrected_timestamp(received, None, original) == original
    assert corrected_timestamp(received, sent, None) == received


def test_client_original_timestamp_is_kept_when_no_timestamp(fixed_now: datetime) -> None:
    """RudderStack SDKs send originalTimestamp themselves; it is used when timestamp is absent."""
    event = event_of(
        {"type": "track", "event": "E", "userId": "u", "originalTimestamp": "2024-05-01T11:00:00Z"}, fixed_now
    )
    assert event.stored["originalTimestamp"] == "2024-05-01T11:00:00.000Z"
    assert event.stored["timestamp"] == "2024-05-01T11:00:00.000Z"


def test_no_client_time_at_all_means_received_at(fixed_now: datetime) -> None:
    """Neither timestamp nor sentAt: timestamp = receivedAt, no originalTimestamp invented."""
    event = event_of({"type": "track", "event": "E", "userId": "u"}, fixed_now)
    assert event.stored["timestamp"] == event.stored["receivedAt"] == format_timestamp(fixed_now)
    assert "originalTimestamp" not in event.stored


@pytest.mark.parametrize(
    ("item", "codes"),
    [
        ({"type": "track", "event": "E", "userId": "u"}, []),
        ({"type": "track", "userId": "u"}, ["missing_event"]),
        ({"type": "track", "event": 5, "userId": "u"}, ["invalid_event"]),
        ({"type": "track", "event": "E"}, ["no_user_anon_id"]),
        ({"type": "track", "event": "E", "userId": None, "anonymousId": None}, ["no_user_anon_id"]),
        ({"type": "track", "event": "E", "userId": "", "anonymousId": "a"}, []),
        ({"type": "identify", "userId": ["u"]}, ["invalid_userId", "no_user_anon_id"]),
        ({"type": "group", "userId": "u"}, ["missing_group_id"]),
        ({"type": "group", "userId": "u", "groupId": 7}, []),
        ({"type": "alias", "userId": "new"}, ["missing_previous_id"]),
        ({"type": "alias", "anonymousId": "a", "previousId": "old"}, ["missing_user_id"]),
        ({"type": "alias", "userId": "new", "previousId": "old"}, []),
        ({"event": "E", "userId": "u"}, ["missing_type"]),
        ({"type": "Track", "event": "E", "userId": "u"}, ["invalid_type"]),
        ({"type": "page", "userId": "u", "properties": "x"}, ["invalid_properties"]),
        ({"type": "identify", "userId": "u", "traits": [1]}, ["invalid_traits"]),
        ({"type": "identify", "userId": "u", "context": "web"}, ["invalid_context"]),
        ({"type": "identify", "userId": "u", "integrations": 1}, ["invalid_integrations"]),
        ({"type": "identify", "userId": "u", "messageId": "m" * 101}, ["message_id_too_long"]),
        ({"type": "identify", "userId": "u", "messageId": {"x": 1}}, ["invalid_message_id"]),
        ({"type": "identify", "userId": "u", "timestamp": "soon"}, ["invalid_timestamp"]),
        ("not an object", ["invalid_message"]),
    ],
)
def test_per_message_problems(item: object, codes: list[str], fixed_now: datetime) -> None:
    """Each rule yields exactly its problem code, and nothing for a near event that satisfies it."""
    event = event_of(item, fixed_now)
    assert [p.code for p in event.problems] == codes
    errors = [p for p in event.problems if p.severity == "error"]
    assert event.status == ("invalid" if errors else "ok")


def test_problem_paths_point_at_the_field(fixed_now: datetime) -> None:
    """Problems carry the JSON path of the offending value."""
    event = event_of({"type": "group", "userId": "u", "properties": 3}, fixed_now)
    assert {(p.code, p.path) for p in event.problems} == {
        ("missing_group_id", "groupId"),
        ("invalid_properties", "properties"),
    }


def test_missing_message_id_is_generated_and_kept_verbatim_otherwise(fixed_now: datetime) -> None:
    """Blank messageIds get a generated id; others are never rewritten (replay identity)."""
    assert event_of({"type": "identify", "userId": "u", "messageId": "  "}, fixed_now).message_id == "gen-1"
    weird = "ajs-next-1714564800000-3f2a/ü:with spaces"
    assert event_of({"type": "identify", "userId": "u", "messageId": weird}, fixed_now).stored["messageId"] == weird


def test_envelope_context_and_integrations_merge_item_wins(fixed_now: datetime) -> None:
    """Envelope context/integrations sit under each item's own; item keys win."""
    event = event_of(
        {"type": "track", "event": "E", "userId": "u", "integrations": {"Mixpanel": True}, "context": {"locale": "fr"}},
        fixed_now,
        context={"locale": "en", "app": {"name": "Shop"}},
        integrations={"All": False, "Mixpanel": False},
    )
    assert event.stored["context"] == {"locale": "fr", "app": {"name": "Shop"}}
    assert event.stored["integrations"] == {"All": False, "Mixpanel": True}


def test_context_ip_only_when_absent(fixed_now: datetime) -> None:
    """The socket address fills context.ip only when the client did not send one."""
    filled = event_of({"type": "identify", "userId": "u"}, fixed_now, ip="10.0.0.5")
    kept = event_of({"type": "identify", "userId": "u", "context": {"ip": "1.2.3.4"}}, fixed_now, ip="10.0.0.5")
    assert filled.stored["context"] == {"ip": "10.0.0.5"}
    assert kept.stored["context"]["ip"] == "1.2.3.4"


def test_path_type_overrides_body_type_with_a_warning(fixed_now: datetime) -> None:
    """A body type that disagrees with the route is overridden (as rudder/Segment do) and flagged."""
    event = event_of({"type": "identify", "userId": "u", "event": "E"}, fixed_now, path_type="track")
    assert event.type == "track" and event.status == "ok"
    assert [(p.code, p.severity) for p in event.problems] == [("type_overridden", "warning")]


def test_raw_is_the_message_as_received(fixed_now: datetime) -> None:
    """raw keeps nulls, numbers and the writeKey; stored drops the key and null ids."""
    item = {"type": "identify", "userId": 42, "anonymousId": None, "writeKey": "WK"}
    event = event_of(item, fixed_now)
    assert orjson.loads(event.raw) == item
    assert event.stored["userId"] == "42" and "anonymousId" not in event.stored and "writeKey" not in event.stored


# wire: request handling


def handle(
    method: str, path: str, body: bytes = b"", headers: tuple[tuple[str, str], ...] = (), **kw: object
) -> model.Outcome:
    request = model.IncomingRequest(method=method, path=path, body=body, headers=headers, remote="127.0.0.1", **kw)  # type: ignore[arg-type]
    return wire.handle(request, received_at=datetime(2024, 5, 1, tzinfo=UTC), new_id=new_id_factory())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "kind", "kind_type"),
    [
        ("/v1/track", "message", "track"),
        ("/v1/t", "message", "track"),
        ("/v1/s", "message", "screen"),
        ("/v1/alias/", "message", "alias"),
        ("/v1/batch", "batch", None),
        ("/v1/import", "batch", None),
        ("/v1/b", "batch", None),
        ("/v1/m", "metrics", None),
        ("/v1/pixel/page", "pixel", "page"),
        ("/v1/projects/abc/settings", "settings", None),
        ("/v1/x", "unknown", None),
        ("/track", "unknown", None),
    ],
)
def test_route_table(path: str, kind: str, kind_type: str | None) -> None:
    """Every route of docs/protocol.md §1 maps to its kind, short letters to their type."""
    route = routes.match_route("POST", path)
    assert (route.kind, route.type) == (kind, kind_type)


def test_gzip_bomb_is_bounded() -> None:
    """A 1 MB → 100 MB gzip bomb is cut at the limit and rejected, never inflated whole."""
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = bomb.compress(b"\0" * 100_000_000) + bomb.flush()
    assert len(data) < 200_000
    outcome = handle("POST", "/v1/batch", data, (("Content-Encoding", "gzip"),))
    assert outcome.reply.status == 400
    assert orjson.loads(outcome.reply.body)["code"] == "payload_too_large"


def test_multi_member_gzip_is_inflated_whole() -> None:
    """Concatenated gzip members are one valid body."""
    body = b'{"writeKey":"WK","batch":[{"type":"track",' + b'"event":"E","userId":"u"}]}'
    data = gzip.compress(body[:20]) + gzip.compress(body[20:])
    outcome = handle("POST", "/v1/batch", data, (("Content-Encoding", "GZIP"),))
    assert outcome.reply.status == 200 and len(outcome.events) == 1


def test_truncated_gzip_is_invalid_encoding() -> None:
    """A cut-off gzip stream is a 400, not a silent partial body."""
    data = gzip.compress(b'{"writeKey":"WK","batch":[]}' * 50)[:-20]
    outcome = handle("POST", "/v1/batch", data, (("Content-Encoding", "gzip"),))
    assert orjson.loads(outcome.reply.body)["code"] == "invalid_encoding"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[1, 2]", "invalid_json"),
        (b'"text"', "invalid_json"),
        (b"", "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b'{"batch": {"type": "track"}, "writeKey": "WK"}', "invalid_batch"),
        (b'{"batch": []}', "invalid_write_key"),
    ],
)
def test_request_level_rejections(body: bytes, code: str) -> None:
    """Bodies that are not a usable JSON object are 400 with Segment's error body and the body kept;
    the request is one ``rejected`` row showing the body as received and the reason (docs/protocol.md §3.4)."""
    outcome = handle("POST", "/v1/batch", body)
    answer = orjson.loads(outcome.reply.body)
    assert outcome.reply.status == 400
    assert answer == {"success": False, "code": code, "message": answer["message"]} and answer["message"]
    assert outcome.record is not None and outcome.record.body == (body or None)
    [row] = outcome.events
    assert row.status == "rejected" and row.type is None
    assert row.stored == {
        "rejected": {"status": 400, "code": code, "message": answer["message"], "method": "POST", "path": "/v1/batch"}
    }
    assert row.raw == body.decode("utf-8", "replace").encode()
    assert [(p.code, p.message) for p in row.problems] == [(code, answer["message"])]


def test_one_oversized_batch_item_rejects_the_request() -> None:
    """An item over 32 KB inside a batch under 500 KB: 400 naming the item."""
    items = [
        {"type": "track", "event": "E", "userId": "u"},
        {"type": "track", "event": "E", "userId": "u", "p": "x" * 33_000},
    ]
    outcome = handle("POST", "/v1/batch", orjson.dumps({"writeKey": "WK", "batch": items}))
    answer = orjson.loads(outcome.reply.body)
    assert outcome.reply.status == 400 and "batch[1]" in answer["message"]


def test_exactly_at_the_limits_is_accepted() -> None:
    """32,768 bytes for a message and 512,000 for a batch are still within the limits."""
    base = orjson.dumps({"userId": "u", "event": "E", "writeKey": "WK", "p": ""})
    message = base.replace(b'"p":""', b'"p":"' + b"x" * (32 * 1024 - len(base)) + b'"')
    assert len(message) == 32 * 1024
    assert handle("POST", "/v1/track", message).reply.status == 200
    assert handle("POST", "/v1/track", message[:-1] + b" }").reply.status == 400


def test_truncated_reads_are_too_large() -> None:
    """When the server stopped reading at the wire limit, the answer is payload_too_large."""
    outcome = handle("POST", "/v1/batch", b"{", cut=model.TOO_LARGE)
    assert orjson.loads(outcome.reply.body)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("cut", "status", "code"),
    [(model.TIMED_OUT, 408, "request_timeout"), (model.DISCONNECTED, 400, "client_disconnected")],
)
def test_incomplete_bodies_are_recorded_with_what_arrived(cut: str, status: int, code: str) -> None:
    """A slow or vanished client: a 4xx saying so, and the partial body kept."""
    outcome = handle("POST", "/v1/batch", b'{"batch": [', cut=cut)
    assert outcome.reply.status == status and orjson.loads(outcome.reply.body)["code"] == code
    assert outcome.record is not None and outcome.record.body == b'{"batch": ['


def test_write_key_allowlist() -> None:
    """With --write-key, other keys get Segment's invalid-key 400 (body kept); listed keys pass."""
    request = model.IncomingRequest(
        method="POST", path="/v1/track", body=b'{"userId":"u","event":"E","writeKey":"other"}'
    )
    outcome = wire.handle(
        request, received_at=datetime(2024, 5, 1, tzinfo=UTC), new_id=lambda: "x", allowed_keys=frozenset({"mine"})
    )
    assert outcome.reply.status == 400 and orjson.loads(outcome.reply.body)["code"] == "invalid_write_key"
    assert outcome.record is not None and outcome.record.body
    assert [(e.status, e.write_key, e.problems[0].code) for e in outcome.events] == [
        ("rejected", "other", "invalid_write_key")
    ]
    ok = model.IncomingRequest(method="POST", path="/v1/track", body=b'{"userId":"u","event":"E","writeKey":"mine"}')
    assert (
        wire.handle(
            ok, received_at=datetime(2024, 5, 1, tzinfo=UTC), new_id=lambda: "x", allowed_keys=frozenset({"mine"})
        ).reply.status
        == 200
    )


def test_options_and_home_are_not_recorded() -> None:
    """Preflights and the home page are not ingest requests."""
    assert handle("OPTIONS", "/v1/t").record is None
    assert handle("GET", "/").record is None and handle("GET", "/").reply.status == 200
    assert handle("GET", "/favicon.ico").record is None


def test_wrong_method_is_405_and_recorded() -> None:
    """GET on an ingest route: 405 with Allow, and the mistake is recorded."""
    outcome = handle("GET", "/v1/track")
    assert outcome.reply.status == 405 and ("Allow", "POST, OPTIONS") in outcome.reply.headers
    assert outcome.record is not None and outcome.record.code == "method_not_allowed"


@pytest.mark.parametrize(
    ("value", "user"),
    [
        ("Basic V0s6", "WK"),
        ("basic V0s=", "WK"),
        ("Basic V0s", "WK"),
        ("Basic Og==", None),
        ("Basic ***", None),
        ("Bearer abc", None),
        (None, None),
    ],
)
def test_basic_auth_username(value: str | None, user: str | None) -> None:
    """Basic username with or without the colon; empty or malformed headers give no key."""
    assert headers.basic_auth_user(value) == user


def test_mask_headers_keeps_scheme_hides_secret() -> None:
    """Auth and cookie values are masked; order and other headers kept."""
    masked = headers.mask_headers([("Host", "x"), ("authorization", "Basic V0s6"), ("Cookie", "sid=1")])
    assert masked[0] == ["Host", "x"]
    assert masked[1][1].startswith("Basic ") and "V0s6" not in masked[1][1]
    assert "sid" not in masked[2][1]


@pytest.mark.parametrize("depth", [300, 1000, 5000, 16_000])
def test_deeply_nested_json_is_a_400_never_an_exception(depth: int) -> None:
    """Nesting from a few hundred to 16,000 levels: a clean invalid_json, body kept."""
    body = b'{"userId":"u","event":"E","writeKey":"k","properties":{"a":' + b"[" * depth + b"]" * depth + b"}}"
    outcome = handle("POST", "/v1/track", body)
    assert outcome.reply.status == 400
    assert orjson.loads(outcome.reply.body)["code"] == "invalid_json"
    assert outcome.record is not None and outcome.record.body == body[: limits.KEPT_BODY_LIMIT]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"userId":"u","event":"Caf\xe9","writeKey":"k"}', "Caf\ufffd"),
        (b'{"userId":"u","event":"a\\ud800b","writeKey":"k"}', "a\ufffdb"),
        (b'{"userId":"u","event":"\\ud83d\\ude00 ok","writeKey":"k"}', "\U0001f600 ok"),
    ],
)
def test_bad_unicode_is_repaired_like_segment_not_rejected(body: bytes, expected: str) -> None:
    """Latin-1 bytes and lone surrogates become U+FFFD (as Go's decoder does) with a warning; pairs stay."""
    outcome = handle("POST", "/v1/track", body)
    assert outcome.reply.status == 200
    [event] = outcome.events
    assert event.name == expected and event.status == "ok"
    repaired = "\ufffd" in expected
    assert [p.code for p in event.problems] == (["invalid_unicode"] if repaired else [])
    orjson.dumps(event.stored)


def test_nan_is_still_invalid_json() -> None:
    """NaN/Infinity are not JSON, even on the lenient path."""
    outcome = handle("POST", "/v1/track", b'{"userId":"u","event":"\xe9","writeKey":"k","p":NaN}')
    assert orjson.loads(outcome.reply.body)["code"] == "invalid_json"


def test_a_numeric_client_time_is_read_as_epoch_seconds_or_milliseconds(fixed_now: datetime) -> None:
    """Some clients send epoch numbers; the stored timestamp is the same instant, written as ISO text."""
    for value in (1714561200, 1714561200.0, 1714561200000):
        event = event_of({"type": "track", "event": "E", "userId": "u", "timestamp": value}, fixed_now)
        assert event.stored["timestamp"] == "2024-05-01T11:00:00.000Z", value
    sent = {"type": "track", "event": "E", "userId": "u", "originalTimestamp": 1714561200000}
    assert event_of(sent, fixed_now).stored["originalTimestamp"] == "2024-05-01T11:00:00.000Z"


def test_a_bad_message_id_is_a_warning_and_the_message_is_kept(fixed_now: datetime) -> None:
    """Segment accepts these (docs/protocol.md §4.1): the event is ok, with a warning saying what was done."""
    base = {"type": "track", "event": "E", "userId": "u"}
    wrong = event_of({**base, "messageId": ["x"]}, fixed_now)
    assert wrong.status == "ok" and wrong.message_id not in (None, "", ["x"])
    assert [(p.code, p.path, p.severity, p.message) for p in wrong.problems] == [
        (
            "invalid_message_id",
            "messageId",
            "warning",
            "`messageId` must be a string, not an array; a new one was assigned.",
        )
    ]
    long = event_of({**base, "messageId": "m" * 101}, fixed_now)
    assert long.status == "ok" and long.message_id == "m" * 101
    assert [(p.code, p.severity, p.message) for p in long.problems] == [
        ("message_id_too_long", "warning", "`messageId` is 101 characters; Segment allows 100.")
    ]
    assert event_of({**base, "messageId": "m" * 100}, fixed_now).problems == ()
    assert event_of({**base, "messageId": 42}, fixed_now).message_id == "42"
    assert event_of({**base, "messageId": ""}, fixed_now).problems == ()  # empty: as if absent


def test_a_blank_message_id_is_called_blank(fixed_now: datetime) -> None:
    """Whitespace is a string: the warning said "must be a string, not a string"."""
    blank = event_of({"type": "track", "event": "E", "userId": "u", "messageId": "  "}, fixed_now)
    assert blank.message_id.strip() != ""
    assert [(p.code, p.message) for p in blank.problems] == [
        ("invalid_message_id", "`messageId` is blank; a new one was assigned.")
    ]


def test_problem_messages_quote_the_value_as_sent(fixed_now: datetime) -> None:
    """The TUI's Problems tab and `segdbg events` show these words: the offending value is in them."""

    def problems(item: dict[str, object]) -> list[tuple[str, str]]:
        return [(p.code, p.message) for p in event_of({"userId": "u", **item}, fixed_now).problems]

    assert problems({"type": "trak", "event": "E"}) == [
        ("invalid_type", "Unknown type 'trak'; expected one of identify, track, page, screen, group, alias.")
    ]
    assert problems({"type": "track", "event": "E", "timestamp": "yesterday"}) == [
        ("invalid_timestamp", "`timestamp` 'yesterday' is not an ISO-8601 time; it was ignored.")
    ]
    # An alias's previousId may be a number (stored as text); a boolean is not an id.
    alias = event_of({"type": "alias", "userId": "new", "previousId": 42}, fixed_now)
    assert alias.problems == () and alias.stored["previousId"] == "42"
    assert [c for c, _ in problems({"type": "alias", "previousId": True})] == ["missing_previous_id"]


def test_received_at_is_kept_to_the_millisecond(fixed_now: datetime) -> None:
    received = fixed_now.replace(microsecond=123_999)
    event = event_of({"type": "track", "event": "E", "userId": "u"}, received)
    assert event.stored["receivedAt"] == format_timestamp(received.replace(microsecond=123_000))
    assert event.stored["receivedAt"].endswith(".123Z")


def test_offsets_with_minutes_are_kept_in_loose_timestamps() -> None:
    """Dates without zero padding are read by the loose parser: its offset keeps its minutes."""
    assert format_timestamp(parse_timestamp("2015-2-02T00:30:08.276+05:30")) == "2015-02-01T19:00:08.276Z"  # type: ignore[arg-type]
    assert format_timestamp(parse_timestamp("2015-2-02 00:30:08 -0930")) == "2015-02-02T10:00:08.000Z"  # type: ignore[arg-type]


def test_each_message_of_a_batch_is_skew_corrected_from_its_own_time(fixed_now: datetime) -> None:
    """The correction is cached per (time, sentAt): two messages with two times get two results."""
    envelope = Envelope(write_key="WK", received_at=fixed_now, sent_at="2024-05-01T11:59:00.000Z")
    times = ["2024-05-01T11:58:00.000Z", "2024-05-01T11:57:00.000Z", "2024-05-01T11:58:00.000Z"]
    stored = [
        build_event({"type": "track", "event": "E", "userId": "u", "timestamp": t}, envelope, new_id=lambda: "x").stored
        for t in times
    ]
    assert [s["timestamp"] for s in stored] == [
        format_timestamp(corrected_timestamp(fixed_now, parse_timestamp(envelope.sent_at), parse_timestamp(t)))  # type: ignore[arg-type]
        for t in times
    ]
    assert stored[0]["timestamp"] != stored[1]["timestamp"]


def test_missing_fields_are_named_in_the_problem_text(fixed_now: datetime) -> None:
    def problems(item: dict[str, object]) -> list[tuple[str, str]]:
        return [(p.code, p.message) for p in event_of(item, fixed_now).problems]

    assert problems({"userId": "u", "event": "E"}) == [("missing_type", "A batch item needs a `type`.")]
    assert problems({"type": "alias", "userId": "u"}) == [
        ("missing_previous_id", "An alias call needs a `previousId`.")
    ]
    assert problems({"type": "track", "userId": "u", "event": None, "messageId": None}) == [
        ("missing_event", "A track call needs an `event` name.")
    ]
    assert problems({"type": "track", "userId": "u", "event": 5}) == [
        ("invalid_event", "`event` must be a string, not a number.")
    ]
    assert problems({"type": "track", "userId": "u", "event": "E", "messageId": True}) == [
        ("invalid_message_id", "`messageId` must be a string, not a boolean; a new one was assigned.")
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (None, "A message must be a JSON object, not null."),
        ([1], "A message must be a JSON object, not an array."),
        ("x", "A message must be a JSON object, not a string."),
        (5, "A message must be a JSON object, not a number."),
        (True, "A message must be a JSON object, not a boolean."),
        ({"type": "track", "event": "E", "userId": "u", "properties": [1]}, "`properties` must be an object, not an array."),
        ({"type": "track", "event": "E", "userId": {"a": 1}, "anonymousId": "a"}, "`userId` must be a string or a number, not an object."),
    ],
)  # fmt: skip
def test_a_wrong_json_kind_is_named_in_the_problem(item: object, message: str, fixed_now: datetime) -> None:
    assert [p.message for p in event_of(item, fixed_now).problems] == [message]
