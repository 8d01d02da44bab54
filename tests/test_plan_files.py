"""The plan files teams already keep: Typewriter's plan.json (v7 and v8) and the Public API's rules export find,
through `check --plan`, exactly the violations the equivalent segdbg YAML plan finds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from debugger.cli.group import cli
from debugger.core.lint.plan import parse
from debugger.core.protocol import Envelope, build_event
from debugger.store import writer as store_writer
from debugger.store.planfile import read_plan

PLANS = Path(__file__).parent / "fixtures" / "plans"
MESSAGES: list[dict[str, Any]] = [
    {"type": "track", "event": "Order Completed", "properties": {"order_id": "o1", "revenue": 12.5}},
    {"type": "track", "event": "Order Completed", "properties": {"revenue": "12", "currency": "GBP", "extra": 1}},
    {"type": "track", "event": "Sign In Failed", "properties": {"id": "u", "numAttempts": 1.5, "rememberMe": True}},
    {"type": "track", "event": "Sign In Failed", "properties": {"id": "u", "numAttempts": 2}},
    {"type": "identify", "traits": {"email": 5}},
    {"type": "identify", "traits": {"email": "ann@acme.com"}},
    {"type": "track", "event": "Nope", "properties": {}},
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real capture file filled through the ingest path (build_event → EventWriter)."""
    path = Path(tmp_path_factory.mktemp("plans")) / "capture.db"
    writer = store_writer.EventWriter(path).start()
    try:
        for index, message in enumerate(MESSAGES):
            envelope = Envelope(write_key="wk", received_at=datetime(2024, 5, 1, tzinfo=UTC))
            full = {**message, "userId": "u1", "messageId": f"m{index}"}
            writer.submit(None, [build_event(full, envelope, new_id=lambda: "generated")]).result()
    finally:
        writer.close()
    return path


def _violations(db: Path, plan: Path) -> set[tuple[str, str, str]]:
    result = CliRunner().invoke(cli, ["check", "--db", str(db), "--plan", str(plan), "--format", "jsonl"])
    assert result.exit_code == 3, result.output
    records = [json.loads(line)["properties"] for line in result.stdout.splitlines()]
    return {(r["violationCode"], r["violationField"] or "", r["eventMessageID"]) for r in records}


@pytest.mark.parametrize(
    ("file", "fmt"),
    [
        ("typewriter-v7-plan.json", "segment-config-api"),
        ("typewriter-plan.json", "segment-public-api"),
        ("public-api-rules.json", "segment-public-api"),
    ],
)
def test_segment_side_plans_find_what_the_native_plan_finds(capture: Path, file: str, fmt: str) -> None:
    """Each Segment-side file is read as its format and `check --plan` finds the native plan's violations."""
    assert read_plan(PLANS / file).format == fmt
    expected = _violations(capture, PLANS / "native.yaml")
    assert {
        ("required", "properties.order_id", "m1"),
        ("type", "properties.revenue", "m1"),
        ("enum", "properties.currency", "m1"),
        ("unplanned_property", "properties.extra", "m1"),
        ("type", "properties.numAttempts", "m2"),
        ("required", "properties.rememberMe", "m3"),
        ("type", "traits.email", "m4"),
    } <= expected
    assert any(code == "unplanned_event" and event == "m6" for code, _, event in expected)
    assert _violations(capture, PLANS / file) == expected


def test_typewriter_schemas_of_properties_named_like_message_fields_stay_properties() -> None:
    """A Typewriter v8 rule (eventMetadata) whose properties include `name` or `type` still describes properties."""
    document = json.loads((PLANS / "typewriter-plan.json").read_text())
    rule = document["rules"][0]["jsonSchema"]
    rule["properties"]["name"] = {"type": "string"}
    parsed = parse(document)
    schema = next(r.schema for r in parsed.rules if r.name == "Order Completed")
    assert set(schema["properties"]) == {"properties"}
    assert "name" in schema["properties"]["properties"]["properties"]
