"""sample_events/: every file sends with `segdbg send`, and segdbg answers and stores exactly
what sample_events/README.md says it does, so the docs cannot drift from the behaviour.

The README's table is parsed (one row per file); the whole folder is sent in one `segdbg send`
to a real server, and each row is checked against the printed response and the stored
requests and events. The valid samples are also sent on their own: everything stores ``ok``.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from debugger.core.inputs.payloads import FILE_FORMATS, PlannedRequest, plan_file
from debugger.core.protocol import BATCH, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import ROOT, events, requests_rows, run_segdbg

SAMPLES = ROOT / "sample_events"
README = SAMPLES / "README.md"
NOTHING = "—"
SOURCES = {"web-dev", "backend-dev", "ios-dev", "android-dev"}

#: Spec event names (segment-docs spec/ecommerce/v2.md, spec/mobile.md, spec/b2b-saas.md); analytics-swift
#: also sends "Application Foregrounded" (iOSLifecycleEvents.swift).
ECOMMERCE_FUNNEL = (
    "Products Searched",
    "Product List Viewed",
    "Product Viewed",
    "Product Added",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Completed",
)
MOBILE_EVENTS = {
    "Application Installed",
    "Application Opened",
    "Application Backgrounded",
    "Application Foregrounded",
    "Application Updated",
    "Application Uninstalled",
    "Application Crashed",
    "Install Attributed",
    "Push Notification Received",
    "Push Notification Tapped",
    "Push Notification Bounced",
    "Deep Link Opened",
    "Deep Link Clicked",
}
B2B_EVENTS = {
    "Account Created",
    "Account Deleted",
    "Signed Up",
    "Signed In",
    "Signed Out",
    "Invite Sent",
    "Account Added User",
    "Account Removed User",
    "Trial Started",
    "Trial Ended",
}


@dataclass(frozen=True)
class Row:
    """One row of the README table: a file and what segdbg reports for it."""

    file: str
    http: int
    code: str | None
    events: tuple[tuple[str, tuple[str, ...]], ...]  # (status, problem codes) per stored event, in order


_ITEM = re.compile(
    r"^(?:(?P<count>[\d,]+)\s*[×x]\s*)?(?P<status>ok|invalid|duplicate|rejected)(?:\[(?P<codes>[\w ]+)\])?$"
)


def _parse_events(cell: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if cell == NOTHING:
        return ()
    parsed: list[tuple[str, tuple[str, ...]]] = []
    for item in cell.split(", "):
        match = _ITEM.match(item.strip())
        assert match, f"README: cannot read stored-events item {item!r}"
        count = int(match["count"].replace(",", "")) if match["count"] else 1
        codes = tuple(match["codes"].split()) if match["codes"] else ()
        parsed += [(match["status"], codes)] * count
    return tuple(parsed)


def readme_rows() -> list[Row]:
    """The table under "What segdbg reports for each file"."""
    rows: list[Row] = []
    lines = README.read_text().splitlines()
    start = lines.index("| File | What it is | HTTP | Code | Stored events |")
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 5, f"README: a table row needs 5 cells: {line}"
        file, _what, http, code, stored = (c.strip("`") for c in cells)
        rows.append(Row(file, int(http), None if code == NOTHING else code, _parse_events(stored)))
    return rows


ROWS = readme_rows()


def sample_files() -> list[Path]:
    """What `segdbg send sample_events/` sends, in its order: the folder's own files by name, then invalid/."""
    found = [p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() in FILE_FORMATS]
    return sorted(found, key=lambda p: (p.parent != SAMPLES, p.relative_to(SAMPLES).as_posix()))


def planned(path: Path) -> list[PlannedRequest]:
    items = list(plan_file(str(path), path.read_bytes(), now=datetime.now(UTC)))
    assert all(isinstance(i, PlannedRequest) for i in items), f"{path}: a line is not JSON"
    return items  # type: ignore[return-value]


