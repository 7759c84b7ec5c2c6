"""AWS faults the tracker must survive, one test per fault, on the local stack.

The faults are injected under moto (tiqets_tracker_local.aws_faults): every AWS call of the
process, the state machine's own (aws-sdk, events:putEvents) and our Lambdas', passes the
injector before moto answers it. Each test asserts the order's single outcome event, the tracking
record and what the execution history shows about the fault. Durations are seconds through
template parameters, as in the other workflow modules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSResponse

from tests.workflow.conftest import PARKED_FOR_LONG
from tests.workflow.support import (
    DONE_AT_ONCE,
    FAILED_AT_ONCE,
    failed_task_errors,
    finished_record,
    only_outcome,
    outcomes,
    post,
    pretend_last_recheck_was_long_ago,
    signed_url,
    states_entered,
    track,
    wait_until_all_finished,
    wait_until_parked,
)
from tiqets_tracker.tracking import execution_arn_for
from tiqets_tracker.vouchers import information_key, voucher_key
from tiqets_tracker_local.aws_faults import (
    Answer,
    AwsCall,
    AwsFaults,
    SimulatedRuntimeFailure,
    aws_error_response,
    faster_state_machine_retries,
)
from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

pytestmark = pytest.mark.workflow

Predicate = Callable[[AwsCall], bool]


@pytest.fixture
def faults() -> Iterator[AwsFaults]:
    with AwsFaults() as injector:
        yield injector


# -- which calls a fault takes ------------------------------------------------------------------


def update_of(order_id: str, *fragments: str, conditional: bool | None = None) -> Predicate:
    """An UpdateItem of the order's record whose UpdateExpression holds every fragment (and has,
    or has not, a ConditionExpression)."""

    def matches(call: AwsCall) -> bool:
        body = call.json() or {}
        if body.get("Key", {}).get("order_reference_id", {}).get("S") != order_id:
            return False
        if not all(fragment in body.get("UpdateExpression", "") for fragment in fragments):
            return False
        return conditional is None or ("ConditionExpression" in body) == conditional

    return matches


def begin_check_of(order_id: str) -> Predicate:
    """The status-check Lambda's first write of a check (records.TrackingRecords.begin_check)."""
    return update_of(order_id, "first_checked_at = if_not_exists(first_checked_at, :now)")


def record_outcome_of(order_id: str) -> Predicate:
    """The state machine's RecordOutcome step (it alone writes the voucher)."""
    return update_of(order_id, "SET announced_outcome = :outcome", "voucher = :voucher")


def park_of(order_id: str) -> Predicate:
    """The state machine's ParkUntilWebhookOrTimeout step."""
    return update_of(order_id, "SET task_token = :token")


def end_tracking_of(order_id: str) -> Predicate:
    """The state machine's EndTracking step (EndTrackingUnconditionally has no condition)."""
    return update_of(order_id, "tracking_state = :finished, finished_at = :now", conditional=True)


def voucher_upload_of(order_id: str) -> Predicate:
    """The voucher Lambda's PutObject of the PDF (not of the information document)."""
    key = voucher_key(order_id, "en")
    return lambda call: urlsplit(call.url).path.endswith("/" + key)


def outcome_of(order_id: str) -> Predicate:
    """The state machine's PublishOutcome for the order."""

    def matches(call: AwsCall) -> bool:
        entries = (call.json() or {}).get("Entries", [])
        return any(
            json.loads(entry["Detail"]).get("order_reference_id") == order_id for entry in entries
        )

    return matches


# -- reading what happened ----------------------------------------------------------------------


