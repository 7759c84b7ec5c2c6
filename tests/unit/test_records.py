"""DynamoDB errors met by the tracking record (TrackingRecords), stubbed on a real client so that
no request leaves the process, mapped to TrackingStoreUnavailableError. The record itself on
moto's DynamoDB: tests/moto/test_records.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.conftest import use_fake_aws
from tests.records_support import NO_INTERVAL, ORDER, ORDER_ID, REGION, TABLE, at
from tiqets_tracker.errors import TrackingStoreUnavailableError
from tiqets_tracker.records import TrackingRecords

pytestmark = pytest.mark.unit


# -- DynamoDB errors ---------------------------------------------------------------------------


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TrackingRecords, Stubber]]:
    """A real client whose answers are stubbed: no request leaves the process."""
    use_fake_aws(monkeypatch, REGION)
    client = boto3.client("dynamodb", region_name=REGION)
    with Stubber(client) as stubber:
        yield TrackingRecords(TABLE, client), stubber
        stubber.assert_no_pending_responses()


def fail_next(stubber: Stubber, operation: str, code: str) -> None:
    stubber.add_client_error(
        operation, service_error_code=code, service_message="stubbed", http_status_code=400
    )


THROTTLED = "ProvisionedThroughputExceededException"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda r: r.begin_check(ORDER, at(1)), id="begin_check"),
        pytest.param(
            lambda r: r.record_check(
                ORDER_ID, status="done", previous_status=None, checked_at=at(1)
            ),
            id="record_check",
        ),
        pytest.param(
            lambda r: r.record_failed_check(ORDER_ID, error="E", reason="x", checked_at=at(1)),
            id="record_failed_check",
        ),
        pytest.param(lambda r: r.note_webhook(ORDER_ID, at(1)), id="note_webhook"),
        pytest.param(
            lambda r: r.claim_recheck(ORDER_ID, at(1), min_interval=NO_INTERVAL), id="claim_recheck"
        ),
        pytest.param(lambda r: r.release_recheck(ORDER_ID), id="release_recheck"),
    ],
)
def test_throttled_write_is_a_store_unavailable_error(
    stubbed: tuple[TrackingRecords, Stubber], call: Any
) -> None:
    records, stubber = stubbed
    fail_next(stubber, "update_item", THROTTLED)

    with pytest.raises(TrackingStoreUnavailableError) as caught:
        call(records)

    assert str(caught.value) == f"the tracking table answered {THROTTLED}"
    assert caught.value.__cause__ is None


def test_failed_read_is_a_store_unavailable_error(
    stubbed: tuple[TrackingRecords, Stubber],
) -> None:
    records, stubber = stubbed
    fail_next(stubber, "get_item", "InternalServerError")

    with pytest.raises(TrackingStoreUnavailableError, match="answered InternalServerError"):
        records.get(ORDER_ID)


def test_open_orders_follows_the_index_page_by_page(
    stubbed: tuple[TrackingRecords, Stubber],
) -> None:
    records, stubber = stubbed
    request = {
        "TableName": TABLE,
        "IndexName": "OpenOrders",
        "KeyConditionExpression": "sweep_partition = :open AND open_since < :cutoff",
        "ExpressionAttributeValues": {
            ":open": {"S": "open"},
            ":cutoff": {"S": "2026-06-01T12:00:01.000Z"},
        },
    }
    last_key = {
        "order_reference_id": {"S": "2222222"},
        "sweep_partition": {"S": "open"},
        "open_since": {"S": "2026-06-01T12:00:00.000Z"},
    }
    stubber.add_response(
        "query",
        {
            "Items": [{"order_reference_id": {"S": ORDER_ID}}, last_key],
            "LastEvaluatedKey": last_key,
        },
        request,
    )
    stubber.add_response(
        "query",
        {"Items": [{"order_reference_id": {"S": "3333333"}}]},
        request | {"ExclusiveStartKey": last_key},
    )

    assert list(records.open_orders(opened_before=at(1))) == [ORDER_ID, "2222222", "3333333"]


@pytest.mark.parametrize("failing_page", [1, 2])
def test_failed_index_query_is_a_store_unavailable_error(
    stubbed: tuple[TrackingRecords, Stubber], failing_page: int
) -> None:
    records, stubber = stubbed
    if failing_page == 2:
        last_key = {"order_reference_id": {"S": ORDER_ID}}
        stubber.add_response("query", {"Items": [last_key], "LastEvaluatedKey": last_key})
    fail_next(stubber, "query", THROTTLED)

    with pytest.raises(TrackingStoreUnavailableError) as caught:
        list(records.open_orders(opened_before=at(1)))

    assert str(caught.value) == f"the tracking table answered {THROTTLED}"
    assert caught.value.__cause__ is None


def test_failed_condition_outside_a_conditional_write_is_a_store_error(
    stubbed: tuple[TrackingRecords, Stubber],
) -> None:
    records, stubber = stubbed
    fail_next(stubber, "update_item", "ConditionalCheckFailedException")

    with pytest.raises(TrackingStoreUnavailableError, match="ConditionalCheckFailedException"):
        records.record_check(ORDER_ID, status="done", previous_status=None, checked_at=at(1))
