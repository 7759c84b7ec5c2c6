"""One round of the tracking loop: ask Tiqets for the status, then decide what comes next.

The state machine hands in the tracker state and routes on what comes back:
- `outcome_already_announced`: this outcome was published before (a re-check after a webhook,
  or a repeated callback); tracking ends without a second event.
- `outcome`: the outcome to announce (`TicketsReady` first stores the voucher), or None.
- otherwise wait `next_wait_seconds` (parked on a task token when the webhook is on) and check
  again.

Retryable Tiqets failures do not leave this function until `retry_budget` consecutive failures
are spent: the next wait follows the failure back-off (backoff.py) and honours Retry-After, and
a webhook can still end it early. Otherwise the next wait is until the order's next check time
(check_schedule.py). Permanent failures raise `TiqetsRequestRejectedError` at once.

A `done` order's informational fields are staged beside its voucher (information.py), and only
their key travels in the state, which Step Functions caps at 256 KB.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tiqets_tracker.backoff import NextCheck, seeded_rng, wait_after_failure
from tiqets_tracker.check_schedule import check_phase, next_check
from tiqets_tracker.errors import (
    InvalidExecutionInputError,
    TiqetsRequestRejectedError,
    TiqetsUnavailableError,
)
from tiqets_tracker.information import check_staged_information_key
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.outcomes import Outcome, outcome_for_status
from tiqets_tracker.records import RecordSnapshot
from tiqets_tracker.timestamps import format_timestamp, parse_timestamp
from tiqets_tracker.tiqets import OrderStatus, Tickets
from tiqets_tracker.tracking import execution_name
from tiqets_tracker.tracking_settings import TrackingSettings

logger = logging.getLogger(__name__)


# Authentic webhooks that end a wait early, per execution. Tiqets sends one per status change
# and retries it at most four times, so real orders stay far below this; past it (a flood
# through a leaked callback URL) the execution stops parking on a token, and re-checks after a
# raced write wait for the next check time instead of a short pause. Every loop then moves on to
# the schedule's next check time, so there are at most about as many loops as the schedule has
# checks (tracking_settings.MAX_CHECKS), which bounds the execution history (Step Functions stops
# at 25,000 events).
EARLY_WAKEUP_BUDGET = 20
RECHECK_PAUSE_SECONDS = 2
# The pause after an AWS failure: the template's default, and the longest the state may carry
# (the largest BackoffBaseSeconds).
DEFAULT_AWS_RETRY_PAUSE = 60
MAX_AWS_RETRY_PAUSE = 86_400


class TicketsSource(Protocol):
    def get_tickets(self, order_reference_id: str, lang: str = "en") -> Tickets: ...


class InformationStager(Protocol):
    def stage(self, order_reference_id: str, lang: str, information: Mapping[str, Any]) -> str: ...


class RecordStore(Protocol):
    def begin_check(
        self, order: OrderToTrack, now: datetime, *, execution_arn: str | None = None
    ) -> RecordSnapshot: ...

    def record_check(
        self,
        order_reference_id: str,
        *,
        status: str,
        previous_status: str | None,
        checked_at: datetime,
    ) -> None: ...

    def record_failed_check(
        self, order_reference_id: str, *, error: str, reason: str, checked_at: datetime
    ) -> None: ...


@dataclass(frozen=True)
class CheckResult:
    """The tracker state after one check, as the state machine receives it."""

    state: dict[str, Any]
    status: OrderStatus | None
    outcome: Outcome | None


def begins_tracking(tracker_state: object) -> bool:
    """Whether this is the state of an order's very first check: no check made yet, in the
    execution named after the order (not a re-check's or a sweep restart's). The dashboard counts
    orders started from it. False for a malformed state, which check_order refuses."""
    if not isinstance(tracker_state, Mapping) or tracker_state.get("checks_made") not in (None, 0):
        return False
    order, execution_arn = tracker_state.get("order"), tracker_state.get("execution_arn")
    if not isinstance(order, Mapping) or not isinstance(execution_arn, str):
        return False
    order_reference_id = order.get("order_reference_id")
    return isinstance(order_reference_id, str) and execution_arn.endswith(
        f":{execution_name(order_reference_id)}"
    )


def _count(raw: object, field: str) -> int:
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise InvalidExecutionInputError(f"{field} must be a whole number, not negative")
    return raw


def _execution_arn(raw: object) -> str | None:
    """The execution's own ARN (PrepareTracking puts it in the state; absent in states that
    began before it did)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.startswith("arn:") or len(raw) > 2048:
        raise InvalidExecutionInputError("execution_arn must be the execution's ARN")
    return raw


