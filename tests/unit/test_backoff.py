"""Examples of the back-off after failures: growth, jitter, the deadline cut, Retry-After,
validation. The check schedule between successful checks: test_check_schedule.py."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tiqets_tracker.backoff import (
    MAX_POLICY_SECONDS,
    BackoffPolicy,
    NextCheck,
    seeded_rng,
    wait_after_failure,
)

pytestmark = pytest.mark.unit

PLACED = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


class FixedRandom(random.Random):
    """A Random whose `random()` always returns the same value: 0.0 means "no jitter applied",
    values close to 1.0 the largest jitter."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def policy(
    base: int = 60,
    cap: int = 600,
    deadline: int = 86_400,
    multiplier: float = 2.0,
    jitter: float = 0.0,
) -> BackoffPolicy:
    return BackoffPolicy(
        base_seconds=base,
        cap_seconds=cap,
        deadline_seconds=deadline,
        multiplier=multiplier,
        jitter_ratio=jitter,
    )


def wait_at(
    p: BackoffPolicy, *, after_seconds: float, failures: int, rng_value: float = 0.0
) -> NextCheck:
    """The wait after the `failures`-th failure in a row, without Retry-After."""
    return wait_after_failure(
        p,
        placed_at=PLACED,
        checked_at=PLACED + timedelta(seconds=after_seconds),
        consecutive_failures=failures,
        retry_after_seconds=None,
        rng=FixedRandom(rng_value),
    )


def test_the_first_wait_is_the_base_wait() -> None:
    assert wait_at(policy(), after_seconds=0, failures=1) == NextCheck(60, False)


def test_no_failure_yet_is_read_as_one_failure() -> None:
    assert wait_at(policy(), after_seconds=0, failures=0) == wait_at(
        policy(), after_seconds=0, failures=1
    )


def test_waits_grow_by_the_multiplier_and_stop_at_the_cap() -> None:
    p = policy(base=60, cap=600, multiplier=1.5)
    waits = [wait_at(p, after_seconds=0, failures=n).wait_seconds for n in range(1, 10)]
    # 60 * 1.5 ** k rounded up: 60, 90, 135, 202.5, 303.75, 455.6, then capped.
    assert waits == [60, 90, 135, 203, 304, 456, 600, 600, 600]


def test_floating_point_noise_does_not_add_a_second() -> None:
    # 10 * 1.1 is 11.000000000000002 in binary floating point.
    p = policy(base=10, cap=100, multiplier=1.1)
    assert wait_at(p, after_seconds=0, failures=2).wait_seconds == 11


def test_a_huge_check_count_gives_the_cap_without_overflow() -> None:
    p = policy(base=1, cap=3_600, multiplier=10.0)
    assert wait_at(p, after_seconds=0, failures=10**40).wait_seconds == 3_600


def test_a_multiplier_of_one_gives_a_fixed_interval() -> None:
    p = policy(base=300, cap=600, multiplier=1.0)
    waits = {wait_at(p, after_seconds=0, failures=n).wait_seconds for n in (1, 2, 50, 10**9)}
    assert waits == {300}


def test_jitter_lowers_the_wait_by_at_most_its_share() -> None:
    p = policy(base=600, cap=600, jitter=0.1)
    assert wait_at(p, after_seconds=0, failures=1, rng_value=0.0).wait_seconds == 600
    assert wait_at(p, after_seconds=0, failures=1, rng_value=0.5).wait_seconds == 570
    assert wait_at(p, after_seconds=0, failures=1, rng_value=0.999_999).wait_seconds == 541


def test_full_jitter_never_waits_less_than_one_second() -> None:
    p = policy(base=10, cap=10, jitter=1.0)
    assert wait_at(p, after_seconds=0, failures=1, rng_value=0.999_999_9).wait_seconds == 1


def test_a_wait_that_would_pass_the_deadline_is_cut_to_land_on_it() -> None:
    p = policy(base=600, cap=600, deadline=1_000)
    decision = wait_at(p, after_seconds=600, failures=2)
    assert decision == NextCheck(400, False, reaches_deadline=True)
    assert decision.reaches_deadline


def test_a_wait_ending_exactly_at_the_deadline_is_the_final_one() -> None:
    p = policy(base=400, cap=400, deadline=1_000)
    decision = wait_at(p, after_seconds=600, failures=2)
    assert decision.wait_seconds == 400
    assert decision.reaches_deadline


