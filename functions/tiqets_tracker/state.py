"""The order to track and the tracker state that travels through the state machine.

The execution input is validated against `schemas/execution_input.schema.json` (the same schema
`start_tracking` applies before it starts anything), then checked for what a schema cannot say:
a placement time in the future, a visit date that is not a calendar date or lies more than
`MAX_VISIT_AHEAD` after placement. (A placement already past the deadline is accepted: its first
check decides, and a pending order ends in FulfilmentTimedOut at once.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, cast

from tiqets_tracker.backoff import POLLING_PROFILE, WEBHOOK_PROFILE, BackoffPolicy
from tiqets_tracker.errors import InvalidExecutionInputError

DEFAULT_LANG = "en"
DEFAULT_RETRY_BUDGET = 8
# A placement time a little ahead of this Lambda's clock is clock skew; further ahead is an error.
ALLOWED_CLOCK_SKEW = timedelta(minutes=5)
MAX_DEADLINE_SECONDS = 86_400
# Tiqets sells visits months ahead; a visit date years away is a mistake, not an order.
MAX_VISIT_AHEAD = timedelta(days=3 * 366)
# Step Functions ends an execution at 25,000 history events; a parked round costs about 13.
# A cap that would allow more checks than this before the deadline is raised until it does not.
MAX_ROUNDS_AT_CAP = 1_000


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("tiqets_tracker").joinpath("schemas", name).read_text("utf-8")
    return cast(dict[str, Any], json.loads(text))


@cache
def _execution_input_validator() -> Callable[[object], object]:
    # fastjsonschema comes with aws-lambda-powertools[validation]; compiled once per container.
    import fastjsonschema

    return cast(
        Callable[[object], object],
        fastjsonschema.compile(load_schema("execution_input.schema.json")),
    )


def parse_timestamp(value: str, *, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidExecutionInputError(f"{field} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise InvalidExecutionInputError(f"{field} must carry a UTC offset")
    return as_utc(parsed, field=field)


def as_utc(moment: datetime, *, field: str) -> datetime:
    """The moment in UTC; refused when its offset pushes it out of the years 1 to 9999."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidExecutionInputError(f"{field} is outside the years 1 to 9999") from None


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        import fastjsonschema

        try:
            _execution_input_validator()(raw)
        except fastjsonschema.JsonSchemaValueException as error:
            # fastjsonschema names the field and the rule, never the offending value, except for
            # additionalProperties, whose message lists the unknown property names as given.
            message = error.message
            if error.rule == "additionalProperties":
                allowed = ", ".join(load_schema("execution_input.schema.json")["properties"])
                message = f"{error.name} has properties other than {allowed}"
            raise InvalidExecutionInputError(f"execution input rejected: {message}") from None
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


def _whole_seconds(raw: object, *, field: str, minimum: int, maximum: int) -> int | None:
    """A setting from the definition's substitutions: a string of digits, or empty for the
    profile default."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        return None
    # isascii: str.isdigit() also accepts digits int() refuses ("²") or reads ("١٢").
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
        raise InvalidExecutionInputError(
            f"settings.{field} must be a whole number from {minimum} to {maximum}"
        )
    return int(text)


@dataclass(frozen=True)
class TrackingSettings:
    webhook_enabled: bool
    policy: BackoffPolicy
    retry_budget: int

    @classmethod
    def from_raw(cls, raw: object) -> TrackingSettings:
        if not isinstance(raw, Mapping):
            raise InvalidExecutionInputError("settings must be an object")
        webhook_flag = str(raw.get("webhook_enabled", "")).strip().lower()
        if webhook_flag not in {"true", "false"}:
            raise InvalidExecutionInputError("settings.webhook_enabled must be 'true' or 'false'")
        webhook_enabled = webhook_flag == "true"
        profile = WEBHOOK_PROFILE if webhook_enabled else POLLING_PROFILE
        base = _whole_seconds(
            raw.get("backoff_base_seconds"),
            field="backoff_base_seconds",
            minimum=1,
            maximum=MAX_DEADLINE_SECONDS,
        )
        cap = _whole_seconds(
            raw.get("backoff_cap_seconds"),
            field="backoff_cap_seconds",
            minimum=1,
            maximum=MAX_DEADLINE_SECONDS,
        )
        deadline = _whole_seconds(
            raw.get("deadline_seconds"),
            field="deadline_seconds",
            minimum=1,
            maximum=MAX_DEADLINE_SECONDS,
        )
        budget = _whole_seconds(
            raw.get("retry_budget"), field="retry_budget", minimum=0, maximum=1000
        )
        base = profile.base_seconds if base is None else base
        deadline = profile.deadline_seconds if deadline is None else deadline
        # Every value the template's parameters allow gives a valid policy: a cap below the
        # first wait, or too short to keep the checks within the history limit, is raised.
        cap = max(
            base,
            profile.cap_seconds if cap is None else cap,
            math.ceil(deadline / MAX_ROUNDS_AT_CAP),
        )
        policy = replace(profile, base_seconds=base, cap_seconds=cap, deadline_seconds=deadline)
        return cls(
            webhook_enabled=webhook_enabled,
            policy=policy,
            retry_budget=DEFAULT_RETRY_BUDGET if budget is None else budget,
        )
