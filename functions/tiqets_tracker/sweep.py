"""The sweep: finds tracked orders that no execution is looking after any more, and acts.

An execution can end without an outcome: an operator stopped it, a bug failed it, it hit its
hard timeout, or its outcome could not be published (OutcomeNotPublished). Such an order stays
in the sparse OpenOrders index (see records.py), because only ending tracking with a published
outcome takes it out. On a schedule, the sweep reads the index and, for every order whose
recorded execution is no longer running:
- restarts tracking with a new execution of the same state machine (`<order>-sweep-<n>`), which
  checks Tiqets once and publishes what was never announced (a FulfilmentTimedOut if the
  deadline has passed and the order is still not final);
- after MAX_SWEEP_RESTARTS restarts, stops restarting (something fails every time) and reports
  the order as abandoned: a person has to look at it.
Each action is published on the outcome bus with source `tiqets-tracker.sweep` (detail-types
TrackingRestarted and TrackingAbandoned, see schemas/sweep_event.schema.json), so the
distributor's systems hear about it; outcome consumers matching source `tiqets-tracker` do not.

Every action is claimed in the record first, conditional on the execution the sweep saw, so a
sweep racing the order's own execution, a webhook's re-check or another sweep does nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tiqets_tracker.aws import step_functions_unavailable
from tiqets_tracker.errors import SweepActionNotPublishedError
from tiqets_tracker.records import (
    TrackingRecords,
    count_attribute,
    order_input_from_record,
    text_attribute,
)
from tiqets_tracker.timestamps import format_timestamp
from tiqets_tracker.tracking import execution_arn_for

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_stepfunctions.client import SFNClient

logger = logging.getLogger(__name__)

SWEEP_EVENT_SOURCE = "tiqets-tracker.sweep"
MAX_SWEEP_RESTARTS = 3
# Orders opened this recently are not looked at: their first execution is certainly running.
MIN_OPEN_AGE = timedelta(minutes=5)
_MISSING = "MISSING"  # the recorded execution does not exist (a restart that never started)
# PENDING_REDRIVE: an operator is redriving the execution, which then runs again.
_LIVE_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})


class SweepAction(StrEnum):
    RESTARTED = "TrackingRestarted"
    ABANDONED = "TrackingAbandoned"


@dataclass(frozen=True)
class SweptOrder:
    order_reference_id: str
    action: SweepAction
    previous_execution_arn: str
    previous_execution_status: str
    restarts: int
    restarted_execution_arn: str | None

    def event_detail(self, *, order: Mapping[str, Any], swept_at: datetime) -> dict[str, Any]:
        suffix = f":{self.restarts}" if self.action is SweepAction.RESTARTED else ""
        return {
            "schema_version": "1",
            "idempotency_key": f"{self.order_reference_id}:{self.action.value}{suffix}",
            "action": self.action.value,
            "order_reference_id": self.order_reference_id,
            "order": dict(order),
            "previous_execution_arn": self.previous_execution_arn,
            "previous_execution_status": self.previous_execution_status,
            "restarts": self.restarts,
            "restarted_execution_arn": self.restarted_execution_arn,
            "swept_at": format_timestamp(swept_at),
        }


@dataclass
class SweepReport:
    """What one sweep saw and did; the handler returns it and logs it."""

    open_orders: int = 0
    running: int = 0
    skipped: int = 0
    swept: list[SweptOrder] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)
    stopped_early: bool = False

    def raise_for_unpublished(self) -> None:
        """Fail the sweep (SweepActionNotPublishedError) if an action's event was not
        published: the actions stand, and whoever reports the sweep has counted them first."""
        if self.unpublished:
            raise SweepActionNotPublishedError(
                f"{len(self.unpublished)} sweep event(s) not published: "
                + ", ".join(self.unpublished[:20])
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "open_orders": self.open_orders,
            "running": self.running,
            "skipped": self.skipped,
            "restarted": [
                order.order_reference_id
                for order in self.swept
                if order.action is SweepAction.RESTARTED
            ],
            "abandoned": [
                order.order_reference_id
                for order in self.swept
                if order.action is SweepAction.ABANDONED
            ],
            "unpublished": self.unpublished,
            "stopped_early": self.stopped_early,
        }


def sweep_orders(
    *,
    records: TrackingRecords,
    stepfunctions: SFNClient,
    events: EventBridgeClient,
    event_bus_name: str,
    state_machine_arn: str,
    now: datetime,
    time_left: Callable[[], float] = lambda: float("inf"),
    max_restarts: int = MAX_SWEEP_RESTARTS,
) -> SweepReport:
    """One sweep over the open orders. `time_left` (seconds) lets a Lambda stop before its
    timeout; the next sweep continues where this one stopped, oldest orders first. An action
    whose event could not be published stands and is listed in `unpublished`; the caller fails
    the sweep with `raise_for_unpublished` once it has counted what the sweep did."""
    report = SweepReport()
    for order_reference_id in records.open_orders(opened_before=now - MIN_OPEN_AGE):
        if time_left() < 10:
            report.stopped_early = True
            break
        report.open_orders += 1
        item = records.get(order_reference_id)
        seen_arn = text_attribute(item, "execution_arn")
        if item is None or text_attribute(item, "sweep_partition") is None or seen_arn is None:
            # Ended since the index was read, or begun before executions were recorded.
            report.skipped += 1
            continue
        status, machine_arn = _execution_status(stepfunctions, seen_arn)
        if status in _LIVE_STATUSES:
            report.running += 1
            continue
        order = order_input_from_record(item)
        restarts = count_attribute(item, "sweep_restarts")
        if restarts >= max_restarts:
            swept = _abandon(
                records,
                order_reference_id,
                seen_arn=seen_arn,
                status=status,
                restarts=restarts,
                now=now,
            )
        else:
            swept = _restart(
                records,
                stepfunctions,
                order,
                seen_arn=seen_arn,
                status=status,
                restarts=restarts,
                state_machine_arn=machine_arn or state_machine_arn,
                now=now,
            )
        if swept is None:
            report.skipped += 1
            continue
        report.swept.append(swept)
        try:
            _publish(events, event_bus_name, swept.event_detail(order=order, swept_at=now), swept)
        except SweepActionNotPublishedError as error:
            # The action stands: carry on with the other orders (see raise_for_unpublished).
            logger.error("sweep event not published", extra={"reason": str(error)})
            report.unpublished.append(swept.order_reference_id)
    logger.info("sweep done", extra=report.to_json())
    return report


def _restart(
    records: TrackingRecords,
    stepfunctions: SFNClient,
    order: dict[str, Any],
    *,
    seen_arn: str,
    status: str,
    restarts: int,
    state_machine_arn: str,
    now: datetime,
) -> SweptOrder | None:
    order_reference_id = order["order_reference_id"]
    name = f"{order_reference_id}-sweep-{restarts + 1}"
    restarted_arn = execution_arn_for(state_machine_arn, name)
    if not records.claim_sweep_restart(
        order_reference_id,
        seen_execution_arn=seen_arn,
        restarted_execution_arn=restarted_arn,
        now=now,
    ):
        return None
    try:
        stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(order)
        )
    except ClientError as error:
        # ExecutionAlreadyExists: an earlier sweep started it and then failed to publish.
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            # The record now names an execution that does not exist: the next sweep sees it
            # as missing and tries again.
            raise step_functions_unavailable(error, "the restart") from None
    except BotoCoreError as error:
        raise step_functions_unavailable(error, "the restart") from None
    return SweptOrder(
        order_reference_id=order_reference_id,
        action=SweepAction.RESTARTED,
        previous_execution_arn=seen_arn,
        previous_execution_status=status,
        restarts=restarts + 1,
        restarted_execution_arn=restarted_arn,
    )


def _abandon(
    records: TrackingRecords,
    order_reference_id: str,
    *,
    seen_arn: str,
    status: str,
    restarts: int,
    now: datetime,
) -> SweptOrder | None:
    if not records.give_up_sweeping(order_reference_id, seen_execution_arn=seen_arn, now=now):
        return None
    return SweptOrder(
        order_reference_id=order_reference_id,
        action=SweepAction.ABANDONED,
        previous_execution_arn=seen_arn,
        previous_execution_status=status,
        restarts=restarts,
        restarted_execution_arn=None,
    )


def _execution_status(stepfunctions: SFNClient, execution_arn: str) -> tuple[str, str | None]:
    """The execution's status and state machine, or MISSING when there is no such execution."""
    try:
        described = stepfunctions.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return _MISSING, None
        raise step_functions_unavailable(error, "DescribeExecution") from None
    except BotoCoreError as error:
        raise step_functions_unavailable(error, "DescribeExecution") from None
    return described["status"], described["stateMachineArn"]


def _publish(
    events: EventBridgeClient, event_bus_name: str, detail: dict[str, Any], swept: SweptOrder
) -> None:
    entry = {
        "EventBusName": event_bus_name,
        "Source": SWEEP_EVENT_SOURCE,
        "DetailType": swept.action.value,
        "Detail": json.dumps(detail),
    }
    try:
        response = events.put_events(Entries=[entry])  # type: ignore[list-item]
    except (ClientError, BotoCoreError) as error:
        raise SweepActionNotPublishedError(
            f"{swept.action.value} for {swept.order_reference_id} not published "
            f"({type(error).__name__})"
        ) from None
    if response.get("FailedEntryCount", 0):
        code = response["Entries"][0].get("ErrorCode", "unknown")
        raise SweepActionNotPublishedError(
            f"{swept.action.value} for {swept.order_reference_id} not published ({code})"
        )
    logger.info(
        "order swept",
        extra={"order_reference_id": swept.order_reference_id, "action": swept.action.value},
    )
