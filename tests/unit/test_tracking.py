"""Starting a tracker (start_tracking) against moto's Step Functions: one execution per order,
named after it; malformed input refused before anything is started."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tests.conftest import use_fake_aws
from tiqets_tracker.aws import forget_clients
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.tracking import (
    TrackingStarted,
    build_execution_input,
    execution_name,
    start_tracking,
)
from tiqets_tracker.validation import validator

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.client import SFNClient

pytestmark = pytest.mark.unit

REGION: Final = "eu-west-1"
ACCOUNT: Final = "123456789012"
SCHEMA_FILE = (
    Path(__file__).resolve().parents[2]
    / "functions"
    / "tiqets_tracker"
    / "schemas"
    / "execution_input.schema.json"
)
TRIVIAL_DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[SFNClient]:
    use_fake_aws(monkeypatch, REGION)
    forget_clients()
    with mock_aws():
        yield boto3.client("stepfunctions", region_name=REGION)
    forget_clients()


@pytest.fixture
def machine_arn(sfn: SFNClient) -> str:
    arn: str = sfn.create_state_machine(
        name="order-tracking",
        definition=json.dumps(TRIVIAL_DEFINITION),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/order-tracking",
    )["stateMachineArn"]
    return arn


def executions(sfn: SFNClient, machine_arn: str) -> list[dict[str, Any]]:
    listed = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    return [dict(execution) for execution in listed]


def execution_input(sfn: SFNClient, execution_arn: str) -> dict[str, Any]:
    described = sfn.describe_execution(executionArn=execution_arn)
    loaded: dict[str, Any] = json.loads(described["input"])
    return loaded


def schema_validator() -> Any:
    return validator(SCHEMA_FILE.name)


# -- starting ------------------------------------------------------------------------------------


def test_start_returns_the_execution_named_after_the_order(
    sfn: SFNClient, machine_arn: str
) -> None:
    started = start_tracking(
        "1111111",
        state_machine_arn=machine_arn,
        external_reference="shop-order-42",
        client=sfn,
    )

    assert started == TrackingStarted(
        execution_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:order-tracking:1111111",
        already_tracked=False,
    )
    assert [execution["name"] for execution in executions(sfn, machine_arn)] == ["1111111"]


def test_start_hands_the_validated_input_to_the_execution(sfn: SFNClient, machine_arn: str) -> None:
    placed_at = datetime.fromisoformat("2025-01-31T23:30:00.123456-01:00")

    started = start_tracking(
        "1111111",
        state_machine_arn=machine_arn,
        lang="nl",
        external_reference="shop-order-42",
        placed_at=placed_at,
        client=sfn,
    )

    given = execution_input(sfn, started.execution_arn)
    assert given == {
        "order_reference_id": "1111111",
        "lang": "nl",
        "external_reference": "shop-order-42",
        "placed_at": "2025-02-01T00:30:00.123Z",
        "visit_date": None,
    }
    schema_validator()(given)


def test_start_without_placed_at_stamps_the_start_time(sfn: SFNClient, machine_arn: str) -> None:
    before = datetime.now(UTC)

    started = start_tracking("1111111", state_machine_arn=machine_arn, client=sfn)

    placed_at = datetime.fromisoformat(execution_input(sfn, started.execution_arn)["placed_at"])
    assert before - timedelta(milliseconds=1) <= placed_at <= datetime.now(UTC)


def test_second_start_for_the_same_order_finds_the_first_tracker(
    sfn: SFNClient, machine_arn: str
) -> None:
    first = start_tracking(
        "1111111",
        state_machine_arn=machine_arn,
        placed_at=datetime.now(UTC) - timedelta(minutes=2),
        client=sfn,
    )
    second = start_tracking(
        "1111111",
        state_machine_arn=machine_arn,
        placed_at=datetime.now(UTC) - timedelta(minutes=1),
        client=sfn,
    )

    assert first.already_tracked is False
    assert second == TrackingStarted(execution_arn=first.execution_arn, already_tracked=True)
    assert len(executions(sfn, machine_arn)) == 1


def test_repeated_identical_start_returns_the_same_execution(
    sfn: SFNClient, machine_arn: str
) -> None:
    placed_at = datetime.now(UTC) - timedelta(minutes=2)

    first = start_tracking(
        "1111111", state_machine_arn=machine_arn, placed_at=placed_at, client=sfn
    )
    again = start_tracking(
        "1111111", state_machine_arn=machine_arn, placed_at=placed_at, client=sfn
    )

    # Step Functions answers the same name with the same input with the running execution.
    # Within two seconds of the first start, start_tracking cannot tell this from a fresh start,
    # so already_tracked is not asserted here.
    assert again.execution_arn == first.execution_arn
    assert len(executions(sfn, machine_arn)) == 1


def test_different_orders_get_their_own_trackers(sfn: SFNClient, machine_arn: str) -> None:
    one = start_tracking("1111111", state_machine_arn=machine_arn, client=sfn)
    other = start_tracking("2222222", state_machine_arn=machine_arn, client=sfn)

    assert one.execution_arn != other.execution_arn
    assert not one.already_tracked
    assert not other.already_tracked
    assert len(executions(sfn, machine_arn)) == 2


def test_start_uses_the_shared_client_when_none_is_given(sfn: SFNClient, machine_arn: str) -> None:
    started = start_tracking("1111111", state_machine_arn=machine_arn)

    assert started.execution_arn.endswith(":execution:order-tracking:1111111")
    assert len(executions(sfn, machine_arn)) == 1


def test_execution_name_is_the_order_id() -> None:
    assert execution_name("1111111") == "1111111"


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"order_reference_id": "../x"}, "order_reference_id"),
        ({"order_reference_id": "a/b"}, "order_reference_id"),
        ({"order_reference_id": "9" * 65}, "order_reference_id"),
        ({"order_reference_id": "1111111", "lang": "english"}, "lang"),
        ({"order_reference_id": "1111111", "external_reference": ""}, "external_reference"),
        ({"order_reference_id": "1111111", "external_reference": "r" * 256}, "external_reference"),
        (
            {"order_reference_id": "1111111", "placed_at": datetime.now(UTC) + timedelta(hours=1)},
            "placed_at",
        ),
    ],
)
def test_malformed_input_is_refused_before_anything_starts(
    sfn: SFNClient, machine_arn: str, arguments: dict[str, Any], field: str
) -> None:
    order_id = arguments.pop("order_reference_id")

    with pytest.raises(InvalidExecutionInputError, match=field):
        start_tracking(order_id, state_machine_arn=machine_arn, client=sfn, **arguments)

    assert executions(sfn, machine_arn) == []


def test_malformed_input_makes_no_aws_call() -> None:
    client = boto3.client(
        "stepfunctions",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:order-tracking"
    # A stubber with no answers queued fails any call made through the client, with an error
    # other than the one expected here.
    with Stubber(client), pytest.raises(InvalidExecutionInputError):
        start_tracking("../x", state_machine_arn=arn, client=client)


def test_naive_placed_at_is_refused(sfn: SFNClient, machine_arn: str) -> None:
    naive = datetime(2026, 6, 1, 12, 0, 0)

    with pytest.raises(InvalidExecutionInputError, match="placed_at must be timezone-aware"):
        start_tracking("1111111", state_machine_arn=machine_arn, placed_at=naive, client=sfn)

    assert executions(sfn, machine_arn) == []


# -- build_execution_input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"lang": "de"},
        {"external_reference": "shop-order-42"},
        {"external_reference": "r" * 255, "lang": "zh"},
        {"placed_at": datetime(2026, 6, 1, 13, 0, 0, tzinfo=UTC) - timedelta(hours=3)},
        {"placed_at": datetime.fromisoformat("2026-06-01T13:30:00.123456+02:00")},
    ],
)
def test_built_input_validates_against_the_schema_file(arguments: dict[str, Any]) -> None:
    payload = build_execution_input("1111111", now=NOW, **arguments)

    schema_validator()(payload)
    assert set(payload) == {
        "order_reference_id",
        "lang",
        "external_reference",
        "placed_at",
        "visit_date",
    }


def test_built_input_stamps_now_when_placed_at_is_missing() -> None:
    payload = build_execution_input("1111111", now=NOW)

    assert payload == {
        "order_reference_id": "1111111",
        "lang": "en",
        "external_reference": None,
        "placed_at": "2026-06-01T12:00:00.000Z",
        "visit_date": None,
    }


def test_built_input_carries_placed_at_in_utc() -> None:
    placed_at = datetime.fromisoformat("2026-06-01T13:30:00.123456+02:00")

    payload = build_execution_input("1111111", placed_at=placed_at, now=NOW)

    assert payload["placed_at"] == "2026-06-01T11:30:00.123Z"


def test_built_input_refuses_a_placement_in_the_future() -> None:
    with pytest.raises(InvalidExecutionInputError, match="placed_at lies in the future"):
        build_execution_input("1111111", placed_at=NOW + timedelta(minutes=6), now=NOW)
