"""Properties of the check schedule that hold for every valid schedule, jitter phase and check
time: the layout of the check times, jitter, replay, and the wait after a check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tiqets_tracker.backoff import NextCheck
from tiqets_tracker.check_schedule import (
    POLLING_PROFILE,
    WEBHOOK_PROFILE,
    CheckSchedule,
    check_phase,
    next_check,
)
from tiqets_tracker.fulfilment_pattern import FULFILMENT_PATTERN

pytestmark = pytest.mark.property

# No per-example deadline: a slow, shared 2-core machine must not make these flaky.
EXAMPLES = settings(max_examples=400, deadline=None)
# Walking a whole schedule check by check costs a call per check: fewer, shorter schedules.
WALK_EXAMPLES = settings(max_examples=150, deadline=None)

MICROS = 1_000_000
LARGEST_PHASE = 1.0 - 2.0**-53
PATTERN_TIMES = [seconds for seconds, _ in FULFILMENT_PATTERN]
# Deadlines on and next to the pattern's times, where intervals are cut or left out.
NEAR_PATTERN_TIMES = sorted({max(1, t + d) for t in PATTERN_TIMES for d in (-1, 0, 1)})

deadlines = st.one_of(
    st.integers(min_value=1, max_value=86_400),
    st.integers(min_value=1, max_value=120),
    st.sampled_from(NEAR_PATTERN_TIMES),
)
jitter_ratios = st.one_of(st.sampled_from([0.0, 0.25, 1.0]), st.floats(0.0, 1.0))
phases = st.one_of(
    st.sampled_from([0.0, 0.5, LARGEST_PHASE]),
    st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
time_zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
placements = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=time_zones,
)


@st.composite
def schedules(draw: st.DrawFn, *, max_checks: int = 2_000) -> CheckSchedule:
    """A valid schedule of at most about `max_checks` checks: the densest spacing is at least
    the deadline over `max_checks`."""
    deadline = draw(deadlines)
    least_spacing = max(1, -(-deadline // max_checks))
    spacing = draw(
        st.one_of(
            st.integers(min_value=least_spacing, max_value=least_spacing + 60),
            st.integers(min_value=least_spacing, max_value=7_200),
        )
    )
    longest = draw(
        st.one_of(
            st.just(spacing),
            st.integers(min_value=spacing, max_value=4 * spacing),
            st.integers(min_value=spacing, max_value=86_400),
        )
    )
    return CheckSchedule(spacing, longest, deadline, jitter_ratio=draw(jitter_ratios))


def gaps(offsets: tuple[int, ...]) -> list[int]:
    return [later - earlier for earlier, later in pairwise(offsets)]


def assert_laid_out(offsets: tuple[int, ...], schedule: CheckSchedule) -> None:
    assert all(type(offset) is int for offset in offsets)
    assert offsets[0] == 0
    assert offsets[-1] == schedule.deadline_seconds
    assert all(gap >= 1 for gap in gaps(offsets))
    assert max(gaps(offsets)) <= schedule.longest_wait_seconds


@EXAMPLES
@given(schedule=schedules(), phase=phases)
@example(schedule=POLLING_PROFILE, phase=LARGEST_PHASE)
@example(schedule=WEBHOOK_PROFILE, phase=LARGEST_PHASE)
@example(schedule=CheckSchedule(1, 1, 1, jitter_ratio=1.0), phase=LARGEST_PHASE)
@example(schedule=CheckSchedule(7_200, 7_200, 1, jitter_ratio=1.0), phase=0.5)
def test_checks_are_whole_seconds_in_order_from_placement_to_the_deadline_never_too_far_apart(
    schedule: CheckSchedule, phase: float
) -> None:
    assert_laid_out(schedule.nominal_offsets(), schedule)
    assert_laid_out(schedule.offsets(phase), schedule)


@EXAMPLES
@given(schedule=schedules())
def test_the_number_of_checks_is_bounded_by_the_densest_spacing(schedule: CheckSchedule) -> None:
    # Each interval rounds its count to the nearest whole number, so at most one more check per
    # interval than its length over the spacing (up to six intervals, one for the deadline).
    nominal = schedule.nominal_offsets()
    bound = schedule.deadline_seconds / schedule.densest_spacing_seconds + len(PATTERN_TIMES) + 2
    assert len(nominal) - 1 <= bound


@EXAMPLES
@given(schedule=schedules(), phase=phases)
@example(schedule=CheckSchedule(10, 10, 100, jitter_ratio=1.0), phase=LARGEST_PHASE)
@example(schedule=CheckSchedule(1, 1, 50, jitter_ratio=1.0), phase=LARGEST_PHASE)
def test_jitter_moves_each_check_later_but_never_past_the_next_nominal_one(
    schedule: CheckSchedule, phase: float
) -> None:
    nominal = schedule.nominal_offsets()
    jittered = schedule.offsets(phase)
    assert len(jittered) == len(nominal)
    assert (jittered[0], jittered[-1]) == (nominal[0], nominal[-1])
    shift = phase * schedule.jitter_ratio
    for index in range(1, len(nominal) - 1):
        following = nominal[index + 1] - nominal[index]
        assert nominal[index] <= jittered[index] < nominal[index + 1]
        # A hair of tolerance for floating-point noise in the share.
        assert jittered[index] - nominal[index] <= shift * following + 1e-9


@EXAMPLES
@given(schedule=schedules(), phase=phases)
def test_without_jitter_or_at_phase_zero_the_checks_are_the_nominal_ones(
    schedule: CheckSchedule, phase: float
) -> None:
    unjittered = CheckSchedule(
        schedule.densest_spacing_seconds,
        schedule.longest_wait_seconds,
        schedule.deadline_seconds,
        jitter_ratio=0.0,
    )
    assert unjittered.offsets(phase) == schedule.nominal_offsets()
    assert schedule.offsets(0.0) == schedule.nominal_offsets()


@EXAMPLES
@given(schedule=schedules(), phase=phases)
def test_the_same_schedule_and_phase_give_the_same_checks(
    schedule: CheckSchedule, phase: float
) -> None:
    again = CheckSchedule(
        schedule.densest_spacing_seconds,
        schedule.longest_wait_seconds,
        schedule.deadline_seconds,
        jitter_ratio=schedule.jitter_ratio,
    )
    assert again.offsets(phase) == schedule.offsets(phase)
    assert again.nominal_offsets() == schedule.nominal_offsets()


@EXAMPLES
@given(order=st.text(min_size=1, max_size=20), placed_at=placements)
@example(order="1111111", placed_at=datetime(2025, 6, 1, 12, tzinfo=UTC))
def test_an_orders_phase_is_in_zero_to_one_and_replayable(order: str, placed_at: datetime) -> None:
    placed_text = placed_at.isoformat()
    phase = check_phase(order, placed_text)
    assert 0.0 <= phase < 1.0
    assert check_phase(order, placed_text) == phase
    # Usable as it is: the profiles accept it.
    assert_laid_out(POLLING_PROFILE.offsets(phase), POLLING_PROFILE)


@st.composite
def schedules_and_check_times(draw: st.DrawFn) -> tuple[CheckSchedule, float, int]:
    """A schedule, a phase and a check time in microseconds after placement: anywhere, before
    the placement, after the deadline, or within two seconds of one of the order's checks."""
    schedule = draw(schedules())
    phase = draw(phases)
    deadline_micros = schedule.deadline_seconds * MICROS
    offsets = schedule.offsets(phase)
    near_a_check = st.builds(
        lambda index, delta: offsets[index] * MICROS + delta,
        st.integers(min_value=0, max_value=len(offsets) - 1),
        st.one_of(
            st.sampled_from([-MICROS - 1, -MICROS, -MICROS + 1, -1, 0, 1, MICROS]),
            st.integers(min_value=-2 * MICROS, max_value=2 * MICROS),
        ),
    )
    elapsed = draw(
        st.one_of(
            near_a_check,
            st.integers(min_value=0, max_value=deadline_micros - 1),
            st.integers(min_value=0, max_value=schedule.deadline_seconds - 1).map(
                lambda seconds: seconds * MICROS
            ),
            st.integers(min_value=-(10**9), max_value=deadline_micros + 10**9),
        )
    )
    return schedule, phase, elapsed


