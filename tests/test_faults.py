"""The fault harness inside the suite: random SIGKILLs under mixed load lose no acknowledged event."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import faults

pytestmark = pytest.mark.slow


def test_random_kills_under_load_lose_nothing_acknowledged(tmp_path: Path) -> None:
    """6 kills at random points (single, batch and gzip senders): 0 lost, integrity ok."""
    report = faults.run(tmp_path / "faults.db", kills=6, seed=20261128)
    print(report.summary())
    assert report.kills == 6 and len(report.acknowledged) > 500
    assert report.lost == set()
    assert report.integrity == "ok"
