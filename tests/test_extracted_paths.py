"""``context.app.version`` kept as columns (core.query.extracted, docs/search.md): every filter on it
gives the same rows whether it reads the columns or the stored message, for every shape the path
can take, and it does read the columns when they can answer. Real writer, real SQLite file."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from debugger.core.http import wire
from debugger.core.http.model import IncomingRequest
from debugger.core.query.extracted import EXTRACTED, READ_JSON, extract
from debugger.core.query.language import parse
from debugger.core.query.sql import compile as compile_sql
from debugger.store.capture import reader
from debugger.store.writer import EventWriter

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
MISSING_CONTEXT: dict[str, Any] = {}
#: Every shape ``context.app.version`` can take in a message, and around it.
SHAPES: list[Any] = [
    {"app": {"version": "1.2"}},
    {"app": {"version": "1.3"}},
    {"app": {"version": "1.2.0"}},
    {"app": {"version": "10"}},
    {"app": {"version": ""}},
    {"app": {"version": 1.2}},
    {"app": {"version": 1}},
    {"app": {"version": 2.0}},
    {"app": {"version": -3}},
    {"app": {"version": True}},
    {"app": {"version": False}},
    {"app": {"version": None}},
    {"app": {"version": ["1.2", "1.3"]}},
    {"app": {"version": {"major": 1}}},
    {"app": [{"version": "1.2"}, {"version": "9"}]},
    {"app": "1.2"},
    {"app": {}},
    {"app": None},
    [{"app": {"version": "1.2"}}],
    "1.2",
    MISSING_CONTEXT,
]
QUERIES = [
    "context.app.version:1.2",
    "context.app.version:1.3",
    "context.app.version:1",
    "context.app.version:2",
    "context.app.version:1.*",
    "context.app.version:*",
    'context.app.version:""',
    "context.app.version:true",
    "context.app.version:false",
    "context.app.version:null",
    "context.app.version>1",
    "context.app.version<=1.2",
    "context.app.version>=a",
    "-context.app.version:1.2",
    "has:context.app.version",
    "-has:context.app.version",
    "context.app.version:1.2 OR context.app.version:9",
    'fql:context.app.version = "1.2"',
    "fql:context.app.version = 1.2",
    "fql:context.app.version != null",
    'fql:!(context.app.version = "1.2")',
    'fql:typeof(context.app.version) = "string"',
    'fql:match(context.app.version, "1.*")',
    "fql:context.app.version = true",
    "fql:length(context.app.version) = 2",
    'fql:context.app.version in ["1.2", "1.3"]',
]


def _store(db: Path) -> list[int]:
    """Each shape as one track's ``context`` (none for the last), through the writer as the server stores it."""
    writer = EventWriter(db).start()
    ids: list[int] = []
    try:
        for n, context in enumerate(SHAPES):
            message: dict[str, Any] = {"type": "track", "event": f"E{n}", "userId": "u"}
            if context is not MISSING_CONTEXT:
                message["context"] = context
            request = IncomingRequest(
                method="POST",
                path="/v1/track",
                body=orjson.dumps(message),
                headers=(("Authorization", "Basic " + base64.b64encode(b"wk:").decode()),),
            )
            outcome = wire.handle(request, received_at=T0 + timedelta(seconds=n), new_id=lambda: "m")
            ids += writer.submit(outcome.record, outcome.events).result(timeout=10).event_ids
    finally:
        writer.close()
    return ids