@dataclass
class FolderSend:
    """The result of sending the whole folder once: CLI output and the capture it produced."""

    exit_code: int
    stdout: str
    stderr: str
    requests: dict[str, list[dict[str, Any]]]  # file (relative) → its request rows, in order
    events: dict[int, list[dict[str, Any]]]  # request id → its events, in order


@pytest.fixture(scope="module")
def folder_send(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FolderSend]:
    """`segdbg send sample_events/` once, to a real server with a real SQLite file."""
    db = tmp_path_factory.mktemp("samples") / "capture.db"
    with ServerThread(Settings(db=db, port=0)) as server:
        result = run_segdbg("send", "sample_events", "--to", server.url, cwd=ROOT)
    rows = requests_rows(db)
    by_file: dict[str, list[dict[str, Any]]] = {}
    # `segdbg send` keeps file order (one request in flight), so stored requests follow the plan.
    plan = [(f.relative_to(SAMPLES).as_posix(), r) for f in sample_files() for r in planned(f)]
    assert len(rows) == len(plan), result.stderr
    for (name, request), row in zip(plan, rows, strict=True):
        assert row["path"] == request.path, (name, row["path"])
        by_file.setdefault(name, []).append(row)
    stored: dict[int, list[dict[str, Any]]] = {}
    for event in events(db):
        stored.setdefault(event["request_id"], []).append(event)
    yield FolderSend(result.returncode, result.stdout, result.stderr, by_file, stored)


def test_the_table_has_one_row_per_sample_file() -> None:
    """Every file `segdbg send` would send is in the README table, once, and every row is a file."""
    listed = [row.file for row in ROWS]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert sorted(listed) == sorted(f.relative_to(SAMPLES).as_posix() for f in sample_files())


@pytest.mark.parametrize("row", ROWS, ids=[row.file for row in ROWS])
def test_each_file_is_answered_and_stored_as_the_readme_says(row: Row, folder_send: FolderSend) -> None:
    """The status and code of the response, and each stored event's status and problems, match the row."""
    requests = folder_send.requests[row.file]
    for request in requests:
        assert (request["status"], request["code"]) == (row.http, row.code)
        if row.http != 200:
            # Rejected, never lost: the body is kept with the request.
            assert request["body"] == (SAMPLES / row.file).read_bytes()
    stored = [e for r in requests for e in folder_send.events.get(r["id"], [])]
    got = tuple((e["status"], tuple(p["code"] for p in e["problems"])) for e in stored)
    assert got == row.events
    # The response as `segdbg send` printed it: status per request, Segment's error body on a 400.
    answers = [line for line in folder_send.stdout.splitlines() if f" sample_events/{row.file}" in line]
    assert len(answers) == len(requests)
    for line in answers:
        assert line.startswith(f"{row.http}  ")
        if row.http != 200:
            assert f'"success":false,"code":"{row.code}"' in line


def test_the_whole_folder_sends_in_one_command(folder_send: FolderSend) -> None:
    """`segdbg send sample_events/` sends everything, reports the 400s and exits 3 because of them."""
    rejected = sum(1 for row in ROWS if row.http != 200)
    # `send` counts the messages of every request answered 200, the batch Segment drops after its 200 included.
    messages = sum(r.messages for name, reqs in _plans().items() for r in reqs if _row(name).http == 200)
    assert folder_send.exit_code == 3, folder_send.stderr  # the invalid/ 400s are the point
    assert f"{rejected} rejected." in folder_send.stderr
    assert f"({messages:,} messages)" in folder_send.stderr
    totals = Counter(status for row in ROWS for status, _ in row.events)
    stored = Counter(e["status"] for batch in folder_send.events.values() for e in batch)
    assert stored == totals


def _plans() -> dict[str, list[PlannedRequest]]:
    return {f.relative_to(SAMPLES).as_posix(): planned(f) for f in sample_files()}


