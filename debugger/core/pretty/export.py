"""Pure export formats for stored events: records, CSV rows, curl commands and HAR entries.

Every format can be sent back: ``segdbg send`` reads jsonl/json exports and HAR files and
re-sends :func:`resend_message` of each event. Output is safe to print: JSON text never
carries C1 controls, bidi overrides or line separators raw (they are ``\\u`` escaped, which
leaves the JSON value unchanged).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from debugger.core.http.bodies import RequestError, inflate
from debugger.core.http.limits import KEPT_BODY_LIMIT
from debugger.core.protocol import ORIGINAL_TIMESTAMP, SENT_AT, TIMESTAMP, TYPE, TYPES, WRITE_KEY, json_object

CSV_COLUMNS = (
    "id",
    "received_at",
    "timestamp",
    "status",
    "type",
    "name",
    "user_id",
    "anonymous_id",
    "message_id",
    "write_key",
    "library_name",
    "library_version",
    "problems",
    "properties",
    "traits",
    "context",
)
# Characters that are valid inside JSON strings but unsafe on a terminal or in an editor.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Cells a spreadsheet would run as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_json(value: Any) -> bytes:
    """``orjson.dumps(value)`` with terminal-unsafe characters written as ``\\uXXXX`` escapes."""
    text = orjson.dumps(value).decode()
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def export_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """The exported form of an event: columns, problems, raw and stored."""
    return {
        "id": event["id"],
        "received_at": event["received_at"],
        "status": event["status"],
        "type": event["type"],
        "name": event["name"],
        "user_id": event["user_id"],
        "anonymous_id": event["anonymous_id"],
        "message_id": event["message_id"],
        "write_key": event["write_key"],
        "library": event["library_name"],
        "duplicate_of": event["duplicate_of"],
        "request_id": event["request_id"],
        "pinned": bool(event.get("pinned", False)),
        "problems": event["problems"],
        "raw": event["raw"],
        "stored": event["stored"],
    }


def is_export_record(value: object) -> bool:
    """Whether a JSON value is a record written by :func:`export_record`."""
    return isinstance(value, dict) and "raw" in value and "stored" in value and "received_at" in value


def resend_message(record: Mapping[str, Any]) -> Any:
    """The message to send again for an event or export record.

    The message as received (``raw``), with its ``writeKey`` and ``type`` restored when the
    original request carried them elsewhere (header, route), and without its own ``sentAt``:
    the batch's fresh ``sentAt`` then makes the server keep the original ``timestamp``. A
    message that had no time of its own gets the one the server stamped on arrival.
    """
    raw = record.get("raw")
    if not isinstance(raw, dict):
        return raw
    message = {k: v for k, v in raw.items() if k != SENT_AT}
    stored = json_object(record.get("stored"))
    if TIMESTAMP not in message and ORIGINAL_TIMESTAMP not in message and stored.get(TIMESTAMP):
        message[TIMESTAMP] = stored[TIMESTAMP]  # the server stamped it on arrival: keep that time
    if TYPE not in message and record.get("type") in TYPES:
        message[TYPE] = record["type"]
    if WRITE_KEY not in message and record.get("write_key"):
        message[WRITE_KEY] = record["write_key"]
    return message


def resend_body(record: Mapping[str, Any]) -> bytes:
    """A ``/v1/batch`` body re-sending one event (no ``sentAt``: timestamps stay as they were)."""
    return b'{"batch":[' + safe_json(resend_message(record)) + b"]}"


def csv_row(event: Mapping[str, Any]) -> list[str]:
    """One CSV row in :data:`CSV_COLUMNS` order; text that a spreadsheet would evaluate is defused."""
    stored = json_object(event.get("stored"))
    cells: list[str] = []
    for column in CSV_COLUMNS:
        if column == "problems":
            value = ";".join(str(p.get("code", "")) for p in event.get("problems") or [])
        elif column in ("properties", "traits", "context"):
            part = stored.get(column)
            value = safe_json(part).decode() if part is not None else ""
        else:
            raw = event.get(column)
            value = "" if raw is None else str(raw)
            if column not in ("id",) and value.startswith(_FORMULA_START):
                value = "'" + value
        cells.append(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", value))
    return cells


def curl_command(event: Mapping[str, Any], base_url: str) -> str:
    """A shell command that re-sends the event to ``base_url`` (``/v1/batch``)."""
    url = base_url.rstrip("/") + "/v1/batch"
    body = resend_body(event).decode()
    return f"curl -sS {shlex.quote(url)} -H 'Content-Type: application/json' --data-binary {shlex.quote(body)}"


def har_entry(event: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A HAR 1.2 entry for the request that re-sends the event; ``_segdbg`` keeps id, status, problems."""
    body = resend_body(event).decode()
    answer = '{"success":true}'
    return {
        "startedDateTime": event["received_at"],
        "time": 0,
        "request": {
            "method": "POST",
            "url": base_url.rstrip("/") + "/v1/batch",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "queryString": [],
            "postData": {"mimeType": "application/json", "text": body},
            "headersSize": -1,
            "bodySize": len(body.encode()),
        },
        **_har_answer(200, answer),
        "comment": f"segdbg event #{event['id']}",
        "_segdbg": {"id": event["id"], "status": event["status"], "problems": event.get("problems") or []},
    }


