"""Fuzzing the running server (Hypothesis): random methods, paths, headers, encodings and bodies.

Over real HTTP to a real server: never a 5xx, never a dropped connection, and the server is a
thin shell over the pure core, so the pure core on the same request is the oracle: the same
status, a ``requests`` row exactly when the core records one, and as many stored events as
the core built. ``bench/fuzz.py`` runs the same generator for longer against ``segdbg serve``.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yarl
from hypothesis import HealthCheck, given, settings

from debugger.core.http import model, wire
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import http
from tests.strategies import fuzz_batches, fuzz_messages, fuzz_requests

pytestmark = pytest.mark.slow

#: Methods aiohttp's parser (llhttp) knows; any other is its plain 400, before segdbg sees it.
PARSER_METHODS = frozenset(
    {
        "DELETE",
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "OPTIONS",
        "TRACE",
        "COPY",
        "LOCK",
        "MKCOL",
        "MOVE",
        "PROPFIND",
        "PROPPATCH",
        "SEARCH",
        "UNLOCK",
        "BIND",
        "REBIND",
        "UNBIND",
        "ACL",
        "REPORT",
        "MKACTIVITY",
        "CHECKOUT",
        "MERGE",
        "M-SEARCH",
        "NOTIFY",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "PATCH",
        "PURGE",
        "MKCALENDAR",
        "LINK",
        "UNLINK",
        "SOURCE",
        "QUERY",
    }
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One real server for every example (a server per example would be most of the run time)."""
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with ServerThread(Settings(db=db, port=0)) as running:
        yield running


def counts(db: Path) -> tuple[int, int]:
    """Rows in ``requests`` and ``events``."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM events)").fetchone()  # type: ignore[no-any-return]
    finally:
        conn.close()


def reaches_ingest(method: str, path: str) -> bool:
    """Whether aiohttp routes this to the ingest catch-all (not the debugger API or /healthz)."""
    bare = path.split("?", 1)[0]
    return not (bare.startswith("/debugger/api/") or (bare == "/healthz" and method in ("GET", "HEAD")))


def oracle(request: dict[str, Any]) -> model.Outcome:
    """The pure core's answer to the same request, as the server would hand it over."""
    url = yarl.URL.build(
        path=request["path"].split("?", 1)[0], query_string=request["path"].partition("?")[2], encoded=True
    )
    body = request["body"] or b"" if request["method"] in ("POST", "PUT", "PATCH") else b""
    counter = itertools.count()
    incoming = model.IncomingRequest(
        method=request["method"],
        path=url.path,
        query_string=url.query_string,
        query=tuple(url.query.items()),
        headers=tuple(request["headers"]),
        body=body,
        remote="127.0.0.1",
    )
    return wire.handle(incoming, received_at=datetime.now(UTC), new_id=lambda: f"id-{next(counter)}")


def check(url: str, db: Path, request: dict[str, Any]) -> None:
    """Send one fuzzed request to the server at ``url`` writing ``db``, and hold it to the invariants."""
    before = counts(db)
    try:
        answer = http(
            url + request["path"],
            request["method"],
            body=request["body"],
            headers=request["headers"],
            chunked=request["chunked"] and request["body"] is not None,
        )
    except (BrokenPipeError, ConnectionResetError):
        # The parser refused the request line and hung up while the body was still being sent.
        assert request["method"] not in PARSER_METHODS, request
        assert counts(db) == before, request
        return
    assert answer.status < 500, (request, answer.status, answer.body[:300])
    requests_added, events_added = (a - b for a, b in zip(counts(db), before, strict=True))
    if request["method"] not in PARSER_METHODS:
        assert (answer.status, requests_added, events_added) == (400, 0, 0), request
        return
    if not reaches_ingest(request["method"], request["path"]):
        if request["path"] == "/debugger/api/reset" and answer.status == 200:
            return  # a same-origin JSON POST: the one request allowed to delete
        assert (requests_added, events_added) == (0, 0), request
        return
    if "." in request["path"].split("?", 1)[0] or "%" in request["path"].split("?", 1)[0]:
        assert requests_added in (0, 1), request  # aiohttp normalises these paths: no exact oracle
        return
    expected = oracle(request)
    assert answer.status == expected.reply.status, (request, answer.body[:300], expected.reply.body[:300])
    assert requests_added == (1 if expected.record is not None else 0), request
    assert events_added == len(expected.events), request
    if answer.status >= 400 and request["method"] != "HEAD":
        error = answer.json()
        assert error["success"] is False and error["code"] and error["message"], (request, error)


