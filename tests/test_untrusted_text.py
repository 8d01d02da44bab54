"""Payload text is untrusted: escape sequences, control characters, bidi overrides, rich markup and
huge single lines are printed inert and bounded by every command that shows them.

One capture full of hostile strings; each output (``events`` table, ``stats``, ``check``,
``schema``, ``expect`` failures, ``replay`` summaries, bad-query errors, the headless server's
per-request lines and log lines) is checked for raw control bytes, bidi overrides, markup that
was interpreted instead of printed, and lines longer than a screen can hold.
"""

from __future__ import annotations

import http.server as httpserver
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.core.http import model, wire
from tests.helpers import ServeProcess, basic, http
from tests.tui_support import fill, message_request

ANSI = "\x1b[31mRED\x1b[0m"
CLEAR = "\x1b[2J\x1b[H"
OSC52 = "\x1b]52;c;aGk=\x07"  # would write "hi" to the clipboard
OSC8 = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"  # a hidden hyperlink
C1 = "\x9b31m"  # an 8-bit CSI
BIDI = "\u202egnp.exe"
MARKUP = "[red]markup[/red][link=http://evil.example]x[/link]"
HUGE = "W" * 20_000  # one line, within the 32 KB message limit
EVIL_NAME = f"Order {ANSI}{MARKUP}{BIDI}"

# What must never reach a terminal raw: C0 (but newline), DEL, C1, bidi embeddings/overrides/isolates.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
LONGEST_LINE = 400


def assert_inert(output: str, what: str) -> None:
    """No raw control or bidi character, and no line longer than a wide terminal."""
    found = RAW.search(output)
    assert found is None, (
        f"{what}: raw {found.group()!r} at {found.start()}: {output[max(0, found.start() - 60) : found.start() + 20]!r}"
    )
    longest = max((len(line) for line in output.splitlines()), default=0)
    assert longest <= LONGEST_LINE, f"{what}: a {longest:,}-character line"
    assert "W" * 500 not in output, f"{what}: the huge line came through whole"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A capture whose every field a command may print carries something hostile."""
    db = tmp_path / "hostile.db"
    fill(
        db,
        [
            message_request(
                {
                    "type": "track",
                    "event": EVIL_NAME,
                    "userId": OSC52,
                    "anonymousId": CLEAR,
                    "properties": {MARKUP: OSC8, "huge": HUGE, "nul": "a\x00b", ANSI: 1},
                    "context": {"library": {"name": C1 + "lib", "version": BIDI}},
                },
                key="wk" + ANSI,
            ),
            message_request({"type": "identify", "userId": "u\x1b[1A", "traits": {"email": MARKUP}}),
            message_request({"type": "page", "name": HUGE, "userId": "u"}),
            message_request({"type": "track", "event": "product added " + OSC8, "userId": "u"}),  # a naming finding
            model.IncomingRequest(
                method="POST",
                path="/v1/batch",
                headers=(("Authorization", basic("wk")),),
                body=orjson.dumps({"batch": [{"type": ANSI + MARKUP, "userId": "u"}]}),
            ),  # an unknown type
        ],
    )
    return db


def run(*args: str) -> Result:
    """The real CLI in-process (stdout is not a terminal, as in a pipe or CI log)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_events_table(hostile: Path) -> None:
    """`events --format table`: names, users, sources and statuses inert; markup printed as written."""
    result = run("events", "--db", str(hostile), "--all", "--format", "table")
    assert result.exit_code == 0, result.output
    assert_inert(result.output, "events table")
    assert "\\x1b[31mRED" in result.output and "[red]markup" in result.output


def test_stats(hostile: Path) -> None:
    """`stats`: types, sources and libraries are payload text too."""
    result = run("stats", "--db", str(hostile))
    assert result.exit_code == 0, result.output
    assert_inert(result.output, "stats")
    assert "wk\\x1b[31mRED" in result.output and "\\x9b31mlib" in result.output


