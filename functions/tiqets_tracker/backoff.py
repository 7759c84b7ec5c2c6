"""How long to wait after a check that failed for a retryable reason (429, 5xx, a timeout):
capped exponential back-off with jitter, honouring Retry-After, bounded by a deadline counted
from the moment the order was placed. The waits between successful checks follow the check
schedule (check_schedule.py); this is about the API's health, not about the order.

Pure functions, standard library only, no I/O and no clock: the caller passes the times and a
`random.Random`, so every decision can be replayed (see `seeded_rng`).

- The nominal wait after the n-th failure in a row is `min(cap, base * multiplier ** (n - 1))`.
- Jitter lowers it to `w - jitter_ratio * w * u` with `u` uniform in [0, 1): 1.0 is "full
  jitter" (uniform in (0, w]), 0.0 is none. Jitter spreads the retries of many orders that
  failed at the same moment so they do not hit the Tiqets API in lock-step.
- Waits are whole seconds (a Step Functions `Wait` takes integer seconds): rounded up, never
  below 1 second and never above the cap (or a longer Retry-After).
- Never past the deadline: a wait that would reach or pass the deadline, or would leave less
  than one second before it, is cut short so that one final check lands at the deadline (at
  most a second after it with sub-second times). After that check there are no more waits.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tiqets_tracker.timestamps import require_aware

__all__ = [
    "MAX_POLICY_SECONDS",
    "BackoffPolicy",
    "NextCheck",
    "seeded_rng",
    "wait_after_failure",
]

_MICROS_PER_SECOND = 1_000_000
_ONE_MICROSECOND = timedelta(microseconds=1)
# Floating-point noise tolerated before rounding a wait up: 10 * 1.1 is 11.000000000000002 in
# binary floating point, and must give 11 seconds, not 12.
_ROUNDING_TOLERANCE = 1e-9
# No duration of a policy may exceed this: a Standard Step Functions execution lasts at most one
# year, and the bound keeps every computation far from float and datetime overflow.
MAX_POLICY_SECONDS = 366 * 86_400


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait between retries of a failing check, and until when."""

    base_seconds: int
    """The wait after the first failure, before jitter. At least 1."""
    cap_seconds: int
    """No wait exceeds this. At least `base_seconds`."""
    deadline_seconds: int
    """Tracking ends this long after the order was placed. At least 1."""
    multiplier: float = 2.0
    """Growth of the nominal wait per failure in a row. At least 1.0 (1.0 is a fixed interval)."""
    jitter_ratio: float = 1.0
    """Share of each wait that is randomised downwards, in [0, 1]: 1.0 is full jitter, 0 none."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("base_seconds", "cap_seconds", "deadline_seconds"):
            value: object = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{name} must be a whole number of seconds, got {value!r}")
        for name in ("multiplier", "jitter_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{name} must be a number, got {value!r}")
            elif not math.isfinite(value):
                problems.append(f"{name} must be finite, got {value!r}")
        if problems:
            raise ValueError("invalid back-off policy: " + "; ".join(problems))

        if self.base_seconds < 1:
            problems.append(f"base_seconds must be at least 1, got {self.base_seconds}")
        if self.cap_seconds < self.base_seconds:
            problems.append(
                f"cap_seconds ({self.cap_seconds}) must be at least base_seconds "
                f"({self.base_seconds})"
            )
        if self.deadline_seconds < 1:
            problems.append(f"deadline_seconds must be at least 1, got {self.deadline_seconds}")
        for name in ("base_seconds", "cap_seconds", "deadline_seconds"):
            if getattr(self, name) > MAX_POLICY_SECONDS:
                problems.append(
                    f"{name} must be at most {MAX_POLICY_SECONDS} (366 days, the longest a "
                    f"Step Functions execution runs), got {getattr(self, name)}"
                )
        if self.multiplier < 1.0:
            problems.append(f"multiplier must be at least 1.0, got {self.multiplier}")
        if not 0.0 <= self.jitter_ratio <= 1.0:
            problems.append(f"jitter_ratio must be between 0 and 1, got {self.jitter_ratio}")
        if problems:
            raise ValueError("invalid back-off policy: " + "; ".join(problems))


@dataclass(frozen=True)
class NextCheck:
    """What to do after a check: wait this many seconds and check again, or stop."""

    wait_seconds: int | None
    """Whole seconds to wait before the next check; None once the deadline has come."""
    deadline_reached: bool
    """True when no check is left: the deadline has come."""
    reaches_deadline: bool = False
    """True when this is the cut-short last wait: it ends at (or less than a second after) the
    deadline, so the check after it is the final one."""

    def __post_init__(self) -> None:
        if self.deadline_reached != (self.wait_seconds is None):
            raise ValueError("wait_seconds must be None exactly when the deadline is reached")
        if self.wait_seconds is not None and self.wait_seconds < 1:
            raise ValueError(f"wait_seconds must be at least 1, got {self.wait_seconds}")
        if self.deadline_reached and self.reaches_deadline:
            raise ValueError("reaches_deadline describes a wait; there is none after the deadline")


def wait_after_failure(
    policy: BackoffPolicy,
    *,
    placed_at: datetime,
    checked_at: datetime,
    consecutive_failures: int,
    retry_after_seconds: float | None,
    rng: random.Random,
) -> NextCheck:
    """Decide the wait after a check that failed for a retryable reason (429, 5xx, timeout).

    The nominal wait is `min(cap, base * multiplier ** (n - 1))` with n = `consecutive_failures`
    (0 is read as 1). Both datetimes must be timezone-aware; a check time before the placement
    (clock skew) counts as the placement time. Draws one number from `rng` unless the deadline
    has already been reached.
    A `retry_after_seconds` from Tiqets' Retry-After header is honoured: the wait is at least
    that long (rounded up), even beyond the cap, since the server knows best. The deadline wins
    over everything: the wait is still cut so the final check lands at the deadline.
    """
    if consecutive_failures < 0:
        raise ValueError(f"consecutive_failures must not be negative, got {consecutive_failures}")
    at_least: int | None = None
    if retry_after_seconds is not None:
        if math.isnan(retry_after_seconds) or retry_after_seconds < 0:
            raise ValueError(
                f"retry_after_seconds must be a non-negative number, got {retry_after_seconds!r}"
            )
        # Nothing waits longer than the whole tracking window: this also turns an infinite
        # Retry-After into "until the deadline". A plain ceiling, not _ceil_seconds: the value
        # is the server's, not our arithmetic's, so even a hair over a second counts.
        at_least = math.ceil(min(retry_after_seconds, float(policy.deadline_seconds + 1)))
    return _decide(
        policy,
        placed_at=placed_at,
        checked_at=checked_at,
        attempt=consecutive_failures,
        rng=rng,
        at_least_seconds=at_least,
    )


def seeded_rng(*parts: str | int) -> random.Random:
    """A `random.Random` seeded from `parts`, e.g. `(order_reference_id, checks_made)`: the same
    parts give the same numbers in every process, so a retried Lambda picks the same wait.

    Uses SHA-256 of an unambiguous encoding of the parts, not Python's `hash()`, which is salted
    per process for strings.
    """
    if not parts:
        raise ValueError("seeded_rng needs at least one part")
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, str | int):
            raise TypeError(f"seeded_rng parts must be str or int, got {type(part).__name__}")
        tag = b"s" if isinstance(part, str) else b"i"
        encoded = str(part).encode("utf-8")
        # Type tag and length prefix: ("ab", "c"), ("a", "bc") and ("1",) vs (1,) all differ.
        digest.update(tag + str(len(encoded)).encode("ascii") + b":" + encoded)
    seed = int.from_bytes(digest.digest(), "big")
    # Jitter for spreading load, not for security: a non-cryptographic generator is right here.
    return random.Random(seed)  # noqa: S311


def _decide(
    policy: BackoffPolicy,
    *,
    placed_at: datetime,
    checked_at: datetime,
    attempt: int,
    rng: random.Random,
    at_least_seconds: int | None,
) -> NextCheck:
    require_aware("placed_at", placed_at)
    require_aware("checked_at", checked_at)

    deadline_at = placed_at + timedelta(seconds=policy.deadline_seconds)
    # Skew: a check "before" the placement counts as made at the placement.
    effective_check = max(checked_at, placed_at)
    remaining_micros = (deadline_at - effective_check) // _ONE_MICROSECOND
    if remaining_micros <= 0:
        return NextCheck(wait_seconds=None, deadline_reached=True)

    wait = _jittered_wait(policy, attempt=attempt, rng=rng)
    longest = policy.cap_seconds
    if at_least_seconds is not None:
        wait = max(wait, at_least_seconds)
        longest = max(longest, at_least_seconds)

    # Cut short when the wait would reach or pass the deadline or leave less than one second
    # before it: the next check is then the final one, at the deadline. The rounded-up remainder
    # never exceeds the longest allowed wait (the cap, or a longer Retry-After).
    if (wait + 1) * _MICROS_PER_SECOND > remaining_micros:
        remaining_rounded_up = -(-remaining_micros // _MICROS_PER_SECOND)
        wait = min(remaining_rounded_up, longest)
    reaches_deadline = wait * _MICROS_PER_SECOND >= remaining_micros
    return NextCheck(wait_seconds=wait, deadline_reached=False, reaches_deadline=reaches_deadline)


def _jittered_wait(policy: BackoffPolicy, *, attempt: int, rng: random.Random) -> int:
    nominal = _nominal_wait(policy, attempt)
    jittered = nominal - policy.jitter_ratio * nominal * rng.random()
    return min(policy.cap_seconds, max(1, _ceil_seconds(jittered)))


def _nominal_wait(policy: BackoffPolicy, attempt: int) -> float:
    """`min(cap, base * multiplier ** (n - 1))` for the n-th failure, without float overflow."""
    exponent = max(attempt, 1) - 1
    base = float(policy.base_seconds)
    cap = float(policy.cap_seconds)
    if exponent == 0 or policy.multiplier == 1.0:
        return base
    # Past this exponent the nominal wait exceeds cap * multiplier, so it is surely capped:
    # no need to raise a float to a huge power (which overflows for large check counts).
    capped_from = math.log(cap / base) / math.log(policy.multiplier) + 1.0
    if exponent > capped_from:
        return cap
    try:
        grown = base * policy.multiplier**exponent
    except OverflowError:
        return cap
    return min(cap, grown)


def _ceil_seconds(seconds: float) -> int:
    """Round up to whole seconds, ignoring floating-point noise just above a whole number."""
    nearest = round(seconds)
    if abs(seconds - nearest) <= _ROUNDING_TOLERANCE * max(1.0, abs(seconds)):
        return int(nearest)
    return math.ceil(seconds)
