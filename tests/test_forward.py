"""`segdbg serve --forward` (docs/forward.md): accepted requests go on to a second local server after they are stored,
as they arrived, retried, filtered, and recorded as deliveries; the client's answer never waits for them."""

from __future__ import annotations

import asyncio
import base64
import gzip
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson
import pytest
from aiohttp import web
from segment.analytics.client import Client as SegmentClient
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from debugger.cli.child import ChildServer
from debugger.core.http.model import IncomingRequest
from debugger.core.query.language import parse
from debugger.core.replay.forward import plan_forward
from debugger.core.replay.planning import ReplayItem
from debugger.core.replay.retry import RetryPolicy
from debugger.replay.forward import ForwardConfig, Forwarder
from debugger.replay.forward_process import ForwardError, ForwardProcess
from debugger.server.app import make_app, start
from debugger.server.settings import Settings
from debugger.store import runs
from debugger.store.capture import connect
from debugger.store.reads import matching_ids
from debugger.tui.screens.deliveries import DeliveriesScreen
from tests.helpers import ServeProcess, basic, events, gz, http, run_segdbg


# ------------------------------------------------------------------------------------------ the second server
@dataclass
class Arrived:
    """One request the upstream received, exactly: method, path, query, headers in order, body bytes."""

    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Upstream:
    """A second aiohttp server on loopback: answers from a script (the last reply repeats), records everything,
    and holds its answers while ``gate`` is clear."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    arrivals: list[Arrived] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    probe: Callable[[], Any] | None = None  # run (in a thread) as each request arrives; results in ``probed``
    probed: list[Any] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.probe is not None:
            self.probed.append(await asyncio.to_thread(self.probe))
        self.arrivals.append(
            Arrived(
                request.method,
                request.path,
                request.query_string,
                [(k.decode(), v.decode()) for k, v in request.raw_headers],
                body,
                time.monotonic(),
            )
        )
        status, headers = self.script[min(len(self.arrivals), len(self.script)) - 1]
        await self.gate.wait()
        return web.Response(status=status, body=b'{"success":true}', headers=headers, content_type="application/json")


@asynccontextmanager
async def upstream(*script: tuple[int, dict[str, str]], open_gate: bool = True) -> AsyncIterator[Upstream]:
    """A running :class:`Upstream` on a free loopback port, on the test's loop."""
    target = Upstream(list(script) or [(200, {})])
    if open_gate:
        target.gate.set()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", target.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    target.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield target
    finally:
        target.gate.set()
        await runner.cleanup()


FAST = RetryPolicy(retries=3, backoff=0.05, timeout=5)


@asynccontextmanager
async def forwarding(
    db: Path, *targets: str, process: bool = False, **config: Any
) -> AsyncIterator[tuple[str, Forwarder]]:
    """segdbg's server on loopback with a forwarder wired to it; on exit the server stops, then the forwarder
    drains and finishes its runs. ``process``: as `segdbg serve --forward` wires it, in a process of its own."""
    config.setdefault("policy", FAST)
    settings = ForwardConfig(db=db, targets=targets, **config)
    forwarder: Any = ForwardProcess(settings) if process else Forwarder(settings)
    await forwarder.start()
    app = make_app(Settings(db=db, port=0), observer=forwarder.offer)
    runner, port = await start(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", forwarder
    finally:
        await runner.cleanup()
        await forwarder.close()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float]:
    """POST exactly these headers (aiohttp adds none it can skip) and bytes; status, body, seconds taken."""
    skip = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(url, data=body, headers=headers, skip_auto_headers=skip) as response,
    ):
        return response.status, await response.read(), time.perf_counter() - started


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Wait until ``condition()`` holds, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def deliveries(db: Path) -> list[dict[str, Any]]:
    """Every delivery of the capture's newest run."""
    with closing(connect(db)) as conn:
        run = runs.list_runs(conn)[0]
        return list(runs.iter_deliveries(conn, run["id"]))


def newest_run(db: Path) -> dict[str, Any]:
    """The capture's newest run."""
    with closing(connect(db)) as conn:
        return runs.list_runs(conn)[0]


def batch(*messages: dict[str, Any], **envelope: Any) -> bytes:
    """A /v1/batch body."""
    return orjson.dumps({**envelope, "batch": list(messages)})


