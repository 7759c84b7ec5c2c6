"""The order to track: the execution input, as the status check reads it.

The input is validated against `schemas/execution_input.schema.json` (the same schema
`start_tracking` applies before it starts anything), then checked for what a schema cannot say:
a placement time in the future, a visit date that is not a calendar date or lies more than
`MAX_VISIT_AHEAD` after placement. (A placement already past the deadline is accepted: its first
check decides, and a pending order ends in FulfilmentTimedOut at once.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.timestamps import format_timestamp, parse_timestamp
from tiqets_tracker.validation import check

__all__ = ["DEFAULT_LANG", "OrderToTrack", "latest_visit_date"]

DEFAULT_LANG = "en"
# A placement time a little ahead of this Lambda's clock is clock skew; further ahead is an error.
ALLOWED_CLOCK_SKEW = timedelta(minutes=5)
# Tiqets sells visits months ahead; a visit date years away is a mistake, not an order.
MAX_VISIT_AHEAD = timedelta(days=3 * 366)
EXECUTION_INPUT_SCHEMA = "execution_input.schema.json"


@dataclass(frozen=True)
class OrderToTrack:
    order_reference_id: str
    lang: str
    external_reference: str | None
    placed_at: datetime
    visit_date: date | None = None

    @classmethod
    def from_input(cls, raw: object, *, default_placed_at: datetime, now: datetime) -> OrderToTrack:
        """Validate execution input; raise InvalidExecutionInputError saying what is wrong."""
        check(EXECUTION_INPUT_SCHEMA, raw, what="execution input")
        data = cast(Mapping[str, Any], raw)
        placed_at = (
            parse_timestamp(data["placed_at"], field="placed_at")
            if data.get("placed_at")
            else default_placed_at
        )
        if placed_at > now + ALLOWED_CLOCK_SKEW:
            raise InvalidExecutionInputError("placed_at lies in the future")
        visit_date = _visit_date(data.get("visit_date"), placed_at=placed_at)
        return cls(
            order_reference_id=data["order_reference_id"],
            lang=data.get("lang") or DEFAULT_LANG,
            external_reference=data.get("external_reference"),
            placed_at=placed_at,
            visit_date=visit_date,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "order_reference_id": self.order_reference_id,
            "lang": self.lang,
            "external_reference": self.external_reference,
            "placed_at": format_timestamp(self.placed_at),
            "visit_date": self.visit_date.isoformat() if self.visit_date else None,
        }


def _visit_date(raw: str | None, *, placed_at: datetime) -> date | None:
    """The visit date of validated input (the schema fixed its shape), or None."""
    if not raw:
        return None
    try:
        visit = date.fromisoformat(raw)
    except ValueError:
        raise InvalidExecutionInputError("visit_date is not a calendar date") from None
    if visit > latest_visit_date(placed_at):
        raise InvalidExecutionInputError("visit_date lies more than 3 years after placed_at")
    return visit


def latest_visit_date(placed_at: datetime) -> date:
    """The last visit date an order placed then may carry (date.max near the end of time)."""
    try:
        return (placed_at + MAX_VISIT_AHEAD).date()
    except OverflowError:
        return date.max
