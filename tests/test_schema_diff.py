"""`segdbg diff --schema`: release-to-release schema diff over real captures (filled through a real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from segment.analytics.client import Client as SegmentClient

from debugger.cli import cli
from debugger.core.diff import NOISE
from debugger.core.query import language as q
from debugger.core.schemadiff import MAX_DEPTH, SchemaProfile, compare_profiles, paths_of
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from debugger.store.capture import reader
from debugger.store.schemadiff import Side, _lowest, schema_profile, schema_profiles
from tests.helpers import http

JS = {"name": "analytics.js", "version": "3.1.0"}
IOS = {"name": "analytics-ios", "version": "4.1.8"}


def segdbg(*args: str) -> Result:
    """Run the CLI in-process."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def order(
    user: str, library: dict[str, str], version: str, *, currency: bool = True, total: object = 30
) -> dict[str, Any]:
    """An Order Completed from ``library`` in app ``version``."""
    properties: dict[str, Any] = {"total": total, "products": [{"sku": "a", "price": 10}]}
    if currency:
        properties["currency"] = "USD"
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": user,
        "properties": properties,
        "context": {"library": library, "app": {"version": version}},
    }


@pytest.fixture
def make_capture(tmp_path: Path) -> Iterator[Any]:
    """Build a real capture by sending batches to a segdbg server on loopback."""

    def build(name: str, messages: list[dict[str, Any]]) -> Path:
        db = tmp_path / f"{name}.db"
        with ServerThread(Settings(db=db, port=0)) as server:
            for start in range(0, len(messages), 100):
                batch = messages[start : start + 100]
                assert http(f"{server.url}/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200
        return db

    yield build


def release_capture() -> list[dict[str, Any]]:
    """Builds 1.2 and 1.3 from analytics.js and analytics-ios; iOS 1.3 stops sending properties.currency."""
    messages = []
    for n in range(20):
        for library in (JS, IOS):
            messages.append(order(f"u{n}", library, "1.2"))
            messages.append(order(f"u{n}", library, "1.3", currency=library is JS))
    return messages


def test_ios_build_that_stops_sending_currency_is_caught(make_capture: Any) -> None:
    """iOS 1.2 → 1.3: properties.currency 100% → 0% on Order Completed, exit 3; analytics.js unchanged, exit 0."""
    db = str(make_capture("c", release_capture()))
    ios = segdbg(
        "diff", "--schema", "--db", db,
        "lib:analytics-ios context.app.version:1.2", "lib:analytics-ios context.app.version:1.3",
    )  # fmt: skip
    assert ios.exit_code == 3, ios.output
    line = next(x for x in ios.output.splitlines() if "properties.currency" in x)
    assert line.split()[0] == "!" and "presence 100% → 0%" in line and "string → -" in line
    assert 'track "Order Completed"  events 20 → 20' in ios.output
    assert "1 changes beyond tolerance" in ios.output

    js = segdbg(
        "diff", "--schema", "--db", db,
        "lib:analytics.js context.app.version:1.2", "lib:analytics.js context.app.version:1.3",
    )  # fmt: skip
    assert js.exit_code == 0, js.output
    assert "properties.currency" not in js.output and "No change beyond tolerance; 0 within" in js.output

    # The same slices as FILE#QUERY; and library against library in build 1.3.
    hashed = segdbg(
        "diff", "--schema", f"{db}#lib:analytics-ios context.app.version:1.2",
        f"{db}#lib:analytics-ios context.app.version:1.3", "--format", "json",
    )  # fmt: skip
    assert hashed.exit_code == 3
    (change,) = orjson.loads(hashed.output)["events"][0]["paths"]
    assert (change["path"], change["presence_a"], change["presence_b"], change["beyond"]) == (
        "properties.currency",
        100.0,
        0.0,
        True,
    )
    libraries = segdbg("diff", "--schema", "--db", db, "lib:analytics.js", "lib:analytics-ios")
    assert libraries.exit_code == 3
    assert "presence 100% → 50%" in next(x for x in libraries.output.splitlines() if "properties.currency" in x)
    # context.library.name differs between the libraries: string in both, so it is not a change.
    assert "context.library.name" not in libraries.output


def test_new_and_gone_events_between_two_captures(make_capture: Any, tmp_path: Path) -> None:
    """An event only in A is gone, one only in B is new (a database against an NDJSON file): exit 3."""
    a = make_capture("a", [order("u1", JS, "1.2"), {"type": "track", "event": "Coupon Applied", "userId": "u1"}])
    b = tmp_path / "b.jsonl"
    b.write_bytes(
        b"\n".join(
            orjson.dumps(m)
            for m in (order("u1", JS, "1.3"), {"type": "screen", "name": "Cart", "userId": "u1", "properties": {}})
        )
    )
    result = segdbg("diff", "--schema", str(a), str(b))
    assert result.exit_code == 3, result.output
    assert 'New in B:\n  + screen "Cart"  (1)' in result.output
    assert 'Gone from B:\n  - track "Coupon Applied"  (1)' in result.output
    same = segdbg("diff", "--schema", str(a), str(a))
    assert same.exit_code == 0 and "No change beyond tolerance" in same.output


def test_type_mix_change_and_tolerance(make_capture: Any) -> None:
    """properties.total number → 25% string fails at the default 5 points, passes at --tolerance 30; a 4-point move is within."""
    a = make_capture("a", [order(f"u{n}", JS, "1") for n in range(100)])
    b = make_capture("b", [order(f"u{n}", JS, "2", total="30" if n < 25 else 30) for n in range(100)])
    result = segdbg("diff", "--schema", str(a), str(b))
    assert result.exit_code == 3, result.output
    line = next(x for x in result.output.splitlines() if "properties.total" in x)
    assert line.split()[0] == "!" and "number → string 25% number 75%" in line and "presence 100% → 100%" in line
    assert segdbg("diff", "--schema", str(a), str(b), "--tolerance", "30").exit_code == 0

    small = make_capture("small", [order(f"u{n}", JS, "2", currency=n >= 4) for n in range(100)])
    within = segdbg("diff", "--schema", str(a), str(small))
    assert within.exit_code == 0, within.output
    line = next(x for x in within.output.splitlines() if "properties.currency" in x)
    assert line.split()[0] == "~" and "presence 100% → 96%" in line
    assert "No change beyond tolerance; 1 within (~)." in within.output


def test_a_move_within_chance_does_not_fail(make_capture: Any) -> None:
    """A share over few events moving by more than --tolerance but within three standard errors is listed, not failed."""
    a = make_capture("a", [order(f"u{n}", JS, "1", currency=n % 2 == 0) for n in range(20)])  # 50% of 20
    b = make_capture("b", [order(f"u{n}", JS, "2", currency=n % 20 < 7) for n in range(20)])  # 35% of 20
    result = segdbg("diff", "--schema", str(a), str(b))
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "properties.currency" in x)
    assert line.split()[0] == "~" and "presence 50% → 35%" in line
    # The same move over 2,000 events is beyond chance: it fails.
    big_a = SchemaProfile()
    big_b = SchemaProfile()
    for n in range(2000):
        big_a.add(order(f"u{n}", JS, "1", currency=n % 2 == 0))
        big_b.add(order(f"u{n}", JS, "2", currency=n % 20 < 7))
    diff = compare_profiles(big_a, big_b)
    (change,) = diff.events[0].paths
    assert (change.path, change.delta, change.beyond, diff.beyond) == ("properties.currency", 15.0, True, 1)


