"""The ``segdbg`` pytest fixture: a real segdbg server per test session, reset before each test.

Installed with segdbg (entry point ``pytest11``), so any project's tests can write::

    import segment.analytics as analytics

    def test_checkout_tracks_the_order(segdbg):
        analytics.write_key, analytics.host = segdbg.write_key, segdbg.url
        checkout(cart)                 # the code under test calls analytics.track(...)
        analytics.flush()
        segdbg.expect('event:"Order Completed" properties.total:>0', count=1)

``expect`` returns as soon as the events are stored (it wakes on each commit: no sleeps),
or fails the test with the closest events it did see and the terms each one misses; the
traceback shows the test's own line, not the plugin's frames (``__tracebackhide__``).

Nothing heavy is imported until the fixture is used, so the plugin costs nothing in test
runs that don't use it. ``--segdbg-keep`` keeps the capture file and prints its path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from debugger.server.app import ServerThread

WRITE_KEY = "segdbg_test_key"


class ExpectationFailed(AssertionError):
    """An ``expect`` did not hold; the message lists the closest events seen."""


class CoverageTooLow(AssertionError):
    """``assert_coverage`` found fewer planned events seen valid than asked; the message lists them."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--segdbg-keep``: keep the session's capture database for inspection."""
    group = parser.getgroup("segdbg")
    group.addoption("--segdbg-keep", action="store_true", help="keep the segdbg capture database and print its path")


@dataclass
class Segdbg:
    """A running segdbg server for tests: where to send, and how to look at what arrived.

    Attributes:
        url: the server root to give a client library (``analytics.host = segdbg.url``).
        write_key: a write key to configure clients with (any non-empty key is accepted).
        db: the capture database file.
    """

    url: str
    db: Path
    server: ServerThread = field(repr=False)
    write_key: str = WRITE_KEY
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _commits: int = field(default=0, repr=False)

    def _on_commit(self) -> None:
        with self._changed:
            self._commits += 1
            self._changed.notify_all()

    def events(self, query: str = "", *, all: bool = False) -> list[dict[str, Any]]:  # noqa: A002 - mirrors --all
        """Stored events matching ``query`` (the filter language), oldest first, in export form."""
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.core.pretty.export import export_record
        from debugger.core.query.language import parse
        from debugger.core.query.plan import view_statuses
        from debugger.store.capture import connect
        from debugger.store.reads import iter_events

        parsed = parse(query)
        conn = connect(self.db)
        try:
            events = iter_events(conn, query=parsed, now=datetime.now(UTC), statuses=view_statuses(parsed, all))
            return [export_record(e) for e in events]
        finally:
            conn.close()

    def expect(
        self,
        query: str = "",
        *,
        count: int | None = None,
        at_least: int | None = None,
        none: bool = False,
        timeout: float = 5.0,
        all: bool = False,  # noqa: A002 - mirrors --all
    ) -> list[dict[str, Any]]:
        """Wait until the condition holds (default: at least one match); return the matching events.

        Raises:
            ExpectationFailed: the condition did not hold within ``timeout`` seconds (or
                cannot: more than ``count`` already), with the closest events in the message.
        """
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.core.query.language import canonical, parse
        from debugger.core.query.plan import view_statuses
        from debugger.store.capture import connect
        from debugger.store.expect import Condition, MatchCounter, Outcome, evidence, failure_message

        parsed = parse(query)
        condition = Condition.of(count=count, at_least=at_least, none=none)
        statuses = view_statuses(parsed, all)
        now = datetime.now(UTC)
        counter = MatchCounter(parsed, statuses, now)
        started = time.monotonic()
        conn = connect(self.db)
        try:
            while True:
                with self._changed:
                    seen = self._commits
                found = counter.update(conn)
                remaining = timeout - (time.monotonic() - started)
                if condition.holds(found) or condition.hopeless(found) or remaining <= 0:
                    break
                with self._changed:
                    self._changed.wait_for(lambda: self._commits != seen, remaining)  # noqa: B023 - called within this iteration
            outcome = Outcome(condition.holds(found), found, condition, canonical(parsed), time.monotonic() - started)
            evidence(conn, outcome, parsed, now=now, statuses=statuses)
        finally:
            conn.close()
        if not outcome.ok:
            raise ExpectationFailed(failure_message(outcome.to_json()))
        return self.events(query, all=all) if outcome.found > len(outcome.matches) else outcome.matches

    def coverage(self, plan_path: str | Path, query: str = "") -> dict[str, Any]:
        """Plan coverage of what was captured (``check --plan P --coverage --format json``; docs/tracking-plans.md)."""
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.core.query.language import parse
        from debugger.store.capture import connect
        from debugger.store.coverage import coverage
        from debugger.store.planfile import load

        plan = load(Path(plan_path))
        parsed = parse(query)
        conn = connect(self.db)
        try:
            return coverage(conn, plan, query=parsed if parsed.terms else None).to_json()
        finally:
            conn.close()

    def assert_coverage(self, plan_path: str | Path, min_coverage: float = 100.0, query: str = "") -> dict[str, Any]:
        """Fail the test when fewer than ``min_coverage`` % of the planned events were seen valid; returns the report.

        Raises:
            CoverageTooLow: with each planned event never seen or seen only invalid (and why).
        """
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.core.lint.coverage import describe

        report = self.coverage(plan_path, query)
        if report["coverage"] < min_coverage:
            lines = [
                f"plan coverage {report['coverage']}% < {min_coverage:g}%: "
                f"{report['valid']} of {report['planned']} planned events seen valid"
            ]
            for event in report["planned_events"]:
                if event["status"] == "never":
                    lines.append(f"  never seen: {event['label']}")
                elif event["status"] == "invalid":
                    lines.append(f"  only invalid: {event['label']} ({describe(event['reasons'])})")
            if report["unplanned"]:
                lines.append(
                    "  unplanned: " + ", ".join(f"{u['name'] or u['type']} ×{u['events']}" for u in report["unplanned"])
                )
            raise CoverageTooLow("\n".join(lines))
        return report

    def reset(self) -> int:
        """Delete everything captured so far (through the server's writer); returns how many events."""
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.store.stats import reset

        writer = self.server.app[_writer_key()] if self.server.app is not None else None
        if writer is None:
            raise RuntimeError("the segdbg server is not running")
        return int(writer.call(reset).result(timeout=30))


def _writer_key() -> Any:
    # Lazy: this plugin loads in every pytest run of the environment (see above).
    from debugger.server.keys import writer_key

    return writer_key


@pytest.fixture(scope="session")
def segdbg_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Segdbg]:
    """One real segdbg server on a free loopback port for the whole session, with its own database."""
    # Lazy: this plugin loads in every pytest run of the environment (see above).
    from debugger.server.app import ServerThread
    from debugger.server.settings import Settings

    db = tmp_path_factory.mktemp("segdbg") / "capture.db"
    server = ServerThread(Settings(db=db, host="127.0.0.1", port=0, quiet=True)).start()
    handle = Segdbg(url=server.url, db=db, server=server)
    assert server.app is not None
    server.app[_writer_key()].add_listener(handle._on_commit)
    try:
        yield handle
    finally:
        server.stop()
        if request.config.getoption("segdbg_keep"):
            print(f"\nsegdbg capture kept: {db}")


@pytest.fixture
def segdbg(segdbg_server: Segdbg) -> Segdbg:
    """The session's segdbg server, emptied before this test: ``url``, ``write_key``, ``events()``, ``expect()``, ``reset()``."""
    segdbg_server.reset()
    return segdbg_server