# ------------------------------------------------------------------------------------------ over the wire
@pytest.mark.parametrize("process", [False, True], ids=["on-the-loop", "own-process"])
async def test_original_headers_and_body_arrive_after_commit(db_path: Path, process: bool) -> None:
    """A gzip batch arrives upstream byte for byte with its method, path, query and headers (hop-by-hop ones left
    out); it is already stored when it arrives, and recorded as one delivery per event; the same from the
    forwarding process `serve --forward` starts."""
    body = gz(batch({"type": "track", "userId": "u1", "event": "A"}, {"type": "page", "userId": "u1", "name": "P"}))
    headers = {
        "Authorization": basic("wk_dev"),
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "User-Agent": "analytics-python/2.3.4",
        "X-Custom": "kept",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "this connection only",
    }
    async with upstream() as up:
        up.probe = lambda: len(events(db_path))
        async with forwarding(db_path, up.url, process=process) as (url, _):
            status, answer, _ = await post(f"{url}/v1/batch?src=web", body, headers)
            assert (status, answer) == (200, b'{"success":true}')
            await until(lambda: len(up.arrivals) == 1)
    (arrived,) = up.arrivals
    assert (arrived.method, arrived.path, arrived.query_string) == ("POST", "/v1/batch", "src=web")
    assert arrived.body == body
    for name in ("Authorization", "Content-Type", "Content-Encoding", "User-Agent", "X-Custom"):
        assert arrived.header(name) == headers[name]
    assert arrived.header("X-Hop") is None and arrived.header("Connection") in (None, "keep-alive")
    assert up.probed == [2]  # after COMMIT
    rows = deliveries(db_path)
    assert [(d["type"], d["status"], d["http_status"], d["attempts"]) for d in rows] == [
        ("track", "delivered", 200, 1),
        ("page", "delivered", 200, 1),
    ]
    assert [d["event_id"] for d in rows] == [e["id"] for e in events(db_path)]
    run = newest_run(db_path)
    assert (run["kind"], run["target"], run["status"], run["delivered"], run["requests"]) == (
        "forward",
        up.url,
        "delivered",
        2,
        1,
    )


async def test_a_pixel_get_is_forwarded_as_a_get_with_its_data(db_path: Path) -> None:
    """A pixel GET goes upstream as a GET whose base64 data decodes to the same message, recorded as GET."""
    message = {"writeKey": "k", "userId": "u", "event": "Opened Email", "properties": {"n": "a+b/c"}}
    data = base64.b64encode(orjson.dumps(message)).decode()
    async with upstream() as up, forwarding(db_path, up.url) as (url, _):
        async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/pixel/track", params={"data": data}) as r:
            assert r.status == 200
        await until(lambda: len(up.arrivals) == 1)
    arrived = up.arrivals[0]
    assert (arrived.method, arrived.path, arrived.body) == ("GET", "/v1/pixel/track", b"")
    assert orjson.loads(base64.b64decode(parse_qs(arrived.query_string)["data"][0])) == message
    with closing(connect(db_path)) as conn:
        assert (runs.get_replay_request(conn, 1) or {}).get("method") == "GET"


async def test_forward_write_key_replaces_the_key_upstream(db_path: Path) -> None:
    """--forward-write-key puts the staging key in the Basic auth and the body's writeKey; the capture keeps the
    client's own key."""
    body = batch({"type": "track", "userId": "u", "event": "A", "writeKey": "wk_dev"}, writeKey="wk_dev")
    async with upstream() as up, forwarding(db_path, up.url, write_key="wk_staging") as (url, _):
        status, _, _ = await post(f"{url}/v1/batch", body, {"Authorization": basic("wk_dev")})
        assert status == 200
        await until(lambda: len(up.arrivals) == 1)
    arrived = up.arrivals[0]
    assert arrived.header("Authorization") == basic("wk_staging")
    sent = orjson.loads(arrived.body)
    assert sent["writeKey"] == "wk_staging" and sent["batch"][0]["writeKey"] == "wk_staging"
    assert b"wk_dev" not in arrived.body
    assert [e["write_key"] for e in events(db_path)] == ["wk_dev"]


