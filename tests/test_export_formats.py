"""The export formats as a user's tools read them (pure core, no server): HAR entries a browser's
network panel or ``segdbg send`` replays, CSV rows a spreadsheet opens, curl commands a shell runs,
and the message ``send`` re-sends. Each test pins the exact shape, field by field."""

from __future__ import annotations

import gzip
import json
import shlex
from typing import Any

import orjson

from debugger.core.pretty.export import (
    CSV_COLUMNS,
    HAR_SUFFIX,
    csv_row,
    curl_command,
    export_record,
    har_entry,
    har_prefix,
    har_request_entry,
    is_export_record,
    resend_body,
    resend_message,
    safe_json,
)

BASE = "http://127.0.0.1:8088/"


def _event(id: int = 7, **changes: Any) -> dict[str, Any]:
    """An event row as the store's reads return it."""
    raw = {"type": "track", "event": "Order Completed", "userId": "u1", "sentAt": "2026-12-06T10:00:01Z"}
    event: dict[str, Any] = {
        "id": id,
        "received_at": "2026-12-06T10:00:02.000Z",
        "timestamp": "2026-12-06T10:00:00.000Z",
        "status": "ok",
        "type": "track",
        "name": "Order Completed",
        "user_id": "u1",
        "anonymous_id": None,
        "message_id": "m-1",
        "write_key": "wk",
        "library_name": "analytics-python",
        "library_version": "2.3.3",
        "duplicate_of": None,
        "request_id": 3,
        "pinned": 0,
        "problems": [],
        "raw": raw,
        "stored": {**raw, "timestamp": "2026-12-06T10:00:00.000Z", "properties": {"total": 5}},
    }
    event.update(changes)
    return event


def _request(**changes: Any) -> dict[str, Any]:
    """A ``requests`` row as the store's reads return it."""
    request: dict[str, Any] = {
        "id": 3,
        "received_at": "2026-12-06T10:00:02.000Z",
        "method": "POST",
        "path": "/v1/batch",
        "query_string": "",
        "headers": [["Host", "127.0.0.1:9000"], ["Content-Length", "120"], ["Authorization", "Basic ***"]],
        "kind": "batch",
        "content_type": "application/json",
        "content_encoding": None,
        "status": 200,
        "code": None,
        "message": None,
        "body": None,
    }
    request.update(changes)
    return request


def test_resend_message_restores_what_the_request_carried_elsewhere_and_drops_sent_at() -> None:
    record = _event(raw={"event": "Signed Up", "sentAt": "2026-12-06T10:00:01Z"}, type="track", write_key="wk")
    assert resend_message(record) == {
        "event": "Signed Up",
        "timestamp": "2026-12-06T10:00:00.000Z",  # stamped on arrival: that time is kept
        "type": "track",  # came from the route
        "writeKey": "wk",  # came from the Authorization header
    }
    # What the message carried itself wins; an originalTimestamp means the server did not stamp one.
    own = {"type": "page", "writeKey": "own", "originalTimestamp": "2026-01-01T00:00:00Z"}
    assert resend_message(_event(raw=own, type="track", write_key="wk")) == own
    # A type the protocol does not know is not invented, nor is an empty write key.
    assert resend_message(_event(raw={"event": "x"}, type="rejected", write_key="", stored={})) == {"event": "x"}
    # A rejected request's raw body may be anything: it is sent back as it came.
    assert resend_message(_event(raw=[1, 2])) == [1, 2]
    assert resend_body(_event(raw="text")) == b'{"batch":["text"]}'


def test_export_records_are_recognised_and_carry_every_column() -> None:
    record = export_record(_event(pinned=1))
    assert record["pinned"] is True and record["library"] == "analytics-python" and record["request_id"] == 3
    assert set(record) == {
        "id", "received_at", "status", "type", "name", "user_id", "anonymous_id", "message_id", "write_key",
        "library", "duplicate_of", "request_id", "pinned", "problems", "raw", "stored",
    }  # fmt: skip
    assert is_export_record(record)
    for key in ("raw", "stored", "received_at"):
        assert not is_export_record({k: v for k, v in record.items() if k != key})
    assert not is_export_record([record])
    assert export_record({k: v for k, v in _event().items() if k != "pinned"})["pinned"] is False


