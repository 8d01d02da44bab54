"""Paste: every accepted form becomes the messages it means, validated by the same core as HTTP
and attributed to the source `paste` (a curl command to its own write key); everything else is one clear error that says where."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from debugger.core.inputs import paste
from debugger.core.inputs.paste import PasteError
from debugger.core.pretty import render as pretty
from tests.helpers import basic

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def handle(text: str) -> paste.Pasted:
    counter = itertools.count()
    return paste.handle(text, received_at=NOW, new_id=lambda: f"new-{next(counter)}")


def messages(text: str, key: str = "paste") -> list[dict[str, Any]]:
    """The stored messages a paste produces (server-added fields dropped), all from source ``key``."""
    out = []
    for outcome in handle(text).outcomes:
        for event in outcome.events:
            assert event.write_key == key
            out.append({k: v for k, v in event.stored.items() if k not in ("receivedAt", "timestamp", "messageId")})
    return out


def error(text: str) -> str:
    with pytest.raises(PasteError) as caught:
        handle(text)
    return caught.value.message


def test_json_message() -> None:
    """A single message goes to its type's route."""
    (message,) = messages('{"type":"identify","userId":"u1","traits":{"plan":"pro"}}')
    assert message == {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}
    assert handle('{"type":"identify","userId":"u1"}').outcomes[0].record.path == "/v1/identify"  # type: ignore[union-attr]


def test_json_message_without_a_type_but_with_an_event_is_a_track() -> None:
    """The body of a POST /v1/track (no type) reads as a track, and the dialog says so."""
    pasted = handle('{"userId":"u1","event":"Signed Up"}')
    assert [e.type for o in pasted.outcomes for e in o.events] == ["track"]
    assert "sent as track" in pasted.notes[0]


def test_batch_envelope_and_array() -> None:
    """A batch keeps one event per item; an invalid item is stored with its problems, not dropped."""
    pasted = handle(
        '{"batch":[{"type":"track","event":"A","userId":"u"},{"type":"foo","userId":"u"}],"writeKey":"prod"}'
    )
    events = [e for o in pasted.outcomes for e in o.events]
    assert [(e.type, e.status) for e in events] == [("track", "ok"), ("foo", "invalid")]
    assert {e.write_key for e in events} == {"paste"}
    assert pasted.form == "batch of 2"
    assert [
        m["event"]
        for m in messages('[{"type":"track","event":"A","userId":"u"},{"type":"track","event":"B","userId":"u"}]')
    ] == ["A", "B"]


def test_ndjson_lines_and_a_bad_line_names_its_number() -> None:
    """NDJSON is one message (or batch) per line; a broken line stops the paste and is named."""
    text = '{"type":"track","event":"A","userId":"u"}\n\n{"batch":[{"type":"page","name":"P","userId":"u"}]}\n'
    assert [(m["type"], m.get("event") or m.get("name")) for m in messages(text)] == [("track", "A"), ("page", "P")]
    assert error('{"type":"track","event":"A","userId":"u"}\n{"type":').startswith("Line 2, column")


def test_curl_command_with_continuations_and_its_own_key() -> None:
    """A curl command is parsed like a shell would; it keeps its write key (-u), and the dialog says so."""
    text = """curl -X POST 'http://localhost:8088/v1/track' \\
      -u 'PROD_KEY:' -H "Content-Type: application/json" \\
      --data-raw '{"userId":"u1","event":"Clicked","properties":{"it":"isn'"'"'t"}}'"""
    (message,) = messages(text, key="PROD_KEY")
    assert message == {"userId": "u1", "event": "Clicked", "properties": {"it": "isn't"}, "type": "track"}
    assert handle(text).notes == ("Kept the command's write key PROD_KEY (-u).",)


@pytest.mark.parametrize(
    ("auth", "body", "key", "note"),
    [
        ("-uwk_attached:", "{}", "wk_attached", "(-u)"),
        ("--user=wk_equals", "{}", "wk_equals", "(-u)"),
        (f"-H 'Authorization: {basic('wk_header')}'", "{}", "wk_header", "(Authorization header)"),
        (f"-H 'Authorization: {basic('wk_header')}' -u other:", "{}", "wk_header", "(Authorization header)"),
        ("", '{"writeKey": "wk_body"}', "wk_body", "Kept the body's write key wk_body."),
        ("-H 'Authorization: Bearer tok'", '{"writeKey": "wk_body"}', "wk_body", "the body's write key"),
        ("", "{}", "paste", "names no write key; stored with source paste"),
    ],
)
def test_a_pasted_curl_keeps_its_write_key(auth: str, body: str, key: str, note: str) -> None:
    """-u KEY: (any spelling), a Basic Authorization header, or the body's writeKey becomes the event's source;
    a command with none is attributed to `paste`."""
    message = {"userId": "u1", "event": "Clicked", **orjson.loads(body)}
    text = f"curl http://localhost:8088/v1/track {auth} -H 'Content-Type: application/json' -d '{orjson.dumps(message).decode()}'"
    (stored,) = messages(text, key=key)
    assert stored["event"] == "Clicked"
    assert note in handle(text).notes[0]


