"""Resource bounds around the body on a real server: header sets, header lines, URLs, NUL bytes,
and clients that never finish their headers (slowloris) or flood the server with connections."""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from debugger.core.http import limits
from debugger.server.app import ServerThread
from debugger.server.keys import guard_key
from debugger.server.settings import Settings
from tests.helpers import basic, events, http, requests_rows

TRACK = {"writeKey": "wk", "userId": "u1", "event": "Signed Up"}


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[ServerThread]:
    """A server with short header deadlines and a small connection cap, so the bounds show quickly."""
    settings = Settings(db=tmp_path / "bounds.db", port=0, header_timeout=0.6, peer_connections=8, max_connections=12)
    with ServerThread(settings) as running:
        yield running


def connect(server: ServerThread) -> socket.socket:
    """A raw TCP connection to the server."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (reads hit EOF or a reset)."""
    sock.settimeout(within)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_a_big_localhost_cookie_is_accepted_and_masked(server: ServerThread) -> None:
    """A 20 KB Cookie (many localhost dev apps) is over aiohttp's default 8 KB: still a 200, stored, masked."""
    answer = http(server.url + "/v1/track", body=TRACK, headers={"Cookie": "session=" + "c" * 20_000})
    assert answer.status == 200
    assert [e["name"] for e in events(server.settings.db)] == ["Signed Up"]
    assert dict(requests_rows(server.settings.db)[0]["headers"])["Cookie"] == "••••••"


def test_too_many_headers_is_a_recorded_431(server: ServerThread) -> None:
    """200 headers: 431 headers_too_large in Segment's shape, with CORS; the record keeps a bounded copy."""
    headers = [("Origin", "http://localhost:3000")] + [(f"X-Filler-{i}", "v" * 2000) for i in range(199)]
    answer = http(server.url + "/v1/batch", body={"writeKey": "wk", "batch": [TRACK]}, headers=headers)
    assert answer.status == 431
    body = answer.json()
    assert body["success"] is False and body["code"] == "headers_too_large"
    assert (
        "202 headers" in body["message"]
    )  # with Host and Content-Length and f"{limits.MAX_HEADER_COUNT:,} headers" in body["message"]
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    [record] = requests_rows(server.settings.db)
    assert (record["status"], record["code"], record["body"]) == (431, "headers_too_large", None)
    [row] = events(server.settings.db)
    assert (row["status"], row["request_id"], row["problems"][0]["code"]) == ("rejected", 1, "headers_too_large")
    assert len(record["headers"]) == limits.KEPT_HEADERS
    assert max(len(v) for _, v in record["headers"]) <= limits.KEPT_VALUE_CHARS


def test_a_huge_header_set_under_the_count_is_a_431_too(server: ServerThread) -> None:
    """Few headers but 90 KB of them: 431, answered and recorded (each line is under the parser's limit)."""
    headers = {f"X-Big-{i}": "b" * 30_000 for i in range(3)}
    answer = http(server.url + "/v1/track", body=TRACK, headers=headers)
    assert answer.status == 431 and answer.json()["code"] == "headers_too_large"
    [record] = requests_rows(server.settings.db)
    assert record["status"] == 431 and all(len(v) <= limits.KEPT_VALUE_CHARS for _, v in record["headers"])


def test_a_pixel_url_with_a_whole_message_is_accepted(server: ServerThread) -> None:
    """A pixel GET whose base64 data is 20 KB (over aiohttp's default 8 KB line) is stored."""
    message = {**TRACK, "properties": {"blob": "p" * 15_000}}
    data = base64.urlsafe_b64encode(orjson.dumps(message)).decode().rstrip("=")
    answer = http(server.url + "/v1/pixel/track?data=" + data, "GET")
    assert answer.status == 200 and answer.body.startswith(b"GIF89a")
    [event] = events(server.settings.db)
    assert event["stored"]["properties"]["blob"] == "p" * 15_000


def test_a_too_long_url_is_a_recorded_414(server: ServerThread) -> None:
    """A 100 KB URL: 414 uri_too_long, recorded with the path and query cut to a bounded length."""
    answer = http(server.url + "/v1/pixel/track?data=" + "A" * 100_000, "GET")
    assert answer.status == 414 and answer.json()["code"] == "uri_too_long"
    [record] = requests_rows(server.settings.db)
    assert record["status"] == 414 and len(record["query_string"]) <= limits.KEPT_TARGET_CHARS


