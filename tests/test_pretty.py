"""Pretty: each dialect is checked by a machine — Python parses with ast and evaluates to the
same values, JavaScript runs under node with a recording stub, curl re-sent to a real segdbg
stores the same event — and every dialect's text is inert on a terminal."""

from __future__ import annotations

import ast
import dataclasses
import json
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segment.analytics.client import Client as SegmentClient

from debugger.core.http import model, wire
from debugger.core.pretty import render as pretty
from debugger.core.pretty.dialects.call import Call, from_message
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import ROOT, http
from tests.tui_support import T0, message_request, wire_requests

UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
NASTY = [
    "'",
    '"',
    "\\",
    "$x",
    "${x}",
    "#{x}",
    "\n",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\u202e",
    "\u2028",
    "\x00",
    "😀",
    "é",
    "*/",
    "//",
    "<?php",
    "`",
    "%s",
    "{}",
    "[]",
    ":",
    ",",
    " ",
]


def _events() -> list[dict[str, Any]]:
    """Every message the real libraries sent, plus edge cases, as from_row would return them."""
    requests = list(wire_requests()) + [
        message_request({"type": "track", "event": "No Props", "anonymousId": "a-1"}),
        message_request({"type": "page", "userId": "u", "properties": {"path": "/x"}}),
        message_request({"type": "identify", "anonymousId": "a-2", "traits": {"nested": {"deep": [1, {"x": None}]}}}),
        message_request(
            {
                "type": "track",
                "event": "Evil \x1b]52;c;aGk=\x07 \u202ename",
                "userId": "u\nid",
                "properties": {k: k for k in NASTY},
            }
        ),
        message_request(
            {"type": "track", "event": "Big", "userId": "u", "properties": {f"k{i}": i for i in range(12)}}
        ),
        message_request({"type": "alias", "userId": "new", "previousId": "old"}),
        message_request(
            {
                "type": "group",
                "userId": "u",
                "groupId": "g",
                "traits": {"plan": "pro"},
                "context": {"campaign": {"name": "spring"}},
                "integrations": {"All": False, "Amplitude": {"x": 1}},
            }
        ),
    ]
    out = []
    for index, request in enumerate(requests):
        outcome = wire.handle(request, received_at=T0, new_id=lambda index=index: f"id-{index}")
        for event in outcome.events:
            out.append(
                {
                    "stored": event.stored,
                    "raw": orjson.loads(event.raw),
                    "write_key": event.write_key,
                    "library_name": event.library_name,
                    "type": event.type,
                }
            )
    return out


EVENTS = _events()
LANGUAGE_DIALECTS = [d for d in pretty.DIALECTS if d != pretty.CURL]


def test_every_dialect_renders_every_event_as_inert_text() -> None:
    """No dialect raises on any real message, and none lets a control or bidi character through raw."""
    for event in EVENTS:
        for dialect in pretty.DIALECTS:
            text = pretty.render_call(event, dialect)
            assert text and isinstance(text, str)
            assert not UNSAFE.search(text), (dialect, text)


def test_dialect_follows_the_sending_library() -> None:
    """context.library.name picks the dialect; unknown libraries read as analytics.js, none as curl."""
    assert pretty.dialect_for("analytics-python") == "analytics-python"
    assert pretty.dialect_for("analytics.js") == "analytics.js"
    assert pretty.dialect_for("@segment/analytics-node") == "@segment/analytics-node"
    assert pretty.dialect_for("analytics-ios") == "analytics-swift"
    assert pretty.dialect_for("analytics-android") == "analytics-kotlin"
    assert pretty.dialect_for("some-new-lib") == "analytics.js"
    assert pretty.dialect_for(None) == pretty.CURL


def _python_call(code: str) -> tuple[str, dict[str, Any]]:
    tree = ast.parse(code)
    (statement,) = tree.body
    assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
    call = statement.value
    assert isinstance(call.func, ast.Attribute) and not call.args
    return call.func.attr, {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}


