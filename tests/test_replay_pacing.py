"""Pacing, measured where it matters: the receive times a real segdbg target recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from statistics import median

import pytest

from debugger.core.timefmt import format_timestamp, parse_timestamp
from debugger.server.app import ServerThread
from debugger.server.settings import Settings
from tests.helpers import events, http, run_segdbg

#: Gaps (ms) between the events of the seeded session, as their clients timed them.
GAPS_MS = [60, 150, 20, 90, 5, 40, 120, 10, 70, 30, 100, 15, 50, 80]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[ServerThread]:
    """A second real segdbg server: its receivedAt values are the measurement."""
    with ServerThread(Settings(db=tmp_path / "target.db", port=0)) as running:
        yield running


def seed(url: str, gaps_ms: list[int]) -> None:
    """One batch of track events whose client timestamps are ``gaps_ms`` apart (no sentAt, so the
    stored time is the client's)."""
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    offsets = [0]
    for gap in gaps_ms:
        offsets.append(offsets[-1] + gap)
    batch = [
        {
            "type": "track",
            "userId": "u",
            "event": f"Step {i}",
            "timestamp": format_timestamp(start + timedelta(milliseconds=ms)),
        }
        for i, ms in enumerate(offsets)
    ]
    assert http(f"{url}/v1/batch", body={"writeKey": "wk", "batch": batch}).status == 200


def received_gaps_ms(db: Path) -> list[float]:
    """Gaps between consecutive receive times at the target, in ms."""
    times = [parse_timestamp(e["stored"]["receivedAt"]) for e in events(db)]
    return [(b - a).total_seconds() * 1000 for a, b in pairwise(times)]  # type: ignore[operator]


def replay(db: Path, *args: str) -> None:
    """Replay in its own process (so the target's threads do not share its GIL) and insist that
    everything was delivered."""
    result = run_segdbg("replay", "--db", str(db), *args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_speed_1_keeps_the_original_gaps(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """--speed 1: the gaps at the target match the original gaps within a few ms.

    Most gaps must be within a few ms. The sender's own drift is ~1 ms (recorded per request,
    and measured by bench/replay.py); the bound on the worst gap leaves room for a scheduler
    hiccup of the receiving server on a shared, loaded machine, and still fails any run that
    is not paced (all gaps ~0) or paced wrong.
    """
    seed(server.url, GAPS_MS)
    replay(db_path, "--to", target.url, "--speed", "1")
    measured = received_gaps_ms(Path(target.settings.db))
    errors = [abs(m - g) for m, g in zip(measured, GAPS_MS, strict=True)]
    assert median(errors) <= 4, (measured, GAPS_MS)
    assert max(errors) <= 25, (measured, GAPS_MS)


def test_speed_scales_and_max_gap_caps(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """--speed 2 halves the gaps; --max-gap 0.05 caps each wait at 50 ms."""
    seed(server.url, GAPS_MS)
    replay(db_path, "--to", target.url, "--speed", "2", "--max-gap", "0.05")
    expected = [min(g / 2, 50) for g in GAPS_MS]
    measured = received_gaps_ms(Path(target.settings.db))
    errors = [abs(m - e) for m, e in zip(measured, expected, strict=True)]
    assert median(errors) <= 4, (measured, expected)
    assert max(errors) <= 25, (measured, expected)


def test_rate_holds_within_5_percent(server: ServerThread, target: ServerThread, db_path: Path) -> None:
    """--rate 80 over 40 events: the target sees 80 events/s within 5%."""
    seed(server.url, [0] * 39)
    replay(db_path, "--to", target.url, "--rate", "80")
    gaps = received_gaps_ms(Path(target.settings.db))
    assert len(gaps) == 39
    rate = len(gaps) / (sum(gaps) / 1000)
    assert 76 <= rate <= 84, rate