def test_volume_per_identity(make_capture: Any) -> None:
    """Events per distinct user, per event: 1 → 4 per user is +300%, beyond the default 50%."""
    a = make_capture("a", [order(f"u{n}", JS, "1") for n in range(10)])
    b = make_capture("b", [order(f"u{n % 10}", JS, "2") for n in range(40)])
    result = segdbg("diff", "--schema", str(a), str(b), "--format", "json")
    assert result.exit_code == 3, result.output
    document = orjson.loads(result.output)
    (event,) = document["events"]
    assert (event["events_a"], event["identities_a"], event["per_identity_a"]) == (10, 10, 1.0)
    assert (event["events_b"], event["identities_b"], event["per_identity_b"]) == (40, 10, 4.0)
    assert event["volume_change"] == 300.0 and event["volume_beyond"] is True and event["paths"] == []
    assert document["beyond"] == 1 and document["tolerance"] == 5.0 and document["volume_tolerance"] == 50.0
    assert segdbg("diff", "--schema", str(a), str(b), "--volume-tolerance", "400").exit_code == 0


def test_json_output(make_capture: Any) -> None:
    """--format json: both sides named, totals, new/gone, per-event paths with presence and type mix."""
    db = str(make_capture("c", release_capture()))
    result = segdbg(
        "diff", "--schema", "--db", db, "context.app.version:1.2", "context.app.version:1.3", "--format", "json"
    )  # fmt: skip
    assert result.exit_code == 3
    document = orjson.loads(result.output)
    assert (document["a"], document["b"]) == (f"{db}#context.app.version:1.2", f"{db}#context.app.version:1.3")
    assert (document["total_a"], document["total_b"], document["new"], document["gone"]) == (40, 40, [], [])
    assert document["sampled"] is False
    (event,) = document["events"]
    assert event["key"] == 'track "Order Completed"' and event["walked_a"] == 40
    (path,) = event["paths"]
    assert path == {
        "path": "properties.currency",
        "presence_a": 100.0,
        "presence_b": 50.0,
        "types_a": {"string": 100.0},
        "types_b": {"string": 100.0},
        "delta": 50.0,
        "beyond": True,
    }