def _python_expected(stored: dict[str, Any]) -> dict[str, Any]:
    c = from_message(stored)
    names = {
        "track": ("user_id", "event", "properties"),
        "identify": ("user_id", "traits"),
        "page": ("user_id", "category", "name", "properties"),
        "screen": ("user_id", "category", "name", "properties"),
        "group": ("user_id", "group_id", "traits"),
        "alias": ("previous_id", "user_id"),
    }[c.type or "track"]
    values = {
        "user_id": c.user_id,
        "event": c.event,
        "properties": c.properties,
        "traits": c.traits,
        "category": c.category,
        "name": c.name,
        "group_id": c.group_id,
        "previous_id": c.previous_id,
    }
    out = {n: values[n] for n in names if values[n] is not None or n in ("event", "group_id", "previous_id")}
    if c.anonymous_id is not None and c.type != "alias":  # analytics-python's alias() has no anonymous_id
        out["anonymous_id"] = c.anonymous_id
    if c.context:
        out["context"] = c.context
    if c.integrations is not None:
        out["integrations"] = c.integrations
    return out


def test_python_dialect_parses_and_evaluates_to_the_stored_values() -> None:
    """analytics-python output is a single call whose keyword arguments are exactly the message's values."""
    for event in EVENTS:
        method, kwargs = _python_call(pretty.render_call(event, "analytics-python"))
        assert method == event["stored"]["type"]
        assert kwargs == _python_expected(event["stored"])


def _as_written(stored: dict[str, Any]) -> Call:
    """The call behind a message, minus what a library fills in by itself when the code does not
    say (messageId, timestamp; an empty properties or traits object)."""
    c = from_message(stored)
    return dataclasses.replace(
        c, message_id=None, timestamp=None, properties=c.properties or None, traits=c.traits or None
    )


@pytest.mark.slow
def test_python_dialect_run_by_segment_analytics_python_stores_the_same_call(server: ServerThread) -> None:
    """Every event's analytics-python text, executed with the real segment-analytics-python client
    sending to a real segdbg, stores an event whose call is the original's: the dialect is not only
    valid Python, it is what that library needs to send the same event. An alias sent with an
    anonymousId (analytics.js) keeps it in a comment: the library's alias() has no argument for it."""
    from tests.helpers import events as stored

    errors: list[Exception] = []
    client = SegmentClient(
        "wk_dialect", host=server.url, sync_mode=True, max_retries=0, on_error=lambda e, _batch: errors.append(e)
    )
    for event in EVENTS:
        code = pretty.render_call(event, "analytics-python")
        exec(compile(code, "<pretty>", "exec"), {"analytics": client})  # noqa: S102 - the text under test
    assert errors == []
    sent = stored(server.settings.db)
    assert len(sent) == len(EVENTS)
    aliased = 0
    for original, resent in zip(EVENTS, sent, strict=True):
        expected = _as_written(original["stored"])
        if expected.type == "alias" and expected.anonymous_id is not None:
            comment = (
                f"# anonymousId {json.dumps(expected.anonymous_id)} was sent too; alias() has no argument for it\n"
            )
            assert comment in pretty.render_call(original, "analytics-python")
            expected, aliased = dataclasses.replace(expected, anonymous_id=None), aliased + 1
        assert _as_written(resent["stored"]) == expected
        assert resent["library_name"] == "analytics-python"
    assert aliased >= 1


NODE_CLIENTS = ROOT / "tests" / "node"