#: Headers that describe the body as it was on the wire, left out when the entry's body is rebuilt.
_BODY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})


def har_request_entry(request: Mapping[str, Any], events: Sequence[Mapping[str, Any]], base_url: str) -> dict[str, Any]:
    """A HAR 1.2 entry for one received request (a ``requests`` row) and the events it brought.

    The URL is where it arrived (its ``Host`` header, else ``base_url``), with its method,
    path, query and headers (authorization masked as stored). The body is the one received
    when it was kept (a rejected request, inflated if it was gzip); otherwise it is rebuilt
    from the stored messages as :func:`resend_message` gives them (the write key restored in
    each, since the stored headers mask it), so ``segdbg send`` can replay the file. The
    response is the status and body segdbg answered.
    """
    headers = [(str(k), str(v)) for k, v in request.get("headers") or []]
    host = next((v for k, v in headers if k.lower() == "host"), None)
    root = f"http://{host}" if host and _HOST.fullmatch(host) else base_url.rstrip("/")
    query = request.get("query_string") or ""
    url = root + str(request.get("path") or "/") + (f"?{query}" if query else "")
    body = request.get("body")
    if isinstance(body, bytes | bytearray) and body:
        text, inflated = _body_text(bytes(body), request.get("content_encoding"))
        if inflated:
            headers = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
        note = "the body as received"
    elif request.get("method") == "POST" and events:
        messages = [resend_message(e) for e in events if e.get("status") != "rejected"]
        single = len(messages) == 1 and request.get("kind") == "message"
        text = safe_json(messages[0] if single else {"batch": messages}).decode() if messages else ""
        headers = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
        note = "the body rebuilt from the stored messages (accepted bodies are not kept)"
    else:
        text, note = "", ""
    status = int(request.get("status") or 200)
    code = request.get("code")
    answer = (
        safe_json({"success": False, "code": code, "message": request.get("message") or ""}).decode()
        if status >= 400 and code
        else '{"success":true}'
        if request.get("method") == "POST"
        else ""
    )
    entry: dict[str, Any] = {
        "startedDateTime": request["received_at"],
        "time": 0,
        "request": {
            "method": str(request.get("method") or "POST"),
            "url": url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": k, "value": v} for k, v in headers],
            "queryString": [],
            "headersSize": -1,
            "bodySize": len(text.encode()) if text else 0,
        },
        **_har_answer(status, answer),
        "comment": f"segdbg request #{request['id']}" + (f": {note}" if note else ""),
        "_segdbg": {
            "request_id": request["id"],
            "code": code,
            "events": [{"id": e["id"], "status": e["status"], "problems": e.get("problems") or []} for e in events],
        },
    }
    if text:
        content_type = request.get("content_type") or "application/json"
        entry["request"]["postData"] = {"mimeType": str(content_type), "text": text}
    return entry


def _har_answer(status: int, answer: str) -> dict[str, Any]:
    """A HAR entry's ``response`` (a JSON body, or none), ``cache`` and ``timings``."""
    return {
        "response": {
            "status": status,
            "statusText": _REASONS.get(status, ""),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": "Content-Type", "value": "application/json"}] if answer else [],
            "content": {"size": len(answer), "mimeType": "application/json", "text": answer},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(answer),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }


_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout"}
_REASONS |= {413: "Payload Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


def _body_text(body: bytes, encoding: str | None) -> tuple[str, bool]:
    """A kept body as text, inflated as the server inflates it when it can be (``True`` then)."""
    try:
        data = inflate(body, encoding, KEPT_BODY_LIMIT)
    except RequestError:
        data = body
    return data.decode("utf-8", "replace"), data is not body


def har_prefix(version: str) -> bytes:
    """The start of a HAR document; entries follow, comma-separated, then :data:`HAR_SUFFIX`."""
    creator = safe_json({"name": "segdbg", "version": version}).decode()
    return f'{{"log":{{"version":"1.2","creator":{creator},"entries":['.encode()


HAR_SUFFIX = b"\n]}}\n"
