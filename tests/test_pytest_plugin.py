"""The `segdbg` pytest fixture, used the way docs/ci.md shows, with the real segment-analytics-python client."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from segment.analytics import Client

from debugger.pytest_plugin import ExpectationFailed, Segdbg
from tests.helpers import ROOT, cli_env


def checkout(analytics: Client, user: str, total: float) -> None:
    """Stand-in for application code that tracks a purchase."""
    analytics.identify(user, {"email": f"{user}@acme.com"})
    analytics.track(user, "Order Completed", {"total": total, "currency": "EUR", "products": [{"sku": "45790-32"}]})


def test_example_checkout_tracks_the_order(segdbg: Segdbg) -> None:
    """docs/ci.md's example: point the library at segdbg, run the code, expect the event (no sleeps)."""
    analytics = Client(segdbg.write_key, host=segdbg.url)
    checkout(analytics, "user_42", 120.5)
    analytics.flush()

    [order] = segdbg.expect('event:"Order Completed" properties.total:>100 properties.products.sku:45790-32', count=1)
    assert order["user_id"] == "user_42" and order["write_key"] == segdbg.write_key
    assert order["stored"]["context"]["library"]["name"] == "analytics-python"
    assert [e["type"] for e in segdbg.events()] == ["identify", "track"]
    analytics.shutdown()


def test_each_test_starts_empty(segdbg: Segdbg) -> None:
    """The fixture resets the capture before every test, so the previous test's events are gone."""
    assert segdbg.events(all=True) == []


def test_a_failed_expectation_shows_the_closest_events(segdbg: Segdbg) -> None:
    """expect raises ExpectationFailed (an AssertionError) naming the near misses and the terms they fail."""
    analytics = Client(segdbg.write_key, host=segdbg.url, sync_mode=True)
    checkout(analytics, "user_7", 20)
    with pytest.raises(ExpectationFailed) as failed:
        segdbg.expect('event:"Order Completed" properties.total:>100', timeout=0.2)
    message = str(failed.value)
    assert "found 0" in message and "Closest events seen" in message
    assert "Order Completed" in message and "fails: properties.total:>100" in message
    assert isinstance(failed.value, AssertionError)
    with pytest.raises(ExpectationFailed, match="found 1"):
        segdbg.expect("type:identify", none=True)
    assert segdbg.reset() == 2 and segdbg.events() == []


def test_expect_waits_for_events_sent_in_the_background(segdbg: Segdbg) -> None:
    """expect wakes on the server's commits: the library's background thread delivers while it waits."""
    analytics = Client(segdbg.write_key, host=segdbg.url, upload_interval=0.05)
    for n in range(30):
        analytics.track("user_1", "Page Scrolled", {"depth": n})
    events = segdbg.expect('event:"Page Scrolled" properties.depth:>=0', at_least=30, timeout=20)
    assert len(events) == 30
    analytics.shutdown()


def test_the_plugin_is_registered_and_cheap_to_load() -> None:
    """pyproject declares the pytest11 entry point; importing the plugin loads no server, database or UI code."""
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert entry_points == {"debugger.pytest_plugin": "debugger.pytest_plugin"}
    probe = "import sys, debugger.pytest_plugin; print(sorted(m for m in ('aiohttp', 'sqlite_utils', 'textual', 'orjson') if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=cli_env(), capture_output=True, text=True, timeout=60, cwd=Path(ROOT)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_failing_expect_shows_the_tests_line_not_the_plugins_frames(tmp_path: Path) -> None:
    """A user's failing test is reported at its own `segdbg.expect(...)` line; the plugin's frames are hidden."""
    (tmp_path / "test_user.py").write_text(
        "def test_checkout(segdbg):\n    segdbg.expect('event:Nope', timeout=0)  # the user's line\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "debugger.pytest_plugin",
            "test_user.py",
        ],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the user's line" in done.stdout and "ExpectationFailed" in done.stdout
    assert "pytest_plugin.py" not in done.stdout  # no frame of the plugin in the report
    assert "found 0" in done.stdout