@pytest.mark.slow
def test_node_dialect_run_by_segment_analytics_node_stores_the_same_call(server: ServerThread, tmp_path: Path) -> None:
    """Every event's @segment/analytics-node text, run by the real library (tests/node, installed
    with `npm ci --prefix tests/node`) against a real segdbg, stores an event whose call is the
    original's. The library copies a page's category into its properties: that is left aside."""
    from tests.helpers import events as stored

    assert (NODE_CLIENTS / "node_modules" / "@segment" / "analytics-node").is_dir(), (
        "the real JavaScript clients are missing: run `npm ci --prefix tests/node` (the README's test command does)"
    )
    snippets = tmp_path / "snippets.json"
    snippets.write_text(json.dumps([pretty.render_call(e, "@segment/analytics-node") for e in EVENTS]))
    ran = subprocess.run(
        ["node", str(NODE_CLIENTS / "run_calls.js"), server.url, "wk_node_dialect", str(snippets)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0 and json.loads(ran.stdout) == {"errors": []}, ran.stdout + ran.stderr
    sent = stored(server.settings.db)
    assert len(sent) == len(EVENTS)
    for original, resent in zip(EVENTS, sent, strict=True):
        expected, got = _as_written(original["stored"]), _as_written(resent["stored"])
        if expected.type == "alias":  # named in a comment: this library's alias() drops it
            expected = dataclasses.replace(expected, anonymous_id=None)
        if got.type == "page" and got.properties is not None and "category" not in (expected.properties or {}):
            rest = {k: v for k, v in got.properties.items() if k != "category"}
            got = dataclasses.replace(got, properties=rest or None)
        assert got == expected
        assert resent["library_name"] == "@segment/analytics-node"


def test_an_alias_anonymous_id_the_library_cannot_send_is_named_in_a_comment() -> None:
    """analytics-python's alias() refuses anonymous_id and @segment/analytics-node's drops it: both
    name it in a comment above the call; classic analytics-node, which sends it, keeps the field."""
    alias = {"stored": {"type": "alias", "userId": "new", "previousId": "old", "anonymousId": "a-1"}}
    python = pretty.render_call(alias, "analytics-python")
    assert python.startswith('# anonymousId "a-1" was sent too') and "anonymous_id=" not in python
    node_next = pretty.render_call(alias, "@segment/analytics-node")
    assert node_next.startswith('// anonymousId "a-1" was sent too') and "anonymousId:" not in node_next
    assert 'anonymousId: "a-1"' in pretty.render_call(alias, "analytics-node")


def test_rudder_python_identify_shows_context_traits_as_traits() -> None:
    """rudder-sdk-python puts identify traits in context.traits; Pretty shows them as traits=."""
    rudder = [e for e in EVENTS if e["stored"].get("channel") == "server" and e["type"] == "identify"]
    assert rudder, "the rudder-python fixture holds an identify"
    _, kwargs = _python_call(pretty.render_call(rudder[0], "analytics-python"))
    assert kwargs["traits"] == rudder[0]["stored"]["context"]["traits"]
    assert "context" not in kwargs


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(NASTY),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(NASTY), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    properties=st.dictionaries(st.text(max_size=8) | st.sampled_from(NASTY), json_values, max_size=6),
    event=st.text(min_size=1, max_size=20),
    user=st.text(min_size=1, max_size=12),
)
def test_python_dialect_round_trips_any_json(properties: dict[str, Any], event: str, user: str) -> None:
    """Whatever the payload holds, the Python call parses and evaluates back to it exactly."""
    stored = {"type": "track", "event": event, "userId": user, "properties": properties}
    text = pretty.render_call({"stored": stored}, "analytics-python")
    assert not UNSAFE.search(text)
    _, kwargs = _python_call(text)
    assert kwargs == {"user_id": user, "event": event, "properties": properties}


NODE_HARNESS = """
const calls = [];
const analytics = new Proxy({}, { get: (_, method) => (...args) => { calls.push([method, args]); } });
const results = [];
%s
process.stdout.write(JSON.stringify(results));
"""


def _run_node(snippets: list[str], tmp_path: Path) -> list[Any]:
    body = "\n".join(f"{{\n{s}\n}}\nresults.push(calls.splice(0));" for s in snippets)
    script = tmp_path / "pretty.js"
    script.write_text(NODE_HARNESS % body)
    checked = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stderr
    ran = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def _ajs_expected(stored: dict[str, Any]) -> list[Any]:
    c = from_message(stored, browser=True)
    options = {k: v for k, v in (("context", c.context or None), ("integrations", c.integrations)) if v is not None}
    args: list[Any] = {
        "track": [c.event, c.properties],
        "identify": [c.user_id, c.traits] if c.user_id is not None else [c.traits],
        "page": [x for x in (c.category, c.name) if x is not None] + [c.properties],
        "screen": [x for x in (c.category, c.name) if x is not None] + [c.properties],
        "group": [c.group_id, c.traits],
        "alias": [c.user_id, c.previous_id],
    }[c.type or "track"]
    if options:
        args = [{} if a is None and i and c.type != "alias" else a for i, a in enumerate(args)] + [options]
    while args and args[-1] is None:
        args.pop()
    return [c.type, args]


def _node_expected(stored: dict[str, Any], dialect: str = "analytics-node") -> list[Any]:
    c = from_message(stored)
    next_alias = dialect == "@segment/analytics-node" and c.type == "alias"  # its alias() drops anonymousId
    fields = {"userId": c.user_id, "anonymousId": None if next_alias else c.anonymous_id}
    fields.update(
        {
            "track": {"event": c.event, "properties": c.properties},
            "identify": {"traits": c.traits},
            "page": {"category": c.category, "name": c.name, "properties": c.properties},
            "screen": {"category": c.category, "name": c.name, "properties": c.properties},
            "group": {"groupId": c.group_id, "traits": c.traits},
            "alias": {"previousId": c.previous_id},
        }[c.type or "track"]
    )
    fields.update({"context": c.context or None, "integrations": c.integrations})
    return [c.type, [{k: v for k, v in fields.items() if v is not None}]]


def test_javascript_dialects_pass_node_and_call_with_the_stored_values(tmp_path: Path) -> None:
    """analytics.js and analytics-node output pass `node --check`, and when run they call
    analytics.<type> with exactly the message's values."""
    snippets, expected = [], []
    for event in EVENTS:
        snippets.append(pretty.render_call(event, "analytics.js"))
        expected.append([_ajs_expected(event["stored"])])
        for dialect in ("@segment/analytics-node", "analytics-node"):
            snippets.append(pretty.render_call(event, dialect))
            expected.append([_node_expected(event["stored"], dialect)])
    assert _run_node(snippets, tmp_path) == json.loads(json.dumps(expected))


def test_javascript_dialects_round_trip_nasty_json(tmp_path: Path) -> None:
    """Quotes, backslashes, ${...}, line separators, escapes and emoji survive as JavaScript values."""
    rng = random.Random(4)

    def value(depth: int) -> Any:
        kind = rng.randrange(6 if depth < 3 else 4)
        if kind == 0:
            return rng.choice(NASTY) + rng.choice(NASTY)
        if kind == 1:
            return rng.choice([None, True, False, 0, -1, 2**53, 1.5, -2.25e-7, 1e100])
        if kind == 2:
            return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(8)))
        if kind == 3:
            return rng.choice(NASTY)
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {rng.choice(NASTY) + str(i): value(depth + 1) for i in range(rng.randrange(4))}

    cases = [
        {
            "type": "track",
            "event": rng.choice(NASTY),
            "userId": "u",
            "properties": {"p": value(0), **{k: value(1) for k in NASTY[:5]}},
        }
        for _ in range(60)
    ]
    cases = [json.loads(json.dumps(c)) for c in cases]  # JSON-normalised, as stored
    snippets = [
        pretty.render_call({"stored": c}, d) for c in cases for d in ("analytics.js", "@segment/analytics-node")
    ]
    results = _run_node(snippets, tmp_path)
    for index, case in enumerate(cases):
        browser, node = results[2 * index], results[2 * index + 1]
        assert browser == [["track", [case["event"], case["properties"]]]]
        assert node == [["track", [{"userId": "u", "event": case["event"], "properties": case["properties"]}]]]


