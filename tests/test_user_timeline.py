"""`segdbg user ID`: one identity's timeline across sources — the ids it links (identify, alias), its calls, traits
merged as Segment merges them, its newest events — from events the real segment-analytics-python library sent to a
real server on loopback; and the pure merge and link rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from segment.analytics import Client

from debugger.cli import cli
from debugger.core.timeline import Use, follow, merge_traits
from debugger.server.app import ServerThread
from debugger.store.capture import reader
from debugger.store.timeline import identity_timeline
from tests.helpers import events

BASE = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


def _at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def _user(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["user", "--db", str(db), *args])
    return result.exit_code, result.stdout, result.stderr


def _json(db: Path, *args: str) -> dict[str, Any]:
    code, out, err = _user(db, *args, "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = orjson.loads(out)
    return data


@pytest.fixture
def capture(server: ServerThread, db_path: Path) -> Path:
    """Ann browses anonymously on the web, signs up (identify), is aliased to a new id, and uses the app on her phone;
    Bob uses another browser; a "guest" userId is shared by a stranger."""
    web = Client("wk_web", host=server.url, sync_mode=True)
    phone = Client("wk_ios", host=server.url, sync_mode=True)
    web.page(anonymous_id="anon-web", name="Pricing", timestamp=_at(0))
    web.track(anonymous_id="anon-web", event="Signup Started", timestamp=_at(10))
    web.identify("ann", {"email": "ann@old.com", "plan": "free"}, anonymous_id="anon-web", timestamp=_at(20))
    web.group("ann", "acme", {"name": "Acme"}, anonymous_id="anon-web", timestamp=_at(25))
    web.alias("ann", "ann-2", timestamp=_at(30))
    phone.identify("ann-2", {"email": "ann@acme.com"}, anonymous_id="anon-phone", timestamp=_at(40))
    phone.track("ann-2", "Order Completed", {"total": 10}, anonymous_id="anon-phone", timestamp=_at(50))
    web.group("ann", "acme", {"plan": "team"}, anonymous_id="anon-web", timestamp=_at(55))
    web.identify("bob", {"email": "bob@b.com"}, anonymous_id="anon-bob", timestamp=_at(60))  # not Ann
    web.track("guest", "Cart Viewed", anonymous_id="anon-web", timestamp=_at(70))  # a placeholder: not a link
    web.track("guest", "Cart Viewed", anonymous_id="anon-stranger", timestamp=_at(80))
    return db_path


def test_timeline_follows_identify_and_alias_across_sources(capture: Path) -> None:
    """From the first anonymousId, the timeline reaches the userId, its alias and the phone's anonymousId."""
    data = _json(capture, "anon-web")
    rows = events(capture)
    assert [u["id"] for u in data["user_ids"]] == ["ann", "ann-2", "guest"]
    assert [a["id"] for a in data["anonymous_ids"]] == ["anon-web", "anon-phone"]
    assert [(a["previous_id"], a["user_id"]) for a in data["aliases"]] == [("ann", "ann-2")]
    assert {s["write_key"]: s["events"] for s in data["sources"]} == {"wk_web": 7, "wk_ios": 2}
    assert [e["id"] for e in data["events"]] == [r["id"] for r in rows if r["anonymous_id"] != "anon-bob"][:-1]
    assert data["total"] == 9 and data["more"] == 0
    assert [c["type"] for c in data["calls"]] == ["identify", "group", "alias", "identify", "group"]
    # From Ann's new userId, the same identity; from Bob, only Bob.
    assert [u["id"] for u in _json(capture, "ann-2")["user_ids"]] == ["ann", "ann-2", "guest"]
    assert [e["label"] for e in _json(capture, "bob")["events"]] == ["bob (bob@b.com)"]


def test_traits_merge_later_identify_overwrites(capture: Path) -> None:
    """email from the phone's later identify wins; plan, sent once, stays; group traits merge per groupId."""
    data = _json(capture, "ann")
    rows = events(capture)
    assert data["traits"] == {"email": "ann@acme.com", "plan": "free"}
    assert data["trait_source"] == {"email": rows[5]["id"], "plan": rows[2]["id"]}
    assert data["groups"] == {"acme": {"name": "Acme", "plan": "team"}}


def test_placeholder_ids_are_shown_but_not_followed(capture: Path) -> None:
    """Asking for "guest" lists its events, but does not pull in every anonymousId that sent it."""
    data = _json(capture, "guest")
    assert data["placeholder"] is True
    assert [u["id"] for u in data["user_ids"]] == ["guest"]
    assert data["total"] == 2


def test_limit_lists_the_newest_and_says_how_many_more(capture: Path) -> None:
    """--limit 3: the newest three, oldest first, and the table's footer counts the rest."""
    data = _json(capture, "ann", "--limit", "3")
    assert [e["label"] for e in data["events"]] == ["Order Completed", "acme", "Cart Viewed"]
    assert data["shown"] == 3 and data["more"] == data["total"] - 3 == 6
    code, out, _ = _user(capture, "ann", "--limit", "3")
    assert code == 0
    assert "identity 'ann': 3 userIds · 2 anonymousIds · 2 sources · 9 events" in out
    assert "email" in out and '"ann@acme.com"' in out
    assert "… 6 older events not shown (--limit N to list more)" in out


def test_unknown_identity_and_missing_capture_exit_1(capture: Path, tmp_path: Path) -> None:
    """No accepted event with the id: exit 1 with a message; no capture file: a clean error."""
    code, _, err = _user(capture, "nobody")
    assert code == 1 and "No accepted event has userId or anonymousId 'nobody'." in err
    code, _, err = _user(tmp_path / "none.db", "ann")
    assert code == 1 and "no such capture" in err


def test_follow_and_merge_are_pure() -> None:
    """Links join known ids to new ones, never through placeholders; merging is shallow, later wins, null counts."""
    uses = [Use("u1", "a1", "k", 1, 1, 1), Use("0", "a2", "k", 1, 2, 2), Use("u3", "a3", "k", 1, 3, 3)]
    assert follow(uses, [("a1", "u9", 4)], {"u1"}) == {"a1"}
    assert follow(uses, [("a1", "u9", 4)], {"u1", "a1"}) == {"u9"}
    assert follow(uses, [], {"a2"}) == set()
    calls = [
        {"id": 1, "type": "identify", "stored": {"traits": {"a": 1, "address": {"city": "X", "zip": "1"}}}},
        {"id": 2, "type": "track", "stored": {"traits": {"a": 9}}},
        {"id": 3, "type": "identify", "stored": {"traits": {"a": None, "address": {"city": "Y"}}}},
    ]
    traits, source, groups = merge_traits(calls)
    assert traits == {"a": None, "address": {"city": "Y"}} and source == {"a": 3, "address": 3} and groups == {}


def test_identity_timeline_bounds_the_ids_it_follows(capture: Path) -> None:
    """With room for two ids, the timeline stops and says it is incomplete."""
    with reader(capture) as conn:
        small = identity_timeline(conn, "anon-web", max_ids=2)
        with pytest.raises(ValueError, match="limit"):
            identity_timeline(conn, "ann", limit=-1)
    assert small.incomplete
    assert {u.id for u in small.user_ids} | {a.id for a in small.anonymous_ids} >= {"anon-web", "ann"}