def stored_object(stack: LocalStack, key: str) -> bytes | None:
    from botocore.exceptions import ClientError

    try:
        answer = stack.client("s3").get_object(Bucket=stack.voucher_bucket_name, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    body: bytes = answer["Body"].read()
    return body


def voucher_downloads(tiqets: TiqetsSimulator, order_id: str) -> int:
    path = f"/vouchers/{order_id}-en.pdf"
    return sum(1 for request in tiqets.request_log() if request["path"] == path)


def assert_voucher_intact(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str, event_detail: dict[str, Any]
) -> None:
    served = tiqets.voucher_bytes(order_id)
    voucher = event_detail["voucher"]
    assert voucher["key"] == voucher_key(order_id, "en")
    assert stored_object(stack, voucher["key"]) == served
    assert voucher["sha256"] == hashlib.sha256(served).hexdigest()
    assert voucher["size_bytes"] == len(served)
    information = stored_object(stack, information_key(order_id, "en"))
    assert information is not None
    assert json.loads(information)["voucher"]["sha256"] == voucher["sha256"]


def history_events(stack: LocalStack, arn: str, kind: str) -> list[dict[str, Any]]:
    return [event for event in stack.history(arn) if event["type"] == kind]


# -- DynamoDB -----------------------------------------------------------------------------------


def test_throttled_outcome_record_is_retried_by_the_state_machine(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    provisioned = faults.error(
        "dynamodb",
        "UpdateItem",
        "ProvisionedThroughputExceededException",
        when=record_outcome_of(order_id),
    )
    throttled = faults.error(
        "dynamodb", "UpdateItem", "ThrottlingException", when=record_outcome_of(order_id)
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert (provisioned.calls, throttled.calls) == (1, 1)
    assert failed_task_errors(stack, execution["executionArn"]) == [
        "DynamoDb.ProvisionedThroughputExceededException",
        "DynamoDb.ThrottlingException",
    ]
    # Retried inside the step: no second status check, no second publication.
    assert tiqets.ticket_calls(order_id) == 1
    assert states_entered(stack, execution["executionArn"]).count("PublishOutcome") == 1
    finished_record(stack, order_id, announced="OrderFailed")


def test_tracking_table_throttling_beyond_botocores_retries_is_retried_by_the_state_machine(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    # tiqets_tracker.aws: standard mode, max_attempts 3 retries = 4 attempts per call.
    throttled = faults.error(
        "dynamodb",
        "UpdateItem",
        "ProvisionedThroughputExceededException",
        when=begin_check_of(order_id),
        times=4,
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert event.detail["checks_made"] == 1
    assert throttled.calls == 4
    assert failed_task_errors(stack, execution["executionArn"]) == ["TrackingStoreUnavailableError"]
    # The check failed before it asked Tiqets: Tiqets was asked once, by the retried check.
    assert tiqets.ticket_calls(order_id) == 1
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "OrderFailed"
    assert record["checks_made"] == 1
    assert [change["status"] for change in record["status_history"]] == ["failed"]


def test_a_park_the_table_refuses_falls_back_to_a_plain_wait(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "pending"), (1.5, "failed"))))
    refused = faults.error(
        "dynamodb",
        "UpdateItem",
        "ProvisionedThroughputExceededException",
        when=park_of(order_id),
        times=None,
    )

    execution = track(stack, order_id, state_machine_arn=stack.state_machine_arn)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    arn = execution["executionArn"]
    errors = failed_task_errors(stack, arn)
    assert refused.calls >= 1
    assert errors == ["DynamoDb.ProvisionedThroughputExceededException"] * refused.calls
    entered = states_entered(stack, arn)
    assert entered.count("ParkUntilWebhookOrTimeout") == refused.calls
    assert entered.count("WaitBeforeNextCheck") == refused.calls
    assert tiqets.ticket_calls(order_id) == refused.calls + 1
    record = stack.record(order_id)
    assert record is not None
    assert "task_token" not in record
    assert record["announced_outcome"] == "OrderFailed"
    assert [change["status"] for change in record["status_history"]] == ["pending", "failed"]


def test_a_refused_end_of_tracking_checks_the_order_once_more_and_publishes_nothing_new(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    refused = faults.error(
        "dynamodb", "UpdateItem", "ConditionalCheckFailedException", when=end_tracking_of(order_id)
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    arn = execution["executionArn"]
    assert refused.calls == 1
    assert failed_task_errors(stack, arn) == ["DynamoDb.ConditionalCheckFailedException"]
    entered = states_entered(stack, arn)
    assert entered.count("CheckOrderStatus") == 2
    assert entered.count("PublishOutcome") == 1
    assert entered.count("EndTracking") == 2
    assert tiqets.ticket_calls(order_id) == 2
    finished_record(stack, order_id, announced="OrderFailed")


# -- S3 -----------------------------------------------------------------------------------------


def test_voucher_upload_errors_are_retried_and_the_stored_voucher_is_the_served_one(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, DONE_AT_ONCE)
    # Four failed attempts: more than botocore retries on its own (4 attempts per call).
    internal = faults.error(
        "s3",
        "PutObject",
        "InternalError",
        status=500,
        when=voucher_upload_of(order_id),
        times=2,
    )
    slow_down = faults.error(
        "s3", "PutObject", "SlowDown", status=503, when=voucher_upload_of(order_id), times=2
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert [answer.error_code for answer in internal.answers + slow_down.answers] == [
        "InternalError",
        "InternalError",
        "SlowDown",
        "SlowDown",
    ]
    assert failed_task_errors(stack, execution["executionArn"]) == ["VoucherStoreUnavailableError"]
    assert_voucher_intact(stack, tiqets, order_id, event.detail)
    # Nothing was stored by the failed attempt, so the retry downloaded the voucher again.
    assert voucher_downloads(tiqets, order_id) == 2
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "TicketsReady"
    assert json.loads(record["voucher"])["sha256"] == event.detail["voucher"]["sha256"]


def test_a_voucher_bucket_that_refuses_the_upload_ends_in_tracking_failed(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, DONE_AT_ONCE)
    denied = faults.error(
        "s3",
        "PutObject",
        "AccessDenied",
        status=403,
        message="Access Denied",
        when=voucher_upload_of(order_id),
        times=None,
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TrackingFailed"
    assert event.detail["failure"]["Error"] == "ConfigurationError"
    assert "S3 PutObject failed: AccessDenied" in event.detail["failure"]["Cause"]
    assert event.detail["voucher"] is None
    # A refusal is not retried, by botocore or the state machine.
    assert denied.calls == 1
    assert failed_task_errors(stack, execution["executionArn"]) == ["ConfigurationError"]
    assert stored_object(stack, voucher_key(order_id, "en")) is None
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "TrackingFailed"
    assert json.loads(record["failure"])["Error"] == "ConfigurationError"


# -- EventBridge --------------------------------------------------------------------------------


def test_failed_put_events_entries_are_retried_and_the_event_is_delivered_once(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    failed = faults.put_events_failed_entries(when=outcome_of(order_id), times=2)

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert failed.calls == 2
    assert failed.answers == [Answer(200, None), Answer(200, None)]
    assert failed_task_errors(stack, execution["executionArn"]) == ["EventBridge.FailedEntry"] * 2
    # Every attempt carried the same idempotency key as the event that got through.
    refused_keys = [
        json.loads(entry["Detail"])["idempotency_key"]
        for call in failed.matched
        for entry in call.json()["Entries"]
    ]
    assert refused_keys == [f"{order_id}:OrderFailed"] * 2
    assert event.detail["idempotency_key"] == f"{order_id}:OrderFailed"
    finished_record(stack, order_id, announced="OrderFailed")


def test_an_outcome_eventbridge_never_takes_fails_the_execution_and_stays_unannounced(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    failed = faults.put_events_failed_entries(when=outcome_of(order_id), times=None)

    # Six attempts with waits up to 30 s each: the same chain, at a twentieth of its length.
    with faster_state_machine_retries(0.05):
        execution = track(stack, order_id)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "OutcomeNotPublished"
    arn = execution["executionArn"]
    assert outcomes(stack, order_id) == []
    # The first attempt and the retrier's six.
    assert failed.calls == 7
    assert failed_task_errors(stack, arn) == ["EventBridge.FailedEntry"] * 7
    entered = states_entered(stack, arn)
    assert entered[-2:] == ["ReleaseOutcomeClaim", "OutcomeNotPublished"]
    assert "EndTracking" not in entered
    record = finished_record(stack, order_id)
    # The claim was released, so a later re-check publishes the outcome; nothing else is lost.
    assert "announced_outcome" not in record
    assert record["last_status"] == "failed"
    assert [change["status"] for change in record["status_history"]] == ["failed"]
    assert record["checks_made"] == 1


# -- Lambda crashes -----------------------------------------------------------------------------


# A crash skips the handler's metrics, which Powertools warns about.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_a_status_check_that_times_out_once_is_retried(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    timed_out = faults.crash_before(
        "dynamodb",
        "UpdateItem",
        SimulatedRuntimeFailure.timeout(60),
        when=begin_check_of(order_id),
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderFailed"
    assert timed_out.calls == 1
    arn = execution["executionArn"]
    assert failed_task_errors(stack, arn) == ["Sandbox.Timedout"]
    (failure,) = history_events(stack, arn, "TaskFailed")
    assert "Task timed out after 60.00 seconds" in failure["taskFailedEventDetails"]["cause"]
    assert tiqets.ticket_calls(order_id) == 1
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "OrderFailed"
    assert record["checks_made"] == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_a_voucher_lambda_that_dies_after_its_upload_is_retried_without_a_second_download(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, DONE_AT_ONCE)
    died = faults.crash_after(
        "s3", "PutObject", SimulatedRuntimeFailure.unknown(), when=voucher_upload_of(order_id)
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert died.answers == [Answer(200, None)]  # the upload took effect before the crash
    assert failed_task_errors(stack, execution["executionArn"]) == ["Lambda.Unknown"]
    # The retry found the voucher stored and only wrote the information document it lacked.
    assert voucher_downloads(tiqets, order_id) == 1
    assert_voucher_intact(stack, tiqets, order_id, event.detail)
    record = stack.record(order_id)
    assert record is not None
    assert record["announced_outcome"] == "TicketsReady"


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_a_status_check_that_crashes_every_time_ends_in_tracking_failed(
    stack: LocalStack, tiqets: TiqetsSimulator, faults: AwsFaults, order_id: str
) -> None:
    tiqets.add_order(order_id, FAILED_AT_ONCE)
    crashing = faults.crash_before(
        "dynamodb",
        "UpdateItem",
        SimulatedRuntimeFailure.unknown("Runtime exited with error: signal: killed"),
        when=begin_check_of(order_id),
        times=None,
    )

    execution = track(stack, order_id)

    assert execution["status"] == "SUCCEEDED"
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TrackingFailed"
    assert event.detail["failure"]["Error"] == "Lambda.Unknown"
    assert "signal: killed" in event.detail["failure"]["Cause"]
    # The first invocation and the two retries of States.TaskFailed.
    assert crashing.calls == 3
    arn = execution["executionArn"]
    # No check ever began, so the record has no webhook count for EndTracking to compare:
    # a TrackingFailed order then ends unconditionally instead of being checked again.
    assert failed_task_errors(stack, arn) == [
        *["Lambda.Unknown"] * 3,
        "DynamoDb.ConditionalCheckFailedException",
    ]
    assert states_entered(stack, arn)[-2:] == ["EndTrackingUnconditionally", "Tracked"]
    assert tiqets.ticket_calls(order_id) == 0
    record = finished_record(stack, order_id, announced="TrackingFailed")
    assert json.loads(record["failure"])["Error"] == "Lambda.Unknown"


# -- Step Functions and webhooks ----------------------------------------------------------------


def test_a_wake_up_that_arrives_after_the_park_timed_out_is_answered_200_and_not_lost(
    stack: LocalStack,
    tiqets: TiqetsSimulator,
    endpoint: LocalWebhookEndpoint,
    faults: AwsFaults,
    order_id: str,
) -> None:
    reference = f"shop-{order_id}"
    url = signed_url(stack, endpoint, reference)
    tiqets.add_order(order_id, "always_pending")
    # The stack's own state machine: webhook on, parks of one second.
    started = stack.start_tracking(order_id, external_reference=reference)
    arn = started.execution_arn
    wait_until_parked(stack, order_id)
    record = stack.record(order_id)
    assert record is not None
    token = record["task_token"]

    def after_the_park_timed_out(call: AwsCall) -> AWSResponse:
        # Hold the webhook's SendTaskSuccess until the parked task has timed out, then answer
        # what Step Functions answers for such a token. (moto answers 200 and ignores it: its
        # callback endpoints never learn of their timeout.)
        stack.wait_until(
            lambda: bool(history_events(stack, arn, "TaskTimedOut")),
            timeout=20,
            what="the parked task to time out",
        )
        return aws_error_response(
            call,
            "TaskTimedOut",
            400,
            "Task Timed Out: the task token has either expired or the task associated with "
            "the token has already been closed",
        )

    held = faults.respond(
        "sfn", "SendTaskSuccess", after_the_park_timed_out, when=lambda call: token in call.text
    )

    answer = post(url, {"order_reference_id": order_id})
    tiqets.set_status(order_id, "done")
    execution = stack.wait_for(arn, timeout=60)

    # The webhook was counted before the token went stale, so the checks after the timeout
    # carry it; the stale token is no error for the webhook.
    assert answer == (200, {"result": "noted"})
    assert held.calls == 1
    assert held.answers == [Answer(400, "TaskTimedOut")]
    assert execution["status"] == "SUCCEEDED"
    timeouts = history_events(stack, arn, "TaskTimedOut")
    assert timeouts
    assert {event["taskTimedOutEventDetails"]["error"] for event in timeouts} == {"States.Timeout"}
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert_voucher_intact(stack, tiqets, order_id, event.detail)
    record = stack.record(order_id)
    assert record is not None
    assert record["webhook_count"] == 1
    assert record["announced_outcome"] == "TicketsReady"
    assert "task_token" not in record


def test_late_duplicated_callbacks_in_any_order_announce_only_the_status_tiqets_reports(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    reference = f"shop-{order_id}"
    url = signed_url(stack, endpoint, reference)
    tiqets.add_order(order_id, "always_pending")
    # Parked for ten minutes: only callbacks move this order within the test.
    parked_for_long = stack.state_machine(**PARKED_FOR_LONG)
    started = stack.start_tracking(
        order_id, external_reference=reference, state_machine_arn=parked_for_long
    )
    wait_until_parked(stack, order_id)

    # The order is fulfilled and then cancelled before any callback arrives; the callbacks
    # (one per change, and Tiqets' retries of them) arrive late, the cancellation's first.
    # Their bodies are identical and only wake the tracker: the API's status decides.
    tiqets.set_status(order_id, "done")
    tiqets.set_status(order_id, "cancelled")
    body = {"order_reference_id": order_id}
    while_tracking = [post(url, body) for _ in range(3)]
    execution = stack.wait_for(started.execution_arn, timeout=60)
    # More retries arrive after tracking ended: one re-check, then the rate limit.
    after_tracking = [post(url, body) for _ in range(2)]
    recheck = stack.wait_for(
        execution_arn_for(stack.state_machine_arn, f"{order_id}-recheck-1"), timeout=60
    )
    wait_until_all_finished(stack, order_id)

    assert while_tracking[0] == (200, {"result": "woken"})
    assert all(status == 200 for status, _ in while_tracking)
    assert after_tracking[0] == (200, {"result": "recheck_started"})
    # The next is noted by the re-check if it still runs, or deferred if it already ended.
    assert after_tracking[1] in [
        (200, {"result": "noted"}),
        (429, {"error": "recheck_too_soon"}),
    ]
    assert execution["status"] == "SUCCEEDED"
    assert recheck["status"] == "SUCCEEDED"
    # The tracker never saw `done`: announcing TicketsReady for a cancelled order would have
    # the distributor e-mail a voucher for it. One OrderCancelled, nothing else.
    event = only_outcome(stack, order_id)
    assert event.detail_type == "OrderCancelled"
    assert event.detail["status"] == "cancelled"
    assert stored_object(stack, voucher_key(order_id, "en")) is None
    record = finished_record(stack, order_id, announced="OrderCancelled")
    assert record["webhook_count"] == 5
    assert [change["status"] for change in record["status_history"]] == ["pending", "cancelled"]


def test_late_duplicated_callbacks_after_tickets_ready_announce_the_cancellation_once(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    reference = f"shop-{order_id}"
    url = signed_url(stack, endpoint, reference)
    tiqets.add_order(order_id, DONE_AT_ONCE)
    started = stack.start_tracking(order_id, external_reference=reference)
    assert stack.wait_for(started.execution_arn, timeout=60)["status"] == "SUCCEEDED"
    assert outcomes(stack, order_id) == ["TicketsReady"]

    # Days later the order is cancelled. The cancellation's callback arrives first, then the
    # fulfilment's (delivered late), then Tiqets' retries of both.
    tiqets.set_status(order_id, "cancelled")
    body = {"order_reference_id": order_id}
    cancellation, late_fulfilment = post(url, body), post(url, body)
    first_recheck = stack.wait_for(
        execution_arn_for(stack.state_machine_arn, f"{order_id}-recheck-1"), timeout=60
    )
    pretend_last_recheck_was_long_ago(stack, order_id)
    retry = post(url, body)
    second_recheck = stack.wait_for(
        execution_arn_for(stack.state_machine_arn, f"{order_id}-recheck-2"), timeout=60
    )
    wait_until_all_finished(stack, order_id)

    assert cancellation == (200, {"result": "recheck_started"})
    # Noted by the running re-check, or deferred if that re-check already ended.
    assert late_fulfilment in [(200, {"result": "noted"}), (429, {"error": "recheck_too_soon"})]
    assert retry == (200, {"result": "recheck_started"})
    assert first_recheck["status"] == "SUCCEEDED"
    assert second_recheck["status"] == "SUCCEEDED"
    # One event per real change: the fulfilment was announced once, the cancellation once.
    assert outcomes(stack, order_id) == ["TicketsReady", "OrderCancelled"]
    ready, cancelled = stack.outcomes_for(order_id)
    assert ready.detail["idempotency_key"] == f"{order_id}:TicketsReady"
    assert cancelled.detail["idempotency_key"] == f"{order_id}:OrderCancelled"
    tags = stack.client("s3").get_object_tagging(
        Bucket=stack.voucher_bucket_name, Key=voucher_key(order_id, "en")
    )["TagSet"]
    assert {"Key": "order-status", "Value": "cancelled"} in tags
    record = finished_record(stack, order_id, announced="OrderCancelled")
    assert record["webhook_count"] == 3
    assert [change["status"] for change in record["status_history"]] == ["done", "cancelled"]
