"""The HTTP debugger API of docs/ci.md on a real server: reads, search, long-polls, reset, and its same-origin guard."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from debugger.server.addresses import host_allowed
from debugger.server.app import ServerThread
from tests.helpers import Response, http

API = "/debugger/api"


def send(server: ServerThread, *messages: dict[str, Any]) -> None:
    """Deliver messages in one batch, as a client library would."""
    answer = http(server.url + "/v1/batch", body={"writeKey": "wk_test", "batch": list(messages)})
    assert answer.status == 200, answer.body


def get(server: ServerThread, path: str, **headers: str) -> Response:
    """GET an API path; fails on non-JSON answers."""
    return http(server.url + API + path, "GET", headers=headers)


def track(event: str, user: str = "u1", **properties: Any) -> dict[str, Any]:
    """A track message."""
    return {"type": "track", "event": event, "userId": user, "properties": properties}


def test_events_lists_searches_and_pages(server: ServerThread) -> None:
    """GET events returns export records oldest first, filtered by q, paged with after/limit/next_after."""
    send(
        server,
        track("Order Completed", total=120),
        track("Order Completed", total=5),
        track("Signed Up"),
        {"type": "track", "event": "No ids"},
    )
    everything = get(server, "/events").json()
    assert [e["name"] for e in everything["events"]] == ["Order Completed", "Order Completed", "Signed Up"]
    assert get(server, "/events?all=1").json()["events"][-1]["status"] == "invalid"
    found = get(server, "/events?q=" + quote('event:"Order Completed" properties.total:>100')).json()
    assert [e["stored"]["properties"]["total"] for e in found["events"]] == [120]
    page = get(server, "/events?limit=2").json()
    assert len(page["events"]) == 2 and page["next_after"] == page["events"][-1]["id"]
    rest = get(server, f"/events?after={page['next_after']}").json()
    assert [e["name"] for e in rest["events"]] == ["Signed Up"]
    assert rest["next_after"] == 4  # everything up to the newest row was looked at, invalid one included
    newest = get(server, "/events?limit=1&newest=1").json()
    assert [e["name"] for e in newest["events"]] == ["Signed Up"]


def test_events_long_poll_returns_when_a_match_arrives(server: ServerThread) -> None:
    """?wait=S holds the request until a matching event is committed, then answers at once."""
    send(server, track("Before"))
    cursor = get(server, "/events").json()["next_after"]
    answers: list[Response] = []
    poll = threading.Thread(target=lambda: answers.append(get(server, f"/events?after={cursor}&wait=20&q=event:Later")))
    started = time.monotonic()
    poll.start()
    send(server, track("Noise"))
    send(server, track("Later"))
    poll.join(25)
    assert time.monotonic() - started < 10
    assert [e["name"] for e in answers[0].json()["events"]] == ["Later"]


def test_bad_queries_and_parameters_are_400_with_the_offending_term(server: ServerThread) -> None:
    """A malformed q answers 400 invalid_query with the term's offsets; bad numbers are 400 too."""
    answer = get(server, "/events?q=" + quote("type:track tpye:page"))
    assert answer.status == 400
    assert answer.json()["code"] == "invalid_query" and (answer.json()["start"], answer.json()["end"]) == (11, 15)
    assert get(server, "/events?limit=abc").status == 400
    assert get(server, "/events?limit=0").status == 400
    assert get(server, "/wait?timeout=nan").status == 400
    assert get(server, "/wait?count=1&none=1").json()["code"] == "invalid_parameter"


def test_one_event_with_its_request(server: ServerThread) -> None:
    """GET events/{id} gives the event and the HTTP request that carried it, auth masked; unknown ids are 404."""
    answer = http(server.url + "/v1/track", body=track("Viewed"), headers={"Authorization": "Basic d2tfc2VjcmV0Og=="})
    assert answer.status == 200
    event = get(server, "/events/1").json()
    assert event["name"] == "Viewed" and event["request"]["path"] == "/v1/track"
    assert "d2tfc2VjcmV0Og" not in str(event["request"]["headers"])
    assert get(server, "/events/999").status == 404
    assert get(server, "/events/abc").status == 404