def test_the_store_samples_big_kinds_evenly_and_counts_exactly(make_capture: Any) -> None:
    """Over the bound a kind is walked on an even, repeatable sample; counts and identities stay exact."""
    messages = [order(f"u{n % 50}", JS, "1", currency=n % 2 == 0) for n in range(600)]
    messages += [{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}} for _ in range(5)]
    db = make_capture("big", messages)
    with reader(db) as conn:
        sampled = schema_profile(conn, sample=100)
        again = schema_profile(conn, sample=100)
        whole = schema_profile(conn)
    kind = sampled.kinds['track "Order Completed"']
    assert (kind.events, kind.identities) == (600, 50)
    # The 100 events whose ids hash lowest: the same ones every time.
    assert kind.walked == 100 and kind.shapes == again.kinds['track "Order Completed"'].shapes
    assert kind.present()["properties.total"] == kind.walked  # always sent reads exactly 100%
    assert abs(100 * kind.present()["properties.currency"] / kind.walked - 50) < 20
    assert sampled.kinds["identify"].walked == 5  # under the bound: every event
    assert whole.kinds['track "Order Completed"'].walked == 600
    diff = compare_profiles(whole, sampled)
    assert diff.sampled and diff.beyond == 0
    # --sample on the command line: the bound per kind, 0 walks every event.
    few = orjson.loads(segdbg("diff", "--schema", str(db), str(db), "--sample", "100", "--format", "json").output)
    every = orjson.loads(segdbg("diff", "--schema", str(db), str(db), "--sample", "0", "--format", "json").output)
    assert few["sampled"] is True and few["events"][1]["walked_a"] == 100
    assert every["sampled"] is False and every["events"][1]["walked_a"] == 600


def test_a_kind_spelled_two_ways_is_counted_once(make_capture: Any) -> None:
    """A page named "" and a page without a name are both the kind ``page``: counted, identified and walked together."""
    messages = [{"type": "page", "name": "", "userId": f"e{n}"} for n in range(3)]
    messages += [{"type": "page", "userId": f"n{n}", "properties": {"path": "/"}} for n in range(4)]
    db = make_capture("pages", messages)
    with reader(db) as conn:
        for sample in (0, 2):
            page = schema_profile(conn, sample=sample).kinds["page"]
            assert (page.events, page.identities, page.walked) == (7, 7, 7 if sample == 0 else 2)


@pytest.mark.parametrize("top", [10_000, 2**32 + 10_000])
def test_the_sample_is_the_ids_that_hash_lowest(top: int) -> None:
    """The sample is read back from the hashes (ids under 2**32) or ranked by a key (any id): the same ids."""
    ids = list(range(top - 3_000, top))
    expected = sorted(ids, key=lambda i: (i * 2654435761) % 2**32)[:100]
    assert sorted(_lowest(ids, 100)) == sorted(expected)
    assert _lowest(ids[:50], 100) == ids[:50]  # under the bound: every id


def _summary(profile: SchemaProfile) -> dict[str, Any]:
    return {key: (kind.events, kind.identities, kind.walked, dict(kind.shapes)) for key, kind in profile.kinds.items()}


