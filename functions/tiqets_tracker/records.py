"""The tracking record: one DynamoDB item per order, shared by the workflow and the webhook.

Attributes (the state machine writes some of them directly, see order_tracking.asl.json):
- `order_reference_id` (key), `lang`, `external_reference`, `placed_at`: the order.
- `tracking_state`: `active` while an execution owns the order, `finished` after it ended.
- `webhook_count`: incremented by every authentic webhook. A status check notes the value it saw
  when it began; parking on a task token, recording an outcome and ending tracking all require
  the count to be unchanged, so a webhook that races a check is never lost.
- `task_token`: the token of the parked execution, while parked.
- `checks_made`, `last_checked_at`, `last_status`, `status_history`, `last_error`.
- `announced_outcome`, `announced_at`, `voucher`, `failure`: the last outcome published.
- `expires_at`: epoch seconds for DynamoDB TTL: `retention` after placement (the template passes
  the vouchers' retention, so a record lives at least as long as its voucher), and at least
  `VISIT_DATE_MARGIN` after the visit date when the order has one. Tiqets can cancel an order
  until its visit date, and the webhook answers a callback for an order without a record as
  unknown.
- `visit_date`: the order's visit date, when start_tracking was given one.
- `execution_arn`: the execution that last began a status check (or that the sweep started).
- `sweep_partition` ("open") and `open_since`: set while tracking has not ended with a published
  outcome; they key the sparse `OpenOrders` index the sweep reads (see sweep.py). Ending
  tracking removes them, so the index holds only orders still in someone's hands.
- `sweep_restarts`, `last_swept_at`, `sweep_gave_up_at`: what the sweep did to the order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tiqets_tracker.errors import ConfigurationError, TrackingStoreUnavailableError
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.quiet_logs import aws_bodies_unlogged
from tiqets_tracker.timestamps import format_timestamp

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer
    from mypy_boto3_dynamodb.client import DynamoDBClient

# The template's VoucherRetentionDays default: a record lives as long as its voucher.
DEFAULT_RETENTION = timedelta(days=400)
# A cancellation can come until the visit date; a little after it, nothing changes any more.
VISIT_DATE_MARGIN = timedelta(days=30)
MAX_RETENTION_DAYS = 99_999

OPEN_ORDERS_INDEX = "OpenOrders"
OPEN_PARTITION = "open"
# A webhook's re-check claimed this recently may not have begun its first check yet (and so
# not recorded its execution): the sweep leaves such an order alone.
RECENT_RECHECK = timedelta(minutes=5)


@dataclass(frozen=True)
class RecordSnapshot:
    """What a status check needs from the record, read as the check begins."""

    webhook_count: int
    announced_outcome: str | None
    last_status: str | None


def retention_from_env(name: str, environ: Mapping[str, str] | None = None) -> timedelta:
    """How long records are kept after placement: whole days from the environment, or
    DEFAULT_RETENTION when unset."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return DEFAULT_RETENTION
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_RETENTION_DAYS:
        raise ConfigurationError(
            f"{name} must be a whole number of days from 1 to {MAX_RETENTION_DAYS}"
        )
    return timedelta(days=int(raw))


def expiry_of(order: OrderToTrack, retention: timedelta) -> datetime:
    """When the record of an order may go: `retention` after placement, and not before
    VISIT_DATE_MARGIN after its visit date."""
    expires = order.placed_at + retention
    if order.visit_date is not None:
        after_visit = datetime.combine(order.visit_date, time.min, tzinfo=UTC) + VISIT_DATE_MARGIN
        expires = max(expires, after_visit)
    return expires


@cache
def _deserializer() -> TypeDeserializer:
    # Imported on first use: importing boto3 is most of a cold start, and only code that already
    # holds a DynamoDB client decodes items.
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def _decoded(item: Mapping[str, Any] | None, name: str) -> object:
    """An attribute of an item as DynamoDB returns it, as a Python value (None when absent)."""
    value = (item or {}).get(name)
    return _deserializer().deserialize(value) if value else None


def text_attribute(item: Mapping[str, Any] | None, name: str) -> str | None:
    """A string attribute of an item as DynamoDB returns it, or None."""
    value = _decoded(item, name)
    return value if isinstance(value, str) else None


def count_attribute(item: Mapping[str, Any] | None, name: str) -> int:
    """A number attribute of an item as DynamoDB returns it, 0 when absent."""
    value = _decoded(item, name)
    return int(value) if isinstance(value, Decimal) else 0


def _key_of(item: Mapping[str, Any]) -> str:
    """The order's ID: the table's key, a string by its key schema."""
    key: str = _deserializer().deserialize(item["order_reference_id"])
    return key