def test_a_wait_leaving_less_than_a_second_before_the_deadline_is_stretched_to_it() -> None:
    p = policy(base=100, cap=600, deadline=1_000)
    decision = wait_at(p, after_seconds=899.5, failures=1)
    assert decision.wait_seconds == 101
    assert decision.reaches_deadline


def test_an_ordinary_wait_is_not_the_final_one() -> None:
    decision = wait_at(policy(), after_seconds=0, failures=1)
    assert not decision.reaches_deadline


def test_less_than_a_second_before_the_deadline_the_wait_is_one_second() -> None:
    decision = wait_at(policy(), after_seconds=86_399.25, failures=150)
    assert decision == NextCheck(1, False, reaches_deadline=True)


@pytest.mark.parametrize("after_seconds", [86_400, 86_400.000_001, 90_000])
def test_at_or_after_the_deadline_there_is_no_more_wait(after_seconds: float) -> None:
    decision = wait_at(policy(), after_seconds=after_seconds, failures=150)
    assert decision == NextCheck(None, True)
    assert not decision.reaches_deadline


def test_a_check_time_before_the_placement_counts_as_the_placement() -> None:
    p = policy(base=600, cap=600, deadline=700)
    early = wait_at(p, after_seconds=-30, failures=1)
    on_time = wait_at(p, after_seconds=0, failures=1)
    assert early == on_time == NextCheck(600, False)


def test_times_in_different_time_zones_are_compared_as_instants() -> None:
    p = policy(base=600, cap=600, deadline=1_000)
    amsterdam_summer = timezone(timedelta(hours=2))
    decision = wait_after_failure(
        p,
        placed_at=PLACED,
        checked_at=(PLACED + timedelta(seconds=600)).astimezone(amsterdam_summer),
        consecutive_failures=2,
        retry_after_seconds=None,
        rng=FixedRandom(0.0),
    )
    assert decision.wait_seconds == 400


@pytest.mark.parametrize("which", ["placed_at", "checked_at"])
def test_naive_datetimes_are_refused(which: str) -> None:
    naive = datetime(2025, 6, 1, 12, 0, 0)
    times = {"placed_at": PLACED, "checked_at": PLACED, which: naive}
    with pytest.raises(ValueError, match=f"{which} must be a timezone-aware datetime"):
        wait_after_failure(
            policy(),
            consecutive_failures=1,
            retry_after_seconds=None,
            rng=FixedRandom(0.0),
            **times,
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"base_seconds": 0}, "base_seconds must be at least 1"),
        ({"base_seconds": 700}, r"cap_seconds \(600\) must be at least base_seconds \(700\)"),
        ({"deadline_seconds": 0}, "deadline_seconds must be at least 1"),
        ({"deadline_seconds": MAX_POLICY_SECONDS + 1}, "deadline_seconds must be at most"),
        ({"cap_seconds": MAX_POLICY_SECONDS + 1}, "cap_seconds must be at most"),
        ({"multiplier": 0.5}, "multiplier must be at least 1.0"),
        ({"multiplier": float("inf")}, "multiplier must be finite"),
        ({"jitter_ratio": -0.1}, "jitter_ratio must be between 0 and 1"),
        ({"jitter_ratio": 1.5}, "jitter_ratio must be between 0 and 1"),
        ({"jitter_ratio": float("nan")}, "jitter_ratio must be finite"),
        ({"base_seconds": 1.5}, "base_seconds must be a whole number of seconds"),
        ({"cap_seconds": True}, "cap_seconds must be a whole number of seconds"),
        ({"multiplier": "2"}, "multiplier must be a number"),
    ],
)
def test_an_invalid_policy_is_refused_with_a_readable_reason(
    arguments: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {
        "base_seconds": 60,
        "cap_seconds": 600,
        "deadline_seconds": 86_400,
        "multiplier": 2.0,
        "jitter_ratio": 0.5,
    }
    values.update(arguments)
    with pytest.raises(ValueError, match=f"invalid back-off policy: .*{message}"):
        BackoffPolicy(**values)  # type: ignore[arg-type]


def test_every_problem_of_a_policy_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match=r"base_seconds.*deadline_seconds.*jitter_ratio"):
        BackoffPolicy(base_seconds=0, cap_seconds=1, deadline_seconds=0, jitter_ratio=2.0)