def test_slices_of_one_capture_read_together_equal_each_read_alone(make_capture: Any) -> None:
    """Two slices of one capture are read in one scan: each side's counts, identities and sample are
    exactly what reading it alone gives (a row in both slices is sampled by both or neither); two
    equal sides are read once and share the profile."""
    messages = [
        order(f"u{n % 40}", JS if n % 3 else IOS, "1.2" if n < 300 else "1.3", currency=n % 4 > 0) for n in range(600)
    ]
    messages += [{"type": "identify", "userId": f"u{n}", "traits": {"plan": "pro"}} for n in range(7)]
    db = make_capture("slices", messages)
    sides = [
        Side(q.parse("context.app.version:1.2"), ("ok",)),
        Side(q.parse("lib:analytics-ios"), ("ok",)),  # overlaps the first
        Side(None, ("ok",)),
        Side(q.parse("context.app.version:1.2"), ("ok",)),
    ]
    with reader(db) as conn:
        together = schema_profiles(conn, sides, sample=50)
        alone = [schema_profiles(conn, [side], sample=50)[0] for side in sides]
    assert [_summary(p) for p in together] == [_summary(p) for p in alone]
    assert together[0] is together[3]  # read once
    assert together[0].kinds['track "Order Completed"'].events == 300
    assert together[1].kinds['track "Order Completed"'].events == 200 and "identify" not in together[1].kinds
    assert together[2].kinds["identify"].events == 7 and together[2].total == 607


def test_profile_paths_types_and_noise() -> None:
    """Objects and arrays are paths too; null is present with type null; ids and clocks are ignored."""
    profile = SchemaProfile()
    profile.add({"type": "track", "event": "X", "messageId": "m", "properties": {"a": None, "l": [1, "x"]}})
    profile.add({"type": "track", "event": "X", "anonymousId": "anon", "properties": {"l": []}})
    kind = profile.kinds['track "X"']
    assert (kind.events, kind.identities, kind.walked) == (2, 1, 2)
    assert kind.present()["properties.a"] == 1 and kind.types()["properties.a"] == {"null": 1}
    assert kind.types()["properties.l"] == {"array": 2} and kind.types()["properties.l[]"] == {"number": 1, "string": 1}
    assert "messageId" not in kind.present() and kind.present()["properties"] == 2


def test_bad_input_is_a_clear_error(make_capture: Any, tmp_path: Path) -> None:
    """Missing sides, a query on a file that is not a database, runs, stray options and bad queries."""
    db = str(make_capture("c", [order("u1", JS, "1")]))
    missing = segdbg("diff", "--schema", "nope.db", db)
    assert missing.exit_code == 2 and "FILE#QUERY or give --db" in missing.output
    plain = tmp_path / "x.jsonl"
    plain.write_bytes(orjson.dumps(order("u1", JS, "1")))
    sliced = segdbg("diff", "--schema", f"{plain}#lib:analytics.js", db)
    assert sliced.exit_code == 2 and "slices a segdbg database" in sliced.output
    runs = segdbg("diff", "--schema", "--db", db, "run:prev", "run:last")
    assert runs.exit_code == 2 and "not replay runs" in runs.output
    for option in ("--tolerance", "--volume-tolerance", "--sample"):
        stray = segdbg("diff", db, db, option, "3")
        assert stray.exit_code == 2 and "--schema only" in stray.output
    bad = segdbg("diff", "--schema", "--db", db, "lib:", "lib:analytics.js")
    assert bad.exit_code == 2 and "bad query" in bad.output
    gone = segdbg("diff", "--schema", f"{tmp_path / 'none.db'}#lib:x", db)
    assert gone.exit_code == 2 and "no such file" in gone.output


def test_paths_of_arrays_nesting_ignore_and_depth() -> None:
    """Arrays of arrays and objects, an ignored subtree, and nothing deeper than MAX_DEPTH segments."""
    message = {
        "context": {"ip": "1.2.3.4", "library": {"name": "x"}},
        "properties": {"grid": [[1, "a"], []], "items": [{"sku": "a"}, {"sku": 2, "tags": []}, 3]},
    }
    assert paths_of(message, NOISE | {"context.library"}) == {
        ("context", "object"),
        ("properties", "object"),
        ("properties.grid", "array"),
        ("properties.grid[]", "array"),
        ("properties.grid[][]", "number"),
        ("properties.grid[][]", "string"),
        ("properties.items", "array"),
        ("properties.items[]", "object"),
        ("properties.items[]", "number"),
        ("properties.items[].sku", "string"),
        ("properties.items[].sku", "number"),
        ("properties.items[].tags", "array"),
    }
    deep: dict[str, Any] = {"v": 1}
    for _ in range(MAX_DEPTH + 3):
        deep = {"d": deep}
    longest = max(len(path.split(".")) for path, _ in paths_of(deep))
    assert longest == MAX_DEPTH