def expected_target(offsets: tuple[int, ...], elapsed_micros: int) -> int:
    """The order's first check time at least a second after `elapsed_micros`, or the deadline
    when none is left."""
    for offset in offsets:
        if offset * MICROS >= elapsed_micros + MICROS:
            return offset
    return offsets[-1]


@settings(max_examples=500, deadline=None)
@given(
    case=schedules_and_check_times(),
    placed_at=placements,
    shown_in=st.one_of(st.none(), time_zones),
)
@example(
    case=(POLLING_PROFILE, 0.0, 121_500_000),
    placed_at=datetime(2025, 1, 1, tzinfo=UTC),
    shown_in=None,
)
@example(
    case=(POLLING_PROFILE, 0.0, 86_399_750_000),
    placed_at=datetime(2025, 1, 1, tzinfo=UTC),
    shown_in=None,
)
@example(
    case=(WEBHOOK_PROFILE, 0.5, -5 * MICROS),
    placed_at=datetime(2025, 1, 1, tzinfo=UTC),
    shown_in=None,
)
def test_the_wait_after_any_check_ends_on_the_orders_next_check_time(
    case: tuple[CheckSchedule, float, int],
    placed_at: datetime,
    shown_in: timezone | None,
) -> None:
    schedule, phase, offset_micros = case
    checked_at = placed_at + timedelta(microseconds=offset_micros)
    if shown_in is not None:
        checked_at = checked_at.astimezone(shown_in)
    decision = next_check(schedule, placed_at=placed_at, checked_at=checked_at, phase=phase)

    elapsed = max(0, offset_micros)
    if elapsed >= schedule.deadline_seconds * MICROS:
        assert decision == NextCheck(None, True)
        return
    assert decision.wait_seconds is not None
    assert not decision.deadline_reached
    assert 1 <= decision.wait_seconds <= schedule.longest_wait_seconds + 1

    offsets = schedule.offsets(phase)
    target = expected_target(offsets, elapsed)
    end = elapsed + decision.wait_seconds * MICROS
    if elapsed % MICROS == 0:
        assert end == target * MICROS
    assert decision.reaches_deadline == (target == schedule.deadline_seconds)
    if decision.reaches_deadline:
        # Never before the deadline, less than a second after it.
        assert 0 <= end - target * MICROS < MICROS
    else:
        # Within half a second of the check time, when checked at a fraction of a second.
        assert -MICROS // 2 < end - target * MICROS <= MICROS // 2