def _row(name: str) -> Row:
    return next(row for row in ROWS if row.file == name)


def test_a_first_run_shows_the_good_samples_first(folder_send: FolderSend) -> None:
    """Issue 15 item 8: the good samples go first and invalid/ last, and the 2,501-message batch is one
    rejected row, so the whole first run (funnel included) fits in the TUI's 500-row stream."""
    rows = [e for batch in folder_send.events.values() for e in batch]
    good = [r["id"] for name, reqs in folder_send.requests.items() if not name.startswith("invalid/") for r in reqs]
    bad = [r["id"] for name, reqs in folder_send.requests.items() if name.startswith("invalid/") for r in reqs]
    assert max(good) < min(bad)
    assert len(rows) < 500
    names = {e["name"] for e in rows}
    assert set(ECOMMERCE_FUNNEL) <= names
    [too_many] = folder_send.requests["invalid/batch-too-large.json"]
    assert [e["status"] for e in folder_send.events[too_many["id"]]] == ["rejected"]


def test_valid_samples_store_ok_without_problems(server: ServerThread, db_path: Path) -> None:
    """Everything outside invalid/ sends with exit 0 and stores ok, from every source, type and library."""
    valid = [f for f in sample_files() if f.parent == SAMPLES]
    result = run_segdbg("send", *(str(f.relative_to(ROOT)) for f in valid), "--to", server.url, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    stored = events(db_path)
    assert len(stored) == sum(len(row.events) for row in ROWS if not row.file.startswith("invalid/"))
    assert [(e["status"], e["problems"]) for e in stored if e["status"] != "ok" or e["problems"]] == []
    assert {e["write_key"] for e in stored} == SOURCES
    assert {e["type"] for e in stored} == {"identify", "track", "page", "screen", "group", "alias"}
    assert {e["library_name"] for e in stored} == {
        "analytics.js",
        "analytics-python",
        "@segment/analytics-node",
        "analytics-swift",
        "analytics-kotlin",
    }


def test_timestamps_are_kept_or_skew_corrected_as_the_readme_says(server: ServerThread, db_path: Path) -> None:
    """Without a sentAt of its own a sample keeps its October time; with one it is corrected to about now."""
    files = ["sample_events/screen.json", "sample_events/ecommerce-funnel.jsonl", "sample_events/batch.json"]
    result = run_segdbg("send", *files, "--to", server.url, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for event in events(db_path):
        stored = event["stored"]
        received = datetime.fromisoformat(stored["receivedAt"])
        timestamp = datetime.fromisoformat(stored["timestamp"])
        assert stored["originalTimestamp"].startswith("2026-10-")
        if event["library_name"] == "analytics-python":  # carries an envelope sentAt from October
            assert received - timedelta(minutes=1) < timestamp <= received
        else:  # no sentAt of its own: the October time stays
            assert stored["timestamp"].startswith("2026-10-")


def test_samples_use_the_spec_event_names() -> None:
    """The funnel, mobile and B2B samples use Segment's semantic event names, spelled exactly."""

    def track_names(name: str) -> list[str]:
        data = (SAMPLES / name).read_bytes()
        if name.endswith(".jsonl"):
            messages = [orjson.loads(line) for line in data.splitlines()]
        else:
            messages = orjson.loads(data)[BATCH]
        return [m["event"] for m in messages if m["type"] == "track"]

    funnel = track_names("ecommerce-funnel.jsonl")
    assert list(dict.fromkeys(funnel)) == list(ECOMMERCE_FUNNEL)
    for name in ("mobile-ios-lifecycle.json", "mobile-android-lifecycle.json"):
        assert set(track_names(name)) <= MOBILE_EVENTS
    assert {
        "Application Installed",
        "Application Opened",
        "Application Backgrounded",
        "Application Foregrounded",
        "Deep Link Opened",
    } <= set(track_names("mobile-ios-lifecycle.json"))
    assert set(track_names("b2b-saas-signup.json")) <= B2B_EVENTS
    assert {"Signed Up", "Account Created", "Trial Started", "Invite Sent"} <= set(track_names("b2b-saas-signup.json"))


def _message_ids(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".jsonl":
        documents = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    else:
        try:
            documents = [orjson.loads(data)]
        except orjson.JSONDecodeError:  # invalid-json.json: nothing of it is stored
            documents = []
    messages: list[Any] = []
    for document in documents:
        if isinstance(document, dict) and isinstance(document.get(BATCH), list):
            messages += document[BATCH]
        else:
            messages.append(document)
    return [m["messageId"] for m in messages if isinstance(m, dict) and isinstance(m.get("messageId"), str)]


def test_message_ids_are_unique_across_files_so_each_file_reports_the_same_alone() -> None:
    """Only duplicate-message-id.json repeats a messageId, so no file turns another's events into duplicates."""
    counts = Counter(mid for f in sample_files() for mid in _message_ids(f))
    repeated = {mid for mid, n in counts.items() if n > 1}
    assert repeated == set(_message_ids(SAMPLES / "invalid" / "duplicate-message-id.json"))
    assert len(repeated) == 1


def test_oversized_samples_are_one_step_over_their_limit() -> None:
    """Each oversized sample is the smallest payload over its limit, as the README says."""
    invalid = SAMPLES / "invalid"
    assert (invalid / "payload-too-large-message.json").stat().st_size == MAX_MESSAGE_BYTES + 1
    batch = (invalid / "payload-too-large-batch.json").read_bytes()
    assert len(batch) == MAX_BATCH_BYTES + 1
    assert max(len(orjson.dumps(m)) for m in orjson.loads(batch)[BATCH]) <= MAX_MESSAGE_BYTES
    items = orjson.loads((invalid / "payload-too-large-batch-item.json").read_bytes())[BATCH]
    assert max(len(orjson.dumps(m)) for m in items) == MAX_MESSAGE_BYTES + 1
    assert len(orjson.loads((invalid / "batch-too-large.json").read_bytes())[BATCH]) == MAX_BATCH_MESSAGES + 1


#: Codes built with an f-string in the server, and what they expand to.
TEMPLATED_CODES = {
    "invalid_{}": {
        "invalid_context",
        "invalid_integrations",
        "invalid_properties",
        "invalid_traits",
        "invalid_userId",
        "invalid_anonymousId",
    }
}


def server_codes() -> set[str]:
    """Every problem or error code the server can report, read from its source."""
    codes: set[str] = set()
    for module in (
        "core/protocol.py",
        "core/http/wire.py",
        "core/http/headers.py",
        "core/http/bodies.py",
        "core/http/routes.py",
        "store/writer.py",
        "store/rows.py",
    ):
        tree = ast.parse((ROOT / "debugger" / module).read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
                continue
            if node.func.id not in ("Problem", "RequestError", "error_body"):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                codes.add(first.value)
            elif isinstance(first, ast.JoinedStr):
                template = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in first.values)
                assert template in TEMPLATED_CODES, f"{module}: new templated code {template!r}; list its expansions"
                codes |= TEMPLATED_CODES[template]
    return codes


def readme_codes() -> set[str]:
    """Codes the samples README documents: the table, and the list of codes `send` cannot produce."""
    codes = {row.code for row in ROWS if row.code} | {c for row in ROWS for _, cs in row.events for c in cs}
    text = README.read_text()
    section = text.split("## Problems `segdbg send` cannot produce", 1)[1]
    codes |= set(re.findall(r"^- `(\w+)`", section, flags=re.MULTILINE))
    return codes


def test_every_code_the_server_reports_has_a_sample_or_a_recipe() -> None:
    """Each code in protocol/wire/store has a sample or a curl recipe, and the README names no other code."""
    assert server_codes() == readme_codes()
