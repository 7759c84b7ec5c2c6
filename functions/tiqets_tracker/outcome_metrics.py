"""What one published outcome tells the dashboard: which outcome, and how long after the order
was placed it was decided.

The tracker publishes each outcome as an EventBridge event (outcomes.py, the outcome event
schema); a rule on its bus hands every one to the outcome-metrics Lambda, so the metrics are
counted once per published outcome, whichever path decided it (a status check, the voucher
step, a failure caught by the state machine). EventBridge delivers at least once: a rare
duplicate delivery counts an outcome twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from tiqets_tracker.errors import InvalidOutcomeEventError, TiqetsTrackerError
from tiqets_tracker.outcomes import EVENT_SOURCE, Outcome
from tiqets_tracker.timestamps import parse_timestamp
from tiqets_tracker.validation import check

__all__ = ["MeasuredOutcome", "measure_outcome"]


@dataclass(frozen=True)
class MeasuredOutcome:
    outcome: Outcome
    # From the order's placed_at to decided_at; None when the event carries no placed_at (an
    # order whose tracking failed before its input was normalised and that gave none).
    seconds_to_outcome: float | None


def measure_outcome(event: object) -> MeasuredOutcome:
    """The outcome of an EventBridge event from the tracker's bus; raises
    InvalidOutcomeEventError naming what is wrong for anything else."""
    if not isinstance(event, Mapping):
        raise InvalidOutcomeEventError("the event must be a JSON object")
    if event.get("source") != EVENT_SOURCE:
        raise InvalidOutcomeEventError(f"the event's source must be {EVENT_SOURCE!r}")
    detail = event.get("detail")
    try:
        check("outcome_event.schema.json", detail, what="the event's detail")
    except TiqetsTrackerError as error:
        raise InvalidOutcomeEventError(str(error)) from None
    detail = cast(Mapping[str, Any], detail)  # the schema requires an object
    outcome = Outcome(detail["outcome"])
    if event.get("detail-type") != outcome.value:
        raise InvalidOutcomeEventError("the event's detail-type must be its detail's outcome")
    placed_at = detail["order"].get("placed_at")
    try:
        decided = parse_timestamp(detail["decided_at"], field="decided_at")
        placed = parse_timestamp(placed_at, field="placed_at") if placed_at else None
    except TiqetsTrackerError as error:
        raise InvalidOutcomeEventError(str(error)) from None
    if placed is None:
        return MeasuredOutcome(outcome, None)
    # A placed_at a little ahead of Step Functions' clock (the caller's skew) counts as zero.
    return MeasuredOutcome(outcome, max(0.0, (decided - placed).total_seconds()))
