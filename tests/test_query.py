"""The filter language: parsing, errors that point at the term, canonical text, and SQL on a real capture."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from debugger.core.http import wire
from debugger.core.http.model import IncomingRequest
from debugger.core.protocol import Envelope, build_event
from debugger.core.query import language as q
from debugger.core.query import scope
from debugger.core.query import sql as query_sql
from debugger.core.query.explain import seen, values_at
from debugger.store import writer as store_writer
from debugger.store.capture import connect
from tests import strategies

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ('type:track event:"Order Completed"', 'type:track event:"Order Completed"'),
        ("  TYPE:Track   -Status:OK ", "type:track -status:ok"),
        ("type:page,screen", "type:page,screen"),
        ("traits.email:*@acme.com", "traits.email:*@acme.com"),
        ("context.library.version:>=2", "context.library.version:>=2"),
        ('properties."Plan Name":"Pro Yearly"', 'properties."Plan Name":"Pro Yearly"'),
        ('event:"Order "*', 'event:"Order "*'),
        ("has:properties.coupon,traits.email", "has:properties.coupon,traits.email"),
        ("after:10m before:2024-05-01", "after:10m before:2024-05-01"),
        ('checkout "order completed" -"out of stock"', 'checkout "order completed" -"out of stock"'),
        ("12:30 http://localhost:8088", '"12:30" "http://localhost:8088"'),
        ('"type":x', '"type":x'),
        (r"properties.sku:a\*b", r'properties.sku:"a*b"'),
        ('properties.note:""', 'properties.note:""'),
        ("-", '"-"'),
        ("--verbose", '-"-verbose"'),
    ],
)
def test_canonical_form(text: str, expected: str) -> None:
    """Each query prints back in one normal form, which parses to the same query."""
    parsed = q.parse(text)
    assert q.canonical(parsed) == expected
    assert q.parse(expected) == parsed


def test_parse_builds_the_terms_the_design_names() -> None:
    """Fields, negation, OR lists, wildcards, comparisons and free text become typed terms."""
    parsed = q.parse('-type:track,page user:u* properties.total:>100 has:traits.email after:2h "a b"')
    assert parsed.terms == (
        q.FieldTerm("type", (q.Pattern(("track",)), q.Pattern(("page",))), negated=True),
        q.FieldTerm("user", (q.Pattern(("u", q.STAR)),)),
        q.PathTerm(("properties", "total"), (q.Comparison(">", "100"),)),
        q.HasTerm((("traits", "email"),)),
        q.TimeTerm("after", "2h"),
        q.TextTerm("a b"),
    )
    assert not parsed.has_status_term
    assert q.parse("status:invalid").has_status_term
    assert q.parse("-status:ok").has_status_term


@pytest.mark.parametrize(
    ("text", "message", "span"),
    [
        ("type:track tpye:page", "did you mean `type:`", (11, 15)),
        ("plan:pro", "properties.plan", (0, 4)),
        ("type:", "needs a value", (0, 5)),
        ("type:track,,page", "empty value", (0, 16)),
        ("status:okay", "Unknown status `okay`", (7, 11)),
        ('event:"Order Completed', "never closed", (6, 22)),
        ("propreties.plan:pro", "did you mean `properties`", (0, 19)),
        ("event:>3", "does not compare", (6, 8)),
        ("properties.total:>", "needs a value to compare", (17, 18)),
        ("properties.total:>1*", "wildcard", (17, 20)),
        ("after:yesterday", "is not a time", (0, 15)),
        ("after:10m,1h", "one time", (0, 12)),
        ("has:properties.*", "takes a JSON path", (4, 16)),
        ("properties..plan:x", "empty part", (0, 18)),
        (":x", "field name is missing", (0, 2)),
        ('""', "Empty quotes", (0, 2)),
        ("foo\\", "backslash", (3, 4)),
        ("properties.a.b.c.d.e.f.g.h:x", "at most 8", (0, 28)),
    ],
)
def test_errors_point_at_the_offending_term(text: str, message: str, span: tuple[int, int]) -> None:
    """A malformed query raises QueryError whose offsets cover the bad term, never another exception."""
    with pytest.raises(q.QueryError) as caught:
        q.parse(text)
    assert message in caught.value.message
    assert (caught.value.start, caught.value.end) == span
    assert isinstance(caught.value, ValueError)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=strategies.QUERY_ALPHABET, max_size=30))
def test_parser_is_total_and_canonical_is_a_fixed_point(text: str) -> None:
    """Any text parses or raises QueryError; the canonical form re-parses to the same query."""
    try:
        parsed = q.parse(text)
    except q.QueryError as exc:
        assert 0 <= exc.start < exc.end <= max(len(text), exc.start + 1)
        return
    printed = q.canonical(parsed)
    assert q.parse(printed) == parsed
    assert q.canonical(q.parse(printed)) == printed


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.queries)
def test_canonical_round_trips_every_query(query: q.Query) -> None:
    """Printing any query and parsing it back gives the same query (canonical∘parse∘canonical = canonical)."""
    printed = q.canonical(query)
    assert q.parse(printed) == query
    assert q.canonical(q.parse(printed)) == printed


# -------------------------------------------------------------------- SQL on a real capture
def _message(message_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": message_id, **fields}


CORPUS: list[tuple[str, dict[str, Any], int]] = [
    # (write key, message, minutes before NOW it arrived)
    (
        "wk_py",
        _message(
            "t1",
            "track",
            event="Order Completed",
            userId="u1",
            properties={
                "plan": "pro",
                "total": 120,
                "products": [{"sku": "abc-1", "price": 10}, {"sku": "xyz-9", "price": 20.5}],
                "tags": ["gift", "sale"],
                "coupon": None,
                "active": True,
                "Plan Name": "Pro Yearly",
            },
            context={"library": {"name": "analytics-python", "version": "2.3.4"}},
        ),
        120,
    ),
    (
        "wk_web",
        _message(
            "t2",
            "track",
            event="Order Completed",
            anonymousId="anon-2",
            properties={"plan": "free", "total": "99", "products": [], "active": False},
            context={"library": {"name": "analytics.js", "version": "next-1.84.1"}},
        ),
        30,
    ),
    (
        "wk_web",
        _message(
            "t3",
            "track",
            event="Product Added",
            userId="u3",
            properties={
                "plan": 5,
                "total": "abc",
                "products": {"sku": "abc-1"},
                "matrix": [[1, 2], [3]],
                "note": 'say "hi"\nnow — Ünïcode',
            },
            context={"library": {"name": "analytics.js", "version": 3}},
        ),
        5,
    ),
    ("wk_py", _message("i1", "identify", userId="u1", traits={"email": "ann@acme.com", "name": "Ann"}), 4),
    ("wk_py", _message("i2", "identify", anonymousId="anon-5", traits={"email": "bob@ACME.com"}), 3),
    ("wk_web", _message("p1", "page", name="Pricing", anonymousId="anon-2", properties={"path": "/pricing"}), 2),
    ("wk_web", _message("x1", "track", event="Signup"), 1),  # no ids: invalid
    ("wk_py", _message("t1", "track", event="Order Completed", userId="u1", properties={"plan": "pro"}), 0),
    ("wk_web", _message("g1", "group", userId="u1", groupId="g-1", traits={"plan": "enterprise", "seats": "12"}), 0),
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """A real capture file filled through the ingest path (build_event → EventWriter)."""
    path = Path(tmp_path_factory.mktemp("query")) / "capture.db"
    writer = store_writer.EventWriter(path).start()
    try:
        for write_key, message, minutes in CORPUS:
            envelope = Envelope(write_key=write_key, received_at=NOW - timedelta(minutes=minutes))
            event = build_event(message, envelope, new_id=lambda: "generated")
            writer.submit(None, [event]).result(timeout=30)
    finally:
        writer.close()
    conn = connect(path)
    conn.execute("UPDATE sources SET label = 'Website' WHERE write_key = 'wk_web'")
    yield conn
    conn.close()


def matching(conn: sqlite3.Connection, text: str) -> list[str]:
    """The messageIds (with status for non-ok rows) that a query selects, in id order."""
    sql, params = query_sql.compile(q.parse(text), now=NOW)
    rows = conn.execute(f"SELECT message_id, status FROM events WHERE {sql} ORDER BY id", params)
    return [mid if status == "ok" else f"{mid}:{status}" for mid, status in rows]


ALL = ["t1", "t2", "t3", "i1", "i2", "p1", "x1:invalid", "t1:duplicate", "g1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ALL),
        ("type:track", ["t1", "t2", "t3", "x1:invalid", "t1:duplicate"]),
        ("type:TRACK -status:invalid,duplicate", ["t1", "t2", "t3"]),
        ("type:identify,group", ["i1", "i2", "g1"]),
        ('event:"Order Completed"', ["t1", "t2", "t1:duplicate"]),
        ('event:"order completed"', []),  # values are case-sensitive, as event names are
        ("event:Pricing", ["p1"]),  # page name
        ("event:*", ["t1", "t2", "t3", "p1", "x1:invalid", "t1:duplicate"]),
        ("-event:*", ["i1", "i2", "g1"]),  # missing field: a negation includes it
        ("event:Order*", ["t1", "t2", "t1:duplicate"]),
        ("user:u1", ["t1", "i1", "t1:duplicate", "g1"]),
        ("user:anon-2", ["t2", "p1"]),
        ("user:anon-*", ["t2", "i2", "p1"]),
        ("source:wk_web", ["t2", "t3", "p1", "x1:invalid", "g1"]),
        ("source:Website", ["t2", "t3", "p1", "x1:invalid", "g1"]),  # the source's label
        ("lib:analytics.js", ["t2", "t3"]),
        ("id:t1", ["t1", "t1:duplicate"]),
        ("status:invalid", ["x1:invalid"]),
        ("problem:no_user_anon_id", ["x1:invalid"]),
        ("problem:duplicate_*", ["t1:duplicate"]),
        ("after:10m", ["t3", "i1", "i2", "p1", "x1:invalid", "t1:duplicate", "g1"]),
        ("before:3m", ["t1", "t2", "t3", "i1"]),
        ("after:2024-05-01T11:00:00Z before:2024-05-01T11:58Z", ["t2", "t3", "i1", "i2"]),
        ("-after:1h", ["t1"]),
    ],
)
def test_fields_select_the_right_events(capture: sqlite3.Connection, text: str, expected: list[str]) -> None:
    """Each field of docs/search.md selects exactly the events it names."""
    assert matching(capture, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("properties.plan:pro", ["t1", "t1:duplicate"]),
        ("properties.plan:pro,free", ["t1", "t2", "t1:duplicate"]),
        ("properties.plan:5", ["t3"]),  # a number where others have strings
        ("properties.plan:*", ["t1", "t2", "t3", "t1:duplicate"]),
        ("-properties.plan:pro", ["t2", "t3", "i1", "i2", "p1", "x1:invalid", "g1"]),
        ("traits.plan:enterprise", ["g1"]),
        ("traits.email:*@acme.com", ["i1"]),  # case-sensitive wildcard
        ("traits.email:*@*", ["i1", "i2"]),
        ("properties.total:>100", ["t1"]),
        ("properties.total:>=99", ["t1", "t2"]),  # "99" is a numeric string; "abc" is not a number
        ("properties.total:<100", ["t2"]),
        ("-properties.total:>100", ["t2", "t3", "i1", "i2", "p1", "x1:invalid", "t1:duplicate", "g1"]),
        ("traits.seats:>10", ["g1"]),
        ("context.library.version:>=2", ["t1", "t3"]),  # "2.3.4" reads as 2.3; 3 is a number; "next-…" is not
        ("context.library.version:<3", ["t1"]),
        ("context.library.name:analytics.js", ["t2", "t3"]),
        ("properties.products.sku:abc-1", ["t1", "t3"]),  # any element of an array, or a plain object
        ("properties.products.sku:xyz*", ["t1"]),
        ("properties.products.price:>20", ["t1"]),
        ("properties.products.sku:*", ["t1", "t3"]),
        ("properties.tags:sale", ["t1"]),  # an array of scalars
        ("properties.matrix:3", []),  # arrays of arrays are not searched into
        ("properties.active:true", ["t1"]),
        ("properties.active:false", ["t2"]),
        ("properties.coupon:null", ["t1"]),
        ("has:properties.coupon", []),  # null is not a value
        ("has:properties.products", ["t1", "t2", "t3"]),
        ("-has:userId", ["t2", "i2", "p1", "x1:invalid"]),
        ('properties."Plan Name":"Pro Yearly"', ["t1"]),
        ("properties.nope.deeper:x", []),
        ("properties.plan.sub:x", []),  # a string where an object was expected
        ("properties.path:/pricing", ["p1"]),
        ('traits.name:"Ann"', ["i1"]),
    ],
)
def test_json_paths_handle_nesting_arrays_missing_and_wrong_types(
    capture: sqlite3.Connection, text: str, expected: list[str]
) -> None:
    """JSON paths reach into nested objects and arrays; missing or mistyped values never match (nor crash)."""
    assert matching(capture, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme", ["i1", "i2"]),  # case-insensitive substring of the whole payload
        ("ACME.COM", ["i1", "i2"]),
        ('"order completed"', ["t1", "t2", "t1:duplicate"]),
        ('"Order Completed" -GIFT', ["t2", "t1:duplicate"]),  # keys are text too: -pro would drop "products"
        ('say "\\"hi\\""', ["t3"]),  # a quote inside the payload's JSON string
        ("Ünïcode", ["t3"]),
        ("—", ["t3"]),
        ("anon-2 pricing", ["p1"]),
        ("nothing-like-this", []),
        ("type:track acme", []),
    ],
)
def test_free_text_searches_the_whole_stored_message(
    capture: sqlite3.Connection, text: str, expected: list[str]
) -> None:
    """Bare words and quoted phrases match the stored JSON case-insensitively; terms are ANDed."""
    assert matching(capture, text) == expected


def test_compile_terms_scores_each_term(capture: sqlite3.Connection) -> None:
    """Term-by-term SQL lets a caller count how many terms each event satisfies (for near misses)."""
    parts = query_sql.compile_terms(q.parse('event:"Order Completed" properties.total:>100'), now=NOW)
    assert [label for label, _, _ in parts] == ['event:"Order Completed"', "properties.total:>100"]
    score = " + ".join(f"coalesce({sql}, 0)" for _, sql, _ in parts)
    params = [p for _, _, ps in parts for p in ps]
    rows = dict(capture.execute(f"SELECT message_id, max({score}) FROM events GROUP BY message_id", params).fetchall())
    assert rows["t1"] == 2 and rows["t2"] == 1 and rows["i1"] == 0


def test_text_match_gives_a_necessary_fts_condition() -> None:
    """The FTS5 prefilter uses trigrams of free text and literal path values, never of negated terms or numbers."""
    assert query_sql.text_match(q.parse("")) is None
    assert query_sql.text_match(q.parse("ab")) is None  # shorter than a trigram
    assert query_sql.text_match(q.parse("-secret properties.total:42 type:track")) is None
    assert query_sql.text_match(q.parse("Acme")) == '("acm" AND "cme")'
    assert query_sql.text_match(q.parse("properties.plan:pro,enterprise")) == (
        '(("pro") OR ("ent" AND "nte" AND "ter" AND "erp" AND "rpr" AND "pri" AND "ris" AND "ise"))'
    )
    assert query_sql.text_match(q.parse("properties.plan:pro,*")) is None  # one alternative implies no text
    # A quote is \" inside the stored JSON text, and "" inside an FTS5 string.
    assert query_sql.text_match(q.parse(r"say\"x")) == r'("say" AND "ay\" AND "y\""" AND "\""x")'


def test_selective_queries_are_flagged() -> None:
    """A positive exact user:/id: term marks the query as index-selective."""
    assert q.parse("user:u1 acme").selective
    assert q.parse("id:m1,m2").selective
    assert not q.parse("-user:u1").selective
    assert not q.parse("user:u*").selective
    assert not q.parse("type:track").selective


def test_relative_times_count_back_from_now() -> None:
    """after:/before: compare received_at with now minus the duration, or with the ISO time given."""
    sql, params = query_sql.compile(q.parse("after:90s before:2024-04-30T10:00:00+02:00"), now=NOW)
    assert params == ["2024-05-01T11:58:30.000Z", "2024-04-30T08:00:00.000Z"]
    assert "received_at >=" in sql and "received_at <" in sql
    huge = query_sql.compile(q.parse("after:999999999w"), now=NOW)[1]
    assert huge == ["0001-01-01T00:00:00.000Z"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(strategies.queries)
def test_every_query_compiles_to_valid_sql(query: q.Query) -> None:
    """Whatever parses also runs: the compiled SQL executes on a capture schema without error."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, received_at TEXT, write_key TEXT, type TEXT, name TEXT,"
        " user_id TEXT, anonymous_id TEXT, message_id TEXT, library_name TEXT, status TEXT, problems TEXT,"
        " stored TEXT, pinned INTEGER NOT NULL DEFAULT 0, app_version, app_version_type TEXT)"
    )
    conn.execute("CREATE TABLE sources (write_key TEXT PRIMARY KEY, label TEXT)")
    conn.execute(
        "INSERT INTO events (received_at, type, status, problems, stored) VALUES"
        " ('2024-05-01T11:00:00.000Z', 'track', 'ok', '[{\"code\":\"x\"}]',"
        ' \'{"properties":{"a":[{"b":1}],"c":"d"},"context":{"library":{"version":"2.0"}}}\')'
    )
    sql, params = query_sql.compile(query, now=NOW)
    (count,) = conn.execute(f"SELECT count(*) FROM events WHERE {sql}", params).fetchone()
    assert count in (0, 1)
    # What a user is shown (the canonical text of hints and suggestions) means the same query.
    assert query_sql.compile(q.parse(q.canonical(query)), now=NOW) == (sql, params)
    conn.close()