async def test_retries_503_then_429_retry_after_then_delivered(db_path: Path) -> None:
    """503, then 429 with Retry-After: 1, then 200: three attempts, the second wait honours Retry-After, and the
    deliveries say delivered after 3 attempts with every attempt logged."""
    script = [(503, {}), (429, {"Retry-After": "1"}), (200, {})]
    async with upstream(*script) as up, forwarding(db_path, up.url) as (url, _):
        status, _, _ = await post(f"{url}/v1/track", b'{"userId":"u","event":"E"}', {"Authorization": basic("wk")})
        assert status == 200
        await until(lambda: len(up.arrivals) == 3)
    assert up.arrivals[2].at - up.arrivals[1].at >= 0.95  # Retry-After, not the 0.05 s backoff
    assert up.arrivals[0].body == up.arrivals[2].body
    (delivery,) = deliveries(db_path)
    assert (delivery["status"], delivery["http_status"], delivery["attempts"]) == ("delivered", 200, 3)
    with closing(connect(db_path)) as conn:
        request = runs.get_replay_request(conn, 1)
    assert request is not None
    assert [a["status"] for a in request["attempt_log"]] == [503, 429, 200]
    assert request["attempt_log"][1]["wait_s"] == 1
    assert newest_run(db_path)["retried"] == 1


async def test_the_forwarding_process_drains_on_stop_and_says_when_it_cannot_start(
    db_path: Path, tmp_path: Path
) -> None:
    """`serve --forward`'s process: requests handed over just before the stop are still forwarded (the pipe is
    drained, the runs finished, the results come back); a capture it cannot write stops it at start, with why."""
    async with upstream() as up:
        async with forwarding(db_path, up.url, process=True) as (url, forwarder):
            for n in range(20):
                body = orjson.dumps({"userId": "u", "event": f"E{n}"})
                status, _, _ = await post(f"{url}/v1/track", body, {"Authorization": basic("k")})
                assert status == 200
            assert [u.target for u in forwarder.upstreams] == [up.url]
        assert len(up.arrivals) == 20
    assert [d["status"] for d in deliveries(db_path)] == ["delivered"] * 20
    (tmp_path / "not-a-capture.db").write_text("this is not SQLite")
    broken = ForwardProcess(ForwardConfig(db=tmp_path / "not-a-capture.db", targets=("http://127.0.0.1:9",)))
    with pytest.raises(ForwardError, match="not a SQLite database"):
        await broken.start()


async def test_upstream_down_is_recorded_and_the_client_is_answered_at_once(db_path: Path) -> None:
    """Nothing listens upstream: the client still gets 200 at once, and each event is recorded as not delivered
    after the retries, with the reason; a slow upstream never delays the answer either."""
    async with upstream() as probe:
        down = probe.url  # closed when the block ends
    async with upstream(open_gate=False) as slow, forwarding(db_path, down, slow.url) as (url, forwarder):
        status, _, seconds = await post(f"{url}/v1/track", b'{"userId":"u","event":"E"}', {"Authorization": basic("k")})
        assert status == 200 and seconds < 1.0
        await until(lambda: len(slow.arrivals) == 1)
        assert not slow.gate.is_set()  # answered while the slow upstream still holds the forward
        slow.gate.set()
        down_upstream = forwarder.upstreams[0]
        await until(lambda: down_upstream.tally.done == 1)
    with closing(connect(db_path)) as conn:
        by_target = {r["target"]: r for r in runs.list_runs(conn)}
        failed = list(runs.iter_deliveries(conn, by_target[down]["id"]))
    assert by_target[down]["status"] == "failed" and by_target[slow.url]["status"] == "delivered"
    assert [(d["status"], d["attempts"], d["reason"]) for d in failed] == [("unreachable", 4, "connection refused")]
    assert failed[0]["sent"] == {"userId": "u", "event": "E"}  # You Sent is kept for what was not delivered


async def test_forward_only_keeps_other_sources_out_and_rebuilds_mixed_batches(db_path: Path) -> None:
    """--forward-only 'source:web-dev type:track': another key's request never goes; a batch where only some
    messages match goes rebuilt with its envelope and only those messages; non-matching events are not deliveries."""
    mixed = batch(
        {"type": "track", "userId": "u", "event": "Keep", "messageId": "m1"},
        {"type": "identify", "userId": "u", "messageId": "m2"},
        {"type": "track", "userId": "u", "event": "Keep too", "messageId": "m3"},
        sentAt="2024-05-01T12:00:00.000Z",
        context={"library": {"name": "analytics-python", "version": "2.3.4"}},
    )
    only = "source:web-dev type:track"
    async with upstream() as up, forwarding(db_path, up.url, query=only, only=parse(only)) as (url, _):
        for key in ("prod-app", "web-dev"):
            status, _, _ = await post(
                f"{url}/v1/batch", gz(mixed), {"Authorization": basic(key), "Content-Encoding": "gzip"}
            )
            assert status == 200
        status, _, _ = await post(f"{url}/v1/identify", b'{"userId":"u"}', {"Authorization": basic("web-dev")})
        assert status == 200
        await until(lambda: len(events(db_path)) == 7)
        await asyncio.sleep(0.3)  # time for a wrong forward to show up
    (arrived,) = up.arrivals
    assert arrived.header("Authorization") == basic("web-dev") and arrived.header("Content-Encoding") is None
    sent = orjson.loads(arrived.body)
    assert [m["messageId"] for m in sent["batch"]] == ["m1", "m3"]
    assert sent["sentAt"] == "2024-05-01T12:00:00.000Z" and sent["context"]["library"]["name"] == "analytics-python"
    assert [(d["message_id"], d["status"]) for d in deliveries(db_path)] == [("m1", "delivered"), ("m3", "delivered")]