def test_stats_and_schema(server: ServerThread) -> None:
    """stats counts by type/status/source/library; schema lists events with their property types."""
    send(
        server,
        track("Order Completed", total=1),
        track("Order Completed", total="2"),
        {"type": "identify", "userId": "u", "traits": {"email": "a@b.c"}},
    )
    data = get(server, "/stats").json()
    assert data["events"] == 3 and data["by_type"] == {"track": 2, "identify": 1}
    assert data["sources"][0]["write_key"] == "wk_test" and data["last_minute"]["events"] == 3
    schema = get(server, "/schema").json()["events"]
    order = next(e for e in schema if e["name"] == "Order Completed")
    assert order["count"] == 2 and order["fields"]["properties.total"] == {"number": 1, "string": 1}


def test_wait_long_polls_until_the_condition_holds(server: ServerThread) -> None:
    """wait answers ok as soon as enough matching events are committed, without the caller sleeping."""
    results: list[dict[str, Any]] = []
    waiter = threading.Thread(
        target=lambda: results.append(get(server, "/wait?q=event:Paid&at_least=2&timeout=20").json())
    )
    waiter.start()
    send(server, track("Paid"))
    send(server, track("Paid"))
    waiter.join(25)
    assert results[0]["ok"] is True and results[0]["count"] == 2
    assert results[0]["seconds"] < 10
    assert [e["name"] for e in results[0]["events"]] == ["Paid", "Paid"]


def test_wait_fails_with_the_closest_events(server: ServerThread) -> None:
    """On timeout wait says ok:false and shows near misses with the terms they fail."""
    send(
        server,
        track("Order Completed", total=50),
        {"type": "track", "event": "Order Completed", "properties": {"total": 500}},
    )
    result = get(server, "/wait?timeout=0.2&q=" + quote('event:"Order Completed" properties.total:>100')).json()
    assert result["ok"] is False and result["count"] == 0
    failed = [c["failed"] for c in result["closest"]]
    assert ["status:ok"] in failed  # the invalid one (no ids) had the right total
    assert ["properties.total:>100"] in failed


def test_wait_for_an_exact_count_fails_at_once_when_exceeded(server: ServerThread) -> None:
    """count=N cannot come true once more than N matched, so wait answers without waiting the timeout."""
    send(server, track("Twice"), track("Twice"))
    started = time.monotonic()
    result = get(server, "/wait?q=event:Twice&count=1&timeout=30").json()
    assert time.monotonic() - started < 5
    assert result["ok"] is False and result["count"] == 2 and len(result["events"]) == 2
    assert get(server, "/wait?q=event:Twice&none=1&timeout=0").json()["ok"] is False
    assert get(server, "/wait?q=event:Never&none=1&timeout=0").json()["ok"] is True


