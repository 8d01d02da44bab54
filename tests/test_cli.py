"""The command line: send, events, serve errors, help texts and exit codes."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from debugger.cli import cli
from debugger.core.inputs.payloads import PlannedRequest, plan_file
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import ServeProcess, cli_env, events, http, requests_rows, run_segdbg

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def write(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else orjson.dumps(content))
    return path


def test_send_a_folder_of_json_and_ndjson(server: ServerThread, tmp_path: Path) -> None:
    """A folder: .json messages go to /v1/<type>, batches to /v1/batch, NDJSON lines in batches; exit 0."""
    write(tmp_path / "a" / "identify.json", {"type": "identify", "userId": "u", "writeKey": "wk"})
    write(
        tmp_path / "a" / "batch.json", {"writeKey": "wk", "batch": [{"type": "track", "event": "E", "userId": "u"}] * 3}
    )
    lines = b"\n".join(
        orjson.dumps({"type": "track", "event": f"E{i}", "userId": "u", "writeKey": "wk"}) for i in range(250)
    )
    write(tmp_path / "a" / "many.ndjson", lines + b"\n\n")
    write(tmp_path / "a" / "notes.txt", b"ignored")
    result = run_segdbg("send", str(tmp_path / "a"), "--to", server.url)
    assert result.returncode == 0, result.stderr
    assert "5 accepted (254 messages), 0 rejected" in result.stderr
    assert len(events(server.settings.db)) == 254
    paths = sorted(r["path"] for r in requests_rows(server.settings.db))
    assert paths == ["/v1/batch"] * 4 + ["/v1/identify"]


def test_send_is_verbatim_so_broken_files_show_the_server_answer(server: ServerThread, tmp_path: Path) -> None:
    """A broken .json is sent as it is; the 400 is shown and the exit code is 3."""
    write(tmp_path / "bad.json", b'{"userId": "u", "event": ')
    result = run_segdbg("send", str(tmp_path / "bad.json"), "--to", server.url)
    assert result.returncode == 3
    assert "400" in result.stdout and "invalid_json" in result.stdout
    [request] = requests_rows(server.settings.db)
    assert request["body"] == b'{"userId": "u", "event": '


def test_send_with_write_key_uses_basic_auth(server: ServerThread, tmp_path: Path) -> None:
    """--write-key sends the key as HTTP Basic auth; the payload needs none."""
    write(tmp_path / "t.json", {"type": "track", "userId": "u", "event": "E"})
    result = run_segdbg("send", str(tmp_path / "t.json"), "--to", server.url + "/v1/", "--write-key", "from-flag")
    assert result.returncode == 0, result.stdout + result.stderr
    assert events(server.settings.db)[0]["write_key"] == "from-flag"


def test_send_without_a_write_key_hints_the_option(server: ServerThread, tmp_path: Path) -> None:
    """Messages with no writeKey, sent without --write-key, are refused (invalid_write_key): send says to pass it."""
    write(tmp_path / "t.json", {"type": "track", "userId": "u", "event": "E"})
    write(tmp_path / "b.json", {"batch": [{"type": "track", "userId": "u", "event": "F"}]})
    write(tmp_path / "k.json", {"type": "track", "userId": "u", "event": "G", "writeKey": "own"})
    refused = run_segdbg("send", str(tmp_path), "--to", server.url)
    assert refused.returncode == 3
    assert "invalid_write_key" in refused.stdout
    assert "hint: 2 requests refused with invalid_write_key" in refused.stderr and "--write-key KEY" in refused.stderr
    given = run_segdbg("send", str(tmp_path), "--to", server.url, "--write-key", "wk")
    assert given.returncode == 0 and "hint" not in given.stderr


def test_send_of_keyed_messages_to_a_server_with_other_keys_gives_no_hint(tmp_path: Path) -> None:
    """A key the server's --write-key list refuses is not "no write key": no hint about passing one."""
    write(tmp_path / "k.json", {"type": "track", "userId": "u", "event": "G", "writeKey": "own"})
    settings = Settings(db=tmp_path / "c.db", port=0, write_keys=frozenset({"only"}))
    with ServerThread(settings) as strict:
        refused = run_segdbg("send", str(tmp_path / "k.json"), "--to", strict.url)
    assert refused.returncode == 3 and "invalid_write_key" in refused.stdout
    assert "hint" not in refused.stderr