@WALK_EXAMPLES
@given(schedule=schedules(max_checks=200), phase=phases, placed_at=placements)
@example(schedule=POLLING_PROFILE, phase=0.5, placed_at=datetime(2025, 1, 1, tzinfo=UTC))
@example(schedule=WEBHOOK_PROFILE, phase=0.5, placed_at=datetime(2025, 1, 1, tzinfo=UTC))
def test_an_order_never_fulfilled_is_checked_exactly_at_its_check_times(
    schedule: CheckSchedule, phase: float, placed_at: datetime
) -> None:
    offsets = schedule.offsets(phase)
    visited = [0]
    finals: list[bool] = []
    while len(visited) <= len(offsets):
        decision = next_check(
            schedule,
            placed_at=placed_at,
            checked_at=placed_at + timedelta(seconds=visited[-1]),
            phase=phase,
        )
        if decision.wait_seconds is None:
            break
        visited.append(visited[-1] + decision.wait_seconds)
        finals.append(decision.reaches_deadline)
    assert tuple(visited) == offsets
    assert len(visited) == len(offsets)
    # Only the last wait reaches the deadline, and after the check there nothing is left.
    assert finals == [False] * (len(offsets) - 2) + [True]
    assert next_check(
        schedule,
        placed_at=placed_at,
        checked_at=placed_at + timedelta(seconds=visited[-1]),
        phase=phase,
    ) == NextCheck(None, True)