# ---------------------------------------------------------------------------------- pinned:
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pinned:true", "pinned:true"),
        ("Pinned:TRUE", "pinned:true"),
        ("-pinned:false", "-pinned:false"),
        ("pinned:true,false", "pinned:true,false"),
        ('"pinned":x', '"pinned":x'),
    ],
)
def test_pinned_prints_back_in_canonical_form(text: str, expected: str) -> None:
    """pinned:true|false parses case-insensitively and round-trips through the canonical form."""
    parsed = q.parse(text)
    assert q.canonical(parsed) == expected
    assert q.parse(expected) == parsed


@pytest.mark.parametrize("text", ["pinned:yes", "pinned:*", "pinned:tru*", "pinned:true,1"])
def test_pinned_takes_only_true_or_false(text: str) -> None:
    """Any other value is an error that says what pinned: takes and points at the value."""
    with pytest.raises(q.QueryError) as caught:
        q.parse(text)
    assert "takes true or false" in caught.value.message
    assert caught.value.start >= 7


def test_pinned_selects_pinned_events(capture: sqlite3.Connection) -> None:
    """pinned:true selects the pinned rows, -pinned:true and pinned:false the others."""
    capture.execute("UPDATE events SET pinned = 1 WHERE message_id IN ('t2', 'g1')")
    try:
        assert matching(capture, "pinned:true") == ["t2", "g1"]
        assert matching(capture, "pinned:true type:track") == ["t2"]
        assert matching(capture, "pinned:false") == [m for m in ALL if m not in ("t2", "g1")]
        assert matching(capture, "-pinned:true") == matching(capture, "pinned:false")
        assert matching(capture, "pinned:true,false") == ALL
    finally:
        capture.execute("UPDATE events SET pinned = 0")


