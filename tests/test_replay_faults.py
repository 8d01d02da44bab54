"""The replay fault harness inside the suite: random SIGKILLs of `segdbg replay`, resumed each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import replay_faults

pytestmark = pytest.mark.slow


def test_killed_replays_resume_without_resending_what_was_recorded(tmp_path: Path) -> None:
    """4 kills at random points (first run and resumes): every event arrives, nothing recorded as
    delivered is sent again, one delivery row per event, the capture passes integrity_check."""
    report = replay_faults.run(tmp_path, events=4000, kills=4, seed=20261201)
    print(report.summary())
    assert report.kills == 4 and report.resumes == 4
    assert report.resent_after_recorded == set()
    assert report.missing == set() and report.arrived == 4000
    assert report.delivered == report.delivery_rows == 4000
    assert report.status == "delivered"
    assert report.integrity == "ok"
