"""What `segdbg send FILE` will POST, planned without a server (pure core): each file format's requests,
paths, bodies, batching and the lines it reports instead of sending (docs/capture.md, "send")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from debugger.core.inputs.payloads import REJECTED_RECORD, LineError, PlannedRequest, body_write_key, plan_file
from debugger.core.pretty.export import export_record, har_entry

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
SENT = b'"sentAt":"2026-12-06T10:00:00.000Z"'


def _plan(name: str, data: bytes | str, batch_size: int = 100) -> list[PlannedRequest | LineError]:
    return list(plan_file(name, data.encode() if isinstance(data, str) else data, now=NOW, batch_size=batch_size))


def _export(id: int, status: str = "ok", **raw: Any) -> dict[str, Any]:
    event = {
        "id": id, "received_at": "2026-12-06T09:00:00.000Z", "status": status, "type": "track", "name": "E",
        "user_id": "u", "anonymous_id": None, "message_id": f"m{id}", "write_key": "wk", "library_name": None,
        "duplicate_of": None, "request_id": 1, "problems": [], "raw": {"event": "E", **raw}, "stored": {},
    }  # fmt: skip
    return export_record(event)


def test_a_json_file_is_sent_verbatim_to_the_route_its_type_names() -> None:
    assert _plan("a.json", '{"type":"identify","userId":"u"}') == [
        PlannedRequest("/v1/identify", b'{"type":"identify","userId":"u"}', "a.json", 1)
    ]
    assert _plan("a.json", '{"event":"E"}')[0].path == "/v1/track"
    assert _plan("a.json", '{"type":"nonsense"}')[0].path == "/v1/track"
    assert _plan("a.json", '{"type":5}')[0].path == "/v1/track"
    batch = '{"batch":[{"event":"a"},{"event":"b"}],"sentAt":"x"}'
    assert _plan("b.JSON", batch) == [PlannedRequest("/v1/batch", batch.encode(), "b.JSON", 2)]
    assert _plan("b.json", '{"batch":"no"}') == [PlannedRequest("/v1/batch", b'{"batch":"no"}', "b.json", 0)]


def test_broken_json_is_sent_as_it_is_so_the_server_answers_it() -> None:
    assert _plan("bad.json", "{oops") == [
        PlannedRequest("/v1/track", b"{oops", "bad.json", 0, ("not valid JSON; sent as it is",))
    ]
    assert _plan("n.json", "42") == [
        PlannedRequest("/v1/track", b"42", "n.json", 1, ("not a JSON object; sent as it is",))
    ]
    # Bad UTF-8 is JSON still (the server repairs it): routed by its type, bytes unchanged.
    data = b'{"type":"page","name":"\xff"}'
    assert _plan("u.json", data) == [PlannedRequest("/v1/page", data, "u.json", 1)]


def test_a_json_array_is_batched_and_export_records_are_sent_as_received() -> None:
    data = orjson.dumps([{"event": "plain"}, _export(1, sentAt="old"), _export(2, status="rejected")])
    planned = _plan("export.json", data)
    assert planned[0] == LineError("export.json#2", REJECTED_RECORD)
    (request,) = planned[1:]
    assert isinstance(request, PlannedRequest)
    assert (request.path, request.origin, request.messages) == ("/v1/batch", "export.json", 2)
    assert request.body == b'{"batch":[{"event":"plain"},{"event":"E","type":"track","writeKey":"wk"}],' + SENT + b"}"
    # Only rejected records: nothing to send; an empty array is still sent (the server answers it).
    assert _plan("r.json", orjson.dumps([_export(3, status="rejected")])) == [LineError("r.json#0", REJECTED_RECORD)]
    assert _plan("e.json", "[]") == []


def test_json_lines_are_batched_with_a_fresh_sent_at() -> None:
    lines = '{"event":"a"}\n\n{"event":"b"}\n[1,\n{"batch":[{"event":"c"}]}\n{"event":"d"}\n'
    planned = _plan("x.jsonl", lines, batch_size=2)
    assert planned == [
        PlannedRequest("/v1/batch", b'{"batch":[{"event":"a"},{"event":"b"}],' + SENT + b"}", "x.jsonl:1-3", 2),
        LineError("x.jsonl:4", "not JSON (unexpected end of data); not sent"),
        PlannedRequest("/v1/batch", b'{"batch":[{"event":"c"}]}', "x.jsonl:5", 1),
        PlannedRequest("/v1/batch", b'{"batch":[{"event":"d"}],' + SENT + b"}", "x.jsonl:6-", 1),
    ]
    export = orjson.dumps(_export(1)) + b"\n" + orjson.dumps(_export(2, status="rejected"))
    assert _plan("y.NDJSON", export) == [
        LineError("y.NDJSON:2", REJECTED_RECORD),
        PlannedRequest(
            "/v1/batch", b'{"batch":[{"event":"E","type":"track","writeKey":"wk"}],' + SENT + b"}", "y.NDJSON:1-", 1
        ),
    ]
    assert _plan("z.jsonl", '{"batch":null}')[0].messages == 0  # type: ignore[union-attr]


def test_batches_stay_under_the_count_and_the_500_kb_limit() -> None:
    assert [r.messages for r in _plan("n.json", orjson.dumps([{"i": i} for i in range(5)]), batch_size=2)] == [2, 2, 1]  # type: ignore[union-attr]
    big = [{"p": "x" * 100_000} for _ in range(12)]
    planned = _plan("big.json", orjson.dumps(big))
    assert [r.messages for r in planned] == [5, 5, 2]  # type: ignore[union-attr]
    assert all(len(r.body) <= 500 * 1024 for r in planned)  # type: ignore[union-attr]
    # Exactly at the budget still fits; one byte more starts a new batch.
    overhead = len(orjson.dumps({"p": ""})) + 1
    exact = [{"p": "y" * (500 * 1024 - 200 - overhead)}, {"p": ""}]
    assert [r.messages for r in _plan("edge.json", orjson.dumps(exact))] == [1, 1]  # type: ignore[union-attr]
    fits = [{"p": "y" * (500 * 1024 - 200 - 2 * overhead)}, {"p": ""}]
    assert [r.messages for r in _plan("edge.json", orjson.dumps(fits))] == [2]  # type: ignore[union-attr]


def test_a_har_file_re_sends_each_post_to_a_v1_path_as_it_was_made() -> None:
    event = {
        "id": 4, "received_at": "t", "status": "ok", "problems": [], "type": "track", "write_key": "wk",
        "raw": {"event": "E"}, "stored": {},
    }  # fmt: skip
    entries = [
        har_entry(event, "http://127.0.0.1:8088"),
        {"request": {"method": "GET", "url": "http://h/v1/pixel/track?data=e30"}},
        {"request": {"method": "post", "url": "http://h/other", "postData": {"text": "{}"}}},
        {"request": {"method": "POST", "url": "http://h/v1/track", "postData": {"text": "not json"}}},
        {"request": {"method": "POST", "url": "http://h/v1/track"}},
        "junk",
        {"request": {"method": "post", "url": "https://api.segment.io/v1/t", "postData": {"text": '{"event":"x"}'}}},
    ]
    planned = _plan("capture.har", orjson.dumps({"log": {"entries": entries}}))
    assert planned == [
        PlannedRequest("/v1/batch", b'{"batch":[{"event":"E","type":"track","writeKey":"wk"}]}', "capture.har#0", 1),
        PlannedRequest("/v1/track", b"not json", "capture.har#3", 1),
        LineError("capture.har#4", "a POST without postData.text (was the HAR saved without content?); not sent"),
        PlannedRequest("/v1/t", b'{"event":"x"}', "capture.har#6", 1),
    ]
    assert _plan("h.json", '{"log":{"entries":{}}}') == [
        LineError("h.json", "a HAR file needs log.entries to be a list; nothing sent")
    ]
    # A JSON object with a `log` that has no entries is just a message.
    assert _plan("m.json", '{"log":{"x":1}}')[0].path == "/v1/track"  # type: ignore[union-attr]


def test_body_write_key_reads_the_envelope_then_the_first_item_with_one() -> None:
    assert body_write_key(b'{"writeKey":"env","batch":[{"writeKey":"item"}]}') == "env"
    assert body_write_key(b'{"batch":[{"event":"a"},{"writeKey":""},{"writeKey":"item"}]}') == "item"
    assert body_write_key(b'{"writeKey":"one"}') == "one"
    assert body_write_key(b'{"batch":"x"}') is None
    assert body_write_key(b'{"writeKey":5}') is None
    assert body_write_key(b"[]") is None and body_write_key(b"{oops") is None
    assert body_write_key(b'{"batch":[1,"a"]}') is None