@given(request=fuzz_requests())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_fuzzed_requests_never_5xx_and_are_recorded_as_the_core_says(
    fuzzed: ServerThread, request: dict[str, Any]
) -> None:
    """Random requests over real HTTP: no 5xx, same status as the pure core, every recordable request recorded."""
    check(fuzzed.url, fuzzed.settings.db, request)


@given(message=fuzz_messages)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_fuzzed_messages_are_stored_or_rejected_whole(fuzzed: ServerThread, message: dict[str, Any]) -> None:
    """Any message to /v1/track: one event stored (ok, invalid or duplicate) or a 400, never lost in between."""
    import json

    check(
        fuzzed.url,
        fuzzed.settings.db,
        {
            "method": "POST",
            "path": "/v1/track",
            "headers": [("Authorization", "Basic d2s6")],
            "body": json.dumps(message).encode(),
            "chunked": False,
        },
    )


@given(batch=fuzz_batches)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_fuzzed_batches_store_one_event_per_item(fuzzed: ServerThread, batch: dict[str, Any]) -> None:
    """Any batch: one event per item when accepted, nothing half-stored when refused."""
    import json

    check(
        fuzzed.url,
        fuzzed.settings.db,
        {
            "method": "POST",
            "path": "/v1/batch",
            "headers": [("Content-Type", "text/plain")],
            "body": json.dumps(batch).encode(),
            "chunked": True,
        },
    )


# --------------------------------------------------------------------------- what the fuzzer found


def test_a_header_that_is_not_utf8_is_stored_not_a_503(server: ServerThread) -> None:
    """Found by fuzzing: a latin-1 byte in a header reached SQLite as a lone surrogate and failed the write (503
    forever, since clients retry). Now it is stored as U+FFFD, and an Origin like that is echoed safely."""
    import socket

    body = b'{"writeKey":"wk","userId":"u","event":"Latin 1"}'
    raw = (
        b"POST /v1/track HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\nOrigin: http://b\xfccher.example\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    from tests.helpers import events, requests_rows

    headers = dict(requests_rows(server.settings.db)[0]["headers"])
    assert headers["X-Name"] == "caf\ufffd" and headers["Origin"] == "http://b\ufffdcher.example"
    assert [e["name"] for e in events(server.settings.db)] == ["Latin 1"]


def test_one_unstorable_job_does_not_fail_its_commit_group(tmp_path: Path) -> None:
    """Found by fuzzing: one bad row failed the whole group commit, answering 503 to every request in it.
    Now the group is retried job by job: only the bad one fails."""
    from debugger.store import writer
    from debugger.store.capture import StoreError

    def record(value: str) -> model.RequestRecord:
        return model.RequestRecord(
            "2024-05-01T12:00:00.000Z",
            "POST",
            "/v1/track",
            "",
            "127.0.0.1",
            [["X", value]],
            "message",
            None,
            None,
            None,
            2,
            2,
            200,
            None,
            None,
            None,
        )

    writer = writer.EventWriter(tmp_path / "group.db")
    futures = [writer.submit(record(v), ()) for v in ("fine", "\udc80", "also fine")]  # queued: one group at start
    writer.start()
    try:
        assert futures[0].result(10).request_id is not None and futures[2].result(10).request_id is not None
        with pytest.raises(StoreError):
            futures[1].result(10)
    finally:
        writer.close()


def test_big_integers_next_to_a_lone_surrogate_are_stored_not_a_503(server: ServerThread) -> None:
    """Found by fuzzing: a lone surrogate sends the body through the lenient parser, which kept integers beyond
    64 bits that orjson cannot write back (503 forever). Numbers now read as orjson reads them."""
    from tests.helpers import events

    body = b'{"writeKey":"wk","userId":"\\ud800","event":"Big","properties":{"n":-9223372036854775809,"m":18446744073709551615}}'
    answer = http(server.url + "/v1/track", body=body)
    assert answer.status == 200, answer.body
    [event] = events(server.settings.db)
    assert event["stored"]["properties"] == {"n": -9.223372036854776e18, "m": 18446744073709551615}
    assert event["user_id"] == "\ufffd" and [p["code"] for p in event["problems"]] == ["invalid_unicode"]
    infinite = http(server.url + "/v1/track", body=b'{"writeKey":"wk","userId":"\\ud800","event":"Inf","n":1e400}')
    assert infinite.status == 400 and infinite.json()["code"] == "invalid_json"