def test_send_reports_bad_ndjson_lines_and_sends_the_rest(server: ServerThread, tmp_path: Path) -> None:
    """A non-JSON line is reported with its line number, the others are sent, exit 3."""
    write(tmp_path / "x.jsonl", b'{"type":"track","event":"A","userId":"u","writeKey":"k"}\nnot json\n')
    result = run_segdbg("send", str(tmp_path / "x.jsonl"), "--to", server.url)
    assert result.returncode == 3
    assert "x.jsonl:2" in result.stderr
    assert len(events(server.settings.db)) == 1


def test_send_to_a_closed_port_exits_4(tmp_path: Path) -> None:
    """Nothing listening: a clear message and exit code 4."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write(tmp_path / "t.json", {"type": "track", "userId": "u", "event": "E", "writeKey": "k"})
    result = run_segdbg("send", str(tmp_path / "t.json"), "--to", f"http://127.0.0.1:{port}")
    assert result.returncode == 4
    assert "cannot connect" in result.stderr


def test_send_without_payloads_is_an_error(tmp_path: Path) -> None:
    """A folder with no payload files: a one-line error, exit 1."""
    (tmp_path / "empty").mkdir()
    result = run_segdbg("send", str(tmp_path / "empty"))
    assert result.returncode == 1 and "nothing to send" in result.stderr


def test_plan_splits_ndjson_under_the_batch_byte_limit() -> None:
    """Large NDJSON messages are split so no batch exceeds 500 KB."""
    line = orjson.dumps({"type": "track", "event": "E", "userId": "u", "p": "x" * 30_000})
    planned = [p for p in plan_file("big.jsonl", b"\n".join([line] * 40), now=NOW) if isinstance(p, PlannedRequest)]
    assert sum(p.messages for p in planned) == 40
    assert all(len(p.body) <= 500 * 1024 for p in planned) and len(planned) == 3


def _filled(db: Path) -> None:
    with ServerThread(__import__("debugger.server.settings", fromlist=["Settings"]).Settings(db=db, port=0)) as srv:
        from tests.helpers import http

        http(f"{srv.url}/v1/track", body={"writeKey": "web", "userId": "u1", "event": "Order Completed"})
        http(f"{srv.url}/v1/track", body={"writeKey": "web", "event": "No Ids"})
        http(
            f"{srv.url}/v1/identify",
            body={"writeKey": "web", "userId": "u1", "traits": {"email": "a@b.co"}, "messageId": "m"},
        )
        http(
            f"{srv.url}/v1/identify",
            body={"writeKey": "web", "userId": "u1", "traits": {"email": "a@b.co"}, "messageId": "m"},
        )


def test_events_default_view_hides_invalid_and_duplicates(tmp_path: Path) -> None:
    """`events` shows what Segment would keep and says how many are hidden; --all shows everything."""
    db = tmp_path / "c.db"
    _filled(db)
    result = run_segdbg("events", "--db", str(db), "--format", "jsonl")
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["name"] or r["type"] for r in rows] == ["Order Completed", "identify"]
    assert "1 duplicate, 1 invalid hidden" in result.stderr
    everything = run_segdbg("events", "--db", str(db), "--format", "json", "--all")
    rows = orjson.loads(everything.stdout)
    assert [r["status"] for r in rows] == ["ok", "invalid", "ok", "duplicate"]
    assert rows[1]["problems"][0]["code"] == "no_user_anon_id"
    assert rows[0]["raw"]["event"] == "Order Completed" and rows[0]["stored"]["receivedAt"]


def test_events_table_and_limit(tmp_path: Path) -> None:
    """The table lists type, label and status marks; --limit keeps the newest N."""
    db = tmp_path / "c.db"
    _filled(db)
    result = run_segdbg("events", "--db", str(db), "--all", "--limit", "3")
    assert result.returncode == 0
    assert "Order Completed" not in result.stdout  # the oldest of four, outside the newest three
    assert "IDENTIFY" in result.stdout and "u1 (a@b.co)" in result.stdout and "✗ no_user_anon_id" in result.stdout
    assert result.stdout.count("IDENTIFY") == 2


def test_events_without_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    """No such database: one line telling what to do, exit 1."""
    result = run_segdbg("events", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 1 and "no such capture" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["events"],
        ["stats"],
        ["expect", "x"],
        ["schema"],
        ["check"],
        ["tui"],
        ["pin", "1"],
        ["vacuum"],
        ["reset", "--yes"],
        ["serve", "--headless", "--port", "0"],
        ["replay", "--to", "http://127.0.0.1:9"],
        ["diff", "run:prev", "run:last"],
    ],
)
def test_a_db_in_a_missing_folder_names_the_folder(args: list[str], tmp_path: Path) -> None:
    """Every command that takes --db says which folder is missing (exit 2), rather than "no such capture"."""
    missing = tmp_path / "no" / "such"
    result = CliRunner().invoke(cli, [*args, "--db", str(missing / "c.db")])
    assert result.exit_code == 2, result.output
    assert f"the folder {missing} does not exist" in result.stderr and f"mkdir -p {missing}" in result.stderr
    assert not missing.exists()


def test_segdbg_db_in_a_file_says_it_is_not_a_folder(tmp_path: Path) -> None:
    """$SEGDBG_DB under a file (not a folder) is named as such, and as coming from the environment."""
    (tmp_path / "plain").write_text("x")
    result = run_segdbg("stats", SEGDBG_DB=str(tmp_path / "plain" / "c.db"))
    assert result.returncode == 2
    assert "'$SEGDBG_DB'" in result.stderr and f"{tmp_path / 'plain'} is a file, not a folder" in result.stderr


def test_db_from_environment(tmp_path: Path) -> None:
    """$SEGDBG_DB is used when --db is not given."""
    db = tmp_path / "env.db"
    _filled(db)
    result = run_segdbg("events", "--format", "jsonl", SEGDBG_DB=str(db))
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2


def test_foreign_database_is_refused_at_start(tmp_path: Path) -> None:
    """A SQLite file of another application is never written to."""

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE invoices (id INTEGER)").connection.commit()
    result = run_segdbg("serve", "--headless", "--port", "0", "--db", str(other))
    assert result.returncode == 1 and "another application" in result.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    result = run_segdbg("events", "--db", str(garbage))
    assert result.returncode == 1 and "not a SQLite database" in result.stderr


def _damaged_capture(path: Path) -> bytes:
    """A real capture (enough events to span many pages) with pages in the middle overwritten."""
    from debugger.core.protocol import Envelope, build_event
    from debugger.store import clock, writer

    writer = writer.EventWriter(path).start()
    for b in range(10):
        batch = [
            build_event(
                {"type": "track", "event": "E" * 500, "userId": "u", "messageId": f"m{b}-{i}"},
                Envelope(write_key="k", received_at=clock.now_utc()),
                new_id=lambda: "x",
            )
            for i in range(100)
        ]
        writer.submit(None, batch).result(timeout=30)
    writer.close()
    data = bytearray(path.read_bytes())
    data[4096 * 40 : 4096 * 44] = b"\xde\xad" * 8192
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_damaged_capture_is_refused_at_start_and_reads_fail_clearly(tmp_path: Path) -> None:
    """serve checks the capture before writing: a damaged one is refused with how to recover, and left
    as it was; reading commands say the capture could not be read instead of a traceback."""
    db = tmp_path / "damaged.db"
    before = _damaged_capture(db)
    served = run_segdbg("serve", "--headless", "--port", "0", "--db", str(db), timeout=30)
    assert served.returncode == 1
    assert "the capture is damaged" in served.stderr and ".recover" in served.stderr
    assert "Traceback" not in served.stderr
    assert db.read_bytes() == before  # nothing written to it
    read = run_segdbg("events", "--all", "--format", "jsonl", "--db", str(db))
    assert read.returncode == 1
    assert "could not be read" in read.stderr and "Traceback" not in read.stderr


def test_serve_on_a_busy_port_says_so(tmp_path: Path) -> None:
    """Port in use: a clear one-line error, exit 1."""
    server = ServeProcess(tmp_path / "a.db", "--quiet")
    try:
        port = server.url.rsplit(":", 1)[1]
        result = run_segdbg("serve", "--headless", "--port", port, "--db", str(tmp_path / "b.db"))
        assert result.returncode == 1 and "already in use" in result.stderr
    finally:
        server.stop()


def _registered_servers(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'server:%'").fetchone()[0])


def test_a_second_serve_on_a_capture_a_live_server_writes_warns(tmp_path: Path) -> None:
    """Two real servers on different loopback ports, same --db: the second warns, naming the first; both serve.
    Once the first has stopped, a new server on the capture says nothing."""
    db = tmp_path / "shared.db"
    first = ServeProcess(db, "--quiet")
    second = third = None
    try:
        deadline = time.monotonic() + 20
        while _registered_servers(db) < 1 and time.monotonic() < deadline:  # noted without blocking start-up
            time.sleep(0.02)
        second = ServeProcess(db, "--quiet")
        assert second.url != first.url
        for server in (first, second):
            assert http(server.url + "/v1/track", body={"writeKey": "k", "userId": "u", "event": "E"}).status == 200
        assert len(events(db)) == 2
        _, _, err = second.stop()
        second = None
        assert f"warning: {db} is already written by another segdbg server: {first.url} (pid {first.proc.pid})" in err
        assert "pass another --db" in err
        first.stop()
        first = None
        third = ServeProcess(db, "--quiet")
        _, _, err = third.stop()
        third = None
        assert "warning" not in err
    finally:
        for server in (first, second, third):
            if server is not None:
                server.stop()


@pytest.mark.parametrize("command", ["serve", "send", "events"])
def test_every_command_has_help_with_examples(command: str) -> None:
    """`segdbg CMD --help` explains the command and shows examples."""
    result = run_segdbg(command, "--help")
    assert result.returncode == 0 and "Examples:" in result.stdout


def test_usage_error_exits_2() -> None:
    """A wrong option is a usage error: exit 2."""
    assert run_segdbg("events", "--format", "xml").returncode == 2


def test_version_and_exit_codes_in_help() -> None:
    """--version prints the version; the group help lists the exit codes."""
    assert "segdbg, version" in run_segdbg("--version").stdout
    assert "4 target unreachable" in run_segdbg("--help").stdout


def test_help_does_not_import_textual_or_aiohttp() -> None:
    """`segdbg --help` stays fast: the CLI and the core never import Textual or aiohttp at import time."""
    code = (
        "import sys, debugger.cli, debugger.core.protocol, debugger.core.http.wire, debugger.store.reads;"
        "print(sorted(m for m in ('textual', 'aiohttp') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("192.168.1.20", False),
        ("myhost.lan", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """Only loopback binds go without --allow-remote."""
    from debugger.server.addresses import is_loopback

    assert is_loopback(host) is loopback


async def test_serve_exempts_its_start_up_objects_from_full_collections(tmp_path: Path) -> None:
    """A full garbage collection walked every object the server built at start (~43 ms, a pause
    every request in flight waited for); `serve` freezes them once it listens."""
    import asyncio
    import contextlib
    import gc
    import io

    from debugger.cli.commands.serve import _Printer, _serve
    from debugger.server.settings import Settings

    gc.unfreeze()
    task = asyncio.create_task(
        _serve(Settings(db=tmp_path / "c.db", port=0, quiet=True), _Printer(io.StringIO(), True))
    )
    try:
        for _ in range(200):
            if gc.get_freeze_count() or task.done():
                break
            await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 10_000
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()


def test_serve_stopped_the_moment_it_says_listening_still_drains(tmp_path: Path) -> None:
    """A supervisor (or a test) that sends SIGTERM as soon as it reads "listening" gets the orderly
    stop — drain, summary, exit 0 — not the default death by signal: the handlers are in place
    before the line is printed. (The server here signals itself right after printing it.)"""
    import textwrap

    script = textwrap.dedent(
        """
        import os, signal, sys
        import click
        echo = click.echo
        def signalling_echo(message=None, *args, **kwargs):
            echo(message, *args, **kwargs)
            if "listening on" in str(message):
                os.kill(os.getpid(), signal.SIGTERM)
        click.echo = signalling_echo
        from debugger.cli import main
        main(["serve", "--headless", "--quiet", "--port", "0", "--db", sys.argv[1]])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "c.db")],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Stopped." in done.stderr
