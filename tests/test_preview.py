"""`segdbg preview`: Protocols-style Transformations run over a real capture, nothing stored modified
(docs/preview.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.core.transform import TransformError, apply, changes, parse, parse_text
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import basic, events, http

RULES = """
transformations:
  - name: checkout renamed
    if: event = 'Checkout Started'
    rename_event: Checkout Begun
  - name: currency moved
    if: type = 'track' and properties.currency != null
    rename: {properties.currency: properties.currency_code}
    set: {context.app.channel: web}
  - name: debug dropped
    remove: [properties.debug]
"""


def segdbg(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_rules_rename_move_set_and_remove_on_a_copy() -> None:
    """Each action, in order, each rule's condition read on what the rules before it left; the
    message given is never changed; a rule that changes nothing is not named."""
    rules = parse_text(RULES)
    message = {
        "type": "track",
        "event": "Checkout Started",
        "properties": {"currency": "EUR", "debug": True, "total": 3},
        "context": {"library": {"name": "analytics.js"}},
    }
    original = orjson.loads(orjson.dumps(message))
    after, applied, reshaped, matched = apply(rules, message)
    assert message == original
    assert after == {
        "type": "track",
        "event": "Checkout Begun",
        "properties": {"total": 3, "currency_code": "EUR"},
        "context": {"library": {"name": "analytics.js"}, "app": {"channel": "web"}},
    }
    assert applied == ["checkout renamed", "currency moved", "debug dropped"] and reshaped
    assert matched == applied
    assert apply(rules, after) == (after, [], False, ["debug dropped"])  # run again: matched, nothing left to do
    assert apply(rules, {"type": "identify", "traits": {"a": 1}})[:3] == (
        {"type": "identify", "traits": {"a": 1}},
        [],
        False,
    )
    assert apply(rules, {"type": "page", "event": "Checkout Started"}).applied == []  # rename_event is for tracks
    assert changes({"properties": {"a": 1}}, {"properties": {"b": 1}, "x": [1]}) == [
        ("-", "properties.a", 1),
        ("+", "properties.b", 1),
        ("+", "x", [1]),
    ]


def test_only_applies_the_named_rules_without_reading_conditions() -> None:
    """The message as received may lack what the route gave the stored one (its type): the same
    rules are applied to it by name."""
    rules = parse_text(RULES)
    raw = {"event": "Checkout Started", "properties": {"currency": "USD"}}
    assert apply(rules, raw).applied == []  # no type: the conditions do not hold on the raw form
    moved, named, _, _ = apply(rules, raw, only=["currency moved"])
    assert named == ["currency moved"] and moved["properties"] == {"currency_code": "USD"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"transformations": []}, "expected a list of rules"),
        ([{"name": "x", "rename": {"a": "b"}, "when": "y"}], "unknown key(s) 'when'"),
        ([{"name": "x"}], "nothing to do"),
        ([{"name": "x", "if": "event == 'A'", "remove": ["a"]}], "`if` is not valid FQL"),
        ([{"name": "x", "set": {"type": "page"}}], "type says what the event is"),
        ([{"name": "x", "remove": ["properties..a"]}], "is not a path"),
        ([{"name": "x", "remove": ["a"]}, {"name": "x", "remove": ["b"]}], "two rules are named 'x'"),
    ],
)
def test_a_bad_transformations_file_says_which_rule_and_why(document: Any, message: str) -> None:
    with pytest.raises(TransformError) as caught:
        parse(document, "t.yaml")
    assert message in str(caught.value) and str(caught.value).startswith("t.yaml")


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A real capture: 40 checkouts, 30 EUR purchases with a debug flag, 20 identifies, sent through a server."""
    db = tmp_path / "c.db"
    batch: list[dict[str, Any]] = [{"type": "track", "userId": f"u{n}", "event": "Checkout Started"} for n in range(40)]
    batch += [
        {"type": "track", "userId": f"u{n}", "event": "Order Completed", "properties": {"currency": "EUR", "debug": 1}}
        for n in range(30)
    ]
    batch += [{"type": "identify", "userId": f"u{n}", "traits": {"plan": "pro"}} for n in range(20)]
    with ServerThread(Settings(db=db, port=0)) as server:
        assert (
            http(f"{server.url}/v1/batch", body={"batch": batch}, headers={"Authorization": basic("wk")}).status == 200
        )
    return db


