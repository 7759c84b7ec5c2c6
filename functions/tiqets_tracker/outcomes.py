"""The outcomes this tracker announces, and which order status leads to which.

Each outcome is an EventBridge detail-type; its detail is described by
`schemas/outcome_event.schema.json` and sampled under `events/outcomes/`.
"""

from __future__ import annotations

from enum import StrEnum

from tiqets_tracker.tiqets import OrderStatus


class Outcome(StrEnum):
    TICKETS_READY = "TicketsReady"
    ORDER_FAILED = "OrderFailed"
    ORDER_CANCELLED = "OrderCancelled"
    FULFILMENT_TIMED_OUT = "FulfilmentTimedOut"
    TRACKING_FAILED = "TrackingFailed"


EVENT_SOURCE = "tiqets-tracker"

_OUTCOME_OF_FINAL_STATUS = {
    OrderStatus.DONE: Outcome.TICKETS_READY,
    OrderStatus.FAILED: Outcome.ORDER_FAILED,
    OrderStatus.CANCELLED: Outcome.ORDER_CANCELLED,
}


def outcome_for_status(status: OrderStatus) -> Outcome | None:
    """The outcome a status announces, or None while the order is still on its way."""
    return _OUTCOME_OF_FINAL_STATUS.get(status)
