"""When Tiqets fulfils the orders that are still pending at their first check: the one
statement of the pattern the check schedule (check_schedule.py) is shaped by, and that the
benchmarks (bench/schedule_model.py) measure schedules against.

Tiqets' own words (TIQETS_API.md): "Most products are fulfilled immediately. Products whose
`instant_ticket_delivery` is `false` are typically fulfilled within 30 minutes, and can take up
to 24 hours." The orders fulfilled immediately are found by the first check, made at once; the
pattern is about the rest. Our reading, in numbers (an assumption: Tiqets publishes no
distribution):

| by    | share fulfilled | from Tiqets' wording                                          |
|-------|-----------------|---------------------------------------------------------------|
| 1 min | 5 %             | a few that were nearly done at the first check                |
| 30 min| 80 %            | "typically within 30 minutes": most                           |
| 2 h   | 90 %            | the tail: "can take up to 24 hours", spread over the day ...  |
| 6 h   | 95 %            | ... with a long tail on purpose, since a schedule that        |
| 24 h  | 100 %           | assumed the tail away would check too rarely late in the day  |

Between two of these times the share grows evenly (a uniform density in each interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["FULFILMENT_PATTERN", "Interval", "intervals", "share_fulfilled_by"]

FULFILMENT_PATTERN: Final[tuple[tuple[int, float], ...]] = (
    (60, 0.05),
    (1_800, 0.80),
    (7_200, 0.90),
    (21_600, 0.95),
    (86_400, 1.00),
)
"""(seconds after placement, share of the pending orders fulfilled by then), in time order."""


@dataclass(frozen=True)
class Interval:
    """A stretch of the pattern: `share` of the pending orders are fulfilled within it."""

    start_seconds: int
    end_seconds: int
    share: float

    @property
    def density(self) -> float:
        """Share fulfilled per second within the interval."""
        return self.share / (self.end_seconds - self.start_seconds)


def intervals(deadline_seconds: int) -> list[Interval]:
    """The pattern's intervals up to the deadline, the last one cut at it. A deadline beyond
    the pattern's last time adds an interval in which nothing is fulfilled (all orders are by
    then), which the schedule checks as rarely as it may."""
    if deadline_seconds < 1:
        raise ValueError(f"deadline_seconds must be at least 1, got {deadline_seconds}")
    found: list[Interval] = []
    start, share_before = 0, 0.0
    for end, share_by in FULFILMENT_PATTERN:
        density = (share_by - share_before) / (end - start)
        if start >= deadline_seconds:
            break
        cut = min(end, deadline_seconds)
        found.append(Interval(start, cut, density * (cut - start)))
        start, share_before = end, share_by
    if start < deadline_seconds:
        found.append(Interval(start, deadline_seconds, 0.0))
    return found


def share_fulfilled_by(seconds: float) -> float:
    """The pattern's share of pending orders fulfilled by this many seconds after placement."""
    start, share_before = 0, 0.0
    for end, share_by in FULFILMENT_PATTERN:
        if seconds <= end:
            fraction = max(0.0, seconds - start) / (end - start)
            return share_before + (share_by - share_before) * fraction
        start, share_before = end, share_by
    return 1.0
