"""`segdbg mcp`: the MCP server, driven by the official SDK's own client over stdio (a real
`python -m debugger mcp` subprocess) and over streamable HTTP on loopback, against real captures."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

from debugger.agents.results import MAX_RESULT_BYTES, UNTRUSTED_NOTE, encode
from debugger.agents.tools import Tools
from debugger.core.http import model
from tests.helpers import ROOT, ServeProcess, basic, cli_env, http, run_segdbg
from tests.tui_support import fill, message_request

READ_TOOLS = {
    "search_events",
    "get_event",
    "explain_match",
    "wait_for",
    "validate_payload",
    "check",
    "schema",
    "stats",
    "diff",
    "replay",
}
WRITE_TOOLS = {"pin", "reset"}


def track(event: str, user: str, **properties: Any) -> dict[str, Any]:
    """A track message."""
    return {"type": "track", "event": event, "userId": user, "properties": properties, "messageId": f"m-{event}-{user}"}


def batch(messages: list[dict[str, Any]], key: str = "wk_test") -> model.IncomingRequest:
    """One /v1/batch request carrying ``messages``."""
    return model.IncomingRequest(
        method="POST",
        path="/v1/batch",
        headers=(("Authorization", basic(key)),),
        body=orjson.dumps({"batch": messages}),
        remote="127.0.0.1",
    )


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A capture with tracks of two names, an identify, and an invalid track (no ids)."""
    db = tmp_path / "c.db"
    fill(
        db,
        [
            message_request(track("Order Completed", "u_1", plan="pro", revenue=10)),
            message_request(track("Order Completed", "u_2", plan="free", revenue=5)),
            message_request(track("Product Viewed", "u_1", sku="45790-32")),
            message_request({"type": "identify", "userId": "u_1", "traits": {"email": "a@acme.co"}}),
            message_request({"type": "track", "event": "product added"}),
        ],
    )
    return db


def stdio(db: Path | None, *extra: str) -> Client:
    """The SDK's client, spawning `python -m debugger mcp --db DB` (or with ``extra`` only) as its stdio server."""
    where = ["--db", str(db)] if db is not None else []
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "debugger", "mcp", *where, *extra], env=cli_env(), cwd=str(ROOT)
    )
    return Client(params)


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool and decode its one JSON text answer (failing on an error result)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    (content,) = result.content
    assert isinstance(content, TextContent)
    assert len(content.text.encode()) <= MAX_RESULT_BYTES
    answer: dict[str, Any] = orjson.loads(content.text)
    return answer


async def test_stdio_lists_read_tools_only_without_allow_writes(capture: Path) -> None:
    """Read-only by default: the read tools are listed, pin and reset are not, and replay takes no dry_run."""
    async with stdio(capture) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS
    assert "dry_run" not in tools["replay"].input_schema["properties"]
    assert "store" not in tools["validate_payload"].input_schema["properties"]


async def test_stdio_allow_writes_adds_write_tools(capture: Path) -> None:
    """--allow-writes adds pin and reset; pin really pins (the events command sees it)."""
    async with stdio(capture, "--allow-writes") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == READ_TOOLS | WRITE_TOOLS
        answer = await call(client, "pin", ids=[1, 99])
    assert answer["pinned"] == [1] and answer["missing"] == [99]
    listed = run_segdbg("events", "pinned:true", "--format", "jsonl", "--db", str(capture))
    assert [orjson.loads(line)["id"] for line in listed.stdout.splitlines()] == [1]


QUERIES = (
    "",
    'event:"Order Completed"',
    "-type:track",
    "properties.plan:pro,free user:u_1",
    "status:invalid",
    "fql:type = 'track' and properties.plan in ['pro', 'free']",
)


async def test_search_events_returns_what_segdbg_events_lists(capture: Path) -> None:
    """search_events answers the same events, in the same order, as `segdbg events QUERY --format jsonl`."""
    async with stdio(capture) as client:
        for query in QUERIES:
            listed = run_segdbg("events", *([query] if query else []), "--format", "jsonl", "--db", str(capture))
            assert listed.returncode == 0, listed.stderr
            expected = [orjson.loads(line)["id"] for line in listed.stdout.splitlines()]
            assert expected, query  # each query selects something
            answer = await call(client, "search_events", query=query)
            assert [e["id"] for e in answer["events"]] == expected, query
            assert answer["note"] == UNTRUSTED_NOTE


