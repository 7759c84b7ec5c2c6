"""When to check an order's status: check times shaped by when Tiqets fulfils orders
(fulfilment_pattern.py), dense while fulfilment is likely and sparse when it is not.

Pure functions, standard library only, no I/O and no clock: the caller passes the times and the
order's jitter phase, so every decision can be replayed.

How the check times are laid out, for a deadline D:

- The first check is at placement (the caller makes it at once); the last one is at D.
- Each interval of the pattern (cut at D) gets evenly spaced checks, the last one on the
  interval's end. The spacing aims at `densest_spacing_seconds * sqrt(densest / density)`, where
  density is the interval's share fulfilled per second and densest the highest of them: the
  square-root rule, which for many checks minimises the expected time from fulfilment to the
  check that sees it (J. B. Keller, "Optimum checking schedules for systems subject to random
  failure", Management Science 21(3), 1974: the optimal checking density is proportional to the
  square root of the failure density). `make bench` compares it with the true optimum.
- An interval's number of checks is its length over the aimed-at spacing, rounded to the
  nearest whole number (so checks may come up to a third closer, or half again as far apart,
  than aimed at); an interval that rounds to none joins the next one. No interval gets so few
  that a wait exceeds `longest_wait_seconds`.
- Jitter: an order's checks are moved later by `phase * jitter_ratio` of the wait that follows
  each, with one phase in [0, 1) per order (from its seed), so orders placed together check at
  different moments. The checks stay in order, no wait exceeds `longest_wait_seconds`, and the
  first and final checks stay at placement and at D.
- Times are whole seconds (a Step Functions `Wait` takes integer seconds).

The template's parameters map onto the schedule: BackoffBaseSeconds is
`densest_spacing_seconds` (the spacing where fulfilment is densest: smaller is denser
everywhere), BackoffCapSeconds is `longest_wait_seconds` (the longest wait, so the latest an
order fulfilled late in the day is seen), DeadlineSeconds is D.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from tiqets_tracker.backoff import MAX_POLICY_SECONDS, NextCheck, seeded_rng
from tiqets_tracker.fulfilment_pattern import intervals
from tiqets_tracker.timestamps import require_aware

__all__ = [
    "POLLING_PROFILE",
    "WEBHOOK_PROFILE",
    "CheckSchedule",
    "check_phase",
    "next_check",
]

_ONE_MICROSECOND = timedelta(microseconds=1)
_MICROS_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class CheckSchedule:
    """The check times of one order, before its jitter."""

    densest_spacing_seconds: int
    """The spacing aimed at where fulfilment is densest; sparser intervals get wider ones. At
    least 1."""
    longest_wait_seconds: int
    """No wait between two checks exceeds this. At least `densest_spacing_seconds`."""
    deadline_seconds: int
    """The final check, this long after placement. At least 1."""
    jitter_ratio: float = 0.25
    """Share of the following wait an order's checks may move later, in [0, 1]."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("densest_spacing_seconds", "longest_wait_seconds", "deadline_seconds"):
            value: object = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{name} must be a whole number of seconds, got {value!r}")
            elif not 1 <= value <= MAX_POLICY_SECONDS:
                problems.append(f"{name} must be from 1 to {MAX_POLICY_SECONDS}, got {value}")
        jitter: object = self.jitter_ratio
        if isinstance(jitter, bool) or not isinstance(jitter, int | float):
            problems.append(f"jitter_ratio must be a number, got {jitter!r}")
        elif not 0.0 <= jitter <= 1.0:
            problems.append(f"jitter_ratio must be between 0 and 1, got {jitter!r}")
        if not problems and self.longest_wait_seconds < self.densest_spacing_seconds:
            problems.append(
                f"longest_wait_seconds ({self.longest_wait_seconds}) must be at least "
                f"densest_spacing_seconds ({self.densest_spacing_seconds})"
            )
        if problems:
            raise ValueError("invalid check schedule: " + "; ".join(problems))

    def nominal_offsets(self) -> tuple[int, ...]:
        """Every check's offset in seconds after placement, without jitter: 0 first, the
        deadline last, strictly increasing."""
        return _nominal_offsets(
            self.densest_spacing_seconds, self.longest_wait_seconds, self.deadline_seconds
        )

    def offsets(self, phase: float) -> tuple[int, ...]:
        """Every check's offset for an order with this jitter phase (in [0, 1))."""
        if not 0.0 <= phase < 1.0:
            raise ValueError(f"phase must be in [0, 1), got {phase!r}")
        return _jittered(
            self.nominal_offsets(), phase * self.jitter_ratio, self.longest_wait_seconds
        )