async def test_forward_only_accepts_fql_and_sends_original_bytes_when_all_match(db_path: Path) -> None:
    """An FQL allowlist (fql:...) works as well; a request whose events all match goes as its original bytes."""
    message = {"type": "track", "userId": "u", "event": "Order Completed"}
    body = orjson.dumps({"batch": [message], "sentAt": "2024-05-01T12:00:00Z"}, option=orjson.OPT_INDENT_2)
    only = "fql:type = 'track' and match( event, 'Order *' )"
    async with upstream() as up, forwarding(db_path, up.url, query=only, only=parse(only)) as (url, _):
        await post(f"{url}/v1/batch", body, {"Authorization": basic("k")})
        await post(f"{url}/v1/track", b'{"userId":"u","event":"Signed Up"}', {"Authorization": basic("k")})
        await until(lambda: len(events(db_path)) == 2 and len(up.arrivals) == 1)
        await asyncio.sleep(0.3)
    assert [a.body for a in up.arrivals] == [body]


async def test_full_queue_and_stop_record_what_was_not_sent(db_path: Path) -> None:
    """With the upstream stuck: the queue bound holds (the overflow is recorded not_sent, "forward queue full"), and
    what is still queued when serve stops is recorded not_sent too; every client was answered 200."""
    async with upstream(open_gate=False) as up:
        async with forwarding(db_path, up.url, concurrency=1, max_queued=1, drain_timeout=0.2) as (url, _):
            for i in range(3):
                status, _, _ = await post(
                    f"{url}/v1/track", orjson.dumps({"userId": "u", "event": f"E{i}"}), {"Authorization": basic("k")}
                )
                assert status == 200
                if i == 0:
                    await until(lambda: len(up.arrivals) == 1)  # E0 in flight, held by the upstream
    rows = sorted(deliveries(db_path), key=lambda d: d["event_id"])
    assert [(d["name"], d["status"], d["reason"]) for d in rows] == [
        ("E0", "failed", "serve stopped"),
        ("E1", "not_sent", "serve stopped"),
        ("E2", "not_sent", "forward queue full"),
    ]
    assert newest_run(db_path)["status"] == "failed"


