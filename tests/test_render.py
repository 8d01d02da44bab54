"""The words the list, the detail pane and `segdbg events` show for an event (pure core): its label,
kind, user and status mark, what the server changed, and text made inert for a terminal."""

from __future__ import annotations

from typing import Any

from debugger.core.pretty.render import (
    enrichment,
    event_kind,
    event_label,
    event_user,
    inert,
    inert_lines,
    lexer_for,
    rejection,
    render_call,
    status_text,
)


def _event(**fields: Any) -> dict[str, Any]:
    return {"status": "ok", "problems": [], "stored": {}, **fields}


def test_the_label_is_what_segments_debugger_shows_for_each_type() -> None:
    assert event_label(_event(type="track", name="Order Completed")) == "Order Completed"
    assert event_label(_event(type="page", name="Pricing")) == "Pricing"
    assert event_label(_event(type="screen", name="Home")) == "Home"
    assert event_label(_event(type="track", name="")) == ""
    traits = {"traits": {"email": "a@b.c"}}
    assert event_label(_event(type="identify", user_id="u1", stored=traits)) == "u1 (a@b.c)"
    assert event_label(_event(type="identify", anonymous_id="anon", stored=traits)) == "anon (a@b.c)"
    assert event_label(_event(type="identify", user_id="u1", stored={"traits": {"email": ""}})) == "u1"
    assert event_label(_event(type="identify", user_id="u1", stored={"traits": {"email": 5}})) == "u1"
    # rudder-sdk-python sends identify traits in context.traits.
    rudder = {"context": {"traits": {"email": "r@s.t"}}}
    assert event_label(_event(type="identify", user_id="u2", stored=rudder)) == "u2 (r@s.t)"
    assert event_label(_event(type="identify", stored={"traits": "x"})) == ""
    assert event_label(_event(type="group", stored={"groupId": "g1"})) == "g1"
    assert event_label(_event(type="group")) == ""
    assert event_label(_event(type="alias", user_id="new", stored={"previousId": "old"})) == "old → new"
    assert event_label(_event(type="alias")) == " → "
    refused = {"rejected": {"method": "POST", "path": "/v1/batch", "status": 400}}
    assert event_label(_event(type=None, status="rejected", stored=refused)) == "POST /v1/batch"
    assert event_label(_event(type=None, status="rejected", stored={"rejected": {"path": "/x"}})) == "/x"
    assert event_label(_event(type=None, status="invalid", stored=refused)) == ""


def test_kind_user_and_rejection() -> None:
    assert event_kind(_event(type="track")) == "track"
    assert event_kind(_event(type=None, status="rejected")) == "rejected"
    assert event_kind(_event(type=None, status="invalid")) == "?"
    assert event_user(_event(user_id="u", anonymous_id="a")) == "u"
    assert event_user(_event(user_id="", anonymous_id="a")) == "a"
    assert event_user(_event()) == ""
    refused = {"status": 413, "code": "too_large"}
    assert rejection(_event(status="rejected", stored={"rejected": refused})) == refused
    assert rejection(_event(status="rejected", stored={"rejected": "x"})) == {}
    assert rejection(_event(status="ok", stored={"rejected": refused})) is None


def test_status_text_marks_the_status_and_names_the_first_problem() -> None:
    assert status_text(_event(status="ok")) == "✓"
    assert status_text(_event(status="invalid")) == "✗"
    assert status_text(_event(status="duplicate")) == "⧉"
    assert status_text(_event(status="weird")) == "?"
    assert status_text({}) == "?"
    one = [{"code": "no_user_anon_id"}]
    assert status_text(_event(status="ok", problems=one)) == "⚠ no_user_anon_id"
    assert (
        status_text(_event(status="invalid", problems=[*one, {"code": "b"}, {"code": "c"}])) == "✗ no_user_anon_id +2"
    )
    assert status_text(_event(status="invalid", problems=["not a mapping"])) == "✗ "
    refused = {"rejected": {"status": 413}}
    problems = [{"code": "batch_too_large"}]
    assert status_text(_event(status="rejected", stored=refused, problems=problems)) == "✗ 413 batch_too_large"
    no_status = {"rejected": {"code": "x"}}
    assert status_text(_event(status="rejected", stored=no_status, problems=problems)) == "✗ batch_too_large"