@pytest.mark.slow
def test_curl_dialect_resent_to_a_real_segdbg_stores_the_same_event(server: ServerThread, tmp_path: Path) -> None:
    """Each stored event's curl command, run by a shell against another segdbg, stores the same
    event: identical except the receive time, and the skew-corrected timestamp moves with it."""
    from tests.helpers import events as stored

    for request in wire_requests():
        if b'"batch"' in request.body:
            headers = [(k, v) for k, v in request.headers if k.lower() != "host"]
            assert http(server.url + request.path, body=request.body, headers=headers).status == 200
    originals = stored(server.settings.db)
    assert len(originals) > 20
    with ServerThread(Settings(db=tmp_path / "again.db", port=0)) as again:
        for event in originals:
            command = pretty.render_call(event, "curl", base_url=again.url)
            done = subprocess.run(
                ["bash", "-c", command + " -s"], capture_output=True, text=True, timeout=30, check=False
            )
            assert done.returncode == 0 and json.loads(done.stdout) == {"success": True}, (command, done.stdout)
        copies = stored(again.settings.db)
    assert len(copies) == len(originals)
    from debugger.core.timefmt import parse_timestamp

    def shift(e: dict[str, Any]) -> float:
        stored_msg = e["stored"]
        return (parse_timestamp(stored_msg["receivedAt"]) - parse_timestamp(stored_msg["timestamp"])).total_seconds()  # type: ignore[operator]

    for original, copy in zip(originals, copies, strict=True):
        a = {k: v for k, v in original["stored"].items() if k not in ("receivedAt", "timestamp")}
        b = {k: v for k, v in copy["stored"].items() if k not in ("receivedAt", "timestamp")}
        assert a == b
        assert (original["type"], original["name"], original["status"], original["write_key"]) == (
            copy["type"],
            copy["name"],
            copy["status"],
            copy["write_key"],
        )
        assert abs(shift(original) - shift(copy)) < 0.002


