"""The outcome-metrics Lambda on the local stack, fed what the outcome bus delivered.

moto's EventBridge does not invoke Lambda targets, so the rule that hands each outcome to the
function on AWS (OutcomeMetricsFunction's EventBridgeRule) is checked in
tests/unit/test_outcome_metrics.py; here each event the stack's subscriber received is invoked
the way EventBridge invokes a target (asynchronously, the event as the payload), through the
Lambda API, under the function's own role."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.workflow.support import DONE_AT_ONCE, FAILED_AT_ONCE, only_outcome, track
from tiqets_tracker.timestamps import parse_timestamp
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.subscriber import OutcomeEvent

pytestmark = pytest.mark.workflow


def delivered(stack: LocalStack, event: OutcomeEvent) -> dict[str, Any]:
    """The event as EventBridge hands it to a Lambda target."""
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "123456789012",
        "time": event.detail["decided_at"],
        "region": stack.region,
        "resources": event.resources,
        "detail": event.detail,
    }


def measure(stack: LocalStack, event: OutcomeEvent) -> dict[str, Any]:
    answer = stack.client("lambda").invoke(
        FunctionName=stack.resolver.physical_ids["OutcomeMetricsFunction"],
        Payload=json.dumps(delivered(stack, event)).encode(),
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    measured: dict[str, Any] = json.loads(answer["Payload"].read())
    return measured


@pytest.mark.parametrize(
    ("scenario", "outcome"), [(DONE_AT_ONCE, "TicketsReady"), (FAILED_AT_ONCE, "OrderFailed")]
)
def test_each_published_outcome_is_measured_from_its_placement(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str, scenario: Any, outcome: str
) -> None:
    tiqets.add_order(order_id, scenario)
    placed_at = datetime.now().astimezone()
    track(stack, order_id, placed_at=placed_at)
    event = only_outcome(stack, order_id)

    measured = measure(stack, event)

    decided = parse_timestamp(event.detail["decided_at"], field="decided_at")
    assert measured["outcome"] == outcome
    assert measured["seconds_to_outcome"] == pytest.approx(
        (
            decided - parse_timestamp(event.detail["order"]["placed_at"], field="placed_at")
        ).total_seconds()
    )
    assert 0 < measured["seconds_to_outcome"] < 90