def check_order(
    tracker_state: object,
    *,
    now: datetime,
    tiqets: TicketsSource,
    records: RecordStore,
    information: InformationStager,
) -> CheckResult:
    if not isinstance(tracker_state, Mapping):
        raise InvalidExecutionInputError("the tracker state must be a JSON object")
    # An order without placed_at was placed when tracking began: its first check is moments
    # after the start, and from then on the normalised order carries the time.
    order = OrderToTrack.from_input(tracker_state.get("order"), default_placed_at=now, now=now)
    settings = TrackingSettings.from_raw(tracker_state.get("settings"))
    checks_made = _count(tracker_state.get("checks_made"), "checks_made") + 1
    consecutive_failures = _count(tracker_state.get("consecutive_failures"), "consecutive_failures")
    previous_status = tracker_state.get("status")
    early_wakeups = _count(tracker_state.get("early_wakeups"), "early_wakeups") + int(
        _woken_early(tracker_state, now)
    )
    retry_rng = seeded_rng(order.order_reference_id, format_timestamp(order.placed_at), checks_made)

    execution_arn = _execution_arn(tracker_state.get("execution_arn"))
    aws_retry_pause = _aws_retry_pause_seconds(tracker_state.get("aws_retry_pause_seconds"))
    _note_aws_failure(tracker_state.get("aws_failure"))
    snapshot = records.begin_check(order, now, execution_arn=execution_arn)
    state: dict[str, Any] = {
        "order": order.to_json(),
        "execution_arn": execution_arn,
        "settings": dict(tracker_state["settings"]),
        "checks_made": checks_made,
        "checked_at": format_timestamp(now),
        "webhooks_seen": snapshot.webhook_count,
        "tickets_pdf_url": None,
        "information_key": None,
        # Executions started on an earlier definition read $.information: keep the path.
        "information": None,
        "voucher": None,
        "failure": None,
        "early_wakeups": early_wakeups,
        "aws_retry_pause_seconds": aws_retry_pause,
    }

    try:
        tickets = tiqets.get_tickets(order.order_reference_id, order.lang)
    except TiqetsUnavailableError as error:
        consecutive_failures += 1
        records.record_failed_check(
            order.order_reference_id,
            error=type(error).__name__,
            reason=error.reason,
            checked_at=now,
        )
        if consecutive_failures > settings.retry_budget:
            raise TiqetsUnavailableError(
                f"{error.reason}; gave up after {consecutive_failures} failed attempts in a row",
                retry_after_seconds=error.retry_after_seconds,
            ) from None
        wait = wait_after_failure(
            settings.failure_retry,
            placed_at=order.placed_at,
            checked_at=now,
            consecutive_failures=consecutive_failures,
            retry_after_seconds=error.retry_after_seconds,
            rng=retry_rng,
        )
        status = (
            OrderStatus(previous_status)
            if isinstance(previous_status, str) and previous_status in set(OrderStatus)
            else None
        )
        state["last_error"] = {"error": type(error).__name__, "reason": error.reason}
        if status is OrderStatus.DONE:
            # Only a deadline can make the last known status the outcome (see _plan); the
            # voucher step then needs the URL that status came with.
            state["tickets_pdf_url"] = tracker_state.get("tickets_pdf_url")
            state["information_key"] = check_staged_information_key(
                tracker_state.get("information_key"), order.order_reference_id, order.lang
            )
        return _plan(
            state,
            snapshot=snapshot,
            settings=settings,
            status=status,
            wait=wait,
            consecutive_failures=consecutive_failures,
            confirmed=False,
        )
    except TiqetsRequestRejectedError as error:
        records.record_failed_check(
            order.order_reference_id,
            error=type(error).__name__,
            reason=error.reason,
            checked_at=now,
        )
        raise

    records.record_check(
        order.order_reference_id,
        status=tickets.status.value,
        previous_status=snapshot.last_status,
        checked_at=now,
    )
    state["last_error"] = None
    if tickets.status is OrderStatus.DONE:
        state["tickets_pdf_url"] = tickets.tickets_pdf_url
        if snapshot.announced_outcome != Outcome.TICKETS_READY.value:
            # Only the voucher step reads them, and only when the outcome is still to announce.
            state["information_key"] = information.stage(
                order.order_reference_id, order.lang, tickets.information
            )
    wait = next_check(
        settings.schedule,
        placed_at=order.placed_at,
        checked_at=now,
        phase=check_phase(order.order_reference_id, format_timestamp(order.placed_at)),
    )
    return _plan(
        state,
        snapshot=snapshot,
        settings=settings,
        status=tickets.status,
        wait=wait,
        consecutive_failures=0,
        confirmed=True,
    )