# --- what a near miss had where a term looks (`expect`'s "(was ...)") ------------------------------


def _term(text: str) -> q.Term:
    (term,) = q.parse(text).terms
    return term


def test_a_failed_term_shows_the_value_the_event_had_there() -> None:
    stored = {
        "properties": {"currency": "EUR", "products": [{"sku": "a"}, {"sku": None}, {"sku": "b"}, "x", {"sku": 3}]},
        "context": {"long": "z" * 100},
    }
    event = {
        "stored": stored, "received_at": "2026-12-06T10:00:00.000Z", "type": "track", "name": "Order",
        "write_key": "wk", "library": "analytics-python", "status": "ok", "message_id": "m1", "pinned": False,
        "user_id": "u1", "anonymous_id": None, "problems": [{"code": "bad_time"}, "junk", {"code": "no_user"}],
    }  # fmt: skip
    assert seen(_term("properties.currency:GBP"), event) == '"EUR"'
    assert seen(_term("properties.missing:1"), event) == "absent"
    assert seen(_term("properties.products.sku:c"), event) == '"a", "b", 3'
    assert seen(_term("context.long:y"), event) == '"' + "z" * 58 + "…"  # 60 characters at most
    assert seen(_term("has:properties.currency"), event) == '"EUR"'
    assert seen(_term("after:2027-01-01"), event) == '"2026-12-06T10:00:00.000Z"'
    assert seen(_term("problem:x"), event) == '"bad_time", "no_user"'
    assert seen(_term("problem:x"), {**event, "problems": None}) == "no problems"
    assert seen(_term("user:x"), event) == 'userId "u1"'
    assert seen(_term("user:x"), {**event, "anonymous_id": "a"}) == 'userId "u1", anonymousId "a"'
    assert seen(_term("user:x"), {**event, "user_id": None}) == "absent"
    for text, shown in [
        ("type:page", '"track"'), ("event:x", '"Order"'), ("source:x", '"wk"'), ("lib:x", '"analytics-python"'),
        ("status:invalid", '"ok"'), ("id:x", '"m1"'), ("pinned:true", "false"), ("scope:x", '"wk"'),
    ]:  # fmt: skip
        assert seen(_term(text), event) == shown, text
    assert seen(_term("hello"), event) is None  # free text: nothing to point at
    assert seen(_term("http.status:400"), event) == "absent"
    many = {**event, "stored": {"properties": {"p": [{"v": i} for i in range(5)]}}}
    assert seen(_term("properties.p.v:9"), many) == "0, 1, 2 (+2 more)"
    assert values_at({"a": [[{"b": 1}]]}, ("a", "b")) == []  # one level of array, as the filter reads it
    assert values_at(None, ("a",)) == [] and values_at({"a": 0}, ()) == [{"a": 0}]


