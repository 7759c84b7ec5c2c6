"""The outcome-metrics Lambda on the local stack: the template's rule on the outcome bus hands it
every published outcome (event_rules.py delivers to Lambda targets, which moto does not), and it
measures each from the order's placement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.workflow.support import DONE_AT_ONCE, FAILED_AT_ONCE, only_outcome, track
from tiqets_tracker.timestamps import parse_timestamp
from tiqets_tracker_local.event_rules import TargetInvocation
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow


def metrics_invocations(stack: LocalStack, order_id: str) -> list[TargetInvocation]:
    function = stack.resolver.physical_ids["OutcomeMetricsFunction"]
    return [
        invocation
        for invocation in stack.target_invocations()
        if invocation.function_name == function
        and invocation.event["detail"]["order_reference_id"] == order_id
    ]


@pytest.mark.parametrize(
    ("scenario", "outcome"), [(DONE_AT_ONCE, "TicketsReady"), (FAILED_AT_ONCE, "OrderFailed")]
)
def test_each_published_outcome_reaches_the_metrics_lambda_and_is_measured(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str, scenario: Any, outcome: str
) -> None:
    tiqets.add_order(order_id, scenario)
    track(stack, order_id, placed_at=datetime.now().astimezone())
    event = only_outcome(stack, order_id)
    stack.wait_until(
        lambda: metrics_invocations(stack, order_id), what="the outcome-metrics invocation"
    )

    (invocation,) = metrics_invocations(stack, order_id)

    placed = parse_timestamp(event.detail["order"]["placed_at"], field="placed_at")
    decided = parse_timestamp(event.detail["decided_at"], field="decided_at")
    assert not invocation.failed, invocation.answer
    assert invocation.event["detail"] == event.detail
    assert invocation.event["source"] == "tiqets-tracker"
    assert invocation.event["detail-type"] == outcome
    assert "ingestion-time" not in invocation.event
    assert invocation.answer == {
        "outcome": outcome,
        "seconds_to_outcome": pytest.approx((decided - placed).total_seconds()),
    }
    assert 0 < invocation.answer["seconds_to_outcome"] < 90
    assert [i for i in stack.target_invocations() if i.failed] == []