def test_check(hostile: Path) -> None:
    """`check`: finding messages quote event names and property paths from the payload (both table views)."""
    for view in ((), ("--all-findings",)):
        result = run("check", "--db", str(hostile), *view)
        assert result.exit_code == 3, result.output
        assert_inert(result.output, "check")
        assert "product added \\x1b]8;;http://evil.example" in result.output  # the OSC 8 link is shown, not made
        assert "[red]markup[/red][link=http://evil.example]" in result.output  # markup printed as written


def test_schema_table(hostile: Path) -> None:
    """`schema`: property paths and example values are shown inert and cut."""
    result = run("schema", "--db", str(hostile))
    assert result.exit_code == 0, result.output
    assert_inert(result.output, "schema")
    assert "[red]markup[/red]" in result.output  # a property name, printed as written


def test_expect_failure_message(hostile: Path) -> None:
    """`expect` failing prints the closest events: their names are payload text."""
    result = run("expect", "type:track event:Nope", "--db", str(hostile), "--count", "1", "--timeout", "0")
    assert result.exit_code == 3
    assert_inert(result.output, "expect")
    assert "Order \\x1b[31mRED" in result.output


def test_a_bad_query_error_quotes_it_inert(hostile: Path) -> None:
    """A malformed query is echoed with a pointer: the echo is inert too."""
    result = run("events", "--db", str(hostile), "tpye:" + ANSI + BIDI)
    assert result.exit_code == 2
    assert_inert(result.output, "bad query")
    assert "\\x1b[31mRED" in result.output


