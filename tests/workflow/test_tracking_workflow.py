"""The real state machine on the local stack, one test per route through it.

Every test asserts the outcome events (exactly one per real status change), the tracking record
and the number of Tiqets calls. Durations are seconds through template parameters.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.workflow.conftest import API_KEY, FAST_POLLING, PARKED_FOR_LONG
from tests.workflow.support import (
    failed_task_errors,
    finished_record,
    only_outcome,
    pretend_last_recheck_was_long_ago,
    states_entered,
    track,
    wait_until_parked,
)
from tiqets_tracker.checking import EARLY_WAKEUP_BUDGET
from tiqets_tracker.wakeups import WakeResult
from tiqets_tracker_local.simulator import Fault, Scenario, TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow


def test_order_that_failed_ends_in_one_order_failed_event(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "failed"),)))

    execution = track(stack, order_id, external_reference="shop-42")

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert event.source == "tiqets-tracker"
    assert event.detail["status"] == "failed"
    assert event.detail["order"]["external_reference"] == "shop-42"
    assert event.detail["idempotency_key"] == f"{order_id}:OrderFailed"
    assert event.detail["checks_made"] == 1
    assert tiqets.ticket_calls(order_id) == 1
    record = finished_record(stack, order_id, announced="OrderFailed")
    assert [change["status"] for change in record["status_history"]] == ["failed"]


def test_order_cancelled_by_tiqets_ends_in_one_order_cancelled_event(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "canceled"),)))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderCancelled"
    assert event.detail["status"] == "cancelled"
    assert tiqets.ticket_calls(order_id) == 1
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "OrderCancelled"


def test_pending_order_is_polled_until_it_fails(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "new"), (1.5, "pending"), (3.0, "failed"))))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    calls = tiqets.ticket_calls(order_id)
    assert calls >= 3
    assert event.detail["checks_made"] == calls
    assert (
        states_entered(stack, execution["executionArn"]).count("WaitBeforeNextCheck") == calls - 1
    )
    record = stack.record(order_id)
    assert record is not None
    assert record["checks_made"] == calls
    assert record["status_history"][-1]["status"] == "failed"
    assert record["status_history"][0]["status"] in {"new", "pending"}


def test_order_never_fulfilled_times_out_at_the_deadline(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, "always_pending")
    short_deadline = stack.state_machine(**FAST_POLLING | {"DeadlineSeconds": "3"})

    execution = track(stack, order_id, state_machine_arn=short_deadline)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "FulfilmentTimedOut"
    assert event.detail["status"] == "pending"
    calls = tiqets.ticket_calls(order_id)
    # Checks about a second apart from 0 s, and a last one cut short to land on the deadline.
    assert 3 <= calls <= 5
    assert event.detail["checks_made"] == calls


def test_permanent_api_error_ends_in_tracking_failed_after_one_call(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "pending"),), faults=(Fault(status=404),)))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TrackingFailed"
    assert event.detail["failure"]["Error"] == "TiqetsRequestRejectedError"
    assert "404" in json.loads(event.detail["failure"]["Cause"])["errorMessage"]
    assert tiqets.ticket_calls(order_id) == 1
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "TrackingFailed"
    assert record["last_error"]["error"] == "TiqetsRequestRejectedError"


def test_retryable_errors_beyond_the_retry_budget_end_in_tracking_failed(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(
        order_id,
        Scenario(timeline=((0.0, "pending"),), faults=(Fault(status=503),) * 3),
    )
    small_budget = stack.state_machine(**FAST_POLLING | {"TiqetsRetryBudget": "2"})

    execution = track(stack, order_id, state_machine_arn=small_budget)

    event = only_outcome(stack, order_id)
    assert execution["status"] == "SUCCEEDED"
    assert event.detail_type == "TrackingFailed"
    assert event.detail["failure"]["Error"] == "TiqetsUnavailableError"
    assert tiqets.ticket_calls(order_id) == 3


def test_transient_errors_then_a_final_status_are_retried_through(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(
        order_id,
        Scenario(
            timeline=((0.0, "failed"),),
            faults=(Fault(status=429, retry_after="1"), Fault(status=500), Fault(drop=True)),
        ),
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == 4
    assert event.detail["checks_made"] == 4
    record = stack.record(order_id)
    assert record is not None
    assert record["last_error"] is None


def test_starting_the_same_order_twice_tracks_it_once(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "pending"), (2.0, "failed"))))

    polling = stack.state_machine(**FAST_POLLING)
    first = stack.start_tracking(order_id, state_machine_arn=polling)
    second = stack.start_tracking(order_id, state_machine_arn=polling)
    stack.wait_for(first.execution_arn, timeout=60)

    assert first.already_tracked is False
    assert second.already_tracked is True
    assert second.execution_arn == first.execution_arn
    executions = stack.client("stepfunctions").list_executions(stateMachineArn=polling)[
        "executions"
    ]
    assert [e["name"] for e in executions].count(order_id) == 1
    assert only_outcome(stack, order_id).detail_type == "OrderFailed"


def test_malformed_execution_input_fails_fast_with_a_readable_reason(
    stack: LocalStack, order_id: str
) -> None:
    started = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arn,
        name=f"bad-{order_id}",
        input=json.dumps({"order_reference_id": "../etc/passwd", "lang": "english"}),
    )

    execution = stack.wait_for(started["executionArn"])

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidExecutionInputError"
    assert "order_reference_id" in execution["cause"]
    assert stack.outcomes_for("../etc/passwd") == []


def park_then_wake(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str, *, becomes: str
) -> dict[str, Any]:
    """Park a pending order for ten minutes, let Tiqets change it, and wake it as the webhook
    would; return the finished execution (only the wake-up can finish it this soon)."""
    tiqets.add_order(order_id, "always_pending")
    webhook_mode = stack.state_machine(**PARKED_FOR_LONG)
    started = stack.start_tracking(order_id, state_machine_arn=webhook_mode)
    wait_until_parked(stack, order_id)

    tiqets.set_status(order_id, becomes)
    assert stack.wake(order_id) is WakeResult.WOKEN
    return stack.wait_for(started.execution_arn, timeout=30)


def test_parked_order_is_woken_by_the_webhook_long_before_its_timeout(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    execution = park_then_wake(stack, tiqets, order_id, becomes="failed")

    assert execution["status"] == "SUCCEEDED"
    assert only_outcome(stack, order_id).detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == 2
    assert "States.Timeout" not in failed_task_errors(stack, execution["executionArn"])
    record = stack.record(order_id)
    assert record is not None
    assert record["webhook_count"] == 1
    assert "task_token" not in record


def test_webhook_during_a_status_check_is_not_lost(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    # The first check is slow; the webhook arrives while it is in flight, after the check read
    # the webhook count and before the execution parks.
    tiqets.add_order(
        order_id,
        Scenario(timeline=((0.0, "pending"),), faults=(Fault(delay_seconds=1.5),)),
    )
    webhook_mode = stack.state_machine(**PARKED_FOR_LONG)
    started = stack.start_tracking(order_id, state_machine_arn=webhook_mode)
    stack.wait_until(lambda: tiqets.ticket_calls(order_id) == 1, what="the first check")

    assert stack.wake(order_id) is WakeResult.NOTED
    # With a 600 s back-off, a second check this soon can only come from the refused park.
    stack.wait_until(lambda: tiqets.ticket_calls(order_id) == 2, what="the re-check")
    tiqets.set_status(order_id, "failed")
    wait_until_parked(stack, order_id)
    assert stack.wake(order_id) is WakeResult.WOKEN
    execution = stack.wait_for(started.execution_arn, timeout=30)

    assert execution["status"] == "SUCCEEDED"
    assert "DynamoDb.ConditionalCheckFailedException" in failed_task_errors(
        stack, started.execution_arn
    )
    assert only_outcome(stack, order_id).detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == 3


def test_webhook_for_an_unknown_order_wakes_nothing(stack: LocalStack) -> None:
    assert stack.wake("999999999") is WakeResult.UNKNOWN_ORDER
    assert stack.record("999999999") is None


def recheck_executions(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    executions = stack.client("stepfunctions").list_executions(
        stateMachineArn=stack.state_machine_arn
    )["executions"]
    return [e for e in executions if e["name"].startswith(f"{order_id}-recheck-")]


def test_late_webhook_without_a_change_announces_nothing_new(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "failed"),)))
    track(stack, order_id)

    assert stack.wake(order_id) is WakeResult.RECHECK_STARTED
    (recheck,) = recheck_executions(stack, order_id)
    assert stack.wait_for(recheck["executionArn"])["status"] == "SUCCEEDED"

    assert only_outcome(stack, order_id).detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == 2
    finished_record(stack, order_id)


def test_cancellation_after_done_is_announced_once_and_tags_the_voucher(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, "instant")
    track(stack, order_id)
    tiqets.set_status(order_id, "cancelled")

    assert stack.wake(order_id) is WakeResult.RECHECK_STARTED
    (first,) = recheck_executions(stack, order_id)
    stack.wait_for(first["executionArn"])
    # A second callback moments later is deferred (the webhook answers 429, Tiqets retries).
    assert stack.wake(order_id) is WakeResult.RECHECK_DEFERRED
    # Tiqets' retry comes minutes later; the record is moved there instead of the clock.
    pretend_last_recheck_was_long_ago(stack, order_id)
    assert stack.wake(order_id) is WakeResult.RECHECK_STARTED
    second = next(
        e for e in recheck_executions(stack, order_id) if e["executionArn"] != first["executionArn"]
    )
    stack.wait_for(second["executionArn"])

    outcomes = [event.detail_type for event in stack.outcomes_for(order_id)]
    assert outcomes == ["TicketsReady", "OrderCancelled"]
    voucher = stack.outcomes_for(order_id)[0].detail["voucher"]
    tags = stack.client("s3").get_object_tagging(Bucket=voucher["bucket"], Key=voucher["key"])
    assert {"Key": "order-status", "Value": "cancelled"} in tags["TagSet"]
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "OrderCancelled"


def test_the_api_key_never_reaches_execution_history_or_events(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "pending"),), faults=(Fault(status=401),)))
    execution = track(stack, order_id)

    history = json.dumps(stack.history(execution["executionArn"]), default=str)
    events = json.dumps([event.detail for event in stack.outcome_events()])
    record = json.dumps(stack.record(order_id), default=str)
    assert order_id in history
    assert API_KEY not in history
    assert API_KEY not in events
    assert API_KEY not in record


def stored_object(stack: LocalStack, key: str) -> bytes:
    body: bytes = (
        stack.client("s3").get_object(Bucket=stack.voucher_bucket_name, Key=key)["Body"].read()
    )
    return body


def test_instant_order_ends_in_tickets_ready_with_the_voucher_stored(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, "instant", lang="de")

    execution = track(stack, order_id, lang="de")

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    voucher = event.detail["voucher"]
    assert voucher["bucket"] == stack.voucher_bucket_name
    assert voucher["key"] == f"vouchers/{order_id}/de/tickets.pdf"
    served = tiqets.voucher_bytes(order_id)
    assert stored_object(stack, voucher["key"]) == served
    assert voucher["size_bytes"] == len(served)
    assert voucher["sha256"] == hashlib.sha256(served).hexdigest()
    information = json.loads(stored_object(stack, voucher["information_key"]))
    assert information["order_reference_id"] == order_id
    assert tiqets.ticket_calls(order_id) == 1
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "TicketsReady"
    assert json.loads(record["voucher"])["sha256"] == voucher["sha256"]


# Step Functions' quota for a state's input or output
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
STATE_PAYLOAD_LIMIT = 256 * 1024


def state_payloads(stack: LocalStack, execution_arn: str) -> list[str]:
    """Every input and output the execution's history records (states, tasks, the execution)."""
    payloads = []
    for event in stack.history(execution_arn):
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                payloads += [
                    details[field]
                    for field in ("input", "output")
                    if isinstance(details.get(field), str)
                ]
    return payloads


