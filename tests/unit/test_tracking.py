"""Starting a tracker (start_tracking) in plain Python: the execution input built and checked
against its schema, and malformed input refused before any AWS call. Starting executions on
moto's Step Functions: tests/moto/test_tracking.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.start_tracking_support import ACCOUNT, REGION, schema_validator
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.tracking import build_execution_input, execution_name, start_tracking

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


# -- starting ------------------------------------------------------------------------------------


def test_execution_name_is_the_order_id() -> None:
    assert execution_name("1111111") == "1111111"


# -- refusals ------------------------------------------------------------------------------------


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
