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