def _aws_retry_pause_seconds(raw: object) -> int:
    """How long the state machine pauses after AWS kept failing a step (PrepareTracking sets it
    from the template; the state carries it on). Absent in executions started on an earlier
    definition, which have no such pause."""
    if raw is None:
        return DEFAULT_AWS_RETRY_PAUSE
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_AWS_RETRY_PAUSE:
        raise InvalidExecutionInputError(
            f"aws_retry_pause_seconds must be a whole number from 1 to {MAX_AWS_RETRY_PAUSE}"
        )
    return raw


def _note_aws_failure(raw: object) -> None:
    """Say in the log that this check follows an AWS failure the state machine waited out."""
    if isinstance(raw, Mapping):
        error = raw.get("Error")
        logger.warning(
            "checking again after AWS failed a step",
            extra={"error": error[:100] if isinstance(error, str) else "unknown"},
        )


def _woken_early(tracker_state: Mapping[str, Any], now: datetime) -> bool:
    """Whether this check comes before the wait the previous check planned had run out: a
    webhook woke the execution, or a raced write sent it back to check."""
    if tracker_state.get("aws_failure") is not None:
        # The state machine sent it back after AWS failed a step: no webhook in it.
        return False
    if isinstance(tracker_state.get("outcome"), str):
        # The previous check planned an outcome, not a wait: only a webhook racing the outcome's
        # record (RecordOutcome, EndTracking) sends the execution back here.
        return True
    checked_at = tracker_state.get("checked_at")
    planned_wait = tracker_state.get("next_wait_seconds")
    if not isinstance(checked_at, str) or not isinstance(planned_wait, int):
        return False
    previous = parse_timestamp(checked_at, field="checked_at")
    # A second of slack for the time the previous check itself took.
    return now < previous + timedelta(seconds=planned_wait - 1)


def _plan(
    state: dict[str, Any],
    *,
    snapshot: RecordSnapshot,
    settings: TrackingSettings,
    status: OrderStatus | None,
    wait: NextCheck,
    consecutive_failures: int,
    confirmed: bool,
) -> CheckResult:
    """Decide the outcome, if any. A status this check did not confirm (Tiqets failed to
    answer) announces nothing before the deadline: the next check will confirm it."""
    outcome = None
    if status is not None and (confirmed or wait.deadline_reached):
        outcome = outcome_for_status(status)
    if outcome is None and wait.deadline_reached:
        outcome = Outcome.FULFILMENT_TIMED_OUT
    state.update(
        {
            "status": status.value if status is not None else None,
            "consecutive_failures": consecutive_failures,
            "outcome": outcome.value if outcome is not None else None,
            "outcome_already_announced": outcome is not None
            and snapshot.announced_outcome == outcome.value,
            "next_wait_seconds": None if outcome is not None else wait.wait_seconds,
            **_pacing(settings, wait, state["early_wakeups"]),
        }
    )
    return CheckResult(state=state, status=status, outcome=outcome)


def _pacing(settings: TrackingSettings, wait: NextCheck, early_wakeups: int) -> dict[str, Any]:
    """How the state machine waits: parked on a token (a webhook ends the wait), and how long
    it pauses before re-checking after a webhook raced one of its writes."""
    within_budget = early_wakeups < EARLY_WAKEUP_BUDGET
    return {
        "wake_on_webhook": settings.webhook_enabled and within_budget,
        "recheck_pause_seconds": RECHECK_PAUSE_SECONDS
        if within_budget
        else max(
            RECHECK_PAUSE_SECONDS, wait.wait_seconds or settings.schedule.longest_wait_seconds
        ),
    }