def test_csv_row_defuses_every_formula_start_but_not_the_id() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        row = dict(zip(CSV_COLUMNS, csv_row(_event(id=-1, name=f"{start}SUM(A1)")), strict=True))
        assert row["name"] == f"'{start}SUM(A1)"
        assert row["id"] == "-1"
    row = dict(zip(CSV_COLUMNS, csv_row(_event(name="Plain =name")), strict=True))
    assert row["name"] == "Plain =name"


def test_csv_row_columns_problems_and_json_parts() -> None:
    event = _event(
        problems=[{"code": "missing_user"}, {"code": "bad_time"}, {}],
        stored={"properties": {"note": "a\u202eb"}, "context": {}, "traits": None},
    )
    row = dict(zip(CSV_COLUMNS, csv_row(event), strict=True))
    assert row == {
        "id": "7",
        "received_at": "2026-12-06T10:00:02.000Z",
        "timestamp": "2026-12-06T10:00:00.000Z",
        "status": "ok",
        "type": "track",
        "name": "Order Completed",
        "user_id": "u1",
        "anonymous_id": "",
        "message_id": "m-1",
        "write_key": "wk",
        "library_name": "analytics-python",
        "library_version": "2.3.3",
        "problems": "missing_user;bad_time;",
        "properties": '{"note":"a\\u202eb"}',  # a bidi override never reaches the terminal raw
        "traits": "",
        "context": "{}",
    }
    assert csv_row(_event(problems=None, name="x\x85y"))[CSV_COLUMNS.index("problems")] == ""
    assert csv_row(_event(name="x\x85y"))[CSV_COLUMNS.index("name")] == "x\\u0085y"


def test_curl_command_re_sends_the_event_to_the_batch_route() -> None:
    event = _event(raw={"type": "track", "event": "It's"}, write_key=None, stored={})
    command = curl_command(event, BASE)
    words = shlex.split(command)
    assert words == [
        "curl",
        "-sS",
        "http://127.0.0.1:8088/v1/batch",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        '{"batch":[{"type":"track","event":"It\'s"}]}',
    ]


def test_har_entry_for_an_event_without_its_request() -> None:
    body = '{"batch":[{"type":"track","event":"Order Completed","userId":"u1","timestamp":"2026-12-06T10:00:00.000Z","writeKey":"wk"}]}'
    assert har_entry(_event(problems=[{"code": "c"}]), BASE) == {
        "startedDateTime": "2026-12-06T10:00:02.000Z",
        "time": 0,
        "request": {
            "method": "POST",
            "url": "http://127.0.0.1:8088/v1/batch",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "queryString": [],
            "postData": {"mimeType": "application/json", "text": body},
            "headersSize": -1,
            "bodySize": len(body),
        },
        "response": {
            "status": 200,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"size": 16, "mimeType": "application/json", "text": '{"success":true}'},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 16,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "comment": "segdbg event #7",
        "_segdbg": {"id": 7, "status": "ok", "problems": [{"code": "c"}]},
    }
    assert har_entry(_event(problems=None), BASE)["_segdbg"]["problems"] == []


