"""`segdbg diff`: captures compared by shape (db, NDJSON, folders) and runs by delivery outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.core.diff import NOISE, Shape, compare_runs, compare_shapes, event_key, leaf_paths
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import http
from tests.sinks import Reply, ScriptedTarget


def segdbg(*args: str) -> Result:
    """Run the CLI in-process."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def track(event: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A track message."""
    return {"type": "track", "event": event, "userId": "u1", "properties": properties, **extra}


SESSION = [
    track("Order Completed", {"total": 30, "currency": "USD", "products": [{"sku": "a", "price": 10}]}),
    track("Order Completed", {"total": 12.5, "currency": "EUR", "products": []}),
    {"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}},
    {"type": "page", "userId": "u1", "name": "Pricing", "properties": {"path": "/pricing"}},
]


@pytest.fixture
def make_capture(tmp_path: Path) -> Iterator[Any]:
    """Build a real capture by sending messages to a segdbg server."""

    def build(name: str, messages: list[dict[str, Any]]) -> Path:
        db = tmp_path / f"{name}.db"
        with ServerThread(Settings(db=db, port=0)) as server:
            assert http(f"{server.url}/v1/batch", body={"writeKey": "wk", "batch": messages}).status == 200
        return db

    yield build


def test_leaf_paths_and_noise() -> None:
    """Paths go through objects and arrays; noise fields and --ignore'd paths are left out."""
    message = {
        "messageId": "m",
        "context": {"ip": "1.2.3.4", "library": {"name": "x"}},
        "properties": {"items": [{"sku": "a"}], "empty": {}},
    }
    assert sorted(leaf_paths(message)) == sorted(
        [
            ("messageId", "string"),
            ("context.ip", "string"),
            ("context.library.name", "string"),
            ("properties.items[].sku", "string"),
            ("properties.empty", "object"),
        ]
    )
    shape = Shape(ignore=NOISE | {"properties.items"})
    shape.add({"type": "track", "event": "X", **message})
    assert set(shape.paths['track "X"']) == {"type", "event", "context.library.name", "properties.empty"}
    assert event_key({"type": "screen", "name": "Home"}) == 'screen "Home"' and event_key({}) == "(no type)"


def test_compare_shapes_finds_every_kind_of_difference() -> None:
    """Events only on one side, count changes, paths added/removed and type changes."""
    a, b = Shape(), Shape()
    for message in SESSION:
        a.add(message)
    b.add(track("Order Completed", {"total": "30", "currency": "USD", "coupon": "X", "products": []}))
    b.add({"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}})
    b.add(track("Signed Up", {}))
    result = compare_shapes(a, b)
    assert result.only_a == (('page "Pricing"', 1),) and result.only_b == (('track "Signed Up"', 1),)
    (change,) = result.changed
    assert (change.key, change.count_a, change.count_b) == ('track "Order Completed"', 2, 1)
    assert change.added == (("properties.coupon", "string"),)
    assert change.removed == (("properties.products[].price", "number"), ("properties.products[].sku", "string"))
    assert change.retyped == (("properties.total", "number", "string"),)
    assert result.differences == 7


def test_same_session_in_two_captures_has_no_differences(make_capture: Any) -> None:
    """Two captures of the same calls differ only in noise: exit 0."""
    result = segdbg("diff", str(make_capture("a", SESSION)), str(make_capture("b", SESSION)))
    assert result.exit_code == 0, result.output
    assert "No differences." in result.output


def test_changed_capture_exits_3_and_says_what_changed(make_capture: Any) -> None:
    """A type change and a missing event are reported, and the exit code is 3 (CI can gate on it)."""
    changed = [
        track("Order Completed", {**m["properties"], "total": str(m["properties"]["total"])}) if m.get("event") else m
        for m in SESSION[:3]
    ]
    result = segdbg("diff", str(make_capture("a", SESSION)), str(make_capture("b", changed)))
    assert result.exit_code == 3
    assert '- page "Pricing"  (1)' in result.output
    assert "~ properties.total" in result.output and "number → string" in result.output


def test_ndjson_export_compares_equal_to_its_database(make_capture: Any, tmp_path: Path) -> None:
    """`segdbg events --format jsonl` output, a folder of plain messages and the db all compare equal."""
    db = make_capture("a", SESSION)
    export = tmp_path / "export.jsonl"
    export.write_text(segdbg("events", "--db", str(db), "--format", "jsonl").stdout)
    assert segdbg("diff", str(db), str(export)).exit_code == 0
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "session.ndjson").write_bytes(b"\n".join(orjson.dumps(m) for m in SESSION))
    result = segdbg("diff", str(folder), str(db))
    assert result.exit_code == 0, result.output
    json_result = segdbg("diff", str(folder), str(db), "--format", "json")
    assert orjson.loads(json_result.stdout)["differences"] == 0


def test_two_runs_compare_by_delivery_outcome(make_capture: Any) -> None:
    """`diff run:prev run:last`: deliveries whose outcome changed between two replays; exit 3."""
    db = make_capture("a", SESSION)
    with ScriptedTarget() as ok:
        assert segdbg("replay", "--db", str(db), "--to", ok.url).exit_code == 0
    with ScriptedTarget() as ok:
        assert segdbg("replay", "--db", str(db), "--to", ok.url).exit_code == 0
    assert segdbg("diff", "--db", str(db), "run:prev", "run:last").exit_code == 0
    with ScriptedTarget([Reply(400, b'{"code":"bad","message":"no"}')]) as bad:
        assert segdbg("replay", "--db", str(db), "--to", bad.url).exit_code == 3
    result = segdbg("diff", "--db", str(db), "run:1", "run:last")
    assert result.exit_code == 3
    assert result.output.count("delivered 200 → failed 400") == 4
    assert "HTTP 400 bad" in result.output


def test_compare_runs_matches_by_message_id_across_captures() -> None:
    """Runs of different captures are matched by the original messageId; missing ones are changes."""
    a = [
        {"event_id": 1, "message_id": "m1", "status": "delivered", "http_status": 200},
        {"event_id": 2, "message_id": "m2", "status": "delivered", "http_status": 200},
    ]
    b = [
        {"event_id": 7, "message_id": "m1", "status": "delivered", "http_status": 200},
        {"event_id": 9, "message_id": "m3", "status": "delivered", "http_status": 200},
    ]
    result = compare_runs(a, b)
    assert result.matched == 1
    assert [(c.before, c.after) for c in result.changed] == [("delivered 200", None), (None, "delivered 200")]


def test_usage_errors(tmp_path: Path) -> None:
    """A run against a file, or a missing file, is a usage error."""
    assert segdbg("diff", "run:last", str(tmp_path)).exit_code == 2
    assert segdbg("diff", str(tmp_path / "nope.db"), str(tmp_path)).exit_code == 2
