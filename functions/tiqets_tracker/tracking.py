"""Starting a tracker: what the distributor's order-placement Lambda calls once an order is
confirmed.

    from tiqets_tracker.tracking import start_tracking
    # when creating the order on Tiqets: callback_url=callback_url_for_order(
    #     "shop-42", webhook_url=WEBHOOK_URL, keys_secret="tiqets-tracker/webhook-keys")
    started = start_tracking("1111111", external_reference="shop-42",
                             state_machine_arn=os.environ["TRACKER_STATE_MACHINE_ARN"])

The execution is named after the order, so a second start for the same order finds the first
tracker instead of creating another one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tiqets_tracker.callback_urls import callback_url_for_order
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.order_input import DEFAULT_LANG, OrderToTrack
from tiqets_tracker.timestamps import as_utc, format_timestamp

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.client import SFNClient

__all__ = [
    "TrackingStarted",
    "build_execution_input",
    "callback_url_for_order",
    "execution_arn_for",
    "execution_name",
    "start_tracking",
]


# Clock skew between this caller and Step Functions that we tolerate when telling a repeated
# start from a new one.
_START_DATE_MARGIN = timedelta(seconds=2)


@dataclass(frozen=True)
class TrackingStarted:
    execution_arn: str
    already_tracked: bool


def execution_name(order_reference_id: str) -> str:
    """The name of the first execution that tracks an order. The input schema restricts order
    IDs to characters that execution names accept."""
    return order_reference_id


def build_execution_input(
    order_reference_id: str,
    *,
    lang: str = DEFAULT_LANG,
    external_reference: str | None = None,
    placed_at: datetime | None = None,
    visit_date: date | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Validated execution input; raises InvalidExecutionInputError with a readable reason."""
    if placed_at is not None:
        if not isinstance(placed_at, datetime):
            raise InvalidExecutionInputError("placed_at must be a datetime")
        if placed_at.tzinfo is None:
            raise InvalidExecutionInputError("placed_at must be timezone-aware")
        placed_at = as_utc(placed_at, field="placed_at")
    if visit_date is not None and (
        not isinstance(visit_date, date) or isinstance(visit_date, datetime)
    ):
        raise InvalidExecutionInputError("visit_date must be a date")
    moment = now or datetime.now(UTC)
    payload: dict[str, Any] = {
        "order_reference_id": order_reference_id,
        "lang": lang,
        "external_reference": external_reference,
        "placed_at": format_timestamp(placed_at or moment),
        "visit_date": visit_date.isoformat() if visit_date is not None else None,
    }
    OrderToTrack.from_input(payload, default_placed_at=moment, now=moment)
    return payload


def start_tracking(
    order_reference_id: str,
    *,
    state_machine_arn: str,
    lang: str = DEFAULT_LANG,
    external_reference: str | None = None,
    placed_at: datetime | None = None,
    visit_date: date | None = None,
    client: SFNClient | None = None,
) -> TrackingStarted:
    """Start tracking one order. Idempotent: starting an order that is already tracked returns
    the existing execution with `already_tracked=True` instead of raising.

    Give the `visit_date` when you know it: Tiqets can cancel an order until then, and the
    order's tracking record is kept until 30 days after it, so the cancellation is announced."""
    payload = build_execution_input(
        order_reference_id,
        lang=lang,
        external_reference=external_reference,
        placed_at=placed_at,
        visit_date=visit_date,
    )
    if client is None:
        from tiqets_tracker.aws import stepfunctions_client

        client = stepfunctions_client()
    name = execution_name(order_reference_id)
    called_at = datetime.now(UTC)
    try:
        response = client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except client.exceptions.ExecutionAlreadyExists:
        return TrackingStarted(
            execution_arn=execution_arn_for(state_machine_arn, name), already_tracked=True
        )
    # Step Functions answers a repeated start with the same name and the same input, while the
    # first execution still runs, with that execution's ARN and start date instead of an error.
    already = response["startDate"] < called_at - _START_DATE_MARGIN
    return TrackingStarted(execution_arn=response["executionArn"], already_tracked=already)


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    # arn:<partition>:states:<region>:<account>:stateMachine:<machine>
    #   -> arn:<partition>:states:<region>:<account>:execution:<machine>:<name>
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"
