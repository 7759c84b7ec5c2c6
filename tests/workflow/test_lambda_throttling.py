"""Lambda throttled or timing out under the tracker never becomes an outcome (issue finding:
"Lambda throttling becomes a false TrackingFailed").

Throttles come from the local stack as Lambda sends them: a burst injected by
`AwsFaults.lambda_throttled` (HTTP 429 TooManyRequestsException with its Reason, the handler
never runs), or a function at the reserved concurrency set with `PutFunctionConcurrency`, which
lambdas.py enforces by counting running invocations. moto's interpreter invokes through a boto3
client with botocore's retries off, so each throttle is one failed attempt of the Task,
`Lambda.TooManyRequestsException` as on AWS. The Task retries it (8 retries, waits up to 60 s,
full jitter; run here at a hundredth of their length), then catches it into
`PauseAfterAwsFailure` (1 s with these parameters) and checks the order again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.workflow.conftest import FAST_POLLING
from tests.workflow.support import (
    DONE_AT_ONCE,
    FAILED_AT_ONCE,
    failed_task_errors,
    finished_record,
    only_outcome,
    states_entered,
    track,
)
from tiqets_tracker.vouchers import voucher_key
from tiqets_tracker_local import lambdas
from tiqets_tracker_local.aws_faults import (
    Answer,
    AwsCall,
    AwsFaults,
    ThrottleReason,
    faster_state_machine_retries,
)
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow

Predicate = Callable[[AwsCall], bool]


THROTTLED = "Lambda.TooManyRequestsException"
THROTTLED_ANSWER = Answer(429, "TooManyRequestsException")
# A Task entered once makes its first attempt and the Retry's 8 for Lambda's service errors.
ATTEMPTS_PER_TASK = 9
# The retries' waits (2 s doubling to 60 s, full jitter) at a hundredth of their length.
RETRY_SCALE = 0.01


@pytest.fixture
def faults() -> Iterator[AwsFaults]:
    with AwsFaults() as injector:
        yield injector


@pytest.fixture
def fast_retries() -> Iterator[None]:
    with faster_state_machine_retries(RETRY_SCALE):
        yield


def check_function(stack: LocalStack) -> str:
    return stack.resolver.physical_ids["CheckOrderStatusFunction"]


def voucher_function(stack: LocalStack) -> str:
    return stack.resolver.physical_ids["StoreVouchersFunction"]


def about(order_id: str) -> Predicate:
    """A call whose body names this order (as a JSON string: not another ID it is part of)."""
    return lambda call: f'"{order_id}"' in call.text


def task_failures(stack: LocalStack, execution_arn: str) -> list[dict[str, str]]:
    return [
        event["taskFailedEventDetails"]
        for event in stack.history(execution_arn)
        if "taskFailedEventDetails" in event
    ]


def voucher_downloads(tiqets: TiqetsSimulator, order_id: str) -> int:
    path = f"/vouchers/{order_id}-en.pdf"
    return sum(1 for request in tiqets.request_log() if request["path"] == path)


def assert_tickets_ready_once(stack: LocalStack, tiqets: TiqetsSimulator, order_id: str) -> None:
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert event.detail["failure"] is None
    served = tiqets.voucher_bytes(order_id)
    assert event.detail["voucher"]["key"] == voucher_key(order_id, "en")
    assert event.detail["voucher"]["sha256"] == hashlib.sha256(served).hexdigest()
    record = finished_record(stack, order_id, announced="TicketsReady")
    assert "failure" not in record


# -- what a throttled invocation looks like -----------------------------------------------------


def test_a_throttled_invocation_answers_what_lambda_answers_without_running_the_handler(
    stack: LocalStack, faults: AwsFaults
) -> None:
    name = check_function(stack)
    # botocore's retries off, as in the client moto's interpreter invokes with (a default
    # client would retry the throttle and get through).
    awslambda = boto3.client(
        "lambda", region_name=stack.region, config=Config(retries={"total_max_attempts": 1})
    )
    ran_before = lambdas.invocations.count(name)
    throttled = faults.lambda_throttled(name, reason=ThrottleReason.ACCOUNT_CONCURRENCY)

    with pytest.raises(ClientError) as burst:
        awslambda.invoke(FunctionName=name, Payload=b"{}")

    # Reserved concurrency 0 throttles every invocation of the function.
    awslambda.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        with pytest.raises(ClientError) as reserved:
            awslambda.invoke(FunctionName=lambdas.registered(name).arn, Payload=b"{}")
    finally:
        awslambda.delete_function_concurrency(FunctionName=name)
    assert lambdas.invocations.count(name) == ran_before
    # Without a limit the handler runs again (and refuses the empty event).
    answer = awslambda.invoke(FunctionName=name, Payload=b"{}")

    for error, reason in [
        (burst.value, "ConcurrentInvocationLimitExceeded"),
        (reserved.value, "ReservedFunctionConcurrentInvocationLimitExceeded"),
    ]:
        # botocore parses the error shape's members (Reason, Type) next to Error.
        response: dict[str, Any] = dict(error.response)
        assert response["Error"] == {
            "Code": "TooManyRequestsException",
            "Message": "Rate Exceeded.",
        }
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert response["Reason"] == reason
        assert response["Type"] == "User"
    assert throttled.answers == [THROTTLED_ANSWER]
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "InvalidExecutionInputError"
    assert lambdas.invocations.count(name) == ran_before + 1
    assert lambdas.registered(name).in_flight == 0


# -- bursts -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_retries")
def test_a_burst_of_throttles_on_the_status_check_ends_in_tickets_ready(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, DONE_AT_ONCE)
    throttled = faults.lambda_throttled(check_function(stack), times=10, when=about(order_id))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    assert_tickets_ready_once(stack, tiqets, order_id)
    assert throttled.answers == [THROTTLED_ANSWER] * 10
    arn = execution["executionArn"]
    assert failed_task_errors(stack, arn) == [THROTTLED] * 10
    for failure in task_failures(stack, arn):
        assert failure["cause"].startswith("Rate Exceeded. (Service: AWSLambda; Status Code: 429")
        assert "Error Code: TooManyRequestsException" in failure["cause"]
    # Nine attempts, the pause, the check again: throttled once more, then through.
    entered = states_entered(stack, arn)
    assert entered.count("CheckOrderStatus") == 2
    assert entered.count("PauseAfterAwsFailure") == 1
    assert "NoteTrackingFailed" not in entered
    # A throttled check never ran: Tiqets was asked once, by the check that got through.
    assert tiqets.ticket_calls(order_id) == 1
    record = stack.record(order_id)
    assert record is not None
    assert record["checks_made"] == 1


@pytest.mark.usefixtures("fast_retries")
def test_a_burst_of_throttles_on_the_voucher_lambda_ends_in_tickets_ready(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, DONE_AT_ONCE)
    throttled = faults.lambda_throttled(
        voucher_function(stack),
        times=12,
        reason=ThrottleReason.RESERVED_CONCURRENCY,
        when=about(order_id),
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    assert_tickets_ready_once(stack, tiqets, order_id)
    assert throttled.calls == 12
    arn = execution["executionArn"]
    assert failed_task_errors(stack, arn) == [THROTTLED] * 12
    # StoreVouchers' nine attempts, the pause, a fresh status check (still done), then
    # StoreVouchers again: three more throttles, and the voucher is stored.
    entered = states_entered(stack, arn)
    assert entered.count("StoreVouchers") == 2
    assert entered.count("PauseAfterAwsFailure") == 1
    assert entered.count("CheckOrderStatus") == 2
    assert entered.count("PublishOutcome") == 1
    assert tiqets.ticket_calls(order_id) == 2
    assert voucher_downloads(tiqets, order_id) == 1


@pytest.mark.usefixtures("fast_retries")
def test_a_burst_longer_than_the_retries_pauses_checks_again_and_announces_once(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    burst = 2 * ATTEMPTS_PER_TASK + 3
    throttled = faults.lambda_throttled(check_function(stack), times=burst, when=about(order_id))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert event.detail["failure"] is None
    assert event.detail["checks_made"] == 1
    assert throttled.calls == burst
    arn = execution["executionArn"]
    assert failed_task_errors(stack, arn) == [THROTTLED] * burst
    entered = states_entered(stack, arn)
    assert entered.count("CheckOrderStatus") == 3
    assert entered.count("PauseAfterAwsFailure") == 2
    assert entered.count("PublishOutcome") == 1
    assert "NoteTrackingFailed" not in entered
    assert tiqets.ticket_calls(order_id) == 1
    record = finished_record(stack, order_id, announced="OrderFailed")
    assert "failure" not in record


# -- reserved concurrency -----------------------------------------------------------------------


@pytest.mark.usefixtures("fast_retries")
def test_a_status_check_at_its_reserved_concurrency_waits_for_a_slot_and_ends_right(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    name = check_function(stack)
    function = lambdas.registered(name)
    busy_order = f"{order_id}0"
    tiqets.add_order(order_id, DONE_AT_ONCE)
    tiqets.add_order(busy_order, FAILED_AT_ONCE)
    refused_before = function.throttled
    holding = threading.Event()

    def hold_the_only_slot(call: AwsCall) -> None:
        # The busy order's check keeps running until our order's check was refused 3 times.
        holding.set()
        stack.wait_until(
            lambda: function.throttled - refused_before >= 3,
            timeout=30,
            what="the order's check to be throttled three times",
        )

    faults.before("dynamodb", "UpdateItem", hold_the_only_slot, when=about(busy_order))
    awslambda = stack.client("lambda")
    awslambda.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    try:
        busy = stack.start_tracking(
            busy_order, state_machine_arn=stack.state_machine(**FAST_POLLING)
        )
        stack.wait_until(holding.is_set, timeout=30, what="the busy order's check to run")
        assert function.in_flight == 1
        execution = track(stack, order_id)
        busy_execution = stack.wait_for(busy.execution_arn, timeout=60)
    finally:
        awslambda.delete_function_concurrency(FunctionName=name)

    assert execution["status"] == "SUCCEEDED"
    assert_tickets_ready_once(stack, tiqets, order_id)
    refused = function.throttled - refused_before
    assert refused >= 3
    arn = execution["executionArn"]
    # Every refusal was this order's (the busy order checks once, and was admitted first).
    assert failed_task_errors(stack, arn) == [THROTTLED] * refused
    assert "NoteTrackingFailed" not in states_entered(stack, arn)
    assert tiqets.ticket_calls(order_id) == 1
    assert busy_execution["status"] == "SUCCEEDED"
    assert only_outcome(stack, busy_order).detail_type == "OrderFailed"
    assert failed_task_errors(stack, busy.execution_arn) == []
    assert function.in_flight == 0


# -- the function's own timeout -----------------------------------------------------------------


# A timeout skips the handler's metrics, which Powertools warns about.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.usefixtures("fast_retries")
def test_a_status_check_that_timed_out_is_retried(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, DONE_AT_ONCE)
    timed_out = faults.lambda_timed_out(check_function(stack), when=about(order_id))

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    assert_tickets_ready_once(stack, tiqets, order_id)
    assert timed_out.answers == [Answer(200, None)]
    arn = execution["executionArn"]
    (failure,) = task_failures(stack, arn)
    assert failure["error"] == "Sandbox.Timedout"
    # The function's configured Timeout (template.yaml: Globals, 30 s).
    assert "Task timed out after 30.00 seconds" in failure["cause"]
    # It hung before it did anything: the retry is the only check that asked Tiqets.
    assert tiqets.ticket_calls(order_id) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.usefixtures("fast_retries")
def test_a_voucher_lambda_that_stored_the_voucher_and_then_timed_out_is_retried_without_a_second_download(  # noqa: E501
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, DONE_AT_ONCE)
    timed_out = faults.lambda_timed_out(
        voucher_function(stack), after_running=True, when=about(order_id)
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    assert_tickets_ready_once(stack, tiqets, order_id)
    assert timed_out.calls == 1
    (failure,) = task_failures(stack, execution["executionArn"])
    assert failure["error"] == "Sandbox.Timedout"
    assert "Task timed out after 300.00 seconds" in failure["cause"]
    # The first invocation stored the voucher; the retry found it and did not download again.
    assert voucher_downloads(tiqets, order_id) == 1