def test_http_status_selects_rows_by_the_answer_their_request_got(tmp_path: Path) -> None:
    path = tmp_path / "capture.db"
    writer = store_writer.EventWriter(path).start()
    bodies = [
        b'{"batch":[{"type":"track","event":"A","userId":"u","messageId":"ok1"}],"writeKey":"w"}',
        b"{not json",
        b'{"batch":{}}',
    ]
    try:
        for body in bodies:
            request = IncomingRequest(method="POST", path="/v1/batch", body=body)
            outcome = wire.handle(request, received_at=NOW, new_id=lambda: "generated")
            writer.submit(outcome.record, outcome.events).result()
        # A pasted event has no request: no http.status matches it.
        writer.submit(None, [build_event({"type": "track", "event": "P", "userId": "u", "messageId": "paste"},
                                         Envelope(write_key="w", received_at=NOW), new_id=lambda: "x")]).result()  # fmt: skip
    finally:
        writer.close()
    conn = connect(path)
    try:

        def statuses(text: str) -> list[tuple[str, int | None]]:
            sql, params = query_sql.compile(q.parse(text), now=NOW)
            rows = conn.execute(
                "SELECT events.status, (SELECT status FROM requests WHERE requests.id = events.request_id) "
                f"FROM events WHERE {sql} ORDER BY events.id",
                params,
            )
            return [tuple(row) for row in rows]

        ok, bad_json, bad_batch = ("ok", 200), ("rejected", 400), ("rejected", 400)
        assert statuses("http.status:400") == [bad_json, bad_batch]
        assert statuses("http.status:200") == [ok]
        assert statuses("http.status:4*") == [bad_json, bad_batch]
        assert statuses("http.status:*") == [ok, bad_json, bad_batch]
        assert statuses("http.status:>=400") == [bad_json, bad_batch]
        assert statuses("http.status:<400") == [ok]
        assert statuses("http.status:200,400") == [ok, bad_json, bad_batch]
        assert statuses("-http.status:400") == [ok, ("ok", None)]
    finally:
        conn.close()


