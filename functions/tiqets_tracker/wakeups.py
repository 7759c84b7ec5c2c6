"""Waking a tracker when Tiqets says an order changed (`wake_for_callback`, for an authentic
callback; `wake_tracker` once the callback is known to be for the order).

The callback's body is never trusted: it only makes the tracker check the status now. Counting
the webhook first and resuming the parked execution second is what makes the wake-up race-free:
if the execution is between a status check and parking, its parking step sees the new count,
refuses to park and checks again at once (see records.py and order_tracking.asl.json).

A callback for an order whose tracking has ended (a cancellation days after `done`) starts a
short re-check execution of the same state machine. It asks Tiqets once and publishes only an
outcome that was not announced before; at most one re-check runs per order at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tiqets_tracker.aws import step_functions_unavailable
from tiqets_tracker.callback_requests import CallbackRejectedError
from tiqets_tracker.records import TrackingRecords, order_input_from_record
from tiqets_tracker.timestamps import format_timestamp

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.client import SFNClient

# At most one re-check per order this often: a flood of callbacks for a finished order must not
# become a flood of Tiqets calls. A callback inside the window is answered 429 with Retry-After,
# and Tiqets retries it after 1, 2, 4 and 8 minutes, so no change is lost.
MIN_RECHECK_INTERVAL = timedelta(seconds=60)

# The token was used, expired or belongs to an execution that ended: nothing is parked.
_STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class WakeResult(StrEnum):
    WOKEN = "woken"  # a parked execution was resumed
    NOTED = "noted"  # the execution is busy checking; its next parking step sees the webhook
    RECHECK_STARTED = "recheck_started"  # tracking had ended; a re-check execution started
    RECHECK_RUNNING = "recheck_running"  # tracking had ended and a re-check already runs
    RECHECK_DEFERRED = "recheck_deferred"  # the last re-check started moments ago: ask again
    UNKNOWN_ORDER = "unknown_order"  # no order of that ID is tracked


def wake_tracker(
    order_reference_id: str,
    *,
    records: TrackingRecords,
    stepfunctions: SFNClient,
    now: datetime,
    state_machine_arn: str,
) -> WakeResult:
    item = records.note_webhook(order_reference_id, now)
    if item is None:
        return WakeResult.UNKNOWN_ORDER
    if item.get("tracking_state", {}).get("S") == "finished":
        return _start_recheck(item, records, stepfunctions, state_machine_arn, now)
    token = item.get("task_token", {}).get("S")
    if not token:
        return WakeResult.NOTED
    try:
        stepfunctions.send_task_success(taskToken=token, output="{}")
    except ClientError as error:
        if error.response["Error"]["Code"] in _STALE_TOKEN_ERRORS:
            return WakeResult.NOTED
        raise step_functions_unavailable(error, "the wake-up") from None
    except BotoCoreError as error:
        raise step_functions_unavailable(error, "the wake-up") from None
    return WakeResult.WOKEN


def _start_recheck(
    item: dict[str, Any],
    records: TrackingRecords,
    stepfunctions: SFNClient,
    state_machine_arn: str,
    now: datetime,
) -> WakeResult:
    order_reference_id = item["order_reference_id"]["S"]
    recheck = records.claim_recheck(order_reference_id, now, min_interval=MIN_RECHECK_INTERVAL)
    if recheck is None:
        last = item.get("last_recheck_at", {}).get("S")
        if last is not None and last >= format_timestamp(now - MIN_RECHECK_INTERVAL):
            return WakeResult.RECHECK_DEFERRED
        return WakeResult.RECHECK_RUNNING
    try:
        stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=f"{order_reference_id}-recheck-{recheck}",
            input=json.dumps(order_input_from_record(item)),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return WakeResult.RECHECK_RUNNING
        records.release_recheck(order_reference_id)
        raise step_functions_unavailable(error, "the re-check") from None
    except BotoCoreError as error:
        records.release_recheck(order_reference_id)
        raise step_functions_unavailable(error, "the re-check") from None
    return WakeResult.RECHECK_STARTED


def wake_for_callback(
    order_reference_id: str,
    *,
    external_reference: str | None,
    records: TrackingRecords,
    stepfunctions: SFNClient,
    now: datetime,
    state_machine_arn: str,
) -> WakeResult:
    """Wake the tracker of the order named by an authentic callback, if the callback's URL was
    issued for that order.

    - No tracking record: UNKNOWN_ORDER, and nothing is written.
    - The URL carries an external reference and the order's is another (or none):
      CallbackRejectedError(403, `callback_not_for_this_order`), and nothing is written.
    - Otherwise whatever wake_tracker does (count the webhook, resume the parked execution, or
      start a re-check of a finished order).

    A flood of authentic callbacks cannot become a flood of Tiqets calls: the workflow pauses
    before a re-check after a raced webhook, and runs at most one re-check of a finished order
    at a time (see wakeups.py), so no limiter is needed here.
    """
    item = records.get(order_reference_id)
    if item is None:
        return WakeResult.UNKNOWN_ORDER
    if external_reference is not None and _external_reference_of(item) != external_reference:
        raise CallbackRejectedError(403, "callback_not_for_this_order")
    return wake_tracker(
        order_reference_id,
        records=records,
        stepfunctions=stepfunctions,
        now=now,
        state_machine_arn=state_machine_arn,
    )


def _external_reference_of(item: Mapping[str, Any]) -> str | None:
    value = item.get("external_reference")
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None
