"""The tracking record (TrackingRecords) against moto's DynamoDB (the tracking table from
template.yaml), and a missing or unreachable table mapped to TrackingStoreUnavailableError.
Other DynamoDB errors, stubbed: tests/unit/test_records.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from tests.conftest import use_fake_aws
from tests.records_support import NO_INTERVAL, ORDER, ORDER_ID, PLACED_AT, REGION, TABLE, at
from tests.tracking_table import create_tracking_table
from tiqets_tracker.errors import TrackingStoreUnavailableError
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.records import DEFAULT_RETENTION, RecordSnapshot, TrackingRecords

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

pytestmark = pytest.mark.moto


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(monkeypatch, REGION)


@pytest.fixture
def dynamodb(aws_env: None) -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tracking_table(client, TABLE)
        yield client


@pytest.fixture
def records(dynamodb: DynamoDBClient) -> TrackingRecords:
    return TrackingRecords(TABLE, dynamodb)


def stored(records: TrackingRecords, order_id: str = ORDER_ID) -> dict[str, Any]:
    item = records.get(order_id)
    assert item is not None
    return item


def set_attribute(dynamodb: DynamoDBClient, name: str, value: dict[str, Any]) -> None:
    """Write an attribute the way the state machine's DynamoDB tasks do."""
    dynamodb.update_item(
        TableName=TABLE,
        Key={"order_reference_id": {"S": ORDER_ID}},
        UpdateExpression="SET #name = :value",
        ExpressionAttributeNames={"#name": name},
        ExpressionAttributeValues={":value": value},
    )


# -- begin_check -------------------------------------------------------------------------------


def test_first_check_creates_the_record(records: TrackingRecords) -> None:
    snapshot = records.begin_check(ORDER, at(1))

    assert snapshot == RecordSnapshot(webhook_count=0, announced_outcome=None, last_status=None)
    item = stored(records)
    assert item["webhook_count"] == {"N": "0"}
    assert item["tracking_state"] == {"S": "active"}
    assert item["lang"] == {"S": "en"}
    assert item["external_reference"] == {"S": "shop-order-42"}
    assert item["placed_at"] == {"S": "2026-06-01T12:00:00.000Z"}
    assert item["first_checked_at"] == {"S": "2026-06-01T12:00:01.000Z"}
    assert item["expires_at"] == {"N": str(int((PLACED_AT + DEFAULT_RETENTION).timestamp()))}


def test_order_without_external_reference_stores_null(records: TrackingRecords) -> None:
    order = OrderToTrack(
        order_reference_id="2222222", lang="de", external_reference=None, placed_at=PLACED_AT
    )

    records.begin_check(order, at(1))

    assert stored(records, "2222222")["external_reference"] == {"NULL": True}


def test_retention_sets_the_expiry(dynamodb: DynamoDBClient) -> None:
    records = TrackingRecords(TABLE, dynamodb, retention=timedelta(days=1))

    records.begin_check(ORDER, at(1))

    assert stored(records)["expires_at"] == {"N": str(int(PLACED_AT.timestamp()) + 86_400)}


def test_later_check_keeps_the_webhook_count_and_first_check_time(
    records: TrackingRecords,
) -> None:
    records.begin_check(ORDER, at(1))
    records.note_webhook(ORDER_ID, at(5))
    records.note_webhook(ORDER_ID, at(6))

    snapshot = records.begin_check(ORDER, at(60))

    assert snapshot.webhook_count == 2
    assert stored(records)["first_checked_at"] == {"S": "2026-06-01T12:00:01.000Z"}


def test_check_reads_the_announced_outcome_and_last_status(
    records: TrackingRecords, dynamodb: DynamoDBClient
) -> None:
    records.begin_check(ORDER, at(1))
    records.record_check(ORDER_ID, status="done", previous_status=None, checked_at=at(1))
    set_attribute(dynamodb, "announced_outcome", {"S": "TicketsReady"})

    snapshot = records.begin_check(ORDER, at(3600))

    assert snapshot == RecordSnapshot(
        webhook_count=0, announced_outcome="TicketsReady", last_status="done"
    )


