"""Identity lint in `segdbg check`: placeholder ids, traits inside properties, one anonymousId for several users,
a userId that changes mid-session, alias loops — each with a failing and a passing case, sent by the real
segment-analytics-python library to a real server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from segment.analytics import Client

from debugger.cli import cli
from debugger.core.lint.identity import CODES, IdentityLint
from debugger.server.app import ServerThread
from tests.helpers import events

#: Client timestamps: two hours back, whole seconds.
BASE = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)


def _ago(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def _findings(db: Path, *codes: str) -> list[tuple[str, int, str]]:
    """`check --format json`'s findings with these codes: (code, event id, field)."""
    result = CliRunner().invoke(cli, ["check", "--db", str(db), "--format", "json", "--rules", "strict"])
    assert result.exit_code in (0, 3), result.output
    records = [r["properties"] for r in orjson.loads(result.stdout_bytes)]
    return [
        (r["violationCode"], r["segdbgEventId"], r["violationField"]) for r in records if r["violationCode"] in codes
    ]


def _descriptions(db: Path, code: str) -> list[str]:
    result = CliRunner().invoke(cli, ["check", "--db", str(db), "--format", "json", "--rules", "strict"])
    records = [r["properties"] for r in orjson.loads(result.stdout_bytes)]
    return [r["violationDescription"] for r in records if r["violationCode"] == code]


def test_placeholder_ids_guest_anonymous_and_zeros(server: ServerThread, db_path: Path) -> None:
    """ "guest", "anonymous", "0" and the nil UUID are ids Segment would merge everyone under; real ids pass."""
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.identify("guest", {"plan": "free"}, timestamp=_ago(0))
    analytics.track(anonymous_id="0", event="Cart Viewed", timestamp=_ago(1))
    analytics.group("u1", "anonymous", {"name": "Acme"}, timestamp=_ago(2))
    analytics.track("00000000-0000-0000-0000-000000000000", "Cart Viewed", timestamp=_ago(3))
    analytics.track("guest-42", "Cart Viewed", anonymous_id="10", timestamp=_ago(4))  # real ids
    rows = events(db_path)
    assert _findings(db_path, "placeholder_id") == [
        ("placeholder_id", rows[0]["id"], "userId"),
        ("placeholder_id", rows[1]["id"], "anonymousId"),
        ("placeholder_id", rows[2]["id"], "groupId"),
        ("placeholder_id", rows[3]["id"], "userId"),
    ]


def test_traits_in_properties_but_not_in_context(server: ServerThread, db_path: Path) -> None:
    """A `traits` object in a track's properties is a property; `context.traits` is the Spec's place, not flagged."""
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.track("u1", "Plan Upgraded", {"to": "pro", "traits": {"email": "ann@acme.com"}}, timestamp=_ago(0))
    analytics.track("u1", "Plan Upgraded", {"to": "pro"}, context={"traits": {"email": "ann@acme.com"}})
    rows = events(db_path)
    assert _findings(db_path, "traits_in_properties", "traits_on_track") == [
        ("traits_in_properties", rows[0]["id"], "properties.traits")
    ]


def test_user_id_changed_mid_session_unless_aliased(server: ServerThread, db_path: Path) -> None:
    """One device, two users in a session without reset(): flagged; an alias renaming the user is not a change."""
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.identify("ann", {"email": "ann@acme.com"}, anonymous_id="dev-1", timestamp=_ago(0))
    analytics.track("ann", "Cart Viewed", anonymous_id="dev-1", timestamp=_ago(10))
    analytics.identify("bob", {"email": "bob@acme.com"}, anonymous_id="dev-1", timestamp=_ago(20))  # no reset()
    analytics.alias("bob", "bob-2", context={}, timestamp=_ago(30))  # the same person, renamed
    analytics.track("bob-2", "Cart Viewed", anonymous_id="dev-1", timestamp=_ago(40))
    analytics.track(anonymous_id="dev-1", event="Cart Viewed", timestamp=_ago(50))  # signed out: no userId
    analytics.identify("bob-2", anonymous_id="dev-2", timestamp=_ago(60))  # another device, same user: fine
    rows = events(db_path)
    assert _findings(db_path, *CODES) == [("user_id_changed_mid_session", rows[2]["id"], "userId")]
    (text,) = _descriptions(db_path, "user_id_changed_mid_session")
    assert text.startswith(
        f'anonymousId "dev-1" was "ann" (#{rows[1]["id"]} at {rows[1]["timestamp"]}) and is now "bob"'
    )


