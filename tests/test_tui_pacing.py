"""Pure pacing of the stream: the row budget, the rate meter and the sample."""

from __future__ import annotations

from debugger.core.pacing import RateHistory, RateMeter, RowBudget, sample, spread


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


def test_the_sampling_line_keeps_its_text_while_a_flood_holds_steady() -> None:
    """The status line's figures are rounded to two significant figures: a flood at a steady rate
    leaves its text (and the screen below the stream) alone instead of repainting it every redraw."""
    from debugger.store.follow import Totals
    from debugger.tui.widgets.status import StatusLine, StreamState, about

    assert [about(v) for v in (9864, 10234, 243, 25.3, 1.04, 0)] == [9900, 10000, 240, 25, 1, 0]

    def text(rate: float, shown: int) -> str:
        line = StatusLine()
        line.show(
            StreamState(live=True, totals=Totals(), rate=rate, shown=300, cap=500, sampled_in=49_800, sampled_out=shown)
        )
        return line.text.plain

    steady = text(9_864, 200)
    assert steady.startswith("● sampling: showing 1 in 250 (9,900/s is faster than anyone reads)")
    assert text(9_912, 201) == steady
    assert text(12_400, 200) != steady  # a real change still shows


def test_rate_history_keeps_fixed_buckets_of_each_kind() -> None:
    history = RateHistory(bucket=10.0, buckets=3)
    history.add(0.0, 1, 0, 0)
    history.add(9.9, 2, 1, 0)  # same bucket as 0.0
    history.add(10.0, 0, 0, 3)
    history.add(15.0, 0, 0, 1)  # every kind adds up within a bucket
    assert history.columns(19.0) == [(0, 0, 0), (3, 1, 0), (0, 0, 4)]
    assert history.columns(29.9) == [(3, 1, 0), (0, 0, 4), (0, 0, 0)]
    assert history.columns(30.0) == [(0, 0, 4), (0, 0, 0), (0, 0, 0)]
    history.add(30.0, 5, 0, 0)  # bucket 3: bucket 0 falls out of the kept three
    history.add(0.0, 0, 0, 0)
    assert history.columns(20.0) == [(0, 0, 0), (0, 0, 4), (0, 0, 0)]


def test_rate_history_spark_is_scaled_to_the_busiest_bucket_and_marked_by_the_worst_kind() -> None:
    history = RateHistory(bucket=1.0, buckets=6)
    history.add(0.0, 16, 0, 0)
    history.add(1.0, 8, 0, 0)
    history.add(2.0, 1, 1, 0)
    history.add(3.0, 1, 0, 1)
    history.add(4.0, 0, 1, 0)
    assert history.spark(5.0) == [
        ("█", "accepted"),
        ("▄", "accepted"),  # half the peak: 4 of 8 steps
        ("▁", "problems"),
        ("▁", "rejected"),  # rejected wins over accepted
        ("▁", "problems"),
        (" ", ""),  # nothing arrived
    ]
    assert RateHistory(bucket=1.0, buckets=2).spark(5.0) == [(" ", ""), (" ", "")]
    assert RateHistory().columns(0.0) == [(0, 0, 0)] * 12
