"""Fixtures shared by the suite; each says which seam it covers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from debugger.cli.commands.serve import DIAL_ENV
from debugger.cli.options import CA_DIR_ENV
from debugger.server.app import ServerThread
from debugger.server.settings import DIAL_LOOPBACK, Settings

# The segdbg pytest plugin from this checkout (not the installed entry point): the `segdbg` fixture.
pytest_plugins = ["debugger.pytest_plugin"]

# bench/mutation.py runs the property tests with `--hypothesis-profile=mutation`: the same examples on every run (a
# mutant's verdict must not depend on chance) and no health checks (on a loaded machine input generation is slow,
# and a failed health check would count as a killed mutant).
settings.register_profile("mutation", derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def fixed_now() -> datetime:
    """A fixed receive time for the pure core (no clock in protocol/wire)."""
    return datetime(2024, 5, 1, 12, 0, 2, 500000, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A capture file path on tmp_path (the store creates and migrates it)."""
    return tmp_path / "capture.db"


@pytest.fixture
def server(db_path: Path) -> Iterator[ServerThread]:
    """The real ingest server on a free loopback port, on its own loop, with a real SQLite file."""
    with ServerThread(Settings(db=db_path, port=0)) as running:
        yield running


@pytest.fixture(scope="session", autouse=True)
def _intercept_stays_on_this_machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every intercept proxy the suite starts, in-process or as `segdbg serve --intercept`, may dial only
    loopback addresses (docs/intercept.md), and its CA lives in a temporary directory, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DIAL_ENV, DIAL_LOOPBACK)
        patch.setenv(CA_DIR_ENV, str(tmp_path_factory.mktemp("intercept-ca") / "ca"))
        yield
