"""The state PrepareTracking hands to an order's first status check, for the tests that call the
check without the state machine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tiqets_tracker.timestamps import format_timestamp

# Polling only, every other setting empty as the template's parameters default to: the wait mode's
# own defaults apply.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "backoff_base_seconds": "",
    "backoff_cap_seconds": "",
    "deadline_seconds": "",
    "webhook_enabled": "false",
    "retry_budget": "",
}


def first_check_state(
    order_reference_id: str,
    *,
    external_reference: str = "shop-order-42",
    placed_at: datetime | None = None,
    settings: Mapping[str, str] = DEFAULT_SETTINGS,
) -> dict[str, Any]:
    """The first check's input for this order, placed five seconds ago unless `placed_at`."""
    placed = placed_at if placed_at is not None else datetime.now(UTC) - timedelta(seconds=5)
    return {
        "order": {
            "order_reference_id": order_reference_id,
            "lang": "en",
            "external_reference": external_reference,
            "placed_at": format_timestamp(placed),
        },
        "checks_made": 0,
        "status": None,
        "outcome": None,
        "webhooks_seen": 0,
        "voucher": None,
        "failure": None,
        "settings": dict(settings),
    }
