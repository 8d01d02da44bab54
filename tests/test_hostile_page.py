"""A hostile web page against a real server: the requests a browser sends on its behalf.

Each scenario is the exact header set a browser attaches to a page's request (``Origin``,
``Sec-Fetch-Site``/``-Mode``/``-Dest``, the content types of "simple" requests, OPTIONS
preflights) and, for DNS rebinding, the attacker's name in ``Host``. None may read captured
data (no ``Access-Control-Allow-Origin`` on the answer, no data in its body) or delete
anything (the capture is checked afterwards); ingest from a browser origin keeps working.
``test_browser.py`` runs the same page in real headless Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import Response, basic, events, http, requests_rows

SECRET = "Secret-7c1e"
EVIL = "http://evil.example"
#: Every route that reads or deletes captured data, and one unknown API path.
READS = [
    "/debugger/api/events",
    "/debugger/api/events/1",
    "/debugger/api/stats",
    "/debugger/api/schema",
    "/debugger/api/wait?timeout=0",
    "/debugger/api/nope",
    "/healthz",
]
RESET = "/debugger/api/reset"


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[ServerThread]:
    """A real server holding one captured event with a secret in it."""
    with ServerThread(Settings(db=tmp_path / "victim.db", port=0)) as running:
        answer = http(
            running.url + "/v1/track",
            body={"writeKey": "wk", "userId": "u1", "event": SECRET, "properties": {"card": SECRET}},
        )
        assert answer.status == 200
        yield running


def cross_site(mode: str = "cors", dest: str = "empty", origin: str | None = EVIL) -> dict[str, str]:
    """Headers Chromium/Firefox add to a request a page on ``origin`` makes to another site."""
    headers = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": mode,
        "Sec-Fetch-Dest": dest,
        "User-Agent": "Mozilla/5.0 (hostile page)",
    }
    if origin is not None:
        headers["Origin"] = origin
    return headers


def assert_unreadable(answer: Response, what: str) -> None:
    """The browser would hide this answer from the page, and it carries nothing captured anyway."""
    assert "access-control-allow-origin" not in answer.headers, what
    assert "access-control-allow-credentials" not in answer.headers, what
    assert SECRET.encode() not in answer.body, what
    assert b'"events"' not in answer.body and b'"requests"' not in answer.body, what
    assert answer.status in (403, 415), (what, answer.status, answer.body)


def assert_nothing_deleted(server: ServerThread) -> None:
    """The secret event is still in the capture."""
    assert [e["name"] for e in events(server.settings.db)] == [SECRET]


READ_SCENARIOS = {
    # fetch(url) from https://evil.example: a CORS GET, no preflight.
    "cors fetch": cross_site(),
    # fetch(url, {mode: "no-cors"}), <img src>, <script src>: no Origin on a GET, opaque answer.
    "no-cors fetch": cross_site("no-cors", origin=None),
    "script tag": cross_site("no-cors", "script", origin=None),
    "img tag": cross_site("no-cors", "image", origin=None),
    # a dev server on localhost:3000 is same-site with localhost:8088, but another origin.
    "same-site page": {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"},
    # a browser too old to send Sec-Fetch-*: Origin alone still gives it away.
    "old browser cors": {"Origin": EVIL},
    # an <iframe src> or link the user is tricked into: a navigation from another site.
    "cross-site navigation": cross_site("navigate", "iframe", origin=None),
}


@pytest.mark.parametrize("scenario", READ_SCENARIOS)
def test_a_page_on_another_origin_cannot_read_any_route(victim: ServerThread, scenario: str) -> None:
    """Cross-origin GETs to every API route and /healthz: 403, no CORS headers, no captured data."""
    for path in READS:
        answer = http(victim.url + path, "GET", headers=READ_SCENARIOS[scenario])
        assert_unreadable(answer, f"{scenario} {path}")
        assert answer.headers.get("x-content-type-options") == "nosniff"
        assert answer.headers.get("cross-origin-resource-policy") == "same-origin"


def test_preflights_to_the_api_are_never_granted(victim: ServerThread) -> None:
    """OPTIONS preflights (JSON POST to reset, GET with a custom header) get no Allow-Origin: the browser stops there."""
    for path, method, asked in (
        (RESET, "POST", "content-type"),
        (READS[0], "GET", "authorization"),
        (READS[2], "GET", "x-anything"),
    ):
        preflight = http(
            victim.url + path,
            "OPTIONS",
            headers={
                **cross_site(),
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": asked,
                "Access-Control-Request-Private-Network": "true",
            },
        )
        assert_unreadable(preflight, f"preflight {path}")
        assert not any(h.startswith("access-control-") for h in preflight.headers), preflight.headers
    assert_nothing_deleted(victim)


RESET_SCENARIOS: dict[str, tuple[dict[str, str], bytes]] = {
    # fetch(reset, {method: "POST", body: "{}"}): text/plain keeps it "simple", no preflight.
    "simple fetch": ({**cross_site(), "Content-Type": "text/plain;charset=UTF-8"}, b"{}"),
    "no-cors fetch": ({**cross_site("no-cors"), "Content-Type": "text/plain;charset=UTF-8"}, b"{}"),
    # navigator.sendBeacon(reset, "{}")
    "sendBeacon": ({**cross_site("no-cors"), "Content-Type": "text/plain;charset=UTF-8"}, b"{}"),
    # <form method=post action=reset> auto-submitted, in each of the three form encodings.
    "form urlencoded": (
        {**cross_site("navigate", "document"), "Content-Type": "application/x-www-form-urlencoded"},
        b"a=1",
    ),
    "form multipart": (
        {**cross_site("navigate", "document"), "Content-Type": "multipart/form-data; boundary=x"},
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
    ),
    "form text/plain": ({**cross_site("navigate", "document"), "Content-Type": "text/plain"}, b'{"a":"=1"}'),
    # The JSON POST a failed preflight would have allowed, sent anyway (a buggy or old browser).
    "json after preflight": ({**cross_site(), "Content-Type": "application/json"}, b"{}"),
    "same-site json": (
        {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site", "Content-Type": "application/json"},
        b"{}",
    ),
    "old browser json": ({"Origin": EVIL, "Content-Type": "application/json"}, b"{}"),
}


@pytest.mark.parametrize("scenario", RESET_SCENARIOS)
def test_a_page_on_another_origin_cannot_reset(victim: ServerThread, scenario: str) -> None:
    """Every way a page can POST to reset without a granted preflight: refused, and nothing is deleted."""
    headers, body = RESET_SCENARIOS[scenario]
    answer = http(victim.url + RESET, body=body, headers=headers)
    assert_unreadable(answer, scenario)
    assert_nothing_deleted(victim)


def test_state_changes_need_post_with_a_json_content_type(victim: ServerThread) -> None:
    """Same-origin but not JSON (what a form could send), or not POST: reset refuses and deletes nothing."""
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        answer = http(victim.url + RESET, body=b"{}", headers={"Content-Type": content_type} if content_type else {})
        assert answer.status == 415 and answer.json()["code"] == "json_required", content_type
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        answer = http(
            victim.url + RESET,
            method,
            body=b"{}" if method != "GET" else None,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status in (404, 405) and "access-control-allow-origin" not in answer.headers, method
    assert_nothing_deleted(victim)
    same_origin = http(
        victim.url + RESET,
        body=b"{}",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Origin": victim.url,
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert same_origin.status == 200 and same_origin.json()["deleted"] == 1


def test_dns_rebinding_cannot_read_or_reset(victim: ServerThread) -> None:
    """evil.example re-resolved to 127.0.0.1: the browser thinks it is same-origin, the Host header gives it away."""
    port = victim.port
    for host in (
        f"evil.example:{port}",
        "evil.example",
        f"127.0.0.1.evil.example:{port}",
        f"localhost.evil.example:{port}",
        f"192.168.1.5:{port}",
    ):
        rebinding = {"Host": host, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
        for path in READS:
            answer = http(victim.url + path, "GET", headers=rebinding)
            assert_unreadable(answer, f"{host} {path}")
            if path != "/debugger/api/nope":
                assert answer.json()["code"] == "forbidden_host", (host, path)
        answer = http(
            victim.url + RESET,
            body=b"{}",
            headers={**rebinding, "Origin": f"http://{host}", "Content-Type": "application/json"},
        )
        assert_unreadable(answer, f"{host} reset")
    assert_nothing_deleted(victim)


def test_the_ingest_routes_serve_any_browser_origin(victim: ServerThread) -> None:
    """analytics.js on any origin: preflight granted, the event stored, the answer readable (CORS on ingest only)."""
    origin = "https://shop.example"
    preflight = http(
        victim.url + "/v1/t",
        "OPTIONS",
        headers={
            **cross_site(origin=origin),
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-headers"] == "authorization,content-type,x-retry-count"
    answer = http(
        victim.url + "/v1/t",
        body={"userId": "u2", "event": "From A Page"},
        headers={**cross_site(origin=origin), "Content-Type": "text/plain", "Authorization": basic("wk")},
    )
    assert answer.status == 200 and answer.json() == {"success": True}
    assert answer.headers["access-control-allow-origin"] == origin
    assert [e["name"] for e in events(victim.settings.db)] == [SECRET, "From A Page"]
    recorded = dict(requests_rows(victim.settings.db)[-1]["headers"])
    assert recorded["Origin"] == origin and recorded["Authorization"] == "Basic ••••••"


def test_nothing_under_the_ingest_routes_reads_the_capture(victim: ServerThread) -> None:
    """Every other route a page may call with CORS (home, settings, pixel, unknown) answers without captured data."""
    for path in (
        "/",
        "/v1/projects/wk/settings",
        "/v1/pixel/track?data=e30",
        "/v1/events",
        "/v1/batch",
        "/debugger",
        "/debugger/api",
        "//debugger/api/events",
        "/debugger/api/../api/events",
        "/debugger/%61pi/events",
        "/DEBUGGER/API/events",
    ):
        answer = http(victim.url + path, "GET", headers=cross_site())
        assert SECRET.encode() not in answer.body, path
        assert answer.status < 500, path