def _matches(db: Path, text: str) -> list[int]:
    sql, params = compile_sql(parse(text), now=T0)
    with reader(db) as conn:
        return [row[0] for row in conn.execute(f"SELECT id FROM events WHERE {sql} ORDER BY id", params)]


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same events twice: with the columns the writer filled, and with them as a row written before the
    columns existed has them (the type column's default: read the message)."""
    root = tmp_path_factory.mktemp("extracted")
    filled, cleared = root / "filled.db", root / "cleared.db"
    _store(filled)
    _store(cleared)
    cleared_sql = ", ".join(f"{value} = NULL, {kind} = '{READ_JSON}'" for value, kind in EXTRACTED.values())
    with reader(cleared) as conn:
        conn.execute(f"UPDATE events SET {cleared_sql}")
        conn.commit()
    return filled, cleared


@pytest.mark.parametrize("text", QUERIES)
def test_a_filter_on_the_path_gives_the_same_rows_from_the_columns_as_from_the_message(
    captures: tuple[Path, Path], text: str
) -> None:
    filled, cleared = captures
    assert _matches(filled, text) == _matches(cleared, text)


def test_the_shapes_cover_every_answer_the_columns_give(captures: tuple[Path, Path]) -> None:
    """The writer fills what SQLite's json_extract/json_type give, or a mark where only the message can answer."""
    filled, _ = captures
    with reader(filled) as conn:
        rows = conn.execute(
            "SELECT app_version, app_version_type, json_extract(stored, '$.context.app.version'),"
            " json_type(stored, '$.context.app.version') FROM events ORDER BY id"
        ).fetchall()
    assert len(rows) == len(SHAPES)
    for value, kind, json_value, json_kind in rows:
        if kind != READ_JSON:
            assert (value, kind) == (json_value, json_kind) and type(value) is type(json_value)
    kinds = {kind for _, kind, _, _ in rows}
    assert kinds == {"text", "real", "integer", "true", "false", "null", None, READ_JSON}


def test_a_row_not_written_by_the_writer_is_read_from_its_message(tmp_path: Path) -> None:
    """The type column's default says "read the message": a row inserted without the columns is still found."""
    db = tmp_path / "c.db"
    _store(db)
    with reader(db) as conn:
        conn.execute(
            "INSERT INTO events (received_at, status, type, stored) VALUES"
            " ('2026-12-06T10:00:00.000Z', 'ok', 'track', '{\"context\":{\"app\":{\"version\":\"7.7\"}}}')"
        )
        conn.commit()
        (row_id,) = conn.execute("SELECT max(id) FROM events").fetchone()
    assert _matches(db, "context.app.version:7.7") == [row_id]
    assert row_id in _matches(db, "has:context.app.version")


def test_the_filter_reads_the_columns_when_they_can_answer(tmp_path: Path) -> None:
    """Blank the stored message of a row the columns describe: it still matches, from its columns; a row
    whose columns say "read the message" is found in the message."""
    db = tmp_path / "c.db"
    ids = _store(db)
    plain, in_array = ids[SHAPES.index({"app": {"version": "1.2"}})], ids[SHAPES.index([{"app": {"version": "1.2"}}])]
    assert plain in _matches(db, "context.app.version:1.2") and in_array in _matches(db, "context.app.version:1.2")
    with reader(db) as conn:
        conn.execute("UPDATE events SET stored = '{}' WHERE id = ?", (plain,))
        conn.commit()
    assert plain in _matches(db, "context.app.version:1.2")
    assert plain in _matches(db, 'fql:context.app.version = "1.2"')


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"context": {"app": {"version": "1.2"}}}, ("1.2", "text")),
        ({"context": {"app": {"version": 1}}}, (1, "integer")),
        ({"context": {"app": {"version": True}}}, (1, "true")),
        ({"context": {"app": {"version": None}}}, (None, "null")),
        ({"context": {"app": {}}}, (None, None)),
        ({"context": "x"}, (None, None)),
        ({"context": {"app": [{"version": "1"}]}}, (None, READ_JSON)),
        ({"context": {"app": {"version": {"a": 1}}}}, (None, READ_JSON)),
        (None, (None, READ_JSON)),
    ],
)
def test_extract_names_what_sqlite_would_give_or_that_the_message_must_be_read(
    message: Any, expected: tuple[Any, str]
) -> None:
    assert extract(message, ("context", "app", "version")) == expected
