"""Examples of the check schedule between successful checks: the default profiles' check times,
jitter, the wait after a check (anchored to the placement), validation, the order's phase, and
the template's defaults. The back-off after failures: test_backoff.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest

from tiqets_tracker.backoff import MAX_POLICY_SECONDS, NextCheck
from tiqets_tracker.check_schedule import (
    POLLING_PROFILE,
    WEBHOOK_PROFILE,
    CheckSchedule,
    check_phase,
    next_check,
)
from tiqets_tracker.fulfilment_pattern import FULFILMENT_PATTERN
from tiqets_tracker_local.template import PROJECT_ROOT, load_sam_template

pytestmark = pytest.mark.unit

PLACED = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
PLACED_TEXT = "2025-06-01T12:00:00+00:00"
DAY = 86_400
KNOT_TIMES = [seconds for seconds, _ in FULFILMENT_PATTERN]


def gaps(offsets: tuple[int, ...]) -> list[int]:
    return [later - earlier for earlier, later in pairwise(offsets)]


def check_after(schedule: CheckSchedule, after_seconds: float, *, phase: float = 0.0) -> NextCheck:
    """The wait after a check made `after_seconds` after placement."""
    return next_check(
        schedule,
        placed_at=PLACED,
        checked_at=PLACED + timedelta(seconds=after_seconds),
        phase=phase,
    )


# The default profiles, nominal offsets.


def test_polling_checks_141_times_for_an_order_never_fulfilled() -> None:
    offsets = POLLING_PROFILE.nominal_offsets()
    assert len(offsets) == 141
    assert offsets[0] == 0
    assert offsets[-1] == DAY


def test_polling_checks_once_more_at_the_end_of_the_first_minute() -> None:
    assert POLLING_PROFILE.nominal_offsets()[:2] == (0, 60)


@pytest.mark.parametrize("knot", KNOT_TIMES)
def test_polling_checks_on_each_of_the_pattern_times(knot: int) -> None:
    assert knot in POLLING_PROFILE.nominal_offsets()


def test_polling_never_waits_more_than_15_minutes_and_waits_that_long_late_in_the_day() -> None:
    offsets = POLLING_PROFILE.nominal_offsets()
    assert max(gaps(offsets)) == 900
    assert offsets[-2] == DAY - 900


def test_polling_checks_about_once_a_minute_until_30_minutes() -> None:
    offsets = POLLING_PROFILE.nominal_offsets()
    early = [gap for gap, start in zip(gaps(offsets), offsets, strict=False) if 60 <= start < 1_800]
    assert len(early) == 28
    assert set(early) <= {62, 63}


def test_with_the_webhook_30_checks_are_made_for_an_order_never_fulfilled() -> None:
    offsets = WEBHOOK_PROFILE.nominal_offsets()
    assert len(offsets) == 30
    assert offsets[0] == 0
    assert offsets[-1] == DAY


def test_with_the_webhook_the_first_minute_joins_the_next_interval() -> None:
    offsets = WEBHOOK_PROFILE.nominal_offsets()
    assert 60 not in offsets
    assert offsets[:8] == (0, 257, 514, 771, 1_028, 1_285, 1_542, 1_800)


@pytest.mark.parametrize("knot", KNOT_TIMES[1:])
def test_with_the_webhook_checks_fall_on_the_pattern_times_after_the_first_minute(
    knot: int,
) -> None:
    assert knot in WEBHOOK_PROFILE.nominal_offsets()


def test_with_the_webhook_no_wait_exceeds_90_minutes() -> None:
    assert max(gaps(WEBHOOK_PROFILE.nominal_offsets())) == 5_400


def test_with_the_webhook_checks_are_18_minutes_apart_from_30_minutes_to_2_hours() -> None:
    offsets = WEBHOOK_PROFILE.nominal_offsets()
    middle = [
        gap for gap, start in zip(gaps(offsets), offsets, strict=False) if 1_800 <= start < 7_200
    ]
    assert middle == [1_080] * 5


def test_the_webhook_profile_checks_less_often_than_polling_everywhere() -> None:
    polling, webhook = POLLING_PROFILE.nominal_offsets(), WEBHOOK_PROFILE.nominal_offsets()
    for start, end in zip([0, *KNOT_TIMES[:-1]], KNOT_TIMES, strict=True):
        in_polling = [t for t in polling if start < t <= end]
        in_webhook = [t for t in webhook if start < t <= end]
        assert len(in_webhook) <= len(in_polling)


# Jitter.


def test_jitter_moves_a_check_later_by_its_share_of_the_following_wait() -> None:
    # Nominal 0, 60, 122, 184, ...; phase 0.5 of jitter 0.25 moves each check by an eighth of
    # the wait after it, rounded down: 60 + 7, 122 + 7, ...
    assert POLLING_PROFILE.offsets(0.5)[:4] == (0, 67, 129, 191)


@pytest.mark.parametrize("schedule", [POLLING_PROFILE, WEBHOOK_PROFILE], ids=["polling", "webhook"])
@pytest.mark.parametrize("phase", [0.1, 0.5, 0.999_999])
def test_jitter_moves_checks_later_by_at_most_jitter_ratio_of_the_following_wait(
    schedule: CheckSchedule, phase: float
) -> None:
    nominal = schedule.nominal_offsets()
    jittered = schedule.offsets(phase)
    assert len(jittered) == len(nominal)
    assert jittered != nominal
    for index in range(1, len(nominal) - 1):
        following = nominal[index + 1] - nominal[index]
        assert (
            nominal[index]
            <= jittered[index]
            <= nominal[index] + schedule.jitter_ratio * (following)
        )


@pytest.mark.parametrize("phase", [0.3, 0.999_999])
def test_jitter_keeps_the_first_check_at_placement_and_the_last_at_the_deadline(
    phase: float,
) -> None:
    jittered = POLLING_PROFILE.offsets(phase)
    assert jittered[0] == 0
    assert jittered[-1] == DAY
    assert max(gaps(jittered)) <= POLLING_PROFILE.longest_wait_seconds


def test_phase_zero_gives_the_nominal_offsets() -> None:
    assert POLLING_PROFILE.offsets(0.0) == POLLING_PROFILE.nominal_offsets()
    assert WEBHOOK_PROFILE.offsets(0.0) == WEBHOOK_PROFILE.nominal_offsets()


def test_no_jitter_gives_the_nominal_offsets_whatever_the_phase() -> None:
    unjittered = CheckSchedule(45, 900, DAY, jitter_ratio=0.0)
    assert unjittered.offsets(0.9) == unjittered.nominal_offsets()


def test_jitter_that_would_stretch_a_wait_past_the_longest_wait_is_held_back() -> None:
    # Every nominal wait is already the longest allowed: no check can move later.
    tight = CheckSchedule(10, 10, 100, jitter_ratio=1.0)
    assert tight.nominal_offsets() == tuple(range(0, 101, 10))
    assert tight.offsets(0.5) == tight.nominal_offsets()


def test_a_schedule_of_one_wait_has_nothing_to_jitter() -> None:
    short = CheckSchedule(100, 100, 50, jitter_ratio=1.0)
    assert short.nominal_offsets() == (0, 50)
    assert short.offsets(0.9) == (0, 50)


# The wait after a check.


def test_right_after_placement_the_wait_lasts_until_the_second_check() -> None:
    assert check_after(POLLING_PROFILE, 0) == NextCheck(60, False)
    assert check_after(WEBHOOK_PROFILE, 0) == NextCheck(257, False)
    jittered = POLLING_PROFILE.offsets(0.5)
    assert check_after(POLLING_PROFILE, 0, phase=0.5) == NextCheck(jittered[1], False)


def test_a_check_on_a_check_time_waits_until_the_next_one() -> None:
    assert check_after(POLLING_PROFILE, 60) == NextCheck(62, False)
    assert check_after(POLLING_PROFILE, 1_800) == NextCheck(300, False)


def test_a_check_woken_early_waits_until_the_next_check_time_on_the_same_grid() -> None:
    # A webhook woke the order 100 s after placement, between the checks at 60 and 122: the
    # next check is still at 122, then 184, as if nothing had happened.
    assert check_after(POLLING_PROFILE, 100) == NextCheck(22, False)
    assert check_after(POLLING_PROFILE, 122) == NextCheck(62, False)


def test_a_late_check_does_not_shift_the_later_check_times() -> None:
    # A retry ran 10 s late (at 70 instead of 60): the next check stays at 122.
    assert check_after(POLLING_PROFILE, 70) == NextCheck(52, False)


def test_a_jittered_order_keeps_to_its_own_check_times() -> None:
    jittered = POLLING_PROFILE.offsets(0.5)
    assert jittered[2:4] == (129, 191)
    # Woken at 150, between its checks at 129 and 191: the next check is still at 191.
    assert check_after(POLLING_PROFILE, 150, phase=0.5) == NextCheck(41, False)
    # At a fraction of a second, the wait is rounded up: it ends within a second after 191.
    assert check_after(POLLING_PROFILE, 150.25, phase=0.5) == NextCheck(41, False)


def test_a_check_a_second_before_a_check_time_waits_that_second() -> None:
    assert check_after(POLLING_PROFILE, 121) == NextCheck(1, False)


def test_less_than_a_second_before_a_check_time_skips_to_the_following_one() -> None:
    # 0.5 s before the check at 122: the next one at 184, 62.5 s away, to the nearest second.
    assert check_after(POLLING_PROFILE, 121.5) == NextCheck(63, False)
    assert check_after(POLLING_PROFILE, 121.999_999) == NextCheck(62, False)


def test_a_check_made_late_does_not_push_the_later_ones_back() -> None:
    # 0.4 s after the check time 122 (the invocation's run time): the next at 184 still.
    assert check_after(POLLING_PROFILE, 122.4) == NextCheck(62, False)
    assert check_after(POLLING_PROFILE, 122.6) == NextCheck(61, False)


def test_the_final_wait_is_rounded_up_so_the_last_check_is_never_early() -> None:
    offsets = POLLING_PROFILE.nominal_offsets()
    decision = check_after(POLLING_PROFILE, offsets[-2] + 0.9)
    assert decision == NextCheck(DAY - offsets[-2], False, reaches_deadline=True)


def test_the_wait_to_the_deadline_is_the_last_one() -> None:
    offsets = POLLING_PROFILE.nominal_offsets()
    decision = check_after(POLLING_PROFILE, offsets[-2])
    assert decision == NextCheck(DAY - offsets[-2], False, reaches_deadline=True)
    assert decision.reaches_deadline


def test_an_ordinary_wait_is_not_the_last_one() -> None:
    assert not check_after(POLLING_PROFILE, 0).reaches_deadline
    offsets = POLLING_PROFILE.nominal_offsets()
    assert not check_after(POLLING_PROFILE, offsets[-3]).reaches_deadline


def test_less_than_a_second_before_the_deadline_the_wait_is_one_second() -> None:
    assert check_after(POLLING_PROFILE, DAY - 0.25) == NextCheck(1, False, reaches_deadline=True)


@pytest.mark.parametrize("after_seconds", [DAY, DAY + 0.000_001, 90_000])
def test_at_or_after_the_deadline_there_is_no_more_wait(after_seconds: float) -> None:
    decision = check_after(POLLING_PROFILE, after_seconds)
    assert decision == NextCheck(None, True)
    assert not decision.reaches_deadline


def test_a_check_time_before_the_placement_counts_as_the_placement() -> None:
    early = check_after(POLLING_PROFILE, -30)
    on_time = check_after(POLLING_PROFILE, 0)
    assert early == on_time == NextCheck(60, False)


def test_times_in_different_time_zones_are_compared_as_instants() -> None:
    amsterdam_summer = timezone(timedelta(hours=2))
    decision = next_check(
        POLLING_PROFILE,
        placed_at=PLACED,
        checked_at=(PLACED + timedelta(seconds=100)).astimezone(amsterdam_summer),
        phase=0.0,
    )
    assert decision == NextCheck(22, False)


def test_an_order_never_fulfilled_is_checked_at_each_of_its_check_times() -> None:
    phase = check_phase("1111111", PLACED_TEXT)
    elapsed, visited = 0, [0]
    while True:
        decision = check_after(POLLING_PROFILE, elapsed, phase=phase)
        if decision.wait_seconds is None:
            break
        elapsed += decision.wait_seconds
        visited.append(elapsed)
        assert decision.reaches_deadline == (elapsed == DAY)
    assert tuple(visited) == POLLING_PROFILE.offsets(phase)


@pytest.mark.parametrize("which", ["placed_at", "checked_at"])
def test_naive_datetimes_are_refused(which: str) -> None:
    naive = datetime(2025, 6, 1, 12, 0, 0)
    times = {"placed_at": PLACED, "checked_at": PLACED, which: naive}
    with pytest.raises(ValueError, match=f"{which} must be a timezone-aware datetime"):
        next_check(POLLING_PROFILE, phase=0.0, **times)


# Validation.


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"densest_spacing_seconds": 0}, "densest_spacing_seconds must be from 1 to"),
        ({"longest_wait_seconds": 0}, "longest_wait_seconds must be from 1 to"),
        ({"deadline_seconds": 0}, "deadline_seconds must be from 1 to"),
        ({"deadline_seconds": -5}, "deadline_seconds must be from 1 to"),
        (
            {"densest_spacing_seconds": 1_000},
            r"longest_wait_seconds \(900\) must be at least densest_spacing_seconds \(1000\)",
        ),
        (
            {"deadline_seconds": MAX_POLICY_SECONDS + 1},
            f"deadline_seconds must be from 1 to {MAX_POLICY_SECONDS}",
        ),
        (
            {"longest_wait_seconds": MAX_POLICY_SECONDS + 1},
            f"longest_wait_seconds must be from 1 to {MAX_POLICY_SECONDS}",
        ),
        ({"densest_spacing_seconds": 45.0}, "densest_spacing_seconds must be a whole number"),
        ({"longest_wait_seconds": True}, "longest_wait_seconds must be a whole number"),
        ({"deadline_seconds": "86400"}, "deadline_seconds must be a whole number"),
        ({"jitter_ratio": -0.1}, "jitter_ratio must be between 0 and 1"),
        ({"jitter_ratio": 1.5}, "jitter_ratio must be between 0 and 1"),
        ({"jitter_ratio": float("nan")}, "jitter_ratio must be between 0 and 1"),
        ({"jitter_ratio": True}, "jitter_ratio must be a number"),
        ({"jitter_ratio": "0.25"}, "jitter_ratio must be a number"),
    ],
)
def test_an_invalid_schedule_is_refused_with_a_readable_reason(
    arguments: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {
        "densest_spacing_seconds": 45,
        "longest_wait_seconds": 900,
        "deadline_seconds": DAY,
        "jitter_ratio": 0.25,
    }
    values.update(arguments)
    with pytest.raises(ValueError, match=f"invalid check schedule: .*{message}"):
        CheckSchedule(**values)  # type: ignore[arg-type]


def test_every_problem_of_a_schedule_is_reported_at_once() -> None:
    with pytest.raises(
        ValueError, match=r"densest_spacing_seconds.*deadline_seconds.*jitter_ratio"
    ):
        CheckSchedule(0, 1, 0, jitter_ratio=2.0)


@pytest.mark.parametrize(
    ("jitter", "spacing", "longest", "deadline"),
    [(0, 1, 1, 1), (1, 1, 1, 1), (0.0, 45, 86_400, MAX_POLICY_SECONDS), (1.0, 7_200, 86_400, 1)],
)
def test_schedules_at_the_edges_of_the_valid_range_are_accepted(
    jitter: float, spacing: int, longest: int, deadline: int
) -> None:
    schedule = CheckSchedule(spacing, longest, deadline, jitter_ratio=jitter)
    offsets = schedule.offsets(0.5)
    assert offsets[0] == 0
    assert offsets[-1] == deadline


@pytest.mark.parametrize("phase", [1.0, -0.1, 1.5, float("nan")])
def test_a_phase_outside_zero_to_one_is_refused(phase: float) -> None:
    with pytest.raises(ValueError, match=r"phase must be in \[0, 1\)"):
        POLLING_PROFILE.offsets(phase)
    with pytest.raises(ValueError, match=r"phase must be in \[0, 1\)"):
        check_after(POLLING_PROFILE, 0, phase=phase)


# The order's phase.


def test_an_orders_phase_is_the_same_on_every_call() -> None:
    phases = {check_phase("1111111", PLACED_TEXT) for _ in range(5)}
    assert len(phases) == 1
    (phase,) = phases
    assert 0.0 <= phase < 1.0


def test_an_orders_phase_is_pinned() -> None:
    # A value fixed in the test: a change here would move every tracked order's check times.
    assert round(check_phase("1111111", PLACED_TEXT), 12) == 0.880757479718


def test_an_orders_phase_is_the_same_in_a_fresh_process() -> None:
    script = textwrap.dedent(
        f"""
        from tiqets_tracker.check_schedule import check_phase
        print(repr(check_phase("1111111", {PLACED_TEXT!r})))
        """
    )
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PROJECT_ROOT / "functions"),
        # A different salt for str hashes than this process: hash() must play no part.
        "PYTHONHASHSEED": "12345",
    }
    finished = subprocess.run(  # noqa: S603 - our own script, run by our own interpreter
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert float(finished.stdout.strip()) == check_phase("1111111", PLACED_TEXT)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("1111111", PLACED_TEXT), ("1111112", PLACED_TEXT)),
        (("1111111", PLACED_TEXT), ("1111111", "2025-06-01T12:00:01+00:00")),
        (("11111", "11" + PLACED_TEXT), ("1111111", PLACED_TEXT)),
    ],
)
def test_different_orders_get_different_phases(
    left: tuple[str, str], right: tuple[str, str]
) -> None:
    assert check_phase(*left) != check_phase(*right)


def test_orders_placed_together_check_at_different_moments() -> None:
    phases = [check_phase(str(1_000_000 + n), PLACED_TEXT) for n in range(20)]
    second_checks = {POLLING_PROFILE.offsets(phase)[2] for phase in phases}
    assert len(second_checks) > 5


# The template's defaults.


def default_by_wait_mode(substitution: Any, default_condition: str) -> dict[str, int]:
    """The default of a `!If [<default_condition>, !If [WebhookOn, webhook, polling], !Ref ..]`
    substitution, by wait mode."""
    assert isinstance(substitution, dict)
    assert list(substitution) == ["Fn::If"]
    condition, default, _set_value = substitution["Fn::If"]
    assert condition == default_condition
    assert isinstance(default, dict)
    assert list(default) == ["Fn::If"]
    webhook_condition, webhook, polling = default["Fn::If"]
    assert webhook_condition == "WebhookOn"
    return {"webhook": int(webhook), "polling": int(polling)}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_sam_template()


def test_the_templates_default_spacing_is_the_profiles(template: dict[str, Any]) -> None:
    substitutions = template["Resources"]["TrackerStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    defaults = default_by_wait_mode(substitutions["BackoffBaseSeconds"], "BackoffBaseDefault")
    assert defaults == {
        "webhook": WEBHOOK_PROFILE.densest_spacing_seconds,
        "polling": POLLING_PROFILE.densest_spacing_seconds,
    }


def test_the_templates_default_longest_wait_is_the_profiles(template: dict[str, Any]) -> None:
    substitutions = template["Resources"]["TrackerStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    defaults = default_by_wait_mode(substitutions["BackoffCapSeconds"], "BackoffCapDefault")
    assert defaults == {
        "webhook": WEBHOOK_PROFILE.longest_wait_seconds,
        "polling": POLLING_PROFILE.longest_wait_seconds,
    }


def test_the_templates_default_deadline_is_the_profiles(template: dict[str, Any]) -> None:
    default = int(template["Parameters"]["DeadlineSeconds"]["Default"])
    assert default == POLLING_PROFILE.deadline_seconds == WEBHOOK_PROFILE.deadline_seconds


def test_past_the_pattern_checks_are_as_rare_as_the_longest_wait_allows() -> None:
    two_days = CheckSchedule(60, 3_600, 2 * 86_400).nominal_offsets()
    late = [b - a for a, b in pairwise(two_days) if a >= 86_400]
    assert late == [3_600] * 24
