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
        at_most: int | None = None,
        between: tuple[int, int] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until the condition holds (default: at least one match); return the matching events.

        Raises:
            ExpectationFailed: the condition did not hold within ``timeout`` seconds (or
                cannot: more than ``count``/``at_most``/``between``'s high already), with the closest events in the message.
        """
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.core.query.language import canonical, parse
        from debugger.core.query.plan import view_statuses
        from debugger.store.capture import connect
        from debugger.store.expect import Condition, MatchCounter, Outcome, evidence, failure_message

        parsed = parse(query)
        condition = Condition.of(count=count, at_least=at_least, none=none, at_most=at_most, between=between)
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

    def expect_sequence(
        self,
        *steps: str,
        per: str = "user",
        within: str | None = None,
        count: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        between: tuple[int, int] | None = None,
        timeout: float = 5.0,
        all: bool = False,  # noqa: A002 - mirrors --all
    ) -> dict[str, Any]:
        """Wait until enough identities (default: one) did ``steps`` (queries) in order, ``within`` (``10m``) first to last.

        Returns the outcome (``completed``: each identity's chain of event ids and timestamps).

        Raises:
            ExpectationFailed: it did not hold within ``timeout`` seconds, naming for the closest
                identities the step missing, out of order or too late, with timestamps.
        """
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.core.query.language import parse
        from debugger.core.query.plan import view_statuses
        from debugger.core.query.sequence import Funnel, within_ms
        from debugger.store.capture import connect
        from debugger.store.expect import Condition
        from debugger.store.sequence import SequenceOutcome, SequenceReader, sequence_failure_message

        if len(steps) < 2:
            raise ValueError("expect_sequence needs at least two steps")
        parsed = [parse(step) for step in steps]
        condition = Condition.of(count=count, at_least=at_least, at_most=at_most, between=between)
        window = within_ms(within) if within is not None else None
        reader = SequenceReader(parsed, [view_statuses(p, all) for p in parsed], per, window, datetime.now(UTC))
        started = time.monotonic()
        funnel = Funnel(len(steps))
        conn = connect(self.db)
        try:
            while True:
                with self._changed:
                    seen = self._commits
                funnel = reader.update(conn)
                done = len(funnel.completed)
                remaining = timeout - (time.monotonic() - started)
                if condition.holds(done) or condition.hopeless(done) or remaining <= 0:
                    break
                with self._changed:
                    self._changed.wait_for(lambda: self._commits != seen, remaining)  # noqa: B023 - called within this iteration
        finally:
            conn.close()
        ok = condition.holds(len(funnel.completed))
        result = SequenceOutcome(ok, condition, list(steps), per, within, time.monotonic() - started, funnel).to_json()
        if not ok:
            raise ExpectationFailed(sequence_failure_message(result))
        return result

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