def test_har_request_entry_rebuilds_an_accepted_batch_where_it_arrived() -> None:
    events = [
        _event(7),
        _event(8, raw={"type": "identify", "userId": "u2"}, stored={}, status="invalid", problems=[{"code": "p"}]),
        _event(9, raw="junk", status="rejected"),
    ]
    entry = har_request_entry(_request(query_string="a=1"), events, BASE)
    text = (
        '{"batch":[{"type":"track","event":"Order Completed","userId":"u1","timestamp":"2026-12-06T10:00:00.000Z","writeKey":"wk"},'
        '{"type":"identify","userId":"u2","writeKey":"wk"}]}'
    )
    assert entry["request"] == {
        "method": "POST",
        "url": "http://127.0.0.1:9000/v1/batch?a=1",  # the Host it was sent to
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        # The wire's Content-Length would be wrong for the rebuilt body; the masked key stays masked.
        "headers": [{"name": "Host", "value": "127.0.0.1:9000"}, {"name": "Authorization", "value": "Basic ***"}],
        "queryString": [],
        "headersSize": -1,
        "bodySize": len(text),
        "postData": {"mimeType": "application/json", "text": text},
    }
    assert entry["response"]["status"] == 200 and entry["response"]["content"]["text"] == '{"success":true}'
    assert entry["comment"] == (
        "segdbg request #3: the body rebuilt from the stored messages (accepted bodies are not kept)"
    )
    assert entry["_segdbg"] == {
        "request_id": 3,
        "code": None,
        "events": [
            {"id": 7, "status": "ok", "problems": []},
            {"id": 8, "status": "invalid", "problems": [{"code": "p"}]},
            {"id": 9, "status": "rejected", "problems": []},
        ],
    }
    assert entry["startedDateTime"] == "2026-12-06T10:00:02.000Z" and entry["time"] == 0


def test_har_request_entry_for_a_single_message_route_sends_the_message_itself() -> None:
    request = _request(path="/v1/track", kind="message", content_type="application/json; charset=utf-8")
    entry = har_request_entry(request, [_event()], BASE)
    assert entry["request"]["postData"] == {
        "mimeType": "application/json; charset=utf-8",
        "text": '{"type":"track","event":"Order Completed","userId":"u1","timestamp":"2026-12-06T10:00:00.000Z","writeKey":"wk"}',
    }
    # Two events on a message route (cannot happen, but) or a batch route with one: a batch.
    assert entry["request"]["url"] == "http://127.0.0.1:9000/v1/track"
    one_batch = har_request_entry(_request(), [_event()], BASE)["request"]["postData"]["text"]
    assert one_batch.startswith('{"batch":[')
    # Only rejected events: nothing to rebuild, no body.
    empty = har_request_entry(_request(content_type=None), [_event(raw="x", status="rejected")], BASE)
    assert "postData" not in empty["request"] and empty["request"]["bodySize"] == 0


def test_har_request_entry_keeps_a_rejected_body_inflated_and_the_error_answer() -> None:
    sent = b'{"batch": [oops'
    request = _request(
        headers=[["Host", "localhost:1"], ["Content-Encoding", "gzip"], ["Transfer-Encoding", "chunked"], ["X", "y"]],
        content_encoding="gzip",
        content_type=None,
        body=gzip.compress(sent),
        status=400,
        code="invalid_json",
        message="Invalid JSON: unexpected character.",
    )
    entry = har_request_entry(request, [_event(raw=None, status="rejected")], BASE)
    assert entry["request"]["postData"] == {"mimeType": "application/json", "text": sent.decode()}
    assert entry["request"]["bodySize"] == len(sent)
    assert entry["request"]["headers"] == [{"name": "Host", "value": "localhost:1"}, {"name": "X", "value": "y"}]
    assert entry["request"]["url"] == "http://localhost:1/v1/batch"
    answer = '{"success":false,"code":"invalid_json","message":"Invalid JSON: unexpected character."}'
    assert entry["response"]["status"] == 400 and entry["response"]["statusText"] == "Bad Request"
    assert entry["response"]["content"] == {"size": len(answer), "mimeType": "application/json", "text": answer}
    assert entry["response"]["bodySize"] == len(answer)
    assert entry["comment"] == "segdbg request #3: the body as received"
    assert entry["_segdbg"]["code"] == "invalid_json"