class _EvilTarget(httpserver.BaseHTTPRequestHandler):
    """A replay target that rejects everything with a hostile error body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f'{{"success":false,"code":"{CLEAR}","message":"{ANSI} {MARKUP} {HUGE}"}}'.encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def evil_target() -> Iterator[str]:
    """A target answering 400 with escapes, markup and a 40 KB line."""
    server = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), _EvilTarget)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_replay_summary(hostile: Path, evil_target: str) -> None:
    """`replay` to a target that rejects with a hostile body: the not-delivered lines stay inert and short."""
    result = run(
        "replay", "--db", str(hostile), "--to", evil_target, "--no-batch", "--report", str(hostile.parent / "r.json")
    )
    assert result.exit_code != 0
    assert_inert(result.output, "replay")
    assert "not delivered" in result.output and "\\x1b[31mRED" in result.output


def test_headless_request_lines_and_logs(tmp_path: Path) -> None:
    """`serve --headless`: one inert, bounded line per request, whatever the path, key, library or error."""
    server = ServeProcess(tmp_path / "h.db")
    try:
        http(
            server.url + "/v1/track",
            body={"userId": "u", "event": EVIL_NAME, "context": {"library": {"name": OSC8 + HUGE}}},
            headers={"Authorization": basic("wk" + ANSI + HUGE[:5000])},
        )
        http(server.url + "/v1/%1b%5b2J" + "x" * 3000, body=b"{}")  # the path is decoded: ESC [ 2 J
        http(server.url + "/v1/track", body=b'{"writeKey": "' + ANSI.encode() + b'", "userId": ')  # invalid JSON
        http(
            server.url + "/v1/track",
            body={"writeKey": "k", "userId": "u", "event": "E"},
            headers={f"X-{i}": "v" for i in range(200)},
        )
    finally:
        code, out, err = server.stop()
    assert code == 0
    assert_inert(out, "headless lines")
    assert_inert(err, "headless log")
    assert len(out.strip().splitlines()) == 4
    assert "\\x1b[2J" in out and "headers_too_large" in out


async def test_the_tui_shows_every_event_inert_in_every_tab(hostile: Path) -> None:
    """Stream rows, Pretty, Raw, HTTP (headers as received) and Problems: nothing raw reaches the screen, rows stay short."""
    from debugger.tui.widgets.event_detail import EventDetail
    from debugger.tui.widgets.event_list import EventList
    from tests.tui_support import main_screen, make_app, settle

    fill(
        hostile,
        [
            model.IncomingRequest(
                method="POST",
                path="/v1/track",
                remote="127.0.0.1",
                headers=(
                    ("Authorization", basic("wk")),
                    ("User-Agent", OSC8 + HUGE[:3000]),
                    ("X-Note", ANSI + MARKUP + BIDI),
                ),
                body=orjson.dumps({"userId": "u", "event": "Headers " + CLEAR}),
            )
        ],
    )
    app = make_app(hostile)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        stream = main_screen(app).query_one(EventList)
        assert len(stream.order) == 6
        for event_id in stream.order:
            row = " ".join(cell.plain for cell in stream.cells(stream.events[event_id]))
            assert RAW.search(row) is None and len(row) < 300, row[:300]
        detail = main_screen(app).query_one(EventDetail)
        for event_id in (1, 3, 5, 6):  # escapes and markup, a 20 KB name, an invalid type, hostile headers
            assert stream.select_id(event_id)
            await settle(pilot)
            assert detail.event is not None and detail.event["id"] == event_id
            for tab in ("1", "2", "3", "4"):
                await pilot.press(tab)
                await settle(pilot, rounds=2)
                svg = app.export_screenshot()
                found = RAW.search(svg)
                assert found is None, (event_id, tab, svg[max(0, found.start() - 80) : found.start() + 20])
                if (event_id, tab) in ((6, "3"), (5, "4"), (1, "1")):  # the hostile text is there, shown as escapes
                    assert "\\x1b" in svg, (event_id, tab)


def test_inert_shows_invisible_and_line_breaking_characters() -> None:
    """Zero-width and tag characters (two names that look alike), line separators and astral controls become escapes."""
    from debugger.core.pretty.render import inert

    assert inert("Order\u200bCompleted") == "Order\\u200bCompleted"
    assert inert("a\u2028b\u2029c\ufeffd\u2060e") == "a\\u2028b\\u2029c\\ufeffd\\u2060e"
    assert inert("x\U000e0041\U000e007f") == "x\\U000e0041\\U000e007f"
    assert inert("\x1b[31m\x9b1m\u202e", 200) == "\\x1b[31m\\x9b1m\\u202e"
    assert inert("é🎉 👨\u200d👩", 200) == "é🎉 👨\u200d👩"  # ordinary text, emoji joiners included, is left alone
    assert len(inert(HUGE, 100)) == 100 and inert(HUGE, 100).endswith("…")


def test_error_messages_quote_client_values_escaped_and_bounded(fixed_now: object) -> None:
    """A 30 KB write key, a 60 KB path or a long encoding token comes back escaped and cut, not whole."""
    import itertools
    from datetime import datetime

    assert isinstance(fixed_now, datetime)
    counter = itertools.count()

    def answer(request: model.IncomingRequest, **options: object) -> dict[str, object]:
        outcome = wire.handle(request, received_at=fixed_now, new_id=lambda: f"id-{next(counter)}", **options)  # type: ignore[arg-type]
        return orjson.loads(outcome.reply.body)  # type: ignore[no-any-return]

    key = ANSI + "k" * 30_000
    body = orjson.dumps({"writeKey": key, "userId": "u", "event": "E"})
    refused = answer(model.IncomingRequest("POST", "/v1/track", body=body), allowed_keys=frozenset({"mine"}))
    assert refused["code"] == "invalid_write_key" and len(str(refused["message"])) < 250
    assert "\\x1b[31mRED" in str(refused["message"])
    missing = answer(model.IncomingRequest("POST", "/v1/" + ANSI + "p" * 60_000, body=b"{}"))
    assert (
        missing["code"] == "not_found" and len(str(missing["message"])) < 400 and "\x1b" not in str(missing["message"])
    )
    encoding = answer(
        model.IncomingRequest("POST", "/v1/track", headers=(("Content-Encoding", "zz" * 5000),), body=b"{}")
    )
    assert encoding["code"] == "invalid_encoding" and len(str(encoding["message"])) < 200
