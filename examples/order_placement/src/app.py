"""A distributor's order-placement Lambda, cut down to what the tracker needs from it.

    event:   {"external_reference": "shop-42", "lang": "en", "visit_date": "2027-01-15", ...cart}
    returns: {"order_reference_id": "...", "execution_arn": "...", "already_tracked": false}

1. Sign a callback URL for the order's `external_reference` (callback_url_for_order).
2. Create and confirm the order on the Tiqets API with that `callback_url`: your own code, in
   `place_order_on_tiqets` below, the one place to replace.
3. Hand the confirmed order to the tracker (start_tracking). From here the tracker owns it.

Outcomes do not come back to this function: the tracker publishes them on its EventBridge bus,
and this example's template routes them to an SQS queue (README.md next to template.yaml).

Imports: the standard library and the two modules the tracker's OrderPlacementLayer is for
(boto3, which they use, is in the Lambda runtime).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tiqets_tracker.callback_urls import callback_url_for_order
from tiqets_tracker.tracking import build_execution_input, start_tracking

__all__ = [
    "InvalidOrderRequestError",
    "MissingSettingError",
    "OrderRequest",
    "PlaceOrder",
    "lambda_handler",
    "parse_order_request",
    "place_order_on_tiqets",
]

# Set by template.yaml from the tracker stack's exports.
SETTINGS = ("TRACKER_STATE_MACHINE_ARN", "TRACKER_WEBHOOK_URL", "TRACKER_WEBHOOK_KEYS_SECRET")
DEFAULT_LANG = "en"
# The event fields this function reads; every other field is the cart, for the Tiqets order.
TRACKED_FIELDS = frozenset({"external_reference", "lang", "visit_date"})
# Stands in for the Tiqets order ID, not known before the order exists, when the rest of the
# input is checked against what start_tracking accepts.
_ANY_ORDER_ID = "0"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidOrderRequestError(ValueError):
    """The event is not an order this function can place. Raised before anything is created on
    Tiqets."""


class MissingSettingError(RuntimeError):
    """An environment variable the template sets is missing. Raised before anything is created
    on Tiqets."""


@dataclass(frozen=True)
class OrderRequest:
    """One order to place, as read from the event."""

    external_reference: str
    lang: str
    visit_date: date | None
    cart: Mapping[str, Any]
    """Every other field of the event: what the Tiqets order itself is made of."""


# Creates and confirms the order on Tiqets with this callback URL; returns its order ID.
PlaceOrder = Callable[[OrderRequest, str], str]


# ---- The distributor's own code: replace the body of this function, and nothing else. ----
def place_order_on_tiqets(order: OrderRequest, callback_url: str) -> str:
    """YOUR CODE: create the order on the Tiqets API, confirm it, and return its
    `order_reference_id` (the Tiqets order ID).

    - `POST /orders` with the cart, `external_reference=order.external_reference` and
      `callback_url=callback_url` (both can only be set at creation), then confirm it with
      `PUT /orders/{order_reference_id}` within the 30 minutes the reservation lasts. Booking
      calls are signed as RS256 JWTs; see Tiqets' Distributor API documentation
      (https://developers.tiqets.dev).
    - Make it idempotent on `order.external_reference`: a retried invocation must find the
      order it created before (Tiqets looks orders up by external reference) and return that
      ID instead of booking a second one; start_tracking then reports `already_tracked`.
    - Return only once the order is confirmed: the tracker's 24-hour deadline counts from the
      moment it is handed over.
    """
    raise NotImplementedError(
        "place_order_on_tiqets is where your Tiqets order creation and confirmation go "
        "(examples/order_placement/src/app.py)"
    )


def lambda_handler(
    event: object, context: object, *, place_order: PlaceOrder = place_order_on_tiqets
) -> dict[str, Any]:
    """Place one order on Tiqets and start tracking it once it is confirmed.

    Raises InvalidOrderRequestError for an event of the wrong shape, InvalidExecutionInputError
    (tiqets_tracker.errors) for a value the tracker refuses (a language Tiqets does not serve, a
    visit date years away), MissingSettingError for a missing setting and ConfigurationError
    (SecretStoreUnavailableError) when the webhook keys cannot be read (for now), all before
    anything exists on Tiqets."""
    order = parse_order_request(event)
    state_machine_arn, webhook_url, keys_secret = _settings()

    callback_url = callback_url_for_order(
        order.external_reference, webhook_url=webhook_url, keys_secret=keys_secret
    )
    order_reference_id = place_order(order, callback_url)
    confirmed_at = datetime.now(UTC)

    started = start_tracking(
        order_reference_id,
        state_machine_arn=state_machine_arn,
        external_reference=order.external_reference,
        lang=order.lang,
        placed_at=confirmed_at,
        visit_date=order.visit_date,
    )
    return {
        "order_reference_id": order_reference_id,
        "execution_arn": started.execution_arn,
        "already_tracked": started.already_tracked,
    }


def parse_order_request(event: object) -> OrderRequest:
    """The order in the event, checked as start_tracking will check it, so that an order the
    tracker would refuse is never booked."""
    if not isinstance(event, Mapping):
        raise InvalidOrderRequestError("the event must be a JSON object")
    reference = event.get("external_reference")
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidOrderRequestError(
            "external_reference is required: your own reference for the order, a non-empty string"
        )
    lang = event.get("lang")
    if lang is None:
        lang = DEFAULT_LANG
    elif not isinstance(lang, str):
        raise InvalidOrderRequestError("lang must be a string, an ISO 639-1 code such as 'en'")
    order = OrderRequest(
        external_reference=reference,
        lang=lang,
        visit_date=_visit_date(event.get("visit_date")),
        cart={key: value for key, value in event.items() if key not in TRACKED_FIELDS},
    )
    # Raises InvalidExecutionInputError saying what start_tracking would refuse.
    build_execution_input(
        _ANY_ORDER_ID,
        lang=order.lang,
        external_reference=order.external_reference,
        visit_date=order.visit_date,
    )
    return order


def _visit_date(raw: object) -> date | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
        raise InvalidOrderRequestError("visit_date must be a date written YYYY-MM-DD, or absent")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidOrderRequestError(f"visit_date {raw} is not a calendar date") from None


def _settings() -> tuple[str, str, str]:
    missing = [name for name in SETTINGS if not os.environ.get(name)]
    if missing:
        raise MissingSettingError(
            f"{', '.join(missing)} not set: deploy the function with "
            "examples/order_placement/template.yaml, which sets them from the tracker stack"
        )
    state_machine_arn, webhook_url, keys_secret = (os.environ[name] for name in SETTINGS)
    return state_machine_arn, webhook_url, keys_secret
