"""Starting a tracker (start_tracking) against moto's Step Functions: one execution per order,
named after it; malformed input refused before anything is started. The execution input built
in plain Python: tests/unit/test_tracking.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import use_fake_aws
from tests.start_tracking_support import ACCOUNT, REGION, schema_validator
from tiqets_tracker.aws import forget_clients
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.tracking import TrackingStarted, start_tracking

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.client import SFNClient

pytestmark = pytest.mark.moto

TRIVIAL_DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


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


def test_naive_placed_at_is_refused(sfn: SFNClient, machine_arn: str) -> None:
    naive = datetime(2026, 6, 1, 12, 0, 0)

    with pytest.raises(InvalidExecutionInputError, match="placed_at must be timezone-aware"):
        start_tracking("1111111", state_machine_arn=machine_arn, placed_at=naive, client=sfn)

    assert executions(sfn, machine_arn) == []
