"""Pure pacing of the stream: the row budget, the rate meter and the sample."""

from __future__ import annotations

from debugger.tui.pacing import RateMeter, RowBudget, sample, spread


def test_budget_lets_a_burst_through_then_paces_a_flood() -> None:
    """The bucket starts full, empties on a burst, and refills at the readable rate."""
    budget = RowBudget(rate=10, burst=50)
    assert budget.available(0.0) == 50
    budget.spend(50)
    assert budget.available(0.1) == 1
    budget.spend(1)
    assert budget.available(1.1) == 10
    assert budget.available(100.0) == 50


def test_rate_meter_counts_over_its_window() -> None:
    """Events per second over the last few seconds; old counts fall out."""
    meter = RateMeter(window=5)
    meter.add(0.0, 100)
    meter.add(2.0, 100)
    assert meter.rate(2.0) == 100
    assert meter.rate(6.5) == 100 / 4.5
    assert meter.rate(20.0) == 0.0


def test_spread_is_even_and_ends_with_the_newest() -> None:
    """An even spread that always keeps the newest id."""
    assert spread(list(range(100)), 4) == [24, 49, 74, 99]
    assert spread([1, 2, 3], 5) == [1, 2, 3]
    assert spread([1, 2, 3], 0) == []


def test_sample_keeps_every_request_before_spreading() -> None:
    """One huge batch cannot hide the other senders: each request's first event is kept."""
    rows = [(i, 1) for i in range(1, 4)] + [(i, 2) for i in range(4, 3000)] + [(3000, 3), (3001, None)]
    chosen = sample(rows, 8)
    assert {1, 4, 3000, 3001} <= set(chosen) and len(chosen) == 8 and chosen == sorted(chosen)