def test_curl_errors_are_clear() -> None:
    """A body read from a file, no URL, or a route segdbg does not serve: each says so."""
    assert "reads its body from a file" in error("curl http://x/v1/track -d @body.json")
    assert "no URL" in error("curl -d '{}'")
    assert "No Segment route" in error('curl http://localhost:8088/v2/track -d \'{"userId":"u"}\'')
    assert "shell words" in error("curl 'http://x/v1/track -d {}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'analytics.track("Product Added", { sku: \'45790-32\', price: 19, tags: ["a",], ok: true, n: null, });',
            {
                "type": "track",
                "event": "Product Added",
                "anonymousId": "paste",
                "properties": {"sku": "45790-32", "price": 19, "tags": ["a"], "ok": True, "n": None},
            },
        ),
        (
            'analytics.identify("u1", { email: "a@b.c" }, { context: { ip: "1.2.3.4" } })',
            {"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}, "context": {"ip": "1.2.3.4"}},
        ),
        (
            'analytics.page("Docs", "Pricing", { path: "/pricing" })',
            {
                "type": "page",
                "category": "Docs",
                "name": "Pricing",
                "anonymousId": "paste",
                "properties": {"path": "/pricing"},
            },
        ),
        (
            'analytics.group("g1", { plan: "pro" })',
            {"type": "group", "groupId": "g1", "anonymousId": "paste", "traits": {"plan": "pro"}},
        ),
        ('analytics.alias("new-id", "old-id")', {"type": "alias", "userId": "new-id", "previousId": "old-id"}),
        ('window.analytics.screen("Home")', {"type": "screen", "name": "Home", "anonymousId": "paste"}),
        (
            'analytics.track({ userId: "u1", event: "Node", properties: { x: 1 } });',
            {"type": "track", "userId": "u1", "event": "Node", "properties": {"x": 1}},
        ),
        (
            'analytics.track(user_id="u1", event="Py", properties={"a": True, "b": None}, context={"x": 1.5})',
            {
                "type": "track",
                "userId": "u1",
                "event": "Py",
                "properties": {"a": True, "b": None},
                "context": {"x": 1.5},
            },
        ),
        (
            "analytics.track('u1', 'Positional', {'k': 'v'})",
            {"type": "track", "userId": "u1", "event": "Positional", "properties": {"k": "v"}},
        ),
        (
            'Analytics.track(user_id: "u1", event: "Rb", properties: { a: 1, "b c" => nil })',
            {"type": "track", "userId": "u1", "event": "Rb", "properties": {"a": 1, "b c": None}},
        ),
        (
            'Segment::track(["userId" => "u1", "event" => "Php", "properties" => ["l" => [1, 2], "m" => []]]);',
            {"type": "track", "userId": "u1", "event": "Php", "properties": {"l": [1, 2], "m": []}},
        ),
        (
            '// a comment\nanalytics.track("Esc \\u00e9 \\x41 \\n", {})  # trailing',
            {"type": "track", "event": "Esc é A \n", "anonymousId": "paste", "properties": {}},
        ),
    ],
)
def test_library_calls(text: str, expected: dict[str, Any]) -> None:
    """analytics.js, node, Python, Ruby and PHP calls read as the message they send."""
    (message,) = messages(text)
    if "context" not in expected:
        message.pop("context", None)
    assert message == expected


def test_several_calls_in_one_paste() -> None:
    """Each call is its own request, in order."""
    assert [m["type"] for m in messages('analytics.identify("u1")\nanalytics.track("A")\nanalytics.track("B");')] == [
        "identify",
        "track",
        "track",
    ]


def test_call_errors_point_at_line_and_column() -> None:
    """A variable, an expression or an unknown method is named with its position."""
    assert (
        error('analytics.track("E", {\n  sku })') == "Line 2, column 3: `sku` is a variable; write its value instead."
    )
    assert error('analytics.track("E", { at: new Date() })').startswith("Line 1, column 28: Only literal values")
    assert error("analytics.reset()") == (
        "Line 1, column 1: analytics.reset() is not a Segment call; use one of identify, track, page, screen, group, alias."
    )


def test_garbage_and_empty_and_broken_json() -> None:
    """Anything else gets one sentence listing what is accepted, or the JSON error with its position."""
    assert "Paste a JSON message" in error("hello world")
    assert "empty" in error("   \n ")
    assert error('{"userId": ') == "Not valid JSON: unexpected end of data at line 1, column 11."


def test_the_server_rules_apply_to_pasted_payloads() -> None:
    """Oversized messages are rejected exactly as over HTTP, before anything is stored."""
    big = orjson.dumps({"type": "track", "event": "E", "userId": "u", "properties": {"x": "y" * 40_000}}).decode()
    assert "400" in error(big) and "payload_too_large" in error(big)


