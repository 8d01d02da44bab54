"""A QUERY on the command line: a negated term (`-type:track`) is a query term in every command that takes
a QUERY, never an option; the commands' own options still parse in any position (docs/search.md, "Terms on the command line")."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from debugger.cli import cli
from debugger.cli.options import join_words
from debugger.server.app import ServerThread
from tests.helpers import http
from tests.sinks import ScriptedTarget


@pytest.fixture
def capture(server: ServerThread, db_path: Path) -> Path:
    """Two track events (named against the naming lint), a page without a userId, an identify."""
    batch = [
        {"type": "track", "event": "clicked button", "userId": "u1", "messageId": "t1"},
        {"type": "track", "event": "clicked button", "userId": "u1", "messageId": "t2"},
        {"type": "page", "name": "Home", "anonymousId": "a1", "messageId": "p1"},
        {"type": "identify", "userId": "u2", "messageId": "i1"},
    ]
    assert http(f"{server.url}/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200
    return db_path


def segdbg(*args: str) -> Result:
    """Run the CLI in-process, as the shell would pass these words."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def message_ids(result: Result) -> list[str]:
    """The messageIds of `events --format jsonl` output."""
    return [orjson.loads(line)["message_id"] for line in result.stdout.splitlines()]


def test_events_reads_a_leading_negated_term_as_the_query(capture: Path) -> None:
    """`events -type:track` lists everything but tracks (it was "No such option '-t'")."""
    result = segdbg("events", "-type:track", "--format", "jsonl", "--db", str(capture))
    assert result.exit_code == 0, result.output
    assert message_ids(result) == ["p1", "i1"]


def test_expect_reads_a_negated_term(capture: Path) -> None:
    """`expect -has:userId --none` fails on the page without a userId; `--count 1` holds."""
    none = segdbg("expect", "-has:userId", "--none", "--timeout", "0", "--db", str(capture))
    assert none.exit_code == 3, none.output
    assert "Expected no events matching `-has:userId`" in none.output and "#3" in none.output
    one = segdbg("expect", "--count", "1", "-has:userId", "--timeout", "0", "--db", str(capture))
    assert one.exit_code == 0, one.output


def test_check_reads_a_negated_term(capture: Path) -> None:
    """`check -type:track` leaves out the badly named tracks: no findings in the other two events."""
    everything = segdbg("check", "--db", str(capture))
    assert everything.exit_code == 3 and "clicked button" in everything.output
    result = segdbg("check", "-type:track", "--db", str(capture))
    assert result.exit_code == 0, result.output
    assert "No findings in 2 events" in result.output


def test_schema_reads_a_negated_term(capture: Path, tmp_path: Path) -> None:
    """`schema -type:track -oFILE`: the query and a short option with its value attached, in one command."""
    out = tmp_path / "schema.json"
    result = segdbg("schema", "-type:track", f"-o{out}", "--format", "json", "--db", str(capture))
    assert result.exit_code == 0, result.output
    document = orjson.loads(out.read_bytes())
    assert document["total"] == 2
    assert {e["type"] for e in document["sources"][0]["events"]} == {"page", "identify"}


def test_replay_reads_a_negated_term(capture: Path) -> None:
    """`replay -type:track --to URL --dry-run` plans only the page and the identify."""
    with ScriptedTarget() as target:
        result = segdbg("replay", "-type:track", "--to", target.url, "--dry-run", "--db", str(capture))
        assert result.exit_code == 0, result.output
        assert target.arrivals == []
    (request,) = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [m["messageId"] for m in request["body"]["batch"]] == ["p1", "i1"]


def test_pin_match_takes_a_negated_query(capture: Path) -> None:
    """`pin --match -type:track`: an option's value is the option's, whatever it starts with."""
    result = segdbg("pin", "--match", "-type:track", "--db", str(capture))
    assert result.exit_code == 0, result.output
    pinned = segdbg("events", "pinned:true", "--format", "jsonl", "--db", str(capture))
    assert message_ids(pinned) == ["p1", "i1"]


@pytest.mark.parametrize(
    "words",
    [
        ["-type:track", "-type:page", "--limit", "5", "--format", "jsonl"],
        ["--format=jsonl", "-type:track", "--limit=5", "-type:page"],
        ["--limit", "5", "-type:track", "--format", "jsonl", "-type:page"],
        ["--format", "jsonl", "--", "-type:track", "-type:page"],
        ["--format", "jsonl", "-type:track -type:page"],  # one quoted word holding the whole query
        ["type:identify,page", "-type:page", "--format", "jsonl"],
    ],
)
def test_real_options_parse_in_any_position(capture: Path, words: list[str]) -> None:
    """Options before, between and after the terms, with `=` or not, and `--`, all read the same."""
    result = segdbg("events", "--db", str(capture), *words)
    assert result.exit_code == 0, result.output
    assert message_ids(result) == ["i1"]


def test_options_still_behave_as_options(capture: Path) -> None:
    """-h is help; a misspelt long option is still a usage error with click's hint; a bad term points at itself."""
    assert "events [OPTIONS] [QUERY]..." in segdbg("events", "-type:track", "-h").output
    typo = segdbg("events", "-type:track", "--limt", "3", "--db", str(capture))
    assert typo.exit_code == 2 and "No such option '--limt'" in typo.output and "--limit" in typo.output
    bad = segdbg("events", "-tpye:track", "--db", str(capture))
    assert bad.exit_code == 2 and "did you mean `type:`?" in bad.output
    missing = segdbg("expect", "--none", "--db", str(capture))
    assert missing.exit_code == 2 and "Missing argument 'QUERY...'" in missing.output


def test_words_the_shell_unquoted_are_quoted_again(capture: Path) -> None:
    """`events type:track -event:"clicked button"` as the shell passes it: the negated name is one term."""
    result = segdbg("events", "type:track,page", "-event:clicked button", "--format", "jsonl", "--db", str(capture))
    assert result.exit_code == 0, result.output
    assert message_ids(result) == ["p1"]


def test_join_words() -> None:
    """One word is the query as written; several are terms, a word the shell unquoted is quoted again."""
    assert join_words(["type:track checkout"]) == "type:track checkout"
    assert join_words(["event:Order Completed", "user:u1"]) == 'event:"Order Completed" user:u1'
    assert join_words(["-event:Order Completed"]) == '-event:"Order Completed"'
    assert join_words(["type:track", "-order completed"]) == 'type:track -"order completed"'
    assert join_words(["-status:ok type:track"]) == "-status:ok type:track"  # a whole query in one word
    assert join_words(["type:track after:1h", "-has:userId"]) == "type:track after:1h -has:userId"
    assert join_words(["event:A B", 'event:"C D"']) == 'event:"A B" event:"C D"'


def test_replay_takes_a_whole_query_in_one_word(capture: Path) -> None:
    """`replay 'type:track after:1h'` is the query as written (it was quoted into `type:"track after:1h"`)."""
    result = segdbg("replay", "type:page after:1h", "--to", "http://127.0.0.1:9", "--dry-run", "--db", str(capture))
    assert result.exit_code == 0, result.output
    assert "would send 1 of 1 events" in result.output
