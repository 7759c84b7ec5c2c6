"""The AWS fault injector (tiqets_tracker_local.aws_faults) on plain moto (the tracking table
from template.yaml, a bucket): each kind of fault reaches the client as AWS's own answer would,
and only the calls a fault matches are touched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.conftest import use_fake_aws
from tests.tracking_table import create_tracking_table
from tiqets_tracker_local.aws_faults import AwsFaults, SimulatedRuntimeFailure

pytestmark = pytest.mark.moto

REGION: Final = "eu-west-1"
TABLE = "faults-test"
BUCKET = "faults-test-bucket"
# One attempt per call, so each injected error is seen by the caller.
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_aws(monkeypatch, REGION)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tracking_table(dynamodb, TABLE)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, config=ONE_ATTEMPT)  # type: ignore[call-overload]


def put(item_id: str) -> None:
    client("dynamodb").put_item(TableName=TABLE, Item={"order_reference_id": {"S": item_id}})


def stored(item_id: str) -> bool:
    item = client("dynamodb").get_item(TableName=TABLE, Key={"order_reference_id": {"S": item_id}})
    return "Item" in item


@pytest.mark.usefixtures("aws")
def test_a_dynamodb_error_is_parsed_by_botocore_as_the_modeled_exception() -> None:
    dynamodb = client("dynamodb")
    with AwsFaults() as faults:
        fault = faults.error(
            "dynamodb", "PutItem", "ProvisionedThroughputExceededException", message="slow down"
        )
        with pytest.raises(dynamodb.exceptions.ProvisionedThroughputExceededException) as raised:
            dynamodb.put_item(TableName=TABLE, Item={"order_reference_id": {"S": "a"}})
        put("a")  # the fault is spent: the next call reaches moto

    assert raised.value.response["Error"] == {
        "Code": "ProvisionedThroughputExceededException",
        "Message": "slow down",
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fault.calls == 1
    assert [answer.error_code for answer in fault.answers] == [
        "ProvisionedThroughputExceededException"
    ]
    assert stored("a")


@pytest.mark.usefixtures("aws")
def test_a_fault_touches_only_the_calls_its_predicate_accepts_and_only_times_times() -> None:
    with AwsFaults() as faults:
        fault = faults.error(
            "dynamodb",
            "PutItem",
            "ThrottlingException",
            when=lambda call: '"S": "b"' in call.text,
            times=2,
        )
        put("a")
        for _ in range(2):
            with pytest.raises(ClientError, match="ThrottlingException"):
                put("b")
        put("b")

    assert fault.calls == 2
    assert all(call.json()["Item"] == {"order_reference_id": {"S": "b"}} for call in fault.matched)
    assert stored("a")
    assert stored("b")


@pytest.mark.usefixtures("aws")
def test_botocore_retries_an_injected_throttle_on_its_own() -> None:
    dynamodb = boto3.client(
        "dynamodb",
        region_name=REGION,
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    with AwsFaults() as faults:
        fault = faults.error("dynamodb", "PutItem", "ThrottlingException", times=2)
        answer = dynamodb.put_item(TableName=TABLE, Item={"order_reference_id": {"S": "a"}})

    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert fault.calls == 2


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("AccessDenied", 403)])
def test_an_s3_error_is_s3_xml(code: str, status: int) -> None:
    s3 = client("s3")
    with AwsFaults() as faults:
        faults.error("s3", "PutObject", code, status=status)
        with pytest.raises(ClientError) as raised:
            s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")

    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "KeyCount" not in s3.list_objects_v2(Bucket=BUCKET) or not s3.list_objects_v2(
        Bucket=BUCKET
    ).get("Contents")


@pytest.mark.usefixtures("aws")
def test_an_eventbridge_error_and_a_step_functions_error_are_json_1_1_and_1_0() -> None:
    events = client("events")
    sfn = client("stepfunctions")
    with AwsFaults() as faults:
        faults.error("eventbridge", "PutEvents", "InternalException", status=500)
        faults.error("sfn", "SendTaskSuccess", "TaskTimedOut")
        with pytest.raises(ClientError) as eventbridge_error:
            events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
        with pytest.raises(sfn.exceptions.TaskTimedOut):
            sfn.send_task_success(taskToken="token", output="{}")

    assert eventbridge_error.value.response["Error"]["Code"] == "InternalException"
    assert eventbridge_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


@pytest.mark.usefixtures("aws")
def test_put_events_can_answer_200_with_a_failed_entry() -> None:
    events = client("events")
    with AwsFaults() as faults:
        fault = faults.put_events_failed_entries(error_code="ThrottlingException")
        answer = events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
        after = events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])

    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "ThrottlingException"
    assert after["FailedEntryCount"] == 0
    assert fault.calls == 1


@pytest.mark.usefixtures("aws")
def test_a_crash_after_the_call_lets_it_take_effect_and_a_crash_before_does_not() -> None:
    with AwsFaults() as faults:
        faults.crash_after(
            "dynamodb",
            "PutItem",
            SimulatedRuntimeFailure.timeout(3),
            when=lambda call: '"S": "after"' in call.text,
        )
        faults.crash_before(
            "dynamodb",
            "PutItem",
            SimulatedRuntimeFailure.unknown(),
            when=lambda call: '"S": "before"' in call.text,
        )
        with pytest.raises(SimulatedRuntimeFailure) as after:
            put("after")
        with pytest.raises(SimulatedRuntimeFailure) as before:
            put("before")

    assert after.value.error_type == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in after.value.message
    assert before.value.error_type == "Lambda.Unknown"
    assert stored("after")
    assert not stored("before")


@pytest.mark.usefixtures("aws")
def test_a_hook_runs_before_the_call_goes_through() -> None:
    seen: list[bool] = []
    with AwsFaults() as faults:
        fault = faults.before(
            "dynamodb", "PutItem", lambda call: seen.append(stored("hooked")), times=None
        )
        put("hooked")
        put("hooked")

    assert seen == [False, True]
    assert fault.calls == 2
    assert [answer.status for answer in fault.answers] == [200, 200]


@pytest.mark.usefixtures("aws")
def test_nothing_is_injected_once_the_injector_is_closed() -> None:
    with AwsFaults() as faults:
        fault = faults.error("dynamodb", "PutItem", "ThrottlingException", times=None)
    put("a")

    assert fault.calls == 0
    assert stored("a")
