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

Tests that run in parallel (pytest-xdist) or share one ``segdbg serve`` use ``segdbg_scope`` instead: a write key
of their own, and reads of only its events, with no reset (docs/ci.md, "Per-test scopes")::

    def test_checkout(segdbg_scope):
        analytics = Client(segdbg_scope.write_key, host=segdbg_scope.url)
        ...
        segdbg_scope.expect('event:"Order Completed"', count=1)

``pytest -n 8 --segdbg-url http://127.0.0.1:8088`` (or ``$SEGDBG_TEST_URL``) points every worker's scopes at that
running server; without it they live on the session's own server.

Nothing heavy is imported until the fixture is used, so the plugin costs nothing in test
runs that don't use it. ``--segdbg-keep`` keeps the capture file and prints its path.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from debugger.server.app import ServerThread

WRITE_KEY = "segdbg_test_key"
#: A shared server for ``segdbg_scope`` when ``--segdbg-url`` is not given (docs/ci.md, per-test scopes).
URL_ENV = "SEGDBG_TEST_URL"


class ExpectationFailed(AssertionError):
    """An ``expect`` did not hold; the message lists the closest events seen."""


class CoverageTooLow(AssertionError):
    """``assert_coverage`` found fewer planned events seen valid than asked; the message lists them."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--segdbg-keep``: keep the session's capture database for inspection; ``--segdbg-url``: a shared server."""
    group = parser.getgroup("segdbg")
    group.addoption("--segdbg-keep", action="store_true", help="keep the segdbg capture database and print its path")
    group.addoption(
        "--segdbg-url",
        default=None,
        metavar="URL",
        help=f"a running `segdbg serve` the segdbg_scope fixture sends to and reads from (else ${URL_ENV}; "
        "else the session's own server)",
    )


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

    def scope(self, name: str | None = None) -> SegdbgScope:
        """A scope on this server: ``name`` (a write key), or a new one; its reads see only its own events."""
        return SegdbgScope(name or f"test-{secrets.token_hex(8)}", self.url, self)


@dataclass
class SegdbgScope:
    """One test's own slice of a (possibly shared) segdbg server: its write key, and reads of only its events.

    Configure the client with ``write_key``; ``events`` and ``expect`` read only what was sent with it
    (the query gets the term ``scope:<write_key>``), so tests running in parallel against one
    ``segdbg serve`` never see each other's events, and nothing is reset (docs/ci.md).

    Attributes:
        name: the scope, which is the write key (``test-`` and 16 hex digits for the fixture's).
        url: the server root to give a client library.
    """

    name: str
    url: str
    _reader: Segdbg | _Remote = field(repr=False)

    @property
    def write_key(self) -> str:
        """The write key to configure the client with: the scope's name."""
        return self.name

    def events(self, query: str = "", *, all: bool = False) -> list[dict[str, Any]]:  # noqa: A002 - mirrors --all
        """This scope's stored events matching ``query``, oldest first, in export form."""
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        return self._reader.events(_scoped(query, self.name), all=all)

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
        """Like :meth:`Segdbg.expect`, counting only this scope's events (the closest misses are its own too)."""
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        return self._reader.expect(
            _scoped(query, self.name), count=count, at_least=at_least, none=none, timeout=timeout, all=all
        )


def _scoped(query: str, name: str) -> str:
    # Lazy: this plugin loads in every pytest run of the environment (see above).
    from debugger.core.query.scope import scoped_text

    return scoped_text(query, name)


@dataclass
class _Remote:
    """Reads through a running server's debugger API (docs/ci.md), for a ``segdbg serve`` shared by many tests."""

    url: str

    def _get(self, route: str, params: dict[str, Any], timeout: float = 30) -> Any:
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above); urllib loads ssl.
        from debugger.core.query.language import QueryError
        from debugger.server.client import ApiError, Unreachable, call

        try:
            return call(self.url, route, params, timeout=timeout)
        except ApiError as exc:
            if exc.code == "invalid_query":
                raise QueryError(exc.message, exc.body.get("start", 0), exc.body.get("end", 0)) from None
            raise RuntimeError(f"the segdbg server at {self.url} refused: {exc.message}") from None
        except Unreachable as exc:
            raise RuntimeError(f"no segdbg server answers at {self.url} (--segdbg-url / ${URL_ENV}): {exc}") from None

    def events(self, query: str = "", *, all: bool = False) -> list[dict[str, Any]]:  # noqa: A002 - mirrors --all
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self._get("events", {"q": query, "after": after, "limit": _PAGE, "all": int(all)})
            out += [{k: v for k, v in e.items() if k not in ("findings", "mark")} for e in page["events"]]
            if len(page["events"]) < _PAGE:
                return out
            after = page["next_after"]

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
        __tracebackhide__ = True  # a failure points at the test's line, not at the plugin's
        # Lazy: this plugin loads in every pytest run of the environment (see above).
        from debugger.store.expect import Condition, failure_message

        condition = Condition.of(count=count, at_least=at_least, none=none)
        wanted = {"at_least": condition.n} if condition.mode == "at_least" else {"count": condition.n}
        started = time.monotonic()
        while True:
            chunk = max(0.0, min(_POLL, timeout - (time.monotonic() - started)))
            result = self._get(
                "wait", {"q": query, **wanted, "all": int(all), "timeout": f"{chunk:.3f}"}, timeout=chunk + 30
            )
            elapsed = time.monotonic() - started
            if result["ok"] or elapsed >= timeout or condition.hopeless(result["count"]):
                break
        result["seconds"] = elapsed
        if not result["ok"]:
            raise ExpectationFailed(failure_message(result))
        return self.events(query, all=all) if result["count"] > len(result["events"]) else result["events"]


#: Events per page read through the API; the longest single long-poll (the API takes up to 300 s).
_PAGE = 1000
_POLL = 60.0


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


def _run_id(config: pytest.Config) -> str:
    """This run's id: xdist's ``testrunuid`` (the same on every worker), else one made for the session."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get("testrunuid"):
        return str(workerinput["testrunuid"])
    if not hasattr(config, "_segdbg_run"):
        config._segdbg_run = uuid.uuid4().hex  # type: ignore[attr-defined]
    return str(config._segdbg_run)  # type: ignore[attr-defined]


@pytest.fixture
def segdbg_scope(request: pytest.FixtureRequest) -> SegdbgScope:
    """This test's own scope: ``write_key`` and ``url`` for the client, ``events()`` and ``expect()`` of only its events.

    Against ``--segdbg-url URL`` (or ``$SEGDBG_TEST_URL``), one ``segdbg serve`` shared by every test
    and xdist worker; otherwise the session's own server. Nothing is reset, so tests may run in parallel.
    """
    # Lazy: this plugin loads in every pytest run of the environment (see above).
    from debugger.core.query.scope import key_for_test

    workerinput = getattr(request.config, "workerinput", None) or {}
    name = key_for_test(_run_id(request.config), str(workerinput.get("workerid", "")), request.node.nodeid)
    url = request.config.getoption("segdbg_url") or os.environ.get(URL_ENV)
    if url:
        root = url.rstrip("/")
        return SegdbgScope(name, root, _Remote(root))
    server: Segdbg = request.getfixturevalue("segdbg_server")
    return server.scope(name)


@pytest.fixture
def segdbg(segdbg_server: Segdbg) -> Segdbg:
    """The session's segdbg server, emptied before this test: ``url``, ``write_key``, ``events()``, ``expect()``, ``reset()``."""
    segdbg_server.reset()
    return segdbg_server
