"""Examples of the fulfilment pattern the check schedule is shaped by: its data, its intervals
(whole, cut at a deadline, past its end) and the share fulfilled by a given time."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tiqets_tracker.fulfilment_pattern import (
    FULFILMENT_PATTERN,
    Interval,
    intervals,
    share_fulfilled_by,
)

pytestmark = pytest.mark.unit

DAY = 86_400
KNOT_TIMES = [seconds for seconds, _ in FULFILMENT_PATTERN]


def test_the_pattern_times_and_shares_both_ascend() -> None:
    times = [seconds for seconds, _ in FULFILMENT_PATTERN]
    shares = [share for _, share in FULFILMENT_PATTERN]
    assert times == sorted(set(times))
    assert shares == sorted(set(shares))
    assert times[0] > 0
    assert shares[0] > 0.0


def test_the_pattern_ends_with_every_order_fulfilled_within_a_day() -> None:
    assert FULFILMENT_PATTERN[-1] == (DAY, 1.0)
    assert all(0.0 < share <= 1.0 for _, share in FULFILMENT_PATTERN)


def test_the_intervals_of_a_day_are_the_pattern_between_its_times() -> None:
    found = intervals(DAY)
    assert [piece.end_seconds for piece in found] == KNOT_TIMES
    assert [piece.start_seconds for piece in found] == [0, *KNOT_TIMES[:-1]]
    shares_before = [0.0, *(share for _, share in FULFILMENT_PATTERN[:-1])]
    expected_shares = [
        share - before for (_, share), before in zip(FULFILMENT_PATTERN, shares_before, strict=True)
    ]
    assert [piece.share for piece in found] == pytest.approx(expected_shares, abs=1e-12)


def test_the_shares_of_a_day_sum_to_one() -> None:
    assert sum(piece.share for piece in intervals(DAY)) == pytest.approx(1.0, abs=1e-12)


def test_the_density_never_rises_from_one_interval_to_the_next() -> None:
    # The schedule spaces checks wider where the density is lower: later intervals must be
    # sparser, not denser.
    densities = [piece.density for piece in intervals(DAY)]
    assert all(later <= earlier for earlier, later in pairwise(densities))
    assert densities[-1] < densities[0]


def test_the_density_is_the_share_per_second() -> None:
    assert Interval(60, 1_800, 0.75).density == pytest.approx(0.75 / 1_740)
    assert Interval(0, 60, 0.05).density == pytest.approx(0.05 / 60)


def test_a_shorter_deadline_cuts_the_interval_it_falls_in() -> None:
    found = intervals(1_000)
    assert [(piece.start_seconds, piece.end_seconds) for piece in found] == [(0, 60), (60, 1_000)]
    assert sum(piece.share for piece in found) == pytest.approx(share_fulfilled_by(1_000))
    # The cut interval keeps the density of the whole one.
    assert found[-1].density == pytest.approx(intervals(DAY)[1].density)


def test_a_deadline_within_the_first_minute_gives_one_interval() -> None:
    (only,) = intervals(30)
    assert (only.start_seconds, only.end_seconds) == (0, 30)
    assert only.share == pytest.approx(0.025)


@pytest.mark.parametrize("deadline", KNOT_TIMES)
def test_a_deadline_on_a_pattern_time_leaves_no_empty_interval(deadline: int) -> None:
    found = intervals(deadline)
    assert found[-1].end_seconds == deadline
    assert all(piece.end_seconds > piece.start_seconds for piece in found)
    assert len(found) == KNOT_TIMES.index(deadline) + 1


@pytest.mark.parametrize("deadline", [1, 59, 61, 1_000, 1_801, 7_199, 50_000, DAY])
def test_the_shares_up_to_a_deadline_sum_to_the_share_fulfilled_by_then(deadline: int) -> None:
    found = intervals(deadline)
    assert found[0].start_seconds == 0
    assert found[-1].end_seconds == deadline
    for earlier, later in pairwise(found):
        assert later.start_seconds == earlier.end_seconds
    assert sum(piece.share for piece in found) == pytest.approx(
        share_fulfilled_by(deadline), abs=1e-12
    )


def test_past_the_pattern_nothing_more_is_fulfilled() -> None:
    found = intervals(100_000)
    assert len(found) == len(FULFILMENT_PATTERN) + 1
    extension = found[-1]
    assert (extension.start_seconds, extension.end_seconds) == (DAY, 100_000)
    assert extension.share == extension.density == 0.0
    assert sum(piece.share for piece in found) == pytest.approx(1.0)
    # Up to the end of the pattern nothing changes.
    assert found[:-1] == intervals(DAY)


@pytest.mark.parametrize(("seconds", "share"), [(0, 0.0), *FULFILMENT_PATTERN])
def test_the_share_on_a_pattern_time_is_the_pattern_share(seconds: int, share: float) -> None:
    assert share_fulfilled_by(seconds) == pytest.approx(share, abs=1e-12)


@pytest.mark.parametrize(
    ("seconds", "share"),
    [
        (30, 0.025),  # half of the first minute: half of 5 %
        (930, 0.425),  # halfway from 1 min (5 %) to 30 min (80 %)
        (4_500, 0.85),  # halfway from 30 min (80 %) to 2 h (90 %)
        (14_400, 0.925),  # halfway from 2 h (90 %) to 6 h (95 %)
        (54_000, 0.975),  # halfway from 6 h (95 %) to 24 h (100 %)
        (1_800 + 540, 0.81),  # a tenth of the way from 30 min to 2 h
    ],
)
def test_the_share_grows_evenly_between_two_pattern_times(seconds: int, share: float) -> None:
    assert share_fulfilled_by(seconds) == pytest.approx(share, abs=1e-12)


@pytest.mark.parametrize("seconds", [DAY + 0.5, 100_000, 10**9])
def test_every_order_is_fulfilled_after_the_pattern_ends(seconds: float) -> None:
    assert share_fulfilled_by(seconds) == 1.0


@pytest.mark.parametrize("seconds", [-1, -1_000.5])
def test_no_order_is_fulfilled_before_placement(seconds: float) -> None:
    assert share_fulfilled_by(seconds) == 0.0


def test_the_share_never_falls_as_time_passes() -> None:
    shares = [share_fulfilled_by(seconds) for seconds in range(0, DAY + 601, 600)]
    assert shares == sorted(shares)


@pytest.mark.parametrize("deadline", [0, -1, -86_400])
def test_a_deadline_below_one_second_is_refused(deadline: int) -> None:
    with pytest.raises(ValueError, match="deadline_seconds must be at least 1"):
        intervals(deadline)