async def test_get_explain_validate_check_schema_stats(capture: Path) -> None:
    """The other read tools answer from the capture: an event's payload, why it fails a query, a pasted call's
    problems (not stored), check's rules, the schema, stats and a replay dry run that sends nothing."""
    async with stdio(capture) as client:
        event = await call(client, "get_event", id=1)
        assert event["payload"]["raw"]["event"] == "Order Completed"
        assert event["payload"]["http"]["path"] == "/v1/track"
        why = await call(client, "explain_match", query="properties.plan:free", id=1)
        assert not why["matches"] and why["failed"] == [{"term": "properties.plan:free", "had": '"pro"'}]
        assert (await call(client, "explain_match", query="user:u_1", id=1))["matches"]
        call_text = await call(client, "validate_payload", text='analytics.track("product added", {price: 19})')
        assert call_text["form"] == "track call" and call_text["valid"]
        assert "near_miss_event" in {p["code"] for p in call_text["events"][0]["problems"]}
        checked = await call(client, "validate_payload", text='{"type": "track", "event": "x"}')
        assert checked["stored"] is False and checked["events"][0]["status"] == "invalid"
        assert "no_user_anon_id" in {p["code"] for p in checked["events"][0]["problems"]}
        rules = await call(client, "check")
        assert "no_user_anon_id" in {r["code"] for r in rules["rules"]}
        schema = await call(client, "schema")
        assert schema["read"] == 5
        diff = await call(client, "diff", a="user:u_1", b="user:u_2")
        assert diff["differences"] >= 1 and diff["scan"] == 20_000
        stats = await call(client, "stats")
        assert stats["events"] == 5
        dry = await call(client, "replay", to="http://127.0.0.1:9")
        assert dry["dry_run"] is True and dry["would_send"] == 4
        failed = await client.call_tool("get_event", {"id": 99})
        assert failed.is_error
        resource = await client.read_resource("segdbg://event/2")
    assert "u_2" in resource.contents[0].text  # type: ignore[union-attr]
    assert (
        len(run_segdbg("events", "--include-problems", "--format", "jsonl", "--db", str(capture)).stdout.splitlines())
        == 5
    )