def test_preview_counts_changes_and_reshapes_and_modifies_nothing(capture: Path, tmp_path: Path) -> None:
    """Over the capture: changed per rule, how many change shape (a rename does, a new value of an
    existing field would not), samples field by field; the capture is byte-for-byte what it was."""
    rules = tmp_path / "t.yaml"
    rules.write_text(RULES)
    before = capture.read_bytes()
    result = segdbg("preview", "--db", str(capture), "-t", str(rules), "--format", "json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.output)
    assert (data["selected"], data["changed"], data["reshaped"]) == (90, 70, 30)
    assert data["by_rule"] == {"checkout renamed": 40, "currency moved": 30, "debug dropped": 30}
    # How many events each rule matches (its `if` held, or it has none), changed or not.
    assert data["matched"] == 90
    assert data["matched_by_rule"] == {"debug dropped": 90, "checkout renamed": 40, "currency moved": 30}
    assert data["samples"][0]["rules"] == ["checkout renamed"]
    assert data["samples"][0]["changes"] == [["-", "event", "Checkout Started"], ["+", "event", "Checkout Begun"]]
    assert capture.read_bytes() == before
    narrowed = orjson.loads(
        segdbg("preview", "type:track", "--db", str(capture), "-t", str(rules), "--format", "json").output
    )
    assert (narrowed["selected"], narrowed["changed"]) == (70, 70)
    text = segdbg("preview", "--db", str(capture), "-t", str(rules), "--samples", "1").output
    assert "matched 90 · changed 70 (77.8%); of those 30 change shape" in text
    assert "30 of 90 matched  debug dropped" in text
    assert "- properties.currency" not in text  # only the first sample (a checkout) is shown
    assert "Nothing stored was modified." in text


def test_the_written_events_load_into_a_new_capture_transformed(capture: Path, tmp_path: Path) -> None:
    """-o writes every selected event as the rules leave it; `segdbg send` of that file into a new
    capture stores the transformed events (the message as received is transformed too)."""
    rules, out, second = tmp_path / "t.yaml", tmp_path / "out.jsonl", tmp_path / "new.db"
    rules.write_text(RULES)
    assert segdbg("preview", "--db", str(capture), "-t", str(rules), "-o", str(out)).exit_code == 0
    assert len(out.read_bytes().splitlines()) == 90
    with ServerThread(Settings(db=second, port=0)) as server:
        sent = segdbg("send", str(out), "--to", server.url)
        assert sent.exit_code == 0, sent.output
    stored = events(second)
    assert sorted({e["name"] for e in stored if e["type"] == "track"}) == ["Checkout Begun", "Order Completed"]
    order = next(e["stored"] for e in stored if e["name"] == "Order Completed")
    assert order["properties"] == {"currency_code": "EUR"} and order["context"]["app"] == {"channel": "web"}


def test_a_bad_file_is_a_clear_error(capture: Path, tmp_path: Path) -> None:
    rules = tmp_path / "t.yaml"
    rules.write_text("transformations:\n  - name: x\n    if: event == 'A'\n    remove: [a]\n")
    result = CliRunner().invoke(cli, ["preview", "--db", str(capture), "-t", str(rules)])
    assert result.exit_code == 1 and "rule 1 (x): `if` is not valid FQL" in result.output


@pytest.mark.parametrize(
    ("value", "reshaped"),
    [
        ("EUR", False),  # a string for a string: only the value changed
        (3, True),  # another JSON type
        ({"code": "EUR"}, True),
        (None, True),
    ],
)
def test_a_set_changes_the_shape_only_when_the_type_or_the_paths_change(value: Any, reshaped: bool) -> None:
    rules = parse([{"name": "s", "set": {"properties.currency": value}}])
    assert apply(rules, {"type": "track", "properties": {"currency": "USD"}}).reshaped is reshaped
    assert apply(rules, {"type": "track", "properties": {}}).reshaped is True  # a new path
    same = parse([{"name": "s", "set": {"properties.o": {"a": 2}}}])
    assert apply(same, {"type": "track", "properties": {"o": {"a": 1}}}).reshaped is False


ROUTING = """
destinations:
  Amplitude:
    consent: [Analytics]
  Braze:
    filters:
      - title: strip pii
        if: type = 'track'
        actions:
          - type: block_properties
            fields: {properties: [email]}
"""


@pytest.fixture
def consented(tmp_path: Path) -> Path:
    """Tracks with an email, half of them with Analytics consent off, sent through a real server."""
    db = tmp_path / "r.db"
    batch = [
        {
            "type": "track",
            "userId": f"u{n}",
            "event": "Signed Up",
            "properties": {"email": f"u{n}@example.com", "plan": "pro"},
            "context": {"consent": {"categoryPreferences": {"Analytics": n % 2 == 0}}},
        }
        for n in range(10)
    ]
    with ServerThread(Settings(db=db, port=0)) as server:
        assert (
            http(f"{server.url}/v1/batch", body={"batch": batch}, headers={"Authorization": basic("wk")}).status == 200
        )
    return db


def test_a_destinations_filters_previewed(consented: Path, tmp_path: Path) -> None:
    """--routing --destination: what that destination would receive: blocked events by reason, the
    fields its filters remove; -o writes only what it would receive, trimmed."""
    routing, out = tmp_path / "routing.yaml", tmp_path / "braze.jsonl"
    routing.write_text(ROUTING)
    amplitude = orjson.loads(
        segdbg(
            "preview",
            "--db",
            str(consented),
            "--routing",
            str(routing),
            "--destination",
            "Amplitude",
            "--format",
            "json",
        ).output
    )
    assert (amplitude["selected"], amplitude["changed"]) == (10, 5)
    assert amplitude["by_rule"] == {"not received: consent category Analytics is off": 5}
    braze = segdbg(
        "preview", "--db", str(consented), "--routing", str(routing), "--destination", "Braze", "-o", str(out)
    )
    assert braze.exit_code == 0, braze.output
    assert "10  properties.email removed by filter 'strip pii'" in braze.output
    assert "- properties.email:" in braze.output
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(written) == 10 and all(r["stored"]["properties"] == {"plan": "pro"} for r in written)
    missing = CliRunner().invoke(
        cli, ["preview", "--db", str(consented), "--routing", str(routing), "--destination", "Nope"]
    )
    assert missing.exit_code == 2 and "has no destination 'Nope'; it names Amplitude, Braze" in missing.output


def test_a_replay_rewrite_previewed(consented: Path) -> None:
    """--id-prefix / --map-id / --new-message-ids: what `segdbg replay` would send with them, against without."""
    data = orjson.loads(
        segdbg(
            "preview", "--db", str(consented), "--map-id", "u0=alice", "--id-prefix", "stg-", "--format", "json"
        ).output
    )
    assert (data["selected"], data["changed"], data["reshaped"]) == (10, 10, 0)
    assert data["by_rule"] == {"ids rewritten": 10}
    assert ["-", "userId", "u0"] in data["samples"][0]["changes"] and ["+", "userId", "alice"] in data["samples"][0][
        "changes"
    ]
    assert ["+", "userId", "stg-u1"] in data["samples"][1]["changes"]
    fresh = orjson.loads(segdbg("preview", "--db", str(consented), "--new-message-ids", "--format", "json").output)
    assert fresh["by_rule"] == {"new messageId": 10}


def test_one_change_at_a_time(consented: Path, tmp_path: Path) -> None:
    rules = tmp_path / "t.yaml"
    rules.write_text(RULES)
    both = CliRunner().invoke(cli, ["preview", "--db", str(consented), "-t", str(rules), "--new-message-ids"])
    assert both.exit_code == 2 and "give one change" in both.output
    none = CliRunner().invoke(cli, ["preview", "--db", str(consented)])
    assert none.exit_code == 2 and "give one change" in none.output
