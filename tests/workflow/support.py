"""What the workflow test modules share: reading outcomes and execution histories."""

from __future__ import annotations

from typing import Any

import fastjsonschema

from tests.workflow.conftest import FAST_POLLING
from tiqets_tracker.state import load_schema
from tiqets_tracker_local.stack import LocalStack, OutcomeEvent

validate_outcome = fastjsonschema.compile(load_schema("outcome_event.schema.json"))


def track(stack: LocalStack, order_id: str, **kwargs: Any) -> dict[str, Any]:
    """Track an order to the end, polling unless another state machine is given."""
    kwargs.setdefault("state_machine_arn", stack.state_machine(**FAST_POLLING))
    started = stack.start_tracking(order_id, **kwargs)
    return stack.wait_for(started.execution_arn, timeout=90)


def outcomes(stack: LocalStack, order_id: str) -> list[str]:
    """The order's outcome events so far, each checked against the published schema."""
    events = stack.outcomes_for(order_id)
    for event in events:
        validate_outcome(event.detail)
        assert event.detail["outcome"] == event.detail_type
    return [event.detail_type for event in events]


def only_outcome(stack: LocalStack, order_id: str) -> OutcomeEvent:
    """The order's one outcome event, checked against the published schema."""
    assert len(outcomes(stack, order_id)) == 1, outcomes(stack, order_id)
    return stack.outcomes_for(order_id)[0]


def states_entered(stack: LocalStack, execution_arn: str) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in stack.history(execution_arn)
        if "stateEnteredEventDetails" in event
    ]


def failed_task_errors(stack: LocalStack, execution_arn: str) -> list[str]:
    return [
        event["taskFailedEventDetails"]["error"]
        for event in stack.history(execution_arn)
        if "taskFailedEventDetails" in event
    ]


def wait_until_parked(stack: LocalStack, order_id: str) -> None:
    stack.wait_until(
        lambda: (stack.record(order_id) or {}).get("task_token"), what="the order to park"
    )


def pretend_last_recheck_was_long_ago(stack: LocalStack, order_id: str) -> None:
    """Move the order's last re-check far into the past, so the next callback is not inside the
    one-re-check-a-minute window (instead of waiting a minute of real time)."""
    stack.client("dynamodb").update_item(
        TableName=stack.tracking_table_name,
        Key={"order_reference_id": {"S": order_id}},
        UpdateExpression="SET last_recheck_at = :long_ago",
        ExpressionAttributeValues={":long_ago": {"S": "2000-01-01T00:00:00.000Z"}},
    )