def test_check_of_a_finished_order_makes_it_active_again(
    records: TrackingRecords, dynamodb: DynamoDBClient
) -> None:
    records.begin_check(ORDER, at(1))
    set_attribute(dynamodb, "tracking_state", {"S": "finished"})

    records.begin_check(ORDER, at(3600))

    assert stored(records)["tracking_state"] == {"S": "active"}


# -- record_check and record_failed_check ------------------------------------------------------


def test_status_history_grows_only_when_the_status_changes(records: TrackingRecords) -> None:
    records.begin_check(ORDER, at(1))
    records.record_check(ORDER_ID, status="pending", previous_status=None, checked_at=at(1))
    records.record_check(ORDER_ID, status="pending", previous_status="pending", checked_at=at(61))
    records.record_check(ORDER_ID, status="done", previous_status="pending", checked_at=at(151))

    item = stored(records)
    assert item["status_history"] == {
        "L": [
            {"M": {"status": {"S": "pending"}, "at": {"S": "2026-06-01T12:00:01.000Z"}}},
            {"M": {"status": {"S": "done"}, "at": {"S": "2026-06-01T12:02:31.000Z"}}},
        ]
    }
    assert item["checks_made"] == {"N": "3"}
    assert item["last_status"] == {"S": "done"}
    assert item["last_checked_at"] == {"S": "2026-06-01T12:02:31.000Z"}


def test_failed_check_notes_the_error_and_keeps_the_status(records: TrackingRecords) -> None:
    records.begin_check(ORDER, at(1))
    records.record_check(ORDER_ID, status="pending", previous_status=None, checked_at=at(1))

    records.record_failed_check(
        ORDER_ID,
        error="TiqetsUnavailableError",
        reason="Tiqets answered HTTP 503",
        checked_at=at(61),
    )

    item = stored(records)
    assert item["last_error"] == {
        "M": {"error": {"S": "TiqetsUnavailableError"}, "reason": {"S": "Tiqets answered HTTP 503"}}
    }
    assert item["last_status"] == {"S": "pending"}
    assert item["checks_made"] == {"N": "2"}
    assert item["last_checked_at"] == {"S": "2026-06-01T12:01:01.000Z"}
    assert len(item["status_history"]["L"]) == 1


def test_failed_check_keeps_at_most_500_characters_of_the_reason(
    records: TrackingRecords,
) -> None:
    records.begin_check(ORDER, at(1))

    records.record_failed_check(ORDER_ID, error="E", reason="r" * 2000, checked_at=at(1))

    assert stored(records)["last_error"]["M"]["reason"] == {"S": "r" * 500}


def test_successful_check_clears_the_last_error(records: TrackingRecords) -> None:
    records.begin_check(ORDER, at(1))
    records.record_failed_check(ORDER_ID, error="E", reason="boom", checked_at=at(1))

    records.record_check(ORDER_ID, status="pending", previous_status=None, checked_at=at(60))

    assert stored(records)["last_error"] == {"NULL": True}


# -- note_webhook --------------------------------------------------------------------------------


def test_webhook_for_a_tracked_order_is_counted(records: TrackingRecords) -> None:
    records.begin_check(ORDER, at(1))

    first = records.note_webhook(ORDER_ID, at(10))
    second = records.note_webhook(ORDER_ID, at(11))

    assert first is not None
    assert second is not None
    assert first["webhook_count"] == {"N": "1"}
    assert second["webhook_count"] == {"N": "2"}
    assert second["last_webhook_at"] == {"S": "2026-06-01T12:00:11.000Z"}
    assert second["tracking_state"] == {"S": "active"}
    assert stored(records)["webhook_count"] == {"N": "2"}


def test_webhook_for_an_unknown_order_creates_nothing(records: TrackingRecords) -> None:
    assert records.note_webhook("9999999", at(1)) is None
    assert records.get("9999999") is None


# -- claim_recheck and release_recheck ---------------------------------------------------------