def test_a_done_answer_with_300_kb_of_conditions_ends_tickets_ready_with_small_states(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(conditions_size=300_000))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    voucher = event.detail["voucher"]
    assert stored_object(stack, voucher["key"]) == tiqets.voucher_bytes(order_id)
    # The conditions travel beside the voucher, whole, and not through the state.
    information = json.loads(stored_object(stack, voucher["information_key"]))
    assert len(information["information"]["conditions"]) == 300_000
    payloads = state_payloads(stack, execution["executionArn"])
    assert payloads
    assert max(len(payload.encode("utf-8")) for payload in payloads) < STATE_PAYLOAD_LIMIT // 8


def test_order_fulfilled_while_parked_is_woken_and_its_voucher_stored(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    execution = park_then_wake(stack, tiqets, order_id, becomes="done")

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert stored_object(stack, event.detail["voucher"]["key"]) == tiqets.voucher_bytes(order_id)
    assert tiqets.ticket_calls(order_id) == 2


def test_corrupt_voucher_is_never_stored_and_ends_in_tracking_failed(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(voucher="truncated"))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TrackingFailed"
    assert event.detail["failure"]["Error"] == "VoucherDownloadError"
    assert stack.stored_voucher_keys(order_id) == []
    # The first attempt and the state machine's three retries (MaxAttempts 3) all refused it.
    assert failed_task_errors(stack, execution["executionArn"]).count("VoucherDownloadError") == 4


def test_a_flood_of_wakeups_stops_parking_once_the_early_wakeup_budget_is_spent(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, "always_pending")
    short_parks = stack.state_machine(
        WebhookEnabled="true", BackoffBaseSeconds="5", BackoffCapSeconds="5", DeadlineSeconds="600"
    )
    started = stack.start_tracking(order_id, state_machine_arn=short_parks)

    used_tokens: set[str | None] = {None}
    for _ in range(EARLY_WAKEUP_BUDGET):
        stack.wait_until(
            lambda: (stack.record(order_id) or {}).get("task_token") not in used_tokens,
            what="the order to park again",
        )
        used_tokens.add((stack.record(order_id) or {})["task_token"])
        assert stack.wake(order_id) is WakeResult.WOKEN
    stack.wait_until(
        lambda: "WaitBeforeNextCheck" in states_entered(stack, started.execution_arn),
        what="a timed wait",
    )
    tiqets.set_status(order_id, "failed")
    execution = stack.wait_for(started.execution_arn, timeout=30)

    entered = states_entered(stack, started.execution_arn)
    assert execution["status"] == "SUCCEEDED"
    assert entered.count("ParkUntilWebhookOrTimeout") == EARLY_WAKEUP_BUDGET
    assert only_outcome(stack, order_id).detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == EARLY_WAKEUP_BUDGET + 2