async def test_a_filter_that_cannot_be_checked_sends_nothing_and_forwarding_goes_on(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When --forward-only cannot read the capture (a locked or failing disk, simulated: it cannot be made to happen
    here on demand), the request is recorded not sent with the error, never sent unchecked, and the next one goes."""
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> set[int]:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return matching_ids(*args, **kwargs)

    monkeypatch.setattr("debugger.replay.forward.matching_ids", flaky)
    only = "type:track"
    async with upstream() as up, forwarding(db_path, up.url, query=only, only=parse(only), concurrency=1) as (url, _):
        for name in ("First", "Second"):
            body = orjson.dumps({"userId": "u", "event": name})
            assert (await post(f"{url}/v1/track", body, {"Authorization": basic("k")}))[0] == 200
        await until(lambda: len(up.arrivals) == 1)
    assert orjson.loads(up.arrivals[0].body)["event"] == "Second"
    rows = sorted(deliveries(db_path), key=lambda d: d["event_id"])
    assert [(d["name"], d["status"], d["reason"]) for d in rows] == [
        ("First", "not_sent", "forward not planned"),
        ("Second", "delivered", None),
    ]
    assert "disk I/O error" in rows[0]["error"]


# ------------------------------------------------------------------------------------------ pure planning
def incoming(body: bytes = b"", headers: tuple[tuple[str, str], ...] = (), query: str = "") -> IncomingRequest:
    """A request to /v1/batch as the server hands it to the core."""
    pairs = tuple(tuple(p.split("=", 1)) for p in query.split("&") if p)
    return IncomingRequest("POST", "/v1/batch", query, pairs, headers, body)  # type: ignore[arg-type]


def item(event_id: int, message: dict[str, Any]) -> ReplayItem:
    """The planning item of one stored event."""
    return ReplayItem(0, event_id, message.get("type"), message.get("event"), None, None, None, orjson.dumps(message))


def test_plan_replaces_bearer_and_query_keys_and_a_pixels_data() -> None:
    """The key is replaced in the scheme and place it came in: Bearer stays Bearer, ?writeKey= is replaced, a
    pixel's base64 data carries the new key; a body without a writeKey keeps its bytes."""
    message = {"type": "track", "event": "E"}
    body = gz(orjson.dumps(message))
    request = incoming(body, (("Authorization", "Bearer old"), ("Content-Encoding", "gzip")), "writeKey=old&x=1")
    plan = plan_forward(request, [item(1, message)], write_key="new")
    assert plan is not None
    assert dict(plan.headers)["Authorization"] == "Bearer new" and plan.body == body
    assert plan.target == "/v1/batch?writeKey=new&x=1"
    data = base64.b64encode(orjson.dumps({"writeKey": "old", "event": "E"})).decode()
    pixel = plan_forward(incoming(query=f"data={data}"), [item(1, message)], write_key="new")
    assert pixel is not None
    sent = orjson.loads(base64.b64decode(parse_qs(urlsplit(pixel.target).query)["data"][0]))
    assert sent == {"writeKey": "new", "event": "E"}


def test_plan_keeps_a_pixels_query_exactly() -> None:
    """A pixel's base64 data (with + and /) and other parameters reach the upstream meaning exactly what they meant."""
    data = "eyJ3cml0ZUtleSI6Im+/+/8ifQ=="
    pairs = (("data", data), ("note", "a b&c"))
    request = IncomingRequest("GET", "/v1/pixel/track", "", pairs, (), b"")
    plan = plan_forward(request, [item(1, {"type": "track"})])
    assert plan is not None and plan.method == "GET"
    assert parse_qs(urlsplit(plan.target).query) == {"data": [data], "note": ["a b&c"]}
    assert urlsplit(plan.target).path == "/v1/pixel/track"


def test_plan_sends_nothing_when_no_event_matches() -> None:
    """No matching event: nothing is planned; all matching: the original bytes."""
    message = {"type": "track", "event": "E"}
    body = batch(message)
    assert plan_forward(incoming(body), [item(1, message)], matching=set()) is None
    plan = plan_forward(incoming(body), [item(1, message)], matching={1})
    assert plan is not None and plan.body == body and not plan.rebuilt


# ------------------------------------------------------------------------------------------ the real command
@contextmanager
def upstream_thread() -> Iterator[Upstream]:
    """An :class:`Upstream` on its own loop in a thread, for tests that drive a real `segdbg serve` process."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop

        async def main() -> None:
            holder["stop"] = asyncio.Event()
            async with upstream() as up:
                holder["up"] = up
                ready.set()
                await holder["stop"].wait()

        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["up"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


def test_segment_analytics_python_through_serve_forward_reaches_upstream_as_sent(tmp_path: Path) -> None:
    """The real segment-analytics-python sends to `segdbg serve --forward`: the upstream receives its requests with
    the library's own headers and the very messages segdbg stored as received; serve's summary counts them."""
    db = tmp_path / "capture.db"
    with upstream_thread() as up:
        serve = ServeProcess(db, "--forward", up.url, "--quiet")
        try:
            errors: list[Any] = []
            client = SegmentClient(
                "wk_py", host=serve.url, on_error=lambda e, b: errors.append(e), max_retries=0, gzip=True
            )
            for i in range(30):
                client.track(f"user{i % 3}", "Order Completed", {"order": i, "total": i * 1.5})
            client.identify("user1", {"email": "a@example.com"})
            client.flush()
            client.shutdown()
            assert errors == []
            deadline = time.monotonic() + 10
            while sum(len(orjson.loads(gzip_body(a))["batch"]) for a in up.arrivals) < 31:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            code, _, err = serve.stop()
    assert code == 0
    assert "Forwarded to" in err and "31 events delivered, 0 not delivered" in err
    stored = events(db)
    forwarded = [m for a in up.arrivals for m in orjson.loads(gzip_body(a))["batch"]]
    assert forwarded == [e["raw"] for e in stored]
    for arrived in up.arrivals:
        assert arrived.header("Authorization") == basic("wk_py")
        assert (arrived.header("User-Agent") or "").startswith("analytics-python/")
        assert arrived.header("Content-Encoding") == "gzip"


def gzip_body(arrived: Arrived) -> bytes:
    """The body an upstream received, inflated."""
    return gzip.decompress(arrived.body)


def test_serve_refuses_forward_options_without_forward_and_bad_urls(tmp_path: Path) -> None:
    """--forward-only without --forward, a malformed query, a URL with credentials and a URL that is this very
    server (it would forward to itself forever) are usage errors."""
    db = str(tmp_path / "c.db")
    result = run_segdbg("serve", "--headless", "--db", db, "--forward-only", "source:x")
    assert result.returncode == 2 and "--forward-only needs --forward URL" in result.stderr
    result = run_segdbg("serve", "--headless", "--db", db, "--forward", "http://u:p@127.0.0.1:1")
    assert result.returncode == 2 and "credentials" in result.stderr
    result = run_segdbg("serve", "--headless", "--db", db, "--forward", "http://127.0.0.1:1", "--forward-only", "bad:")
    assert result.returncode == 2 and "bad query" in result.stderr
    result = run_segdbg("serve", "--headless", "--db", db, "--port", "18299", "--forward", "http://localhost:18299/v1")
    assert result.returncode == 2 and "is this server" in result.stderr


def test_serve_with_the_tui_passes_forward_on_to_its_child_server(tmp_path: Path) -> None:
    """With the TUI, serve's server is a child process: it gets the --forward options and forwards."""
    with upstream_thread() as up:
        extra = ["--forward", up.url, "--forward-write-key", "wk_up", "--forward-only", "type:track"]
        child = ChildServer.start(Settings(db=tmp_path / "c.db", port=0), extra=extra)
        try:
            for path in ("/v1/track", "/v1/identify"):
                assert (
                    http(
                        f"{child.url}{path}",
                        body={"userId": "u", "event": "E"},
                        headers=[("Authorization", basic("k"))],
                    ).status
                    == 200
                )
            deadline = time.monotonic() + 10
            while not up.arrivals:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            summary = child.stop()
    assert [(a.path, a.header("Authorization")) for a in up.arrivals] == [("/v1/track", basic("wk_up"))]
    assert summary is not None and summary.startswith("Stopped.")


class DeliveriesApp(App[None]):
    """An app showing the Deliveries screen over a capture."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db

    def compose(self) -> ComposeResult:
        yield Static("stream")

    def on_mount(self) -> None:
        self.push_screen(DeliveriesScreen(self.db))


async def test_the_deliveries_screen_shows_a_forward_run_and_what_it_did_not_deliver(db_path: Path) -> None:
    """A forward run is listed as kind forward on the Deliveries screen, with its event not delivered and the reason."""
    async with upstream() as probe:
        down = probe.url
    async with forwarding(db_path, down, policy=RetryPolicy(retries=0)) as (url, forwarder):
        await post(f"{url}/v1/track", b'{"userId":"u","event":"Lost"}', {"Authorization": basic("k")})
        await until(lambda: forwarder.upstreams[0].tally.done == 1)
    app = DeliveriesApp(db_path)
    async with app.run_test(size=(140, 48)) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        deadline = time.monotonic() + 10
        while app.screen.query_one("#failures", DataTable).row_count == 0:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        assert [str(cell) for cell in table.get_row_at(0)[:2]] == ["1", "forward"]
        metrics = str(app.screen.query_one("#run-metrics", Static).render())
        assert f"Run #1 · forward · failed · {down}" in metrics
        failure = [str(cell) for cell in app.screen.query_one("#failures", DataTable).get_row_at(0)]
        assert failure[3:] == ["Lost", "unreachable", "–", "connection refused"]


async def test_replay_resume_never_takes_a_forward_run_for_a_replay(db_path: Path) -> None:
    """`replay --resume` (last) finds no replay run in a capture with only a forward run, and `--resume 1` explains
    that run #1 is a forward and how to resend its events."""
    async with upstream() as up, forwarding(db_path, up.url) as (url, _):
        await post(f"{url}/v1/track", b'{"userId":"u","event":"E"}', {"Authorization": basic("k")})
        await until(lambda: len(up.arrivals) == 1)
    last = await asyncio.to_thread(run_segdbg, "replay", "--resume", "--db", str(db_path))
    assert last.returncode != 0 and "no replay run 'last'" in last.stderr
    named = await asyncio.to_thread(run_segdbg, "replay", "--resume", "1", "--db", str(db_path))
    assert named.returncode != 0 and "serve --forward" in named.stderr and up.url in named.stderr