def test_har_request_entry_keeps_a_body_that_does_not_inflate_as_it_came() -> None:
    request = _request(
        headers=[["Content-Encoding", "gzip"], ["Content-Length", "4"]],
        content_encoding="gzip",
        body=b"ab\xffc",
        status=400,
        code="invalid_encoding",
        message=None,
    )
    entry = har_request_entry(request, [], BASE)
    # Not inflated: the headers still describe the body, which is shown with U+FFFD for bad bytes.
    assert entry["request"]["headers"] == [
        {"name": "Content-Encoding", "value": "gzip"},
        {"name": "Content-Length", "value": "4"},
    ]
    assert entry["request"]["postData"]["text"] == "ab\ufffdc"
    assert entry["request"]["url"] == "http://127.0.0.1:8088/v1/batch"  # no Host: where segdbg listens
    assert json.loads(entry["response"]["content"]["text"])["message"] == ""
    # A plain body (no encoding) is kept with its headers too.
    plain = har_request_entry(_request(body=b"{}", headers=[["Content-Length", "2"]]), [], BASE)["request"]
    assert plain["headers"] == [{"name": "Content-Length", "value": "2"}] and plain["postData"]["text"] == "{}"


def test_har_request_entry_refuses_a_host_header_that_is_not_a_host() -> None:
    for host in ("evil.example/path", "a b", "x@y", "[::1]:99999x", ""):
        entry = har_request_entry(_request(headers=[["host", host]]), [_event()], BASE)
        assert entry["request"]["url"] == "http://127.0.0.1:8088/v1/batch", host
    for host, root in (("[::1]:8088", "http://[::1]:8088"), ("Example.COM", "http://Example.COM")):
        entry = har_request_entry(_request(headers=[["HOST", host]]), [_event()], BASE)
        assert entry["request"]["url"] == f"{root}/v1/batch"


def test_har_request_entry_answers_as_segdbg_did() -> None:
    pixel = _request(method="GET", path="/v1/pixel/track", query_string="data=e30", headers=[])
    entry = har_request_entry(pixel, [_event()], BASE)
    assert "postData" not in entry["request"] and entry["request"]["bodySize"] == 0
    assert entry["response"]["headers"] == [] and entry["response"]["content"]["text"] == ""
    assert entry["response"]["bodySize"] == 0 and entry["comment"] == "segdbg request #3"
    expected = {413: "Payload Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large"}
    expected |= {404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 503: ""}
    for status, reason in expected.items():
        entry = har_request_entry(_request(status=status, code="c", message="m"), [], BASE)
        assert (entry["response"]["status"], entry["response"]["statusText"]) == (status, reason)
    # A 4xx without a code (not segdbg's own answer) and a row without a status read as a plain 200.
    assert har_request_entry(_request(status=404), [], BASE)["response"]["content"]["text"] == '{"success":true}'
    assert har_request_entry(_request(status=None, method=None), [], BASE)["response"]["status"] == 200
    assert har_request_entry(_request(method=None, path=None), [], BASE)["request"]["method"] == "POST"
    assert har_request_entry(_request(path=None), [], BASE)["request"]["url"] == "http://127.0.0.1:9000/"


def test_a_har_document_parses_with_its_entries() -> None:
    entries = [har_entry(_event(1), BASE), har_entry(_event(2), BASE)]
    document = har_prefix("1.2.3") + b",".join(safe_json(e) for e in entries) + HAR_SUFFIX
    parsed = orjson.loads(document)
    assert parsed["log"]["version"] == "1.2"
    assert parsed["log"]["creator"] == {"name": "segdbg", "version": "1.2.3"}
    assert [e["comment"] for e in parsed["log"]["entries"]] == ["segdbg event #1", "segdbg event #2"]


def test_safe_json_escapes_only_what_a_terminal_would_act_on() -> None:
    value = {"k": "a\u2028b\u200fc\x7fd\x9fe\u2066é😀"}
    text = safe_json(value)
    assert text == b'{"k":"a\\u2028b\\u200fc\\u007fd\\u009fe\\u2066\xc3\xa9\xf0\x9f\x98\x80"}'
    assert orjson.loads(text) == value
