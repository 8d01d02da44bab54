"""Lint across events in `segdbg check`: timestamps going back in a batch, double fires, traits that change
mid-session — each with a failing and a passing case, sent by the real segment-analytics-python library."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from segment.analytics import Client

from debugger.cli import cli
from debugger.core.lint.sequence import SequenceLint
from debugger.server.app import ServerThread
from tests.helpers import events


def _findings(db: Path, *extra: str) -> list[dict[str, Any]]:
    """`check --format json`'s records of the cross-event rules: (code, event id, field, description)."""
    result = CliRunner().invoke(cli, ["check", "--db", str(db), "--format", "json", "--rules", "strict", *extra])
    assert result.exit_code in (0, 3), result.output
    records = orjson.loads(result.stdout_bytes)
    wanted = ("timestamps_out_of_order", "double_fire", "traits_changed_mid_session")
    return [r["properties"] for r in records if r["properties"]["violationCode"] in wanted]


#: Client timestamps: ten minutes back, whole milliseconds (so that differences within a batch are exact).
BASE = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)


def _ago(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def test_timestamps_going_back_within_one_batch(server: ServerThread, db_path: Path) -> None:
    batched = Client("wk_app", host=server.url, upload_interval=0.5, upload_size=100)
    batched.track("u1", "Product Viewed", {"n": 1}, timestamp=_ago(0))
    batched.track("u1", "Product Viewed", {"n": 2}, timestamp=_ago(5))
    batched.track("u1", "Product Viewed", {"n": 3}, timestamp=_ago(3))  # back by 2 s
    batched.track("u1", "Product Viewed", {"n": 4}, timestamp=_ago(9))
    batched.flush()
    batched.shutdown()
    rows = events(db_path)
    assert len({r["request_id"] for r in rows}) == 1  # one batch (the rule is per request)
    found = _findings(db_path)
    assert [(f["violationCode"], f["segdbgEventId"], f["violationField"]) for f in found] == [
        ("timestamps_out_of_order", rows[2]["id"], "timestamp")
    ]
    assert f"in the same request (#{rows[1]['id']} at {rows[1]['timestamp']})" in found[0]["violationDescription"]
    assert found[0]["violationDescription"].startswith(f"`timestamp` {rows[2]['timestamp']} is 2000 ms earlier")


def test_timestamps_going_back_across_requests_are_fine(server: ServerThread, db_path: Path) -> None:
    one_by_one = Client("wk_app", host=server.url, sync_mode=True)
    one_by_one.track("u1", "Product Viewed", {"n": 1}, timestamp=_ago(5))
    one_by_one.track("u1", "Product Viewed", {"n": 2}, timestamp=_ago(0))  # earlier, but its own request
    assert _findings(db_path) == []


def test_double_fire(server: ServerThread, db_path: Path) -> None:
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.track("u1", "Order Completed", {"order_id": "o1", "total": 10}, timestamp=_ago(0))
    analytics.track("u1", "Order Completed", {"order_id": "o1", "total": 10}, timestamp=_ago(0.3))  # fired twice
    analytics.track("u1", "Order Completed", {"order_id": "o2", "total": 10}, timestamp=_ago(0.5))  # other props
    analytics.track("u2", "Order Completed", {"order_id": "o2", "total": 10}, timestamp=_ago(0.6))  # other user
    analytics.track("u1", "Order Completed", {"order_id": "o2", "total": 10}, timestamp=_ago(3))  # 2.5 s later
    rows = events(db_path)
    found = _findings(db_path)
    assert [(f["violationCode"], f["segdbgEventId"]) for f in found] == [("double_fire", rows[1]["id"])]
    # ~300 ms: the stored timestamps are skew-corrected (docs/protocol.md §4.3), off by the sends' few ms.
    assert re.search(rf'"u1" [23]\d\d ms after #{rows[0]["id"]}:', found[0]["violationDescription"])
    # A wider window also catches the one 2.5 s later; --ignore leaves the rule out.
    wider = _findings(db_path, "--double-fire-ms", "3000")
    assert [f["segdbgEventId"] for f in wider] == [rows[1]["id"], rows[4]["id"]]
    assert _findings(db_path, "--ignore", "double_fire") == []


def test_traits_changed_mid_session(server: ServerThread, db_path: Path) -> None:
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.identify("u1", {"email": "ann@acme.com", "plan": "free"}, timestamp=_ago(0))
    analytics.track("u1", "Plan Upgraded", {"to": "pro"}, timestamp=_ago(10))
    analytics.identify("u1", {"email": "ann@acme.com", "plan": "pro"}, timestamp=_ago(20))  # a plan may change
    analytics.track("u1", "Cart Viewed", {}, timestamp=_ago(30))
    analytics.identify("u1", {"email": "bob@acme.com"}, timestamp=_ago(40))  # another person, same session
    rows = events(db_path)
    found = _findings(db_path, "--ignore", "double_fire")
    assert [(f["violationCode"], f["segdbgEventId"], f["violationField"]) for f in found] == [
        ("traits_changed_mid_session", rows[4]["id"], "traits.email")
    ]
    email = found[0]["violationDescription"]
    assert email.startswith('`traits.email` changed from "ann@acme.com" (identify #')
    assert f'to "bob@acme.com" in the same session, after track "Cart Viewed" (#{rows[3]["id"]} at' in email


def test_traits_that_change_in_a_new_session_or_without_tracks_are_fine(server: ServerThread, db_path: Path) -> None:
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.identify("u1", {"email": "ann@acme.com"}, timestamp=_ago(0))
    analytics.identify("u1", {"email": "ann@work.com"}, timestamp=_ago(1))  # no track in between
    analytics.track("u1", "Cart Viewed", {}, timestamp=_ago(2))
    analytics.identify("u1", {"email": "bob@acme.com"}, timestamp=_ago(2 + 3600))  # an hour later: a new session
    analytics.identify("u1", {"email": "bob@acme.com", "plan": "pro"}, timestamp=_ago(3603))  # adds, changes nothing
    analytics.track("u1", "Cart Viewed", {}, timestamp=_ago(3604))
    analytics.identify("u1", {"email": "Bob@Acme.com "}, timestamp=_ago(3605))  # the same address, recased
    assert _findings(db_path) == []


def test_sequence_lint_arguments_and_ignored_category() -> None:
    with pytest.raises(ValueError, match="double_fire_ms"):
        SequenceLint(double_fire_ms=-1)
    lint = SequenceLint(ignore={"strict"})
    row = {"id": 1, "request_id": 1, "status": "ok", "timestamp": "2024-01-01T00:00:01.000Z"}
    first = {**row, "stored": {"type": "track", "event": "A", "userId": "u", "properties": {}}}
    assert lint.event(first) == [] and lint.event({**first, "id": 2}) == []  # strict ignored: nothing
    again = SequenceLint()
    assert again.event(first) == [] and [f.code for f in again.event({**first, "id": 2})] == ["double_fire"]


# --- the pure rules, row by row -------------------------------------------------------------------


def _row(id: int, seconds: float, request: int | None = 1, status: str = "ok", **stored: Any) -> dict[str, Any]:
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    text = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    return {"id": id, "request_id": request, "status": status, "timestamp": text, "stored": {"userId": "u", **stored}}


def _track(id: int, seconds: float, request: int | None = 1, **stored: Any) -> dict[str, Any]:
    return _row(id, seconds, request, **{"type": "track", "event": "A", "properties": {"x": 1}, **stored})


def test_a_batch_that_goes_back_in_time_is_flagged_once_per_step_back() -> None:
    lint = SequenceLint()
    assert lint.event(_track(1, 10.0, event="B")) == []
    (finding,) = lint.event(_track(2, 9.75, event="C"))
    assert (finding.code, finding.path, finding.severity, finding.category) == (
        "timestamps_out_of_order", "timestamp", "warning", "strict",
    )  # fmt: skip
    assert (finding.expected, finding.actual) == ("≥ 2024-01-01T00:00:10.000Z", "2024-01-01T00:00:09.750Z")
    assert finding.message.startswith(
        "`timestamp` 2024-01-01T00:00:09.750Z is 250 ms earlier than the message before it in the same request "
        "(#1 at 2024-01-01T00:00:10.000Z): the batch goes back in time"
    )
    assert lint.event(_track(3, 9.75, event="D")) == []  # the same time is not going back
    assert lint.event(_track(4, 100.0, request=2, event="E")) == []
    assert lint.event(_track(5, 50.0, request=3, event="F")) == []  # another request: fine
    (late,) = lint.event(_track(6, 20.0, request=3, event="G"))
    assert "is 30 s earlier" in late.message
    assert lint.event(_track(7, 10.0, request=None, event="H")) == []  # no request: not judged
    assert lint.event(_track(8, 5.0, request=None, event="I")) == []


def test_the_same_call_within_the_window_is_a_double_fire() -> None:
    lint = SequenceLint(double_fire_ms=500)
    assert lint.event(_track(1, 0.0)) == []
    (twice,) = lint.event(_track(2, 0.5, request=2))
    assert (twice.code, twice.path, twice.expected, twice.actual) == (
        "double_fire", "event", "one call within 500 ms", "2 calls 500 ms apart",
    )  # fmt: skip
    assert twice.message.startswith('The same track "A" with the same properties from "u" 500 ms after #1: fired twice')
    assert lint.event(_track(3, 1.001, request=3)) == []  # 501 ms after the previous one
    assert lint.event(_track(4, 1.2, request=4, properties={"x": 2})) == []  # other properties
    assert lint.event(_track(5, 1.3, request=5, properties={"x": 2}, userId="v")) == []  # another person
    assert lint.event(_track(6, 1.35, request=6, properties={"x": 2}, status="duplicate")) == []
    dup = _track(7, 1.4, request=7, properties={"x": 2})
    dup["status"] = "duplicate"  # the server already marked it: not reported again
    assert lint.event(dup) == []
    page = SequenceLint()
    assert page.event(_row(1, 0, type="page", name="Home")) == []
    (again,) = page.event(_row(2, 0.1, request=2, type="page", name="Home"))
    assert (again.path, again.message.split(" with")[0]) == ("name", 'The same page "Home"')
    assert page.event(_row(3, 0, type="screen")) == []
    (unnamed,) = page.event(_row(4, 0.2, request=3, type="screen"))
    assert (unnamed.path, unnamed.message.split(" with")[0]) == ("", "The same screen")
    # Out of order within the window counts too (the gap is absolute).
    back = SequenceLint()
    assert back.event(_track(1, 5.0, request=1)) == []
    assert [f.code for f in back.event(_track(2, 4.5, request=2))] == ["double_fire"]


def test_a_person_trait_that_changes_mid_session_is_two_people() -> None:
    lint = SequenceLint()
    assert lint.event(_row(1, 0, type="identify", traits={"email": "ann@acme.com", "plan": "free"})) == []
    assert lint.event(_track(2, 60, request=2)) == []
    # name/phone/username were not set before and plan is not a person trait: only email changed.
    changed = {"email": "bob@acme.com", "plan": "pro", "name": "Bob", "phone": "2", "username": "bob"}
    found = lint.event(_row(3, 120, request=3, type="identify", traits=changed))
    assert [(f.path, f.expected, f.actual) for f in found] == [("traits.email", '"ann@acme.com"', '"bob@acme.com"')]
    assert "(and" not in found[0].message
    # Same session, the same email in another case and with spaces: one person.
    assert lint.event(_track(4, 130, request=4)) == []
    assert lint.event(_row(5, 140, request=5, type="identify", traits={"email": " BOB@acme.com "})) == []


def test_traits_changed_mid_session_names_the_events_either_side() -> None:
    lint = SequenceLint(session_gap_ms=60_000)
    person = {"email": "a@x", "phone": "1", "name": "Ann", "username": "ann"}
    assert lint.event(_row(1, 0, type="identify", traits=person)) == []
    assert lint.event(_track(2, 30, request=2)) == []
    other = {"email": "b@x", "phone": "2", "name": "Bob", "username": "bob", "plan": "pro"}
    found = lint.event(_row(3, 60, request=3, type="identify", traits=other))
    assert [(f.code, f.path, f.expected, f.actual) for f in found] == [
        ("traits_changed_mid_session", "traits.email", '"a@x"', '"b@x"'),
        ("traits_changed_mid_session", "traits.phone", '"1"', '"2"'),
        ("traits_changed_mid_session", "traits.name", '"Ann"', '"Bob"'),
    ]
    assert found[0].message == (
        '`traits.email` changed from "a@x" (identify #1 at 2024-01-01T00:00:00.000Z) to "b@x" in the same session, '
        'after track "A" (#2 at 2024-01-01T00:00:30.000Z) by "u" (and 1 more traits): the events either side are '
        "two people under one id; call reset() when the user changes (sign-out)."
    )
    # Without a track in between, or after the session gap, a change is not reported.
    assert lint.event(_row(4, 70, request=4, type="identify", traits={"email": "c@x"})) == []
    assert lint.event(_track(5, 80, request=5)) == []
    assert lint.event(_row(6, 141, request=6, type="identify", traits={"email": "d@x"})) == []  # 61 s quiet
    assert lint.event(_track(7, 150, request=7)) == []
    (numeric,) = lint.event(_row(8, 160, request=8, type="identify", traits={"email": 5}))
    assert (numeric.expected, numeric.actual) == ('"d@x"', "5")
    assert lint.event(_track(9, 170, request=9)) == []
    assert lint.event(_row(10, 180, request=10, type="identify", traits={"email": None})) == []  # null: no value
    # A session is kept alive by every event, and a page counts as the call in between.
    assert lint.event(_row(11, 190, request=11, type="page", name="P")) == []
    assert lint.event(_row(12, 200, request=12, type="identify", traits={"email": "e@x"})) == []  # after null
    assert lint.event(_row(13, 205, request=13, type="page", name="P")) == []
    (after_page,) = lint.event(_row(14, 210, request=14, type="identify", traits={"email": "f@x"}))
    assert 'after page "P" (#13' in after_page.message


def test_rows_without_what_the_rules_need_are_passed_over() -> None:
    lint = SequenceLint()
    assert lint.event({"id": 1, "status": "rejected", "stored": {"type": "track"}}) == []
    assert lint.event({"id": 1, "status": "ok", "stored": "x"}) == []
    assert lint.event({"id": 1, "status": "ok", "timestamp": "nonsense", "stored": {"type": "track"}}) == []
    # The stored timestamp stands in for the column; an identity may be an anonymousId or a number.
    anon = {
        "status": "ok",
        "request_id": None,
        "stored": {"type": "track", "event": "A", "anonymousId": 7, "timestamp": "2024-01-01T00:00:00.000Z"},
    }
    assert lint.event({**anon, "id": 2}) == []
    assert [f.code for f in lint.event({**anon, "id": 3})] == ["double_fire"]
    nobody = {
        "status": "ok",
        "request_id": None,
        "stored": {"type": "track", "event": "A", "userId": True, "timestamp": "2024-01-01T00:00:00.000Z"},
    }
    assert lint.event({**nobody, "id": 4}) == [] and lint.event({**nobody, "id": 5}) == []
    with pytest.raises(ValueError):
        SequenceLint(session_gap_ms=0)
    assert SequenceLint(double_fire_ms=0).double_fire_ms == 0
    assert SequenceLint(ignore={"double_fire"}).ignore == {"double_fire"}