def test_enrichment_lists_what_the_server_added_changed_and_removed() -> None:
    raw = {"type": "track", "context": {"library": {"name": "x"}}, "sentAt": "t", "n": 1}
    stored = {"type": "track", "context": {"library": {"name": "x"}, "ip": "127.0.0.1"}, "n": 2, "messageId": "m"}
    assert enrichment(raw, stored) == [("+", "context.ip"), ("~", "n"), ("+", "messageId"), ("-", "sentAt")]
    assert enrichment("junk", {"a": 1}) == [("~", "(message)")]
    assert enrichment({"a": 1}, {"a": 1}) == []
    many = {f"k{i}": i for i in range(10)}
    assert enrichment({}, many, limit=3) == [("+", "k0"), ("+", "k1"), ("+", "k2")]
    assert enrichment({"x": {"a": 1, "b": 2}}, {"x": {"c": 3}}, limit=2) == [("+", "x.c"), ("-", "x.a")]
    assert enrichment(many, {}, limit=2) == [("-", "k0"), ("-", "k1")]
    assert enrichment({"x": {"y": 1}}, {"x": {"y": 2}, "z": 1}, limit=1) == [("~", "x.y")]


def test_inert_shows_controls_and_bounds_the_length() -> None:
    assert inert("a\x1b[31mb") == "a\\x1b[31mb"
    assert inert("\u202eevil\U000e0041") == "\\u202eevil\\U000e0041"
    assert inert("tab\there") == "tab\\x09here"
    assert inert(None) == "" and inert(42) == "42"
    assert inert("x" * 10, limit=10) == "x" * 10
    assert inert("x" * 11, limit=10) == "x" * 9 + "…"
    assert inert("\x00" * 3, limit=8) == "\\x00\\x00"[:7] + "…"
    # A huge value is cut before escaping, so the work is bounded too.
    assert inert("y" * 10**6, limit=5) == "yyyy…"
    assert inert_lines("a\x07\nb\tc\n" + "z" * 6, line_limit=5) == "a\\x07\nb\\x0…\nzzzz…"


def test_the_pretty_view_is_highlighted_in_the_senders_language() -> None:
    assert lexer_for("analytics.js") == "javascript"
    assert lexer_for("analytics-python") == "python"
    assert lexer_for("curl") != "text"
    assert lexer_for("no such dialect") == "text"


def _call(library: str | None, stored: object, raw: object = None) -> str:
    return render_call({"stored": stored, "raw": raw, "write_key": "wk", "library_name": library})


TRACK = {"type": "track", "event": "E", "userId": "u", "properties": {"a": None, "b": [1, {"c": "d"}]}}


def test_the_pretty_view_is_the_senders_own_call() -> None:
    assert _call("analytics-python", TRACK) == (
        'analytics.track(\n    user_id="u",\n    event="E",\n    properties={"a": None, "b": [1, {"c": "d"}]},\n)'
    )
    assert _call("analytics-ios", TRACK) == (  # iOS reads as analytics-swift
        '// userId "u"\nanalytics.track(name: "E", properties: ["a": NSNull(), "b": [1, ["c": "d"]]])'
    )
    assert _call(None, TRACK).startswith("curl ")  # no library named itself: the raw request
    assert _call("analytics-php", {"type": "alias", "userId": "new", "previousId": "old"}) == (
        'Segment::alias(["userId" => "new", "previousId" => "old"]);'
    )


def test_kotlin_go_and_java_write_nulls_and_nesting_in_their_own_syntax() -> None:
    assert _call("analytics-kotlin", TRACK) == "\n".join(
        [
            '// userId "u"',
            "analytics.track(",
            '    name = "E",',
            "    properties = buildJsonObject {",
            '        put("a", JsonNull)',
            '        putJsonArray("b") {',
            "            add(1)",
            "            addJsonObject {",
            '                put("c", "d")',
            "            }",
            "        }",
            "    },",
            ")",
        ]
    )
    assert _call("analytics-go", TRACK) == "\n".join(
        [
            "client.Enqueue(analytics.Track{",
            '    UserId: "u",',
            '    Event: "E",',
            "    Properties: analytics.Properties{",
            '        "a": nil,',
            '        "b": []interface{}{1, map[string]interface{}{"c": "d"}},',
            "    },",
            "})",
        ]
    )
    wide = {**TRACK, "properties": {"first_property": "a" * 40, "second_property": "b" * 40, "n": [1, 2]}}
    assert _call("analytics-java", wide) == "\n".join(
        [
            'analytics.enqueue(TrackMessage.builder("E")',
            '        .userId("u")',
            "        .properties(Map.of(",
            '            "first_property", "' + "a" * 40 + '",',
            '            "second_property", "' + "b" * 40 + '",',
            '            "n", List.of(1, 2)',
            "        )));",
        ]
    )


def test_a_message_that_is_not_an_object_is_shown_as_its_raw_request() -> None:
    text = _call("analytics-python", None, raw="junk")
    assert text.startswith(
        "# no type: not one of the six calls; the raw request:\ncurl 'http://127.0.0.1:8088/v1/batch'"
    )
    assert "-u 'wk:'" in text and '"junk"' in text
    assert _call(None, "not an object", raw="junk").startswith("curl ")


def test_status_text_of_a_problem_without_a_code() -> None:
    assert status_text(_event(status="invalid", problems=[{}])) == "✗ "
