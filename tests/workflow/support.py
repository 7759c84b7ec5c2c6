"""What the workflow test modules share: reading outcomes and execution histories."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.workflow.conftest import FAST_POLLING
from tiqets_tracker.callback_urls import callback_url_for_order
from tiqets_tracker.validation import validator
from tiqets_tracker_local.simulator import Scenario
from tiqets_tracker_local.stack import FINISHED_STATUSES, LocalStack
from tiqets_tracker_local.subscriber import OutcomeEvent
from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

validate_outcome = validator("outcome_event.schema.json")

DONE_AT_ONCE = Scenario(timeline=((0.0, "done"),))
FAILED_AT_ONCE = Scenario(timeline=((0.0, "failed"),))


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


def finished_record(
    stack: LocalStack, order_id: str, *, announced: str | None = None
) -> dict[str, Any]:
    """The order's tracking record, asserted to exist and be finished, and (when `announced`
    is given) to have announced that outcome; returned for the test's further assertions."""
    record = stack.record(order_id)
    assert record is not None, f"no tracking record for {order_id}"
    assert record["tracking_state"] == "finished", record
    if announced is not None:
        assert record.get("announced_outcome") == announced, record
    return record


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


def move_into_the_past(stack: LocalStack, order_id: str, attribute: str) -> None:
    """Set a timestamp of the order's record far into the past, as time would (instead of
    waiting for it in real time)."""
    stack.client("dynamodb").update_item(
        TableName=stack.tracking_table_name,
        Key={"order_reference_id": {"S": order_id}},
        UpdateExpression="SET #attribute = :long_ago",
        ExpressionAttributeNames={"#attribute": attribute},
        ExpressionAttributeValues={":long_ago": {"S": "2000-01-01T00:00:00.000Z"}},
    )


def pretend_last_recheck_was_long_ago(stack: LocalStack, order_id: str) -> None:
    """Move the order's last re-check far into the past, so the next callback is not inside the
    one-re-check-a-minute window (instead of waiting a minute of real time)."""
    move_into_the_past(stack, order_id, "last_recheck_at")


def signed_url(stack: LocalStack, endpoint: LocalWebhookEndpoint, reference: str) -> str:
    """The callback URL the order-placement Lambda registers with Tiqets."""
    return callback_url_for_order(
        reference, webhook_url=endpoint.url, keys_secret=stack.webhook_keys_secret_name
    )


def post(url: str, body: object) -> tuple[int, dict[str, Any]]:
    """POST a callback as Tiqets does; the status and the JSON answer."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


def executions_of(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    """Every execution of the order (the first, re-checks, restarts), on every state machine."""
    return [
        execution
        for execution in stack.executions()
        if execution["name"] == order_id or execution["name"].startswith(f"{order_id}-")
    ]


def wait_until_all_finished(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    """Block until no execution of the order runs; return them all."""
    stack.wait_until(
        lambda: all(
            execution["status"] in FINISHED_STATUSES for execution in executions_of(stack, order_id)
        ),
        timeout=60,
        what=f"every execution of {order_id} to finish",
    )
    return executions_of(stack, order_id)