async def test_wait_for_wakes_on_commit(capture: Path) -> None:
    """wait_for blocks until a matching event is committed, and answers promptly after the commit."""
    committed: list[float] = []

    def later() -> None:
        time.sleep(1.0)
        fill(capture, [message_request(track("Checkout Started", "u_9"))])
        committed.append(time.monotonic())

    async with stdio(capture) as client:
        thread = threading.Thread(target=later)
        started = time.monotonic()
        thread.start()
        answer = await call(client, "wait_for", query='event:"Checkout Started"', timeout=30)
        answered = time.monotonic()
        thread.join(10)
    assert answer["ok"] and answer["count"] == 1
    assert committed and answered >= committed[0] and answered - committed[0] < 2.0
    assert answered - started < 10


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def http_server(db: Path) -> AsyncIterator[str]:
    """`segdbg mcp --http` as a subprocess on a free loopback port; yields its MCP URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "debugger", "mcp", "--db", str(db), "--http", "--port", str(port)],
        env=cli_env(),
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "segdbg mcp --http did not listen"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


async def test_http_transport_on_loopback(capture: Path) -> None:
    """Over streamable HTTP on 127.0.0.1: the same tools, and search_events answers as over stdio."""
    async with http_server(capture) as url:
        async with Client(url) as client:
            assert {t.name for t in (await client.list_tools()).tools} == READ_TOOLS
            answer = await call(client, "search_events", query="type:track")
        port = int(url.split(":")[2].split("/")[0])
        rebound = http(
            url,
            body={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Host": f"evil.example:{port}", "Content-Type": "application/json", "Accept": "application/json"},
        )
    assert [e["id"] for e in answer["events"]] == [1, 2, 3]
    assert rebound.status in (403, 421), rebound.status  # DNS rebinding: a foreign Host is refused


def test_large_capture_answers_stay_bounded(tmp_path: Path) -> None:
    """On a capture of 30,000 events with long property values, every answer stays under the byte bound
    and a cut page gives a cursor that continues it."""
    db = tmp_path / "big.db"
    long = "x" * 300
    fill(
        db,
        (
            batch([track(f"Event {i % 50}", f"u_{n}", note=long, n=n) for n in range(i, i + 500)])
            for i in range(0, 30_000, 500)
        ),
        step_ms=1,
    )
    tools = Tools(db)
    first = orjson.loads(encode(tools.search_events("", limit=200, fields=["properties.note"]), items="events"))
    assert first["cut"] > 0 and first["total"] == 30_000
    second = tools.search_events("", limit=5, cursor=first["next_cursor"])
    assert second["events"][0]["id"] == first["events"][-1]["id"] + 1
    newest = orjson.loads(
        encode(
            tools.search_events("", limit=200, newest=True, fields=["properties.note"]), items="events", keep_last=True
        )
    )
    assert newest["cut"] > 0 and newest["events"][-1]["id"] == 30_000
    older = tools.search_events("", limit=5, newest=True, cursor=newest["next_cursor"])
    assert older["events"][-1]["id"] == newest["events"][0]["id"] - 1
    for result in (tools.schema(), tools.check(scan=5_000), tools.stats(), tools.get_event(30_000)):
        assert len(encode(result).encode()) <= MAX_RESULT_BYTES


def test_hostile_payload_text_stays_inert(tmp_path: Path) -> None:
    """Escape sequences and bidi overrides in an event come back escaped (never raw) in every answer."""
    db = tmp_path / "evil.db"
    evil = "Order \x1b[31mRED\x1b]52;c;aGk=\x07 \u202egnp.exe"
    fill(db, [message_request(track(evil, "u_\x1b[2J"))])
    tools = Tools(db)
    for result in (tools.search_events(""), tools.get_event(1), tools.check(), tools.schema()):
        text = encode(result)
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
        assert UNTRUSTED_NOTE in text


def test_help_does_not_load_the_mcp_sdk() -> None:
    """`segdbg --help` and `segdbg mcp --help` import no MCP SDK (it loads pydantic, starlette, uvicorn)."""
    code = (
        "import sys\nfrom debugger.cli import main\n"
        "for argv in (['--help'], ['mcp', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('mcp' in sys.modules, 'debugger.agents' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), cwd=str(ROOT), capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "False False", result.stderr


async def test_url_mode_asks_a_running_server(tmp_path: Path) -> None:
    """--url: search_events, get_event and wait_for go through a running server's debugger API (wait_for wakes
    when the server commits); a tool that needs the file says so."""
    served = ServeProcess(tmp_path / "served.db")
    try:

        def send(event: str) -> None:
            answer = http(f"{served.url}/v1/track", body=track(event, "u_1"), headers={"Authorization": basic("wk")})
            assert answer.status == 200

        send("Order Completed")
        async with stdio(None, "--url", served.url) as client:
            found = await call(client, "search_events", query="type:track")
            assert [e["name"] for e in found["events"]] == ["Order Completed"]
            event = await call(client, "get_event", id=found["events"][0]["id"])
            assert event["payload"]["raw"]["event"] == "Order Completed"
            timer = threading.Timer(1.0, send, args=("Checkout Started",))
            timer.start()
            started = time.monotonic()
            waited = await call(client, "wait_for", query='event:"Checkout Started"', timeout=30)
            assert waited["ok"] and time.monotonic() - started < 10
            timer.join(10)
            refused = await client.call_tool("check", {})
            assert refused.is_error and "--db" in refused.content[0].text  # type: ignore[union-attr]
    finally:
        served.stop()


async def test_write_tools_store_replay_and_reset(capture: Path, tmp_path: Path) -> None:
    """With --allow-writes: validate_payload stores when asked, replay with dry_run=false really sends (a real
    segdbg server receives the events) and records a run, and reset (confirmed) empties the capture."""
    target = ServeProcess(tmp_path / "target.db")
    try:
        async with stdio(capture, "--allow-writes") as client:
            stored = await call(
                client, "validate_payload", text='{"type": "track", "event": "Pasted", "userId": "u"}', store=True
            )
            assert stored["stored"] and len(stored["ids"]) == 1
            sent = await call(client, "replay", to=target.url, query='event:"Order Completed"', dry_run=False)
            assert sent["dry_run"] is False and sent["status"] == "delivered", sent
            refused = await client.call_tool("reset", {})
            assert refused.is_error
            assert (await call(client, "reset", confirm=True))["deleted"] == 6
        received = run_segdbg("events", "--format", "jsonl", "--db", str(tmp_path / "target.db"))
        assert [orjson.loads(line)["name"] for line in received.stdout.splitlines()] == ["Order Completed"] * 2
    finally:
        target.stop()