def test_reset_deletes_everything_and_ids_carry_on(server: ServerThread) -> None:
    """POST reset (JSON) empties the capture; the next event gets a higher id than any before."""
    send(server, track("A"), track("B"))
    answer = http(server.url + API + "/reset", body=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status == 200 and answer.json() == {"success": True, "deleted": 2}
    assert get(server, "/events?all=1").json()["events"] == []
    send(server, track("C"))
    assert [e["id"] for e in get(server, "/events").json()["events"]] == [3]


@pytest.mark.parametrize("path", ["/events", "/events/1", "/stats", "/schema", "/wait?timeout=0"])
def test_foreign_host_headers_are_refused(server: ServerThread, path: str) -> None:
    """DNS rebinding: a request whose Host is not this machine gets 403 and no data."""
    send(server, track("Secret"))
    answer = get(server, path, Host="evil.example:8088")
    assert answer.status == 403 and b"Secret" not in answer.body
    assert "access-control-allow-origin" not in answer.headers


def test_cross_origin_pages_cannot_read_or_reset(server: ServerThread) -> None:
    """No CORS on the API: a foreign Origin or Sec-Fetch-Site is refused; preflights get no allow headers."""
    send(server, track("Secret"))
    read = get(server, "/events", Origin="http://evil.example")
    assert read.status == 403 and "access-control-allow-origin" not in read.headers
    assert get(server, "/events", **{"Sec-Fetch-Site": "cross-site"}).status == 403
    assert get(server, "/events", **{"Sec-Fetch-Site": "same-site"}).status == 403  # localhost:3000 → :8088
    preflight = http(
        server.url + API + "/reset",
        "OPTIONS",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status >= 400 and "access-control-allow-origin" not in preflight.headers
    simple = http(server.url + API + "/reset", body=b"{}", headers={"Content-Type": "text/plain"})
    assert simple.status == 415
    form = http(
        server.url + API + "/reset",
        body=b"{}",
        headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
    )
    assert form.status == 403
    assert [e["name"] for e in get(server, "/events").json()["events"]] == ["Secret"]
    same = get(server, "/events", Origin=server.url)
    assert same.status == 200 and "access-control-allow-origin" not in same.headers
    ingest = http(
        server.url + "/v1/track",
        "OPTIONS",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert ingest.headers.get("access-control-allow-origin") == "http://localhost:3000"  # ingest keeps its CORS


def test_unknown_api_paths_never_fall_through_to_ingest(server: ServerThread) -> None:
    """Any other method or path under /debugger/api/ is answered by the API (404), without CORS, storing nothing."""
    for method in ("GET", "POST", "PUT", "DELETE"):
        answer = http(server.url + API + "/nope", method, body=b"{}" if method != "GET" else None)
        assert answer.status == 404 and "access-control-allow-origin" not in answer.headers
    assert get(server, "/stats").json()["requests"] == 0


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("POST", "/events", "GET"), ("DELETE", "/events/3", "GET"), ("GET", "/reset", "POST"), ("PUT", "/wait", "GET")],
)
def test_a_known_api_path_asked_with_another_method_is_405_with_allow(
    server: ServerThread, method: str, path: str, allow: str
) -> None:
    """The right path with the wrong method says which method it takes (405 and Allow), not that the path is unknown."""
    headers = {"Content-Type": "application/json"} if method != "GET" else {}
    answer = http(server.url + API + path, method, body=b"{}" if method != "GET" else None, headers=headers)
    assert (answer.status, answer.headers["allow"], answer.json()["code"]) == (405, allow, "method_not_allowed")
    assert f"use {allow}" in answer.json()["message"]
    assert get(server, "/stats").json()["events"] == 0  # nothing was reset or stored


@pytest.mark.parametrize(
    ("host", "configured", "allowed"),
    [
        ("127.0.0.1:8088", "127.0.0.1", True),
        ("localhost:8088", "127.0.0.1", True),
        ("LOCALHOST.", "127.0.0.1", True),
        ("[::1]:8088", "::1", True),
        ("127.0.0.2", "127.0.0.1", True),
        ("app.localhost:8088", "127.0.0.1", True),
        ("192.168.1.20:8088", "192.168.1.20", True),  # the host the server was told to bind
        ("192.168.1.20:8088", "0.0.0.0", False),
        ("evil.example", "127.0.0.1", False),
        ("127.0.0.1.evil.example", "127.0.0.1", False),
        ("", "127.0.0.1", False),
        (None, "127.0.0.1", False),
    ],
)
def test_host_allowed(host: str | None, configured: str, allowed: bool) -> None:
    """Loopback names, *.localhost and the configured host pass; anything else is refused."""
    assert host_allowed(host, configured) is allowed


def test_another_machine_may_send_but_not_read(server: ServerThread) -> None:
    """`serve --host 0.0.0.0 --allow-remote` lets a phone send; the API still answers only this machine.

    A peer on another machine cannot connect here (network is loopback only), so the guard is
    given a request as aiohttp builds it for such a peer: ``request.remote`` is the address the
    connection came from, not a header a program could forge. This machine is still answered.
    """
    from aiohttp.test_utils import make_mocked_request

    from debugger.server.api import refusal
    from debugger.server.keys import settings_key

    app = web.Application()
    app[settings_key] = server.settings
    for peer, refused in (("192.168.1.23", True), ("10.0.0.5", True), ("127.0.0.1", False), ("::1", False)):
        request = make_mocked_request("GET", API + "/stats", headers={"Host": "localhost:8088"}, app=app)
        answer = refusal(request.clone(remote=peer))
        if refused:
            assert answer is not None and answer.status == 403 and b"remote_peer" in answer.body
        else:
            assert answer is None
    assert get(server, "/stats").status == 200  # over a real loopback connection