@pytest.mark.parametrize(
    ("wait_seconds", "deadline_reached", "reaches_deadline"),
    [(None, False, False), (5, True, False), (0, False, False), (None, True, True)],
)
def test_an_inconsistent_next_check_is_refused(
    wait_seconds: int | None, deadline_reached: bool, reaches_deadline: bool
) -> None:
    with pytest.raises(ValueError, match=r"wait_seconds|reaches_deadline"):
        NextCheck(wait_seconds, deadline_reached, reaches_deadline)


def test_a_seeded_rng_gives_the_same_numbers_for_the_same_parts() -> None:
    first = seeded_rng("1111111", 3)
    second = seeded_rng("1111111", 3)
    assert [first.random() for _ in range(5)] == [second.random() for _ in range(5)]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("1111111", 3), ("1111111", 4)),
        (("ab", "c"), ("a", "bc")),
        (("1",), (1,)),
        (("1111111",), ("1111112",)),
    ],
)
def test_a_seeded_rng_differs_for_different_parts(
    left: tuple[str | int, ...], right: tuple[str | int, ...]
) -> None:
    assert seeded_rng(*left).random() != seeded_rng(*right).random()


def test_a_seeded_rng_gives_the_same_numbers_in_every_process() -> None:
    # A value fixed in the test: Python's salted hash() of a string would change from one
    # process to the next, SHA-256 does not.
    assert round(seeded_rng("1111111", 1).random(), 12) == 0.442156097208


@pytest.mark.parametrize("parts", [(), (True,), (1.5,)])
def test_a_seeded_rng_refuses_parts_that_are_not_text_or_integers(
    parts: tuple[object, ...],
) -> None:
    with pytest.raises((ValueError, TypeError)):
        seeded_rng(*parts)  # type: ignore[arg-type]


def fail_at(
    p: BackoffPolicy,
    *,
    after_seconds: float,
    failures: int,
    retry_after: float | None,
    rng_value: float = 0.0,
) -> NextCheck:
    return wait_after_failure(
        p,
        placed_at=PLACED,
        checked_at=PLACED + timedelta(seconds=after_seconds),
        consecutive_failures=failures,
        retry_after_seconds=retry_after,
        rng=FixedRandom(rng_value),
    )


def test_a_retry_after_longer_than_the_back_off_is_honoured() -> None:
    decision = fail_at(policy(), after_seconds=0, failures=1, retry_after=119.2)
    assert decision.wait_seconds == 120


def test_a_retry_after_shorter_than_the_back_off_does_not_shorten_it() -> None:
    decision = fail_at(policy(), after_seconds=0, failures=3, retry_after=5)
    assert decision.wait_seconds == 240


def test_a_retry_after_beyond_the_cap_is_honoured() -> None:
    decision = fail_at(policy(cap=600), after_seconds=0, failures=1, retry_after=1_800)
    assert decision.wait_seconds == 1_800


def test_the_deadline_wins_over_retry_after() -> None:
    decision = fail_at(policy(deadline=1_000), after_seconds=900, failures=1, retry_after=1_800)
    assert decision == NextCheck(100, False, reaches_deadline=True)


def test_an_endless_retry_after_means_until_the_deadline() -> None:
    decision = fail_at(policy(deadline=1_000), after_seconds=0, failures=1, retry_after=1e300)
    assert decision == NextCheck(1_000, False, reaches_deadline=True)
    infinite = fail_at(policy(deadline=1_000), after_seconds=0, failures=1, retry_after=1e400)
    assert infinite == decision


def test_a_failure_after_the_deadline_means_no_more_waits() -> None:
    decision = fail_at(policy(deadline=1_000), after_seconds=1_000, failures=1, retry_after=5)
    assert decision == NextCheck(None, True)


@pytest.mark.parametrize("retry_after", [-1.0, float("nan")])
def test_a_nonsensical_retry_after_is_refused(retry_after: float) -> None:
    with pytest.raises(ValueError, match="retry_after_seconds must be a non-negative number"):
        fail_at(policy(), after_seconds=0, failures=1, retry_after=retry_after)


def test_a_negative_failure_count_is_refused() -> None:
    with pytest.raises(ValueError, match="consecutive_failures must not be negative"):
        fail_at(policy(), after_seconds=0, failures=-1, retry_after=None)