def order_input_from_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """The execution input that tracks the record's order again (a re-check, a restart)."""
    return {
        "order_reference_id": _key_of(item),
        "lang": text_attribute(item, "lang") or "en",
        "external_reference": text_attribute(item, "external_reference"),
        "placed_at": text_attribute(item, "placed_at"),
        "visit_date": text_attribute(item, "visit_date"),
    }


class TrackingRecords:
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.table_name = table_name
        self._client = client
        self._retention = retention

    def __repr__(self) -> str:
        return f"TrackingRecords(table_name={self.table_name!r})"

    def begin_check(
        self, order: OrderToTrack, now: datetime, *, execution_arn: str | None = None
    ) -> RecordSnapshot:
        """Create the record on the first check, and read what the check must compare against.
        Must run before Tiqets is asked, so a webhook after this point changes the count.
        Also marks the order open for the sweep until tracking ends with a published outcome."""
        expression = (
            "SET webhook_count = if_not_exists(webhook_count, :zero), "
            "tracking_state = :active, lang = :lang, placed_at = :placed_at, "
            "external_reference = :external_reference, visit_date = :visit_date, "
            "first_checked_at = if_not_exists(first_checked_at, :now), "
            "expires_at = :expires_at, sweep_partition = :open, "
            "open_since = if_not_exists(open_since, :now)"
        )
        extra: dict[str, Any] = {}
        if execution_arn is not None:
            expression += ", execution_arn = :execution_arn"
            extra[":execution_arn"] = {"S": execution_arn}
        item = self._update(
            order.order_reference_id,
            expression,
            extra
            | {
                ":open": {"S": OPEN_PARTITION},
                ":zero": {"N": "0"},
                ":active": {"S": "active"},
                ":lang": {"S": order.lang},
                ":placed_at": {"S": format_timestamp(order.placed_at)},
                ":external_reference": (
                    {"S": order.external_reference} if order.external_reference else {"NULL": True}
                ),
                ":visit_date": (
                    {"S": order.visit_date.isoformat()} if order.visit_date else {"NULL": True}
                ),
                ":now": {"S": format_timestamp(now)},
                ":expires_at": {"N": str(int(expiry_of(order, self._retention).timestamp()))},
            },
        )
        return RecordSnapshot(
            webhook_count=count_attribute(item, "webhook_count"),
            announced_outcome=text_attribute(item, "announced_outcome"),
            last_status=text_attribute(item, "last_status"),
        )

    def record_check(
        self,
        order_reference_id: str,
        *,
        status: str,
        previous_status: str | None,
        checked_at: datetime,
    ) -> None:
        at = format_timestamp(checked_at)
        expression = (
            "SET last_status = :status, last_checked_at = :at, last_error = :no_error "
            "ADD checks_made :one"
        )
        values: dict[str, Any] = {
            ":status": {"S": status},
            ":at": {"S": at},
            ":no_error": {"NULL": True},
            ":one": {"N": "1"},
        }
        if status != previous_status:
            expression = expression.replace(
                "SET ",
                "SET status_history = list_append(if_not_exists(status_history, :empty), "
                ":change), ",
            )
            values[":empty"] = {"L": []}
            values[":change"] = {"L": [{"M": {"status": {"S": status}, "at": {"S": at}}}]}
        self._update(order_reference_id, expression, values)

    def record_failed_check(
        self, order_reference_id: str, *, error: str, reason: str, checked_at: datetime
    ) -> None:
        self._update(
            order_reference_id,
            "SET last_checked_at = :at, last_error = :error ADD checks_made :one",
            {
                ":at": {"S": format_timestamp(checked_at)},
                ":error": {"M": {"error": {"S": error}, "reason": {"S": reason[:500]}}},
                ":one": {"N": "1"},
            },
        )

    def note_webhook(self, order_reference_id: str, now: datetime) -> dict[str, Any] | None:
        """Count an authentic webhook for a known order and return the record as it is now
        (DynamoDB attribute values), or None when no order of that ID is tracked."""
        return self._update(
            order_reference_id,
            "SET last_webhook_at = :now ADD webhook_count :one",
            {":now": {"S": format_timestamp(now)}, ":one": {"N": "1"}},
            condition="attribute_exists(order_reference_id)",
        )

    def claim_recheck(
        self, order_reference_id: str, now: datetime, *, min_interval: timedelta
    ) -> int | None:
        """Hand a finished order back to the workflow for one re-check. Returns the re-check's
        number, or None when one is already under way (the order is active again) or the last
        one started less than `min_interval` ago."""
        item = self._update(
            order_reference_id,
            "SET tracking_state = :active, last_recheck_at = :now ADD recheck_count :one",
            {
                ":active": {"S": "active"},
                ":finished": {"S": "finished"},
                ":now": {"S": format_timestamp(now)},
                ":cutoff": {"S": format_timestamp(now - min_interval)},
                ":one": {"N": "1"},
            },
            # Timestamps share one format, so they compare as strings.
            condition="tracking_state = :finished AND "
            "(attribute_not_exists(last_recheck_at) OR last_recheck_at < :cutoff)",
        )
        return None if item is None else count_attribute(item, "recheck_count")

    def release_recheck(self, order_reference_id: str) -> None:
        """Undo claim_recheck when the re-check could not be started."""
        self._update(
            order_reference_id,
            "SET tracking_state = :finished",
            {":finished": {"S": "finished"}},
            condition="attribute_exists(order_reference_id)",
        )

    def open_orders(self, *, opened_before: datetime) -> Iterator[str]:
        """IDs of the orders whose tracking has not ended with a published outcome, opened
        before the given time (oldest first), from the sparse OpenOrders index."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=OPEN_ORDERS_INDEX,
            KeyConditionExpression="sweep_partition = :open AND open_since < :cutoff",
            ExpressionAttributeValues={
                ":open": {"S": OPEN_PARTITION},
                ":cutoff": {"S": format_timestamp(opened_before)},
            },
        )
        try:
            for page in pages:
                for item in page.get("Items", []):
                    yield _key_of(item)
        except (ClientError, BotoCoreError) as error:
            raise TrackingStoreUnavailableError(_describe(error)) from None

    def claim_sweep_restart(
        self,
        order_reference_id: str,
        *,
        seen_execution_arn: str,
        restarted_execution_arn: str,
        now: datetime,
    ) -> bool:
        """Hand an order whose execution ended without an outcome to a new execution. False
        when the record changed since the sweep read it (the order ended, or another execution,
        a webhook's re-check or another sweep took it over)."""
        return self._sweep_update(
            order_reference_id,
            "SET execution_arn = :restarted, last_swept_at = :now, tracking_state = :active "
            "ADD sweep_restarts :one",
            {
                ":restarted": {"S": restarted_execution_arn},
                ":now": {"S": format_timestamp(now)},
                ":active": {"S": "active"},
                ":one": {"N": "1"},
            },
            seen_execution_arn=seen_execution_arn,
            now=now,
        )

    def give_up_sweeping(
        self, order_reference_id: str, *, seen_execution_arn: str, now: datetime
    ) -> bool:
        """Take an order the sweep restarted too often out of the sweep: a person has to look
        at it. False when the record changed since the sweep read it."""
        return self._sweep_update(
            order_reference_id,
            "SET sweep_gave_up_at = :now, last_swept_at = :now REMOVE sweep_partition, open_since",
            {":now": {"S": format_timestamp(now)}},
            seen_execution_arn=seen_execution_arn,
            now=now,
        )

    def _sweep_update(
        self,
        order_reference_id: str,
        expression: str,
        values: dict[str, Any],
        *,
        seen_execution_arn: str,
        now: datetime,
    ) -> bool:
        item = self._update(
            order_reference_id,
            expression,
            values
            | {
                ":seen": {"S": seen_execution_arn},
                ":open": {"S": OPEN_PARTITION},
                ":recent": {"S": format_timestamp(now - RECENT_RECHECK)},
            },
            condition="sweep_partition = :open AND execution_arn = :seen AND "
            "(attribute_not_exists(last_recheck_at) OR last_recheck_at < :recent)",
        )
        return item is not None

    def get(self, order_reference_id: str) -> dict[str, Any] | None:
        try:
            with aws_bodies_unlogged():  # the item may hold a task token
                response = self._client.get_item(
                    TableName=self.table_name,
                    Key={"order_reference_id": {"S": order_reference_id}},
                    ConsistentRead=True,
                )
        except (ClientError, BotoCoreError) as error:
            raise TrackingStoreUnavailableError(_describe(error)) from None
        return response.get("Item")

    def _update(
        self,
        order_reference_id: str,
        expression: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
    ) -> dict[str, Any] | None:
        """The item as the update left it (DynamoDB attribute values), or None when `condition`
        did not hold and nothing was written. Every other failure is a
        TrackingStoreUnavailableError."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"order_reference_id": {"S": order_reference_id}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            request["ConditionExpression"] = condition
        try:
            with aws_bodies_unlogged():  # the item returned may hold a task token
                response = self._client.update_item(**request)
        except ClientError as error:
            if condition and error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise TrackingStoreUnavailableError(_describe(error)) from None
        except BotoCoreError as error:
            raise TrackingStoreUnavailableError(_describe(error)) from None
        return dict(response.get("Attributes", {}))


def _describe(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        return f"the tracking table answered {error.response['Error'].get('Code', 'an error')}"
    return f"the tracking table could not be reached ({type(error).__name__})"
