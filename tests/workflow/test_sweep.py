"""The scheduled sweep on the local stack: tracked orders whose execution ended
without an outcome are restarted (and reach exactly one outcome), orders restarted too often
are given up and reported once, and orders someone still looks after are left alone.

Executions are stopped here as an operator would stop them (StopExecution), while they wait
between two checks: moto's interpreter does not stop an execution parked on a task token until
the token times out (AWS stops it at once), so these tests poll with long waits instead of
parking. The sweep skips orders opened in the last few minutes; instead of waiting, a test
moves the order's `open_since` into the past, as time would.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflow.conftest import FAST_POLLING
from tests.workflow.support import (
    finished_record,
    move_into_the_past,
    only_outcome,
    outcomes,
    states_entered,
    track,
)
from tiqets_tracker.sweep import MAX_SWEEP_RESTARTS
from tiqets_tracker.tracking import execution_arn_for
from tiqets_tracker.validation import validator
from tiqets_tracker_local.aws_faults import AwsFaults, faster_state_machine_retries
from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator
from tiqets_tracker_local.subscriber import OutcomeEvent

pytestmark = pytest.mark.workflow

validate_sweep_event = validator("sweep_event.schema.json")

# Checks ten minutes apart: an execution spends the test waiting between two checks.
POLLING_FOR_LONG = {
    "WebhookEnabled": "false",
    "BackoffBaseSeconds": "600",
    "BackoffCapSeconds": "600",
    "DeadlineSeconds": "3600",
}


def sweep_events_for(stack: Any, order_id: str) -> list[OutcomeEvent]:
    events = [
        event for event in stack.sweep_events() if event.detail["order_reference_id"] == order_id
    ]
    for event in events:
        validate_sweep_event(event.detail)
        assert event.detail["action"] == event.detail_type
    return events


def pretend_opened_long_ago(stack: Any, order_id: str) -> None:
    """Past the sweep's minimum age; only an order still open has `open_since` to move."""
    assert "open_since" in (stack.record(order_id) or {})
    move_into_the_past(stack, order_id, "open_since")


def wait_until_waiting(stack: Any, execution_arn: str) -> None:
    stack.wait_until(
        lambda: "WaitBeforeNextCheck" in states_entered(stack, execution_arn),
        what="the execution to wait for its next check",
    )


def stop_while_waiting(stack: Any, order_id: str, state_machine_arn: str) -> str:
    """Start tracking (or take the order's current execution), wait until it waits for its next
    check, and stop it as an operator would."""
    record = stack.record(order_id) or {}
    execution_arn = (
        record.get("execution_arn")
        or stack.start_tracking(order_id, state_machine_arn=state_machine_arn).execution_arn
    )
    wait_until_waiting(stack, execution_arn)
    stack.client("stepfunctions").stop_execution(
        executionArn=execution_arn, error="Operator", cause="stopped by hand"
    )
    assert stack.wait_for(execution_arn)["status"] == "ABORTED"
    return str(execution_arn)


def test_an_order_whose_execution_was_stopped_is_restarted_and_reaches_its_outcome(
    stack: Any, tiqets: TiqetsSimulator, order_id: str
) -> None:
    polling = stack.state_machine(**POLLING_FOR_LONG)
    tiqets.add_order(order_id, "always_pending")
    stopped_arn = stop_while_waiting(stack, order_id, polling)
    assert outcomes(stack, order_id) == []
    tiqets.set_status(order_id, "done")
    pretend_opened_long_ago(stack, order_id)

    report = stack.sweep()

    assert order_id in report["restarted"]
    assert order_id not in report["abandoned"]
    restarted_arn = execution_arn_for(polling, f"{order_id}-sweep-1")
    assert stack.wait_for(restarted_arn)["status"] == "SUCCEEDED"
    (swept,) = sweep_events_for(stack, order_id)
    assert swept.detail_type == "TrackingRestarted"
    assert swept.detail["previous_execution_arn"] == stopped_arn
    assert swept.detail["previous_execution_status"] == "ABORTED"
    assert swept.detail["restarted_execution_arn"] == restarted_arn
    assert swept.detail["restarts"] == 1
    assert swept.detail["idempotency_key"] == f"{order_id}:TrackingRestarted:1"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert event.detail["execution_arn"] == restarted_arn
    record = finished_record(stack, order_id)
    assert record["sweep_restarts"] == 1
    assert record["execution_arn"] == restarted_arn
    assert "sweep_partition" not in record
    assert "open_since" not in record

    again = stack.sweep()

    assert order_id not in again["restarted"] + again["abandoned"]
    assert len(sweep_events_for(stack, order_id)) == 1
    assert len(outcomes(stack, order_id)) == 1