def test_real_analytics_python_client_two_builds(server: ServerThread) -> None:
    """Two app builds sending through segment-analytics-python: build 1.3 drops currency and adds an event."""
    errors: list[Any] = []
    client = SegmentClient("wk_py", host=server.url, on_error=lambda e, batch: errors.append(e), sync_mode=True)
    for version in ("1.2", "1.3"):
        for n in range(4):
            properties: dict[str, Any] = {"total": 30 + n, "currency": "USD"}
            if version == "1.3":
                del properties["currency"]
                client.track(user_id=f"u{n}", event="Review Requested", context={"app": {"version": version}})
            client.track(
                user_id=f"u{n}", event="Order Completed", properties=properties, context={"app": {"version": version}}
            )
    client.flush()
    assert errors == []
    db = str(server.settings.db)
    result = segdbg("diff", "--schema", "--db", db, "context.app.version:1.2", "context.app.version:1.3")
    assert result.exit_code == 3, result.output
    assert 'New in B:\n  + track "Review Requested"  (4)' in result.output
    line = next(x for x in result.output.splitlines() if "properties.currency" in x)
    assert line.split()[0] == "!" and "presence 100% → 0%" in line
    assert "properties.total" not in result.output  # sent by both builds, a number in both


def test_problems_and_rejected_requests(server: ServerThread) -> None:
    """Only accepted events by default; with --all an invalid event is profiled, a rejected request never is."""
    batch = [order("u1", JS, "1"), {"type": "track", "event": "Broken", "properties": {}}]  # Broken: no ids
    assert http(f"{server.url}/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200
    assert http(f"{server.url}/v1/batch", body=b"{not json", headers={"Content-Type": "application/json"}).status == 400
    db = str(server.settings.db)
    ok = orjson.loads(segdbg("diff", "--schema", db, db, "--format", "json").output)
    assert ok["total_a"] == 1 and [e["key"] for e in ok["events"]] == ['track "Order Completed"']
    result = segdbg("diff", "--schema", "--all", "--db", db, "status:ok", "status:invalid,rejected", "--format", "json")
    document = orjson.loads(result.output)
    assert result.exit_code == 3
    assert document["new"] == [['track "Broken"', 1]] and document["gone"] == [['track "Order Completed"', 1]]
    assert document["total_b"] == 1  # the rejected request is not an event


def test_hash_query_reads_the_default_capture(make_capture: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`#QUERY` slices the default capture ($SEGDBG_DB, as every command finds it); sides are named in the header."""
    db = make_capture("c", release_capture())
    monkeypatch.setenv("SEGDBG_DB", str(db))
    result = segdbg(
        "diff", "--schema", "#lib:analytics-ios context.app.version:1.2", "#lib:analytics-ios context.app.version:1.3"
    )
    assert result.exit_code == 3, result.output
    assert result.output.startswith(
        f"A: {db}#lib:analytics-ios context.app.version:1.2 (20 events)   "
        f"B: {db}#lib:analytics-ios context.app.version:1.3 (20 events)"
    )


def test_an_events_changes_list_failures_first_then_the_biggest_move() -> None:
    """Within one event: paths beyond chance first, then by how far they moved, then by path."""
    a, b = SchemaProfile(), SchemaProfile()
    for n in range(400):
        a.add({"type": "track", "event": "E", "userId": f"u{n}", "properties": {"x": 1, "y": 1, "z": 1, "w": 1}})
        moved = {"x": 1} if n % 2 else {}  # x: 100% → 50%, y and z: gone (100% → 0%), w: 100% → 99.5%
        b.add({"type": "track", "event": "E", "userId": f"u{n}", "properties": {**moved, "w": 1} if n else moved})
    (event,) = compare_profiles(a, b).events
    assert [(c.path, c.delta, c.beyond) for c in event.paths] == [
        ("properties.y", 100.0, True),
        ("properties.z", 100.0, True),
        ("properties.x", 50.0, True),
        ("properties.w", 0.2, False),
    ]