def test_a_scope_is_a_write_key_read_literally() -> None:
    assert scope.check_name("test-0123") == "test-0123"
    for bad, message in [
        ("", "A scope is a write key; it cannot be empty."),
        ("   ", "A scope is a write key; it cannot be empty."),
        ("k" * 201, "A scope is a write key of at most 200 characters, not 201."),
        ("a\tb", "A scope cannot contain control characters."),
        ("a\x1b", "A scope cannot contain control characters."),
    ]:
        with pytest.raises(scope.ScopeError) as caught:
            scope.check_name(bad)
        assert str(caught.value) == message
    assert scope.check_name("k" * 200) == "k" * 200
    term = scope.term("a*,b")
    assert (term.name, term.values, term.negated) == ("scope", (q.Pattern(("a*,b",)),), False)
    query = q.parse("type:track")
    assert scope.scoped(query, None) is query
    assert scope.scoped(query, "wk").terms == (*query.terms, scope.term("wk"))
    assert scope.key_for_test("run", "gw0", "tests/t.py::a") == scope.key_for_test("run", "gw0", "tests/t.py::a")
    key = scope.key_for_test("run", "gw0", "tests/t.py::a")
    assert key.startswith("test-") and len(key) == 21 and int(key[5:], 16) >= 0
    others = {scope.key_for_test(*args) for args in [("run2", "gw0", "tests/t.py::a"), ("run", "gw1", "tests/t.py::a"),
                                                     ("run", "gw0", "tests/t.py::b")]}  # fmt: skip
    assert key not in others and len(others) == 3
    assert scope.key_for_test("ab", "c", "d") != scope.key_for_test("a", "bc", "d")  # the parts are kept apart


def test_field_names_are_read_in_any_case_and_errors_name_what_was_typed() -> None:
    (status,) = q.parse("HTTP.Status:>=400").terms
    assert isinstance(status, q.RequestTerm) and status.name == "http.status"
    assert q.canonical(q.parse("HTTP.Status:>=400")) == "http.status:>=400"
    with pytest.raises(q.QueryError) as caught:
        q.parse("foo.bar:1")
    assert str(caught.value).startswith("A JSON path cannot start with `foo`; paths start with properties, traits,")
    with pytest.raises(q.QueryError) as caught:
        q.parse("tpye:track")
    assert str(caught.value).startswith("Unknown field `tpye:`; did you mean `type:`? Fields are type, event,")
