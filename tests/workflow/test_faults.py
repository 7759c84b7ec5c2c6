"""Tiqets faults the tracker must survive, one test per fault, on the local stack.

Every test asserts the order's single outcome event, the number of Tiqets calls and what the
tracking record (and the status checks in the execution history) say about the fault. Durations
are seconds through template parameters: polling every second, a deadline far beyond any test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.workflow.conftest import FAST_POLLING
from tests.workflow.support import only_outcome, track
from tiqets_tracker.wakeups import WakeResult
from tiqets_tracker_local.simulator import Fault, Scenario, TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow


def check_errors(stack: LocalStack, execution_arn: str) -> list[dict[str, Any] | None]:
    """The `last_error` of every status check that returned to the state machine, in order
    (None for a check that got a usable answer)."""
    errors: list[dict[str, Any] | None] = []
    for event in stack.history(execution_arn):
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == "CheckOrderStatus":
            errors.append(json.loads(details["output"]).get("last_error"))
    return errors


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405])
def test_a_permanent_tiqets_error_status_ends_in_tracking_failed_after_exactly_one_call(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str, status: int
) -> None:
    tiqets.add_order(
        order_id, Scenario(timeline=((0.0, "pending"),), faults=(Fault(status=status),))
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TrackingFailed"
    assert event.detail["failure"]["Error"] == "TiqetsRequestRejectedError"
    assert f"HTTP {status}" in json.loads(event.detail["failure"]["Cause"])["errorMessage"]
    assert tiqets.ticket_calls(order_id) == 1
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "TrackingFailed"
    assert record["last_error"]["error"] == "TiqetsRequestRejectedError"
    assert f"HTTP {status}" in record["last_error"]["reason"]


RETRYABLE_FAULTS = {
    "429 with Retry-After": (Fault(status=429, retry_after="1"), "HTTP 429"),
    "429 without Retry-After": (Fault(status=429), "HTTP 429"),
    "500": (Fault(status=500), "HTTP 500"),
    "502": (Fault(status=502), "HTTP 502"),
    "503": (Fault(status=503), "HTTP 503"),
    "504": (Fault(status=504), "HTTP 504"),
    "dropped connection": (Fault(drop=True), "could not be reached"),
}


@pytest.mark.parametrize(
    ("fault", "reason"), list(RETRYABLE_FAULTS.values()), ids=list(RETRYABLE_FAULTS)
)
def test_a_retryable_tiqets_fault_is_retried_and_the_next_answer_decides_the_outcome(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str, fault: Fault, reason: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "failed"),), faults=(fault,)))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert event.detail["failure"] is None
    assert tiqets.ticket_calls(order_id) == 2
    assert event.detail["checks_made"] == 2
    first, second = check_errors(stack, execution["executionArn"])
    assert first is not None
    assert first["error"] == "TiqetsUnavailableError"
    assert reason in first["reason"]
    assert second is None
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "OrderFailed"
    assert record["last_error"] is None
    assert [change["status"] for change in record["status_history"]] == ["failed"]


def test_a_tiqets_answer_slower_than_the_read_timeout_is_retried(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The status-check Lambda reads its timeout at invocation (settings.TiqetsConfig.from_env).
    monkeypatch.setenv("TIQETS_READ_TIMEOUT_SECONDS", "0.5")
    tiqets.add_order(
        order_id, Scenario(timeline=((0.0, "failed"),), faults=(Fault(delay_seconds=2.0),))
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == 2
    first, second = check_errors(stack, execution["executionArn"])
    assert first == {
        "error": "TiqetsUnavailableError",
        "reason": "Tiqets could not be reached (read timeout)",
    }
    assert second is None
    record = stack.record(order_id)
    assert record is not None
    assert record["last_error"] is None


def test_a_burst_of_faults_longer_than_the_retry_budget_ends_in_tracking_failed(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    burst = (Fault(status=502), Fault(drop=True), Fault(status=429, retry_after="1"))
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "done"),), faults=burst))
    small_budget = stack.state_machine(**FAST_POLLING | {"TiqetsRetryBudget": "2"})

    execution = track(stack, order_id, state_machine_arn=small_budget)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TrackingFailed"
    assert event.detail["failure"]["Error"] == "TiqetsUnavailableError"
    cause = json.loads(event.detail["failure"]["Cause"])["errorMessage"]
    assert "HTTP 429" in cause
    assert "gave up after 3 failed attempts in a row" in cause
    # The budget of 2 retries: the first call and two more, never the answer that would succeed.
    assert tiqets.ticket_calls(order_id) == 3
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "TrackingFailed"
    assert record["last_error"]["error"] == "TiqetsUnavailableError"
    assert "voucher" not in record or not record["voucher"]


def tickets_body(order_id: str, **fields: Any) -> bytes:
    return json.dumps({"order_reference_id": int(order_id)} | fields).encode()


MALFORMED_ANSWERS = {
    "not JSON": (lambda _: b"<html><body>502 Bad Gateway</body></html>", "not JSON"),
    "unknown status": (
        lambda order_id: tickets_body(order_id, order_status="shipped", tickets_pdf_url=None),
        "unknown order_status",
    ),
    "done without a URL": (
        lambda order_id: tickets_body(order_id, order_status="done", tickets_pdf_url="not a url"),
        "tickets_pdf_url",
    ),
}


@pytest.mark.parametrize(
    ("make_body", "reason"), list(MALFORMED_ANSWERS.values()), ids=list(MALFORMED_ANSWERS)
)
def test_a_malformed_tiqets_answer_is_a_named_retryable_error_and_the_next_answer_wins(
    stack: LocalStack,
    tiqets: TiqetsSimulator,
    order_id: str,
    make_body: Any,
    reason: str,
) -> None:
    tiqets.add_order(
        order_id, Scenario(timeline=((0.0, "failed"),), faults=(Fault(body=make_body(order_id)),))
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == 2
    first, second = check_errors(stack, execution["executionArn"])
    assert first is not None
    assert first["error"] == "TiqetsResponseInvalidError"
    assert reason in first["reason"]
    assert second is None
    record = stack.record(order_id)
    assert record is not None
    assert record["last_error"] is None
    assert [change["status"] for change in record["status_history"]] == ["failed"]


def test_a_malformed_done_answer_stores_no_voucher_and_the_next_answer_stores_it(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    bad = tickets_body(order_id, order_status="done", tickets_pdf_url="ftp://nowhere/x.pdf")
    tiqets.add_order(order_id, Scenario(faults=(Fault(body=bad),)))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert tiqets.ticket_calls(order_id) == 2
    voucher = event.detail["voucher"]
    stored = (
        stack.client("s3").get_object(Bucket=voucher["bucket"], Key=voucher["key"])["Body"].read()
    )
    assert stored == tiqets.voucher_bytes(order_id)
    first, _ = check_errors(stack, execution["executionArn"])
    assert first is not None
    assert first["error"] == "TiqetsResponseInvalidError"


def test_a_webhook_for_an_unknown_order_creates_no_record_and_no_outcome(
    stack: LocalStack,
) -> None:
    assert stack.wake("424242") is WakeResult.UNKNOWN_ORDER
    assert stack.record("424242") is None
    assert stack.outcomes_for("424242") == []


# The crash skips the handler's metrics, which Powertools warns about.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_a_placement_time_that_overflows_in_utc_is_rejected_before_any_outcome(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, "instant")
    started = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine(**FAST_POLLING),
        name=order_id,
        input=json.dumps(
            {"order_reference_id": order_id, "placed_at": "0001-01-01T00:00:00+05:00"}
        ),
    )

    execution = stack.wait_for(started["executionArn"])

    assert tiqets.ticket_calls(order_id) == 0
    assert stack.outcomes_for(order_id) == []
    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidExecutionInputError"
