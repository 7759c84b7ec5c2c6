"""What the tracking record tests of both tiers share: one order and its clock
(tests/unit/test_records.py stubs DynamoDB; tests/moto/test_records.py runs it on moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from tiqets_tracker.order_input import OrderToTrack

REGION: Final = "eu-west-1"
TABLE: Final = "tiqets-tracker-records-test"
ORDER_ID: Final = "1111111"
PLACED_AT = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
ORDER = OrderToTrack(
    order_reference_id=ORDER_ID,
    lang="en",
    external_reference="shop-order-42",
    placed_at=PLACED_AT,
)
NO_INTERVAL = timedelta(0)


def at(seconds: float) -> datetime:
    return PLACED_AT + timedelta(seconds=seconds)