def test_anonymous_id_many_users_across_sessions(server: ServerThread, db_path: Path) -> None:
    """An anonymousId identified as a second user in a later session: flagged once; a known user again is fine."""
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.identify("ann", anonymous_id="kiosk", timestamp=_ago(0))
    analytics.identify("bob", anonymous_id="kiosk", timestamp=_ago(3600))  # an hour later: a new session
    analytics.identify("ann", anonymous_id="kiosk", timestamp=_ago(7200))  # ann again: nothing new
    analytics.identify("cid", anonymous_id="kiosk", timestamp=_ago(9100))
    analytics.identify("ann", anonymous_id="phone", timestamp=_ago(9101))  # ann's other device: fine
    rows = events(db_path)
    assert _findings(db_path, *CODES) == [
        ("anonymous_id_many_users", rows[1]["id"], "anonymousId"),
        ("anonymous_id_many_users", rows[3]["id"], "anonymousId"),
    ]
    last = _descriptions(db_path, "anonymous_id_many_users")[-1]
    assert f'identified as "cid", and was before as "ann" (#{rows[0]["id"]}), "bob" (#{rows[1]["id"]})' in last


def test_alias_loops(server: ServerThread, db_path: Path) -> None:
    """A→B, B→C, C→A closes a loop (named link by link); an alias to itself is one; a chain alone is fine."""
    analytics = Client("wk_app", host=server.url, sync_mode=True)
    analytics.alias("anon-a", "user-b", timestamp=_ago(0))
    analytics.alias("user-b", "user-c", timestamp=_ago(1))
    analytics.alias("user-c", "anon-a", timestamp=_ago(2))  # back to the start
    analytics.alias("solo", "solo", timestamp=_ago(3))
    analytics.alias("x", "y", timestamp=_ago(4))
    analytics.alias("x", "y", timestamp=_ago(5))  # the same alias twice: no loop
    rows = events(db_path)
    assert _findings(db_path, *CODES) == [
        ("alias_loop", rows[2]["id"], "previousId"),
        ("alias_loop", rows[3]["id"], "previousId"),
    ]
    loop = _descriptions(db_path, "alias_loop")[0]
    assert 'earlier aliases already lead "anon-a" → "user-b" → "user-c"' in loop


def test_check_ignores_identity_rules_and_placeholders_stay_out_of_the_graph() -> None:
    """--ignore (a code or `strict`) leaves the rules out; a placeholder userId links nobody."""
    row = {"status": "ok", "timestamp": "2024-01-01T00:00:00.000Z"}

    def ident(i: int, user: str) -> dict[str, Any]:
        return {**row, "id": i, "stored": {"type": "identify", "userId": user, "anonymousId": "a"}}

    assert [f.code for f in IdentityLint().event(ident(1, "u1")) + IdentityLint().event(ident(2, "u2"))] == []
    lint = IdentityLint()
    assert lint.event(ident(1, "u1")) == [] and lint.event(ident(2, "null")) == []
    assert [f.code for f in lint.event(ident(3, "u2"))] == ["user_id_changed_mid_session"]
    assert IdentityLint(ignore={"strict"}).event(ident(1, "u1")) == []
    quiet = IdentityLint(ignore={"user_id_changed_mid_session"})
    assert quiet.event(ident(1, "u1")) == [] and quiet.event(ident(2, "u2")) == []
    with pytest.raises(ValueError, match="session_gap_ms"):
        IdentityLint(session_gap_ms=0)