def test_an_order_restarted_too_often_is_given_up_and_reported_once(
    stack: Any, tiqets: TiqetsSimulator, order_id: str
) -> None:
    polling = stack.state_machine(**POLLING_FOR_LONG)
    tiqets.add_order(order_id, "always_pending")
    stop_while_waiting(stack, order_id, polling)
    pretend_opened_long_ago(stack, order_id)
    for restart in range(1, MAX_SWEEP_RESTARTS + 1):
        assert order_id in stack.sweep()["restarted"]
        record = stack.record(order_id)
        assert record is not None
        assert record["execution_arn"] == execution_arn_for(polling, f"{order_id}-sweep-{restart}")
        stop_while_waiting(stack, order_id, polling)

    report = stack.sweep()

    assert order_id not in report["restarted"]
    assert order_id in report["abandoned"]
    actions = [event.detail_type for event in sweep_events_for(stack, order_id)]
    assert actions == ["TrackingRestarted"] * MAX_SWEEP_RESTARTS + ["TrackingAbandoned"]
    abandoned = sweep_events_for(stack, order_id)[-1].detail
    assert abandoned["previous_execution_status"] == "ABORTED"
    assert abandoned["restarted_execution_arn"] is None
    assert abandoned["restarts"] == MAX_SWEEP_RESTARTS
    record = stack.record(order_id)
    assert record is not None
    assert "sweep_gave_up_at" in record
    assert "sweep_partition" not in record
    assert outcomes(stack, order_id) == []

    again = stack.sweep()

    assert order_id not in again["restarted"] + again["abandoned"]
    assert len(sweep_events_for(stack, order_id)) == MAX_SWEEP_RESTARTS + 1


def test_the_sweep_leaves_running_and_finished_orders_alone(
    stack: Any, tiqets: TiqetsSimulator, order_id: str
) -> None:
    running_order, finished_order = order_id, f"{order_id}0"
    tiqets.add_order(running_order, "always_pending")
    started = stack.start_tracking(
        running_order, state_machine_arn=stack.state_machine(**POLLING_FOR_LONG)
    )
    wait_until_waiting(stack, started.execution_arn)
    pretend_opened_long_ago(stack, running_order)
    tiqets.add_order(finished_order, "instant")
    assert track(stack, finished_order)["status"] == "SUCCEEDED"
    finished_record = stack.record(finished_order)
    assert finished_record is not None
    assert "sweep_partition" not in finished_record

    report = stack.sweep()

    assert report["running"] >= 1
    assert running_order not in report["restarted"] + report["abandoned"]
    assert finished_order not in report["restarted"] + report["abandoned"]
    assert sweep_events_for(stack, running_order) == []
    assert sweep_events_for(stack, finished_order) == []
    assert stack.describe(started.execution_arn)["status"] == "RUNNING"
    assert (stack.record(running_order) or {}).get("sweep_partition") == "open"


def test_an_order_polled_to_its_outcome_leaves_no_trace_for_the_sweep(
    stack: Any, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, "instant")
    execution = track(stack, order_id, state_machine_arn=stack.state_machine(**FAST_POLLING))

    record = stack.record(order_id)
    assert record is not None
    assert record["execution_arn"] == execution["executionArn"]
    assert "sweep_partition" not in record
    assert "open_since" not in record


def test_an_outcome_that_could_not_be_published_is_published_once_after_a_restart(
    stack: Any, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "failed"),)))
    with AwsFaults() as faults, faster_state_machine_retries(0.05):
        faults.put_events_failed_entries(
            when=lambda call: order_id in call.text and "tiqets-tracker.sweep" not in call.text,
            times=None,
        )
        failed = track(stack, order_id)
    assert failed["error"] == "OutcomeNotPublished"
    assert outcomes(stack, order_id) == []
    pretend_opened_long_ago(stack, order_id)

    report = stack.sweep()

    assert order_id in report["restarted"]
    (swept,) = sweep_events_for(stack, order_id)
    assert swept.detail["previous_execution_status"] == "FAILED"
    assert stack.wait_for(swept.detail["restarted_execution_arn"])["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert event.detail["idempotency_key"] == f"{order_id}:OrderFailed"
    assert tiqets.ticket_calls(order_id) == 2
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "OrderFailed"
    assert "sweep_partition" not in record
