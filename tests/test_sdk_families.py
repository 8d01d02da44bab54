"""Segment-compatible SDK families beyond Segment's own libraries (docs/protocol.md §2, §1.5): what
they send that Segment's libraries do not, answered so that each delivers unmodified.

Real clients where the machine has them (customerio-cdp-analytics from PyPI, @rudderstack/rudder-sdk-node
from tests/node), raw HTTP for the shapes only a browser SDK sends."""

from __future__ import annotations

import json
import subprocess

import pytest
from customerio.analytics.client import Client as CustomerioClient

from debugger.server.app import ServerThread
from tests.helpers import ROOT, basic, events, http, requests_rows

TRACK = {"type": "track", "userId": "u1", "event": "Signed Up"}
NODE_CLIENTS = ROOT / "tests" / "node"


def test_the_query_strings_write_key_is_read_when_the_request_carries_no_other(server: ServerThread) -> None:
    """`?writeKey=K` on any ingest route is the key of a request with none in its Authorization
    header, body or messages; a key of its own wins over it."""
    assert http(f"{server.url}/v1/batch?writeKey=from-query", body={"batch": [TRACK]}).status == 200
    assert http(f"{server.url}/v1/track?writeKey=from-query", body={"userId": "u", "event": "Single"}).status == 200
    assert http(f"{server.url}/v1/track?writeKey=ignored", body={**TRACK, "writeKey": "from-body"}).status == 200
    assert (
        http(f"{server.url}/v1/track?writeKey=ignored", body=TRACK, headers={"Authorization": basic("basic")}).status
        == 200
    )
    assert [e["write_key"] for e in events(server.settings.db)] == ["from-query", "from-query", "from-body", "basic"]


def test_rudderstacks_beacon_batch_is_accepted_as_text_plain_with_the_key_in_the_query(server: ServerThread) -> None:
    """RudderStack v3 with sendBeacon: `POST /beacon/v1/batch?writeKey=K`, text/plain, no Authorization."""
    body = json.dumps({"batch": [TRACK, {**TRACK, "event": "Second"}], "sentAt": "2024-05-01T12:00:00.000Z"})
    reply = http(f"{server.url}/beacon/v1/batch?writeKey=rudder-web", body=body, headers={"Content-Type": "text/plain"})
    assert (reply.status, reply.json()) == (200, {"success": True})
    stored = events(server.settings.db)
    assert [(e["name"], e["write_key"]) for e in stored] == [("Signed Up", "rudder-web"), ("Second", "rudder-web")]
    assert requests_rows(server.settings.db)[0]["kind"] == "batch"


def test_a_bearer_token_alone_is_the_write_key(server: ServerThread) -> None:
    """Customer.io's CDP libraries send `Authorization: Bearer <key>` and no key anywhere else."""
    reply = http(f"{server.url}/v1/batch", body={"batch": [TRACK]}, headers={"Authorization": "Bearer pk_us_abc"})
    assert reply.status == 200
    assert [e["write_key"] for e in events(server.settings.db)] == ["pk_us_abc"]
    stored_auth = dict(requests_rows(server.settings.db)[0]["headers"])["Authorization"]
    assert stored_auth == "Bearer ••••••"  # the header stays masked; the key names the source


def test_no_key_anywhere_is_still_refused(server: ServerThread) -> None:
    """Neither Basic, body, message, query nor Bearer: 400 invalid_write_key, as before."""
    reply = http(f"{server.url}/v1/batch", body={"batch": [TRACK]}, headers={"Authorization": "Bearer "})
    assert (reply.status, reply.json()["code"]) == (400, "invalid_write_key")


def test_rudderstacks_source_config_is_answered_so_its_browser_sdks_start(server: ServerThread) -> None:
    """RudderStack's browser SDKs GET /sourceConfig (after a CORS preflight) and send nothing until
    it loads: the answer is an enabled source with an id, a config object and no destinations."""
    origin = {"Origin": "http://localhost:3000"}
    preflight = http(
        f"{server.url}/sourceConfig/?p=npm&v=3.7.0&build=modern&writeKey=rs-key",
        "OPTIONS",
        headers={**origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status == 204 and preflight.headers["access-control-allow-origin"] == origin["Origin"]
    reply = http(
        f"{server.url}/sourceConfig/?p=npm&v=3.7.0&build=modern&writeKey=rs-key",
        "GET",
        headers={**origin, "Authorization": basic("rs-key")},
    )
    assert reply.status == 200 and reply.headers["access-control-allow-origin"] == origin["Origin"]
    source = reply.json()["source"]
    assert source["writeKey"] == "rs-key" and source["enabled"] is True and source["id"]
    assert isinstance(source["config"], dict) and source["destinations"] == []
    v1 = http(f"{server.url}/sourceConfig?p=cdn&v=1.1.18&writeKey=rs-old", "GET").json()["source"]
    assert v1["writeKey"] == "rs-old"
    assert [(r["kind"], r["write_key"]) for r in requests_rows(server.settings.db)] == [
        ("source_config", "rs-key"),
        ("source_config", "rs-old"),
    ]


@pytest.mark.slow
def test_customerio_cdp_python_delivers_with_its_bearer_key(server: ServerThread) -> None:
    """The real customerio-cdp-analytics client with a Customer.io API key (Bearer only) sends to
    segdbg unmodified: every call stored once under that key, with no error and no retry."""
    errors: list[Exception] = []
    client = CustomerioClient(
        "pk_us_segdbgtest", host=server.url, sync_mode=True, max_retries=0, on_error=lambda e, _b: errors.append(e)
    )
    client.identify("u-cio", {"email": "ada@example.com"})
    client.track("u-cio", "Order Completed", {"total": 30})
    client.page("u-cio", "Docs", "Intro", {"path": "/docs"})
    assert errors == []
    stored = events(server.settings.db)
    assert [(e["type"], e["name"], e["write_key"]) for e in stored] == [
        ("identify", None, "pk_us_segdbgtest"),
        ("track", "Order Completed", "pk_us_segdbgtest"),
        ("page", "Intro", "pk_us_segdbgtest"),
    ]
    assert all(e["status"] == "ok" for e in stored)
    assert {dict(r["headers"])["Authorization"] for r in requests_rows(server.settings.db)} == {"Bearer ••••••"}


@pytest.mark.slow
def test_rudderstack_node_delivers_unmodified(server: ServerThread) -> None:
    """The real @rudderstack/rudder-sdk-node (gzip, its own content type) delivers every call."""
    assert (NODE_CLIENTS / "node_modules" / "@rudderstack" / "rudder-sdk-node").is_dir(), (
        "the real JavaScript clients are missing: run `npm ci --prefix tests/node` (the README's test command does)"
    )
    ran = subprocess.run(
        ["node", str(NODE_CLIENTS / "run_rudder.js"), server.url, "rudder-node-key"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0 and json.loads(ran.stdout) == {"errors": []}, ran.stdout + ran.stderr
    stored = events(server.settings.db)
    assert [(e["type"], e["name"], e["write_key"], e["status"]) for e in stored] == [
        ("identify", None, "rudder-node-key", "ok"),
        ("track", "Order Completed", "rudder-node-key", "ok"),
        ("page", "Docs", "rudder-node-key", "ok"),
    ]
    assert stored[1]["stored"]["properties"] == {"total": 30, "currency": "USD"}