@cache
def _nominal_offsets(densest_spacing: int, longest: int, deadline: int) -> tuple[int, ...]:
    pieces = intervals(deadline)
    densest = max(piece.density for piece in pieces)
    offsets = [0]
    start = 0
    for index, piece in enumerate(pieces):
        aimed = (
            densest_spacing * math.sqrt(densest / piece.density) if piece.density > 0 else longest
        )
        spacing = min(longest, max(densest_spacing, aimed))
        length = piece.end_seconds - start
        count = round(length / spacing)
        if count == 0 and index < len(pieces) - 1:
            continue  # joins the next interval
        count = max(count, 1, -(-length // longest))
        # Integer arithmetic: each offset at least a second after the one before it, since the
        # spacing is at least a second, and the last one exactly on the interval's end.
        offsets.extend(start + length * step // count for step in range(1, count + 1))
        start = piece.end_seconds
    return tuple(offsets)


def _jittered(nominal: tuple[int, ...], shift: float, longest: int) -> tuple[int, ...]:
    if shift == 0.0 or len(nominal) <= 2:
        return nominal
    offsets = [0]
    for index in range(1, len(nominal) - 1):
        moved = nominal[index] + math.floor(shift * (nominal[index + 1] - nominal[index]))
        # Moving a check later lengthens the wait before it; never past the longest wait. Each
        # offset stays at or after its nominal one, so the wait to the deadline stays short too.
        offsets.append(min(moved, offsets[-1] + longest))
    offsets.append(nominal[-1])
    return tuple(offsets)


def check_phase(order_reference_id: str, placed_at: str) -> float:
    """The order's jitter phase, in [0, 1): the same for every check of the order, in every
    process, so a retried or re-run check picks the same times."""
    return seeded_rng(order_reference_id, placed_at, "check-phase").random()


def next_check(
    schedule: CheckSchedule, *, placed_at: datetime, checked_at: datetime, phase: float
) -> NextCheck:
    """The wait after a check made at `checked_at` for an order placed at `placed_at`: until
    the order's next check time at least one second away (to the nearest second), or until the
    deadline (rounded up). Both datetimes must be timezone-aware; a check time before the
    placement counts as the placement.

    Anchored to the placement, not to the last check: a check made early (a webhook woke the
    order) or late (a retry, a slow invocation) leaves the later check times where they were.
    """
    require_aware("placed_at", placed_at)
    require_aware("checked_at", checked_at)
    elapsed_micros = (max(checked_at, placed_at) - placed_at) // _ONE_MICROSECOND
    deadline_micros = schedule.deadline_seconds * _MICROS_PER_SECOND
    if elapsed_micros >= deadline_micros:
        return NextCheck(wait_seconds=None, deadline_reached=True)
    offsets = schedule.offsets(phase)
    # The first check time at least a second from now; the deadline if none is left.
    earliest = -(-(elapsed_micros + _MICROS_PER_SECOND) // _MICROS_PER_SECOND)
    position = bisect.bisect_left(offsets, earliest)
    target = offsets[min(position, len(offsets) - 1)]
    remaining_micros = target * _MICROS_PER_SECOND - elapsed_micros
    final = target == schedule.deadline_seconds
    if final:
        # Rounded up: the final check never comes before the deadline (at most a second after).
        wait = -(-remaining_micros // _MICROS_PER_SECOND)
    else:
        # Rounded to the nearest second: a check a little late (the run time of the invocation,
        # a Wait of whole seconds) does not push every later one back, since the next wait is
        # counted from the placement again.
        wait = (remaining_micros + _MICROS_PER_SECOND // 2) // _MICROS_PER_SECOND
    return NextCheck(wait_seconds=max(1, wait), deadline_reached=False, reaches_deadline=final)


# Default profiles: the template's parameters override them. Measured by `make bench` against
# the targets in BENCHMARKS.md ("Check schedule").
#
# Polling only: 45 s where fulfilment is densest (the first minute), about a minute until 30
# minutes, then sparser, never more than 15 minutes apart: about 141 checks for an order never
# fulfilled (fixed 10-minute polling: 145).
POLLING_PROFILE = CheckSchedule(
    densest_spacing_seconds=45, longest_wait_seconds=900, deadline_seconds=86_400
)
# Webhook enabled: polling is the safety net for a webhook that never comes, about 30 checks
# a day, every 4 minutes until 30 minutes, every 18 minutes until 2 hours, never more than 90
# minutes apart.
WEBHOOK_PROFILE = CheckSchedule(
    densest_spacing_seconds=176, longest_wait_seconds=5_400, deadline_seconds=86_400
)
