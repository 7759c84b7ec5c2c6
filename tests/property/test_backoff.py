"""Properties of the back-off after failures that hold for every valid policy, time and failure
count."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tiqets_tracker.backoff import (
    MAX_POLICY_SECONDS,
    BackoffPolicy,
    NextCheck,
    seeded_rng,
    wait_after_failure,
)

pytestmark = pytest.mark.property

# No per-example deadline: a slow, shared 2-core machine must not make these flaky.
EXAMPLES = settings(max_examples=400, deadline=None)
REPLAY_EXAMPLES = settings(max_examples=300, deadline=None)

ONE_SECOND = timedelta(seconds=1)

seeds = st.integers(min_value=0, max_value=2**64)
time_zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
placements = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=time_zones,
)
check_counts = st.one_of(
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=10**40),
)


@st.composite
def policies(draw: st.DrawFn, *, max_deadline: int = MAX_POLICY_SECONDS) -> BackoffPolicy:
    base = draw(st.integers(min_value=1, max_value=min(7_200, max_deadline)))
    cap = draw(st.integers(min_value=base, max_value=base + 7_200))
    deadline = draw(st.integers(min_value=1, max_value=max_deadline))
    multiplier = draw(
        st.one_of(
            st.just(1.0),
            st.floats(min_value=1.0, max_value=10.0),
            st.floats(min_value=1.0, max_value=1e12),
        )
    )
    jitter = draw(st.one_of(st.sampled_from([0.0, 0.1, 1.0]), st.floats(0.0, 1.0)))
    return BackoffPolicy(base, cap, deadline, multiplier, jitter)


def failure_wait(
    policy: BackoffPolicy,
    *,
    placed_at: datetime,
    checked_at: datetime,
    checks_made: int,
    rng: random.Random,
) -> NextCheck:
    """The wait after the `checks_made`-th failure in a row, without Retry-After."""
    return wait_after_failure(
        policy,
        placed_at=placed_at,
        checked_at=checked_at,
        consecutive_failures=checks_made,
        retry_after_seconds=None,
        rng=rng,
    )


def check_time(placed_at: datetime, offset_micros: int) -> datetime:
    return placed_at + timedelta(microseconds=offset_micros)


offsets_micros = st.integers(min_value=-(10**9), max_value=(MAX_POLICY_SECONDS + 10**3) * 10**6)


@st.composite
def policies_and_check_offsets(draw: st.DrawFn) -> tuple[BackoffPolicy, int]:
    """A policy and a check time in microseconds after placement: anywhere, or within a few
    waits of the deadline, where the cut-short last wait and its rounding happen."""
    policy = draw(policies())
    remaining_seconds = st.one_of(
        st.integers(min_value=-2, max_value=2 * policy.cap_seconds + 2),
        st.sampled_from([0, 1, policy.cap_seconds - 1, policy.cap_seconds]),
    )
    fraction_micros = st.one_of(st.just(0), st.integers(min_value=1, max_value=999_999))
    near_deadline = st.builds(
        lambda seconds, micros: policy.deadline_seconds * 10**6 - seconds * 10**6 - micros,
        remaining_seconds,
        fraction_micros,
    )
    return policy, draw(st.one_of(offsets_micros, near_deadline))


def assert_within_deadline(
    decision: NextCheck, *, policy: BackoffPolicy, placed_at: datetime, checked_at: datetime
) -> None:
    """The invariants every decision keeps, whatever produced it."""
    deadline_at = placed_at + timedelta(seconds=policy.deadline_seconds)
    effective = max(checked_at, placed_at)
    if effective >= deadline_at:
        assert decision == NextCheck(None, True)
        return
    assert not decision.deadline_reached
    assert decision.wait_seconds is not None
    assert decision.wait_seconds >= 1
    lands_at = effective + timedelta(seconds=decision.wait_seconds)
    # Never past the deadline, except by less than the one second of rounding up.
    assert lands_at < deadline_at + ONE_SECOND
    remaining = deadline_at - effective
    if remaining % ONE_SECOND == timedelta(0):
        assert lands_at <= deadline_at
    assert decision.reaches_deadline == (lands_at >= deadline_at)


@EXAMPLES
@given(
    policy_and_offset=policies_and_check_offsets(),
    placed_at=placements,
    checks_made=check_counts,
    seed=seeds,
    check_zone=time_zones,
)
def test_a_wait_is_whole_seconds_within_the_cap_and_never_passes_the_deadline(
    policy_and_offset: tuple[BackoffPolicy, int],
    placed_at: datetime,
    checks_made: int,
    seed: int,
    check_zone: timezone,
) -> None:
    policy, offset = policy_and_offset
    checked_at = check_time(placed_at, offset).astimezone(check_zone)
    decision = failure_wait(
        policy,
        placed_at=placed_at,
        checked_at=checked_at,
        checks_made=checks_made,
        rng=seeded_rng(seed),
    )
    assert_within_deadline(decision, policy=policy, placed_at=placed_at, checked_at=checked_at)
    if decision.wait_seconds is not None:
        assert isinstance(decision.wait_seconds, int)
        assert decision.wait_seconds <= policy.cap_seconds
        if not decision.reaches_deadline:
            # It leaves at least a second before the deadline, unless the cap forbade the
            # rounded-up remainder.
            deadline_at = placed_at + timedelta(seconds=policy.deadline_seconds)
            lands_at = max(checked_at, placed_at) + timedelta(seconds=decision.wait_seconds)
            assert (
                deadline_at - lands_at >= ONE_SECOND or decision.wait_seconds == policy.cap_seconds
            )


@EXAMPLES
@given(policy=policies(), checks_made=check_counts, seed=seeds)
def test_far_from_the_deadline_the_wait_is_the_nominal_wait_lowered_by_at_most_the_jitter(
    policy: BackoffPolicy, checks_made: int, seed: int
) -> None:
    placed_at = datetime(2025, 1, 1, tzinfo=UTC)
    roomy = BackoffPolicy(
        policy.base_seconds,
        policy.cap_seconds,
        MAX_POLICY_SECONDS,
        policy.multiplier,
        policy.jitter_ratio,
    )
    decision = failure_wait(
        roomy,
        placed_at=placed_at,
        checked_at=placed_at,
        checks_made=checks_made,
        rng=seeded_rng(seed),
    )
    nominal = reference_nominal_wait(roomy, checks_made)
    # A hair of tolerance on both sides for floating-point noise.
    lowest = nominal * (1 - roomy.jitter_ratio) * (1 - 1e-9)
    highest = nominal * (1 + 1e-9)
    assert decision.wait_seconds is not None
    assert max(1, math.floor(lowest)) <= decision.wait_seconds <= math.ceil(highest)
    assert decision.wait_seconds <= roomy.cap_seconds
    assert not decision.reaches_deadline


def reference_nominal_wait(policy: BackoffPolicy, checks_made: int) -> float:
    """min(cap, base * multiplier ** (n - 1)), compared in logarithms to stay finite."""
    exponent = max(checks_made, 1) - 1
    if exponent == 0 or policy.multiplier == 1.0:
        return float(policy.base_seconds)
    growth = exponent * math.log(policy.multiplier)
    if growth >= math.log(policy.cap_seconds / policy.base_seconds):
        return float(policy.cap_seconds)
    return min(float(policy.cap_seconds), policy.base_seconds * policy.multiplier**exponent)


@EXAMPLES
@given(
    policy=policies(),
    checks_made=check_counts,
    seed=seeds,
    fraction=st.integers(min_value=0, max_value=999_999),
)
def test_a_wait_that_would_end_at_or_within_a_second_of_the_deadline_is_the_final_one(
    policy: BackoffPolicy, checks_made: int, seed: int, fraction: int
) -> None:
    roomy = BackoffPolicy(
        policy.base_seconds,
        policy.cap_seconds,
        MAX_POLICY_SECONDS,
        policy.multiplier,
        policy.jitter_ratio,
    )
    placed_at = datetime(2025, 1, 1, tzinfo=UTC)
    deadline_at = placed_at + timedelta(seconds=MAX_POLICY_SECONDS)

    def decide(remaining: timedelta) -> NextCheck:
        return failure_wait(
            roomy,
            placed_at=placed_at,
            checked_at=deadline_at - remaining,
            checks_made=checks_made,
            rng=seeded_rng(seed),
        )

    free = decide(timedelta(days=30)).wait_seconds
    assert free is not None
    after_fraction = timedelta(microseconds=fraction)

    # The deadline comes a fraction of a second (or more) after the free wait: stretched to it,
    # unless that would break the cap.
    stretched = decide(timedelta(seconds=free) + after_fraction)
    if fraction == 0 or free < roomy.cap_seconds:
        assert stretched.wait_seconds == free + (1 if fraction else 0)
        assert stretched.reaches_deadline
    else:
        assert stretched.wait_seconds == free == roomy.cap_seconds
        assert not stretched.reaches_deadline

    # The deadline comes before the free wait ends: cut to it.
    if free > 1:
        cut = decide(timedelta(seconds=free - 1) + after_fraction)
        assert cut.wait_seconds == free - (0 if fraction else 1)
        assert cut.reaches_deadline

    # A second or more to spare: the free wait, not the last one.
    untouched = decide(timedelta(seconds=free + 1) + after_fraction)
    assert untouched.wait_seconds == free
    assert not untouched.reaches_deadline


def exact_nominal_wait(policy: BackoffPolicy, checks_made: int) -> Fraction:
    """min(cap, base * multiplier ** (n - 1)) in exact arithmetic, on the decimal value the
    multiplier was written as. Only for small check counts: exact fractions grow fast."""
    cap = Fraction(policy.cap_seconds)
    multiplier = Fraction(repr(policy.multiplier))
    exponent = max(checks_made, 1) - 1
    value = Fraction(policy.base_seconds)
    for _ in range(exponent):
        if value >= cap or multiplier == 1:
            break
        value *= multiplier
    return min(cap, value)


@EXAMPLES
@given(
    base=st.integers(min_value=1, max_value=3_600),
    extra=st.integers(min_value=0, max_value=100_000),
    multiplier=st.one_of(
        st.sampled_from([1.0, 2.0, 3.0, 10.0]),
        st.decimals(min_value=1, max_value=5, places=3).map(float),
    ),
    checks_made=st.integers(min_value=0, max_value=400),
    seed=seeds,
)
# 10 * 1.1 ** 1 is 11.000000000000002 in floating point; 1000 * 1.1 ** 3 is 1331.0000000000005.
@example(base=10, extra=100, multiplier=1.1, checks_made=2, seed=0)
@example(base=1_000, extra=10_000, multiplier=1.1, checks_made=4, seed=0)
def test_without_jitter_the_waits_follow_the_capped_exponential_exactly(
    base: int, extra: int, multiplier: float, checks_made: int, seed: int
) -> None:
    policy = BackoffPolicy(base, base + extra, MAX_POLICY_SECONDS, multiplier, 0.0)
    placed_at = datetime(2025, 1, 1, tzinfo=UTC)
    decision = failure_wait(
        policy,
        placed_at=placed_at,
        checked_at=placed_at,
        checks_made=checks_made,
        rng=seeded_rng(seed),
    )
    exact = exact_nominal_wait(policy, checks_made)
    nearest = round(exact)
    if abs(exact - nearest) <= Fraction(1, 10**8) * max(Fraction(1), exact):
        # Within a hair of a whole second the implementation ignores float noise.
        assert decision.wait_seconds in {nearest, math.ceil(exact)}
    else:
        assert decision.wait_seconds == math.ceil(exact)
    if multiplier.is_integer():
        assert decision.wait_seconds == math.ceil(exact)


@REPLAY_EXAMPLES
@given(
    policy=policies(),
    placed_at=placements,
    offset=offsets_micros,
    checks_made=check_counts,
    order=st.text(min_size=1, max_size=20),
)
def test_the_same_seed_gives_the_same_wait(
    policy: BackoffPolicy, placed_at: datetime, offset: int, checks_made: int, order: str
) -> None:
    checked_at = check_time(placed_at, offset)
    decisions = [
        failure_wait(
            policy,
            placed_at=placed_at,
            checked_at=checked_at,
            checks_made=checks_made,
            rng=seeded_rng(order, checks_made),
        )
        for _ in range(2)
    ]
    assert decisions[0] == decisions[1]


@EXAMPLES
@given(
    policy_and_offset=policies_and_check_offsets(),
    placed_at=placements,
    failures=check_counts,
    retry_after=st.one_of(
        st.none(),
        st.floats(min_value=0.0, max_value=10_000.0),
        st.floats(min_value=0.0, allow_infinity=True),
    ),
    seed=seeds,
)
# A Retry-After a hair over one second still means two seconds, not one.
@example(
    policy_and_offset=(BackoffPolicy(1, 1, 2, 1.0, 0.0), 0),
    placed_at=datetime(2000, 1, 1, tzinfo=UTC),
    failures=0,
    retry_after=1.0000000000000002,
    seed=0,
)
def test_a_wait_after_failure_honours_retry_after_but_never_passes_the_deadline(
    policy_and_offset: tuple[BackoffPolicy, int],
    placed_at: datetime,
    failures: int,
    retry_after: float | None,
    seed: int,
) -> None:
    policy, offset = policy_and_offset
    checked_at = check_time(placed_at, offset)
    decision = wait_after_failure(
        policy,
        placed_at=placed_at,
        checked_at=checked_at,
        consecutive_failures=failures,
        retry_after_seconds=retry_after,
        rng=seeded_rng(seed),
    )
    assert_within_deadline(decision, policy=policy, placed_at=placed_at, checked_at=checked_at)
    if decision.wait_seconds is None or decision.reaches_deadline:
        return
    # Not cut by the deadline: Retry-After is honoured in full, and only Retry-After may
    # stretch a wait beyond the cap.
    if retry_after is None:
        assert decision.wait_seconds <= policy.cap_seconds
        return
    assert decision.wait_seconds >= retry_after
    assert decision.wait_seconds <= max(policy.cap_seconds, math.ceil(retry_after))
    if retry_after > policy.cap_seconds:
        assert decision.wait_seconds == math.ceil(retry_after)