def test_beyond_the_parser_limits_is_a_plain_400_and_one_log_line(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """300 headers or a 100 KB header line: aiohttp refuses before segdbg sees it; one warning, no traceback; serving goes on."""
    caplog.set_level(logging.WARNING)
    assert http(server.url + "/v1/track", body=TRACK, headers=[(f"X-{i}", "v") for i in range(300)]).status == 400
    assert http(server.url + "/v1/track", body=TRACK, headers={"X-Long": "x" * 100_000}).status == 400
    refusals = [r for r in caplog.records if "refused a malformed request" in r.getMessage()]
    assert len(refusals) == 2 and all(r.exc_info is None for r in refusals)
    assert "from 127.0.0.1" in refusals[0].getMessage() and "Too many headers" in refusals[0].getMessage()
    assert http(server.url + "/v1/track", body=TRACK).status == 200


def test_nul_bytes(server: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    """A raw NUL in the body is invalid JSON (400, body kept); an escaped one is stored exactly; one in a header is refused."""
    raw = b'{"writeKey":"wk","userId":"u\x00","event":"E"}'
    answer = http(server.url + "/v1/track", body=raw)
    assert answer.status == 400 and answer.json()["code"] == "invalid_json"
    assert requests_rows(server.settings.db)[0]["body"] == raw
    escaped = b'{"writeKey":"wk","userId":"u\\u0000x","event":"Nul\\u0000Name","properties":{"k\\u0000":"v\\u0000"}}'
    assert http(server.url + "/v1/track", body=escaped).status == 200
    rejected, event = events(server.settings.db)
    assert (rejected["status"], rejected["raw"]) == ("rejected", raw.decode())
    assert (event["name"], event["user_id"]) == ("Nul\x00Name", "u\x00x")
    assert event["stored"]["properties"] == {"k\x00": "v\x00"}
    caplog.set_level(logging.WARNING)
    assert http(server.url + "/v1/track", body=TRACK, headers={"X-Nul": "a\x00b"}).status == 400
    assert any("Invalid header value char" in r.getMessage() for r in caplog.records)
    assert http(server.url + "/v1/track", body=TRACK, headers={"Authorization": basic("wk")}).status == 200


def test_headers_that_never_finish_are_cut_off(strict: ServerThread) -> None:
    """Slowloris on the headers: a byte every 100 ms never completes the request; closed after the header timeout."""
    with connect(strict) as idle, connect(strict) as trickle:
        trickle.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while time.monotonic() - started < 3:
            try:
                trickle.sendall(b"X")
            except OSError:
                break
            time.sleep(0.1)
        assert time.monotonic() - started < 2.5  # the server hung up well before 3 s
        assert closed_by_server(trickle, 1)
        assert closed_by_server(idle, 1)  # connected, never sent a byte


def test_a_connection_flood_cannot_lock_out_a_real_client(tmp_path: Path) -> None:
    """30 stalled connections from one address: the cap closes the oldest idle ones; a new client and a busy request still succeed."""
    settings = Settings(db=tmp_path / "flood.db", port=0, peer_connections=8)  # the header timeout stays long
    with ServerThread(settings) as strict:
        _flood(strict)


def _flood(strict: ServerThread) -> None:
    assert strict.app is not None
    guard = strict.app[guard_key]
    cap = strict.settings.peer_connections
    with contextlib.ExitStack() as stack:
        slow = stack.enter_context(connect(strict))
        body = orjson.dumps(TRACK)
        slow.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
        time.sleep(0.1)  # its handler is now reading the body: busy, never closed by the cap
        flood = [stack.enter_context(connect(strict)) for _ in range(30)]
        for sock in flood:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers begun, never finished
        deadline = time.monotonic() + 5
        while guard.closed < 30 + 1 - cap and time.monotonic() < deadline:  # accepts lag behind connects
            time.sleep(0.02)
        assert guard.closed == 30 + 1 - cap and guard.open_connections("127.0.0.1") == cap
        assert closed_by_server(flood[0], 1)  # the oldest went first
        assert http(strict.url + "/v1/track", body=TRACK).status == 200  # a real client gets in
        slow.sendall(body[5:])
        slow.settimeout(5)
        assert slow.recv(65536).startswith(b"HTTP/1.1 200")
    assert [e["name"] for e in events(strict.settings.db)] == ["Signed Up", "Signed Up"]


def test_connections_from_many_threads_within_the_cap_all_succeed(strict: ServerThread) -> None:
    """Below the cap nothing is closed: 6 clients sending in parallel all get their 200s."""
    results: list[int] = []

    def send() -> None:
        for _ in range(5):
            results.append(http(strict.url + "/v1/track", body=TRACK).status)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [200] * 30