def test_recheck_is_claimed_only_from_a_finished_order(
    records: TrackingRecords, dynamodb: DynamoDBClient
) -> None:
    records.begin_check(ORDER, at(1))

    assert records.claim_recheck(ORDER_ID, at(10), min_interval=NO_INTERVAL) is None

    set_attribute(dynamodb, "tracking_state", {"S": "finished"})
    assert records.claim_recheck(ORDER_ID, at(3600), min_interval=NO_INTERVAL) == 1
    item = stored(records)
    assert item["tracking_state"] == {"S": "active"}
    assert item["last_recheck_at"] == {"S": "2026-06-01T13:00:00.000Z"}


def test_second_claim_while_a_recheck_is_under_way_gets_none(
    records: TrackingRecords, dynamodb: DynamoDBClient
) -> None:
    records.begin_check(ORDER, at(1))
    set_attribute(dynamodb, "tracking_state", {"S": "finished"})

    assert records.claim_recheck(ORDER_ID, at(3600), min_interval=NO_INTERVAL) == 1
    assert records.claim_recheck(ORDER_ID, at(3601), min_interval=NO_INTERVAL) is None


def test_released_recheck_can_be_claimed_again_with_the_next_number(
    records: TrackingRecords, dynamodb: DynamoDBClient
) -> None:
    records.begin_check(ORDER, at(1))
    set_attribute(dynamodb, "tracking_state", {"S": "finished"})

    numbers = []
    for minute in range(3):
        claimed = records.claim_recheck(ORDER_ID, at(3600 + 60 * minute), min_interval=NO_INTERVAL)
        numbers.append(claimed)
        records.release_recheck(ORDER_ID)
        assert stored(records)["tracking_state"] == {"S": "finished"}

    assert numbers == [1, 2, 3]


def test_recheck_of_an_unknown_order_is_not_claimed(records: TrackingRecords) -> None:
    assert records.claim_recheck("9999999", at(1), min_interval=NO_INTERVAL) is None
    assert records.get("9999999") is None


# -- get -----------------------------------------------------------------------------------------


def test_get_returns_none_for_an_unknown_order(records: TrackingRecords) -> None:
    assert records.get("9999999") is None


def test_get_returns_the_whole_item(records: TrackingRecords) -> None:
    records.begin_check(ORDER, at(1))

    assert stored(records)["order_reference_id"] == {"S": ORDER_ID}


def test_repr_names_the_table_only(records: TrackingRecords) -> None:
    assert repr(records) == f"TrackingRecords(table_name={TABLE!r})"


# -- DynamoDB errors ---------------------------------------------------------------------------


def test_missing_table_is_a_store_unavailable_error(dynamodb: DynamoDBClient) -> None:
    records = TrackingRecords("no-such-table", dynamodb)

    with pytest.raises(TrackingStoreUnavailableError, match="ResourceNotFoundException"):
        records.begin_check(ORDER, at(1))
    with pytest.raises(TrackingStoreUnavailableError, match="ResourceNotFoundException"):
        records.get(ORDER_ID)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_unreachable_table_is_a_store_unavailable_error(aws_env: None) -> None:
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    records = TrackingRecords(TABLE, client)

    with pytest.raises(TrackingStoreUnavailableError, match="could not be reached"):
        records.begin_check(ORDER, at(1))
    with pytest.raises(TrackingStoreUnavailableError, match="could not be reached"):
        records.get(ORDER_ID)


def test_claim_recheck_refuses_a_second_recheck_within_the_minimum_interval(
    records: TrackingRecords, dynamodb: DynamoDBClient
) -> None:
    records.begin_check(ORDER, at(1))
    set_attribute(dynamodb, "tracking_state", {"S": "finished"})
    assert records.claim_recheck(ORDER_ID, at(3600), min_interval=timedelta(seconds=60)) == 1
    records.release_recheck(ORDER_ID)

    too_soon = records.claim_recheck(ORDER_ID, at(3630), min_interval=timedelta(seconds=60))
    later = records.claim_recheck(ORDER_ID, at(3661), min_interval=timedelta(seconds=60))

    assert too_soon is None
    assert later == 2