def test_curl_for_a_message_that_is_not_a_call_posts_a_batch_item() -> None:
    """An unknown type is shown as the raw request in every dialect (there is no call to show)."""
    outcome = wire.handle(
        model.IncomingRequest(
            method="POST", path="/v1/batch", body=b'{"writeKey":"k","batch":[{"type":"foo","userId":"u"}]}'
        ),
        received_at=T0,
        new_id=lambda: "x",
    )
    (event,) = outcome.events
    row = {"stored": event.stored, "raw": orjson.loads(event.raw), "write_key": "k", "library_name": "analytics-python"}
    for dialect in pretty.DIALECTS:
        text = pretty.render_call(row, dialect)
        assert "/v1/batch" in text and '"type": "foo"' in text


def test_golden_track_in_each_dialect() -> None:
    """One track call in every dialect, exactly (what a developer reads)."""
    event = {
        "stored": {
            "type": "track",
            "event": "Order Completed",
            "userId": "u1",
            "properties": {"revenue": 12.5, "currency": "USD"},
            "integrations": {"All": True},
        },
        "write_key": "wk",
    }
    golden = {
        "analytics.js": '// userId "u1"\nanalytics.track("Order Completed", { revenue: 12.5, currency: "USD" });',
        "@segment/analytics-node": 'analytics.track({\n  userId: "u1",\n  event: "Order Completed",\n  properties: { revenue: 12.5, currency: "USD" }\n});',
        "analytics-python": 'analytics.track(\n    user_id="u1",\n    event="Order Completed",\n    properties={"revenue": 12.5, "currency": "USD"},\n)',
        "analytics-ruby": 'Analytics.track(\n  user_id: "u1",\n  event: "Order Completed",\n  properties: { revenue: 12.5, currency: "USD" }\n)',
        "analytics-go": 'client.Enqueue(analytics.Track{\n    UserId: "u1",\n    Event: "Order Completed",\n    Properties: analytics.Properties{"revenue": 12.5, "currency": "USD"},\n})',
        "analytics-swift": '// userId "u1"\nanalytics.track(\n    name: "Order Completed",\n    properties: ["revenue": 12.5, "currency": "USD"]\n)',
        "analytics-kotlin": '// userId "u1"\nanalytics.track(\n    name = "Order Completed",\n    properties = buildJsonObject {\n        put("revenue", 12.5)\n        put("currency", "USD")\n    },\n)',
        "analytics-php": 'Segment::track([\n    "userId" => "u1",\n    "event" => "Order Completed",\n    "properties" => ["revenue" => 12.5, "currency" => "USD"]\n]);',
        "analytics-java": 'analytics.enqueue(TrackMessage.builder("Order Completed")\n        .userId("u1")\n        .properties(Map.of("revenue", 12.5, "currency", "USD")));',
        "curl": "curl 'http://127.0.0.1:8088/v1/track' \\\n  -u 'wk:' \\\n  -H 'Content-Type: application/json' \\\n"
        "  --data-raw '{\n"
        '  "type": "track",\n  "event": "Order Completed",\n  "userId": "u1",\n'
        '  "properties": {\n    "revenue": 12.5,\n    "currency": "USD"\n  },\n'
        '  "integrations": {\n    "All": true\n  }\n'
        "}'",
    }
    for dialect, text in golden.items():
        assert pretty.render_call(event, dialect) == text, dialect


def test_string_escapes_use_each_languages_own_syntax() -> None:
    """Interpolation characters are escaped where a language would interpolate them."""
    event = {"stored": {"type": "track", "event": "$x #{y} \u202e", "userId": "u"}}
    assert '"\\$x #{y} \\u{202e}"' in pretty.render_call(event, "analytics-php")
    assert '"$x \\#{y} \\u202e"' in pretty.render_call(event, "analytics-ruby")
    assert '"\\$x #{y} \\u202e"' in pretty.render_call(event, "analytics-kotlin")
    assert '"$x #{y} \\u{202e}"' in pretty.render_call(event, "analytics-swift")