@pytest.mark.parametrize(
    "dialect",
    ["analytics.js", "@segment/analytics-node", "analytics-python", "analytics-ruby", "analytics-php", "curl"],
)
def test_pretty_output_pastes_back_to_the_same_message(dialect: str) -> None:
    """Copy as Pretty (or curl) and paste it: the same call comes back."""
    stored = {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "properties": {"revenue": 12.5, "items": [{"sku": "a1", "qty": 2}], "note": 'it\'s "quoted" $x #{y}'},
        "context": {"campaign": {"name": "spring"}},
    }
    text = pretty.render_call({"stored": stored, "write_key": "wk"}, dialect)
    (message,) = messages(text, key="wk" if dialect == "curl" else "paste")  # a curl command carries its key
    message.pop("anonymousId", None)  # analytics.js carries ids implicitly; paste fills one in
    if dialect == "analytics.js":
        message["userId"] = "u1"
    assert message == stored


def test_each_form_is_named_as_the_dialog_shows_it() -> None:
    assert handle('{"type":"identify","userId":"u"}').form == "identify message"
    track = handle('{"event":"E","userId":"u"}')
    assert (track.form, track.notes) == ("track message", ("It has no type; sent as track because it has an event.",))
    assert handle('{"userId":"u"}').form == "message"
    assert handle('{"batch":[{"type":"track","event":"E","userId":"u"}]}').form == "batch of 1"
    assert handle('[{"type":"track","event":"E","userId":"u"}]').form == "JSON array of 1"
    assert handle('analytics.track("E")').form == "track call"
    assert handle('analytics.track("E")\nanalytics.page("P")').form == "2 calls"
    lines = handle('{"type":"track","event":"E","userId":"u"}\n{"event":"F","userId":"u"}')
    assert (lines.form, lines.notes) == (
        "NDJSON, 2 lines",
        ("Line 2: It has no type; sent as track because it has an event.",),
    )
    assert error("hello world") == (
        "Not a form segdbg reads. Paste a JSON message, a batch, NDJSON, a curl command, "
        'or a call such as analytics.track("Signed Up", { plan: "pro" }).'
    )
    assert error("42") == "The JSON is not an object or an array of messages."
    assert error('{"a":1}\n{oops') == "Line 2, column 2: not JSON (unexpected character, expected a string key)."


def test_curl_user_and_its_value_are_both_consumed() -> None:
    """`-u KEY:` takes the next argument: the URL after it is still read as the URL."""
    text = 'curl -u wk_sep: http://localhost:8088/v1/track -d \'{"userId":"u","event":"E"}\''
    (stored,) = messages(text, key="wk_sep")
    assert stored["event"] == "E"
    assert messages('curl --user wk2: http://h/v1/track -d \'{"userId":"u","event":"E"}\'', key="wk2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('analytics.page("Docs", "Intro", {"p": 1})', {"type": "page", "category": "Docs", "name": "Intro", "properties": {"p": 1}}),
        ('analytics.page("u1", "Docs", "Intro")', {"type": "page", "userId": "u1", "category": "Docs", "name": "Intro"}),
        ('analytics.screen("Home")', {"type": "screen", "name": "Home"}),
        ('analytics.group("g1", {"plan": "pro"})', {"type": "group", "groupId": "g1", "traits": {"plan": "pro"}}),
        ('analytics.group("u1", "g1", {"plan": "pro"})', {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"plan": "pro"}}),
        ('analytics.identify("u1", {"email": "a@b"}, {"context": {"x": 1}, "other": 2})', {"type": "identify", "userId": "u1", "traits": {"email": "a@b"}, "context": {"x": 1}}),
        ('analytics.alias("new", "old")', {"type": "alias", "userId": "new", "previousId": "old"}),
    ],
)  # fmt: skip
def test_positional_calls_read_as_analytics_js_or_python_by_their_strings(text: str, expected: dict[str, Any]) -> None:
    (message,) = messages(text)
    message.pop("anonymousId", None)
    if "context" not in expected:
        message.pop("context", None)
    assert message == expected


def test_call_argument_errors_say_what_is_wrong() -> None:
    assert error('analytics.track("E", {}, {}, {})') == (
        "Line 1, column 1: track() takes at most two objects (data and options)."
    )
    assert error('analytics.track("E", {}, 5)').endswith("track(): after the names, the arguments must be objects.")
    assert "Expected a key, found 'the end'." in error("analytics.track({")


def test_a_pasted_curl_keeps_its_own_headers_but_not_the_wire_ones() -> None:
    """Its own headers are stored as sent; length, host and authorization are segdbg's (the body is re-encoded)."""
    text = "curl http://h/v1/track -H 'X-Trace: 7' -H 'Content-Length: 999' -H 'Host: evil' -d '{\"userId\":\"u\",\"event\":\"E\"}'"
    (outcome,) = handle(text).outcomes
    assert outcome.record is not None
    assert outcome.record.headers == [
        ["Authorization", "Basic ••••••"],
        ["Content-Type", "application/json"],
        ["User-Agent", "segdbg-paste"],
        ["X-Trace", "7"],
    ]
