"""Timestamps as the tracker writes and reads them: RFC 3339 in UTC, to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime

from tiqets_tracker.errors import InvalidExecutionInputError

__all__ = ["as_utc", "format_timestamp", "parse_timestamp", "require_aware"]


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


def require_aware(name: str, value: datetime) -> None:
    """Refuse a naive datetime (a caller's mistake, not bad input): the schedules compare
    instants, which a naive time does not name."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
