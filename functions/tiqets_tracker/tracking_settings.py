"""The tracking settings: what the state machine's definition gives every execution (the
template's parameters, through DefinitionSubstitutions), as a check schedule, the back-off of
retries after failures, and a retry budget. Their rules are
`schemas/tracking_settings.schema.json`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from tiqets_tracker.backoff import BackoffPolicy
from tiqets_tracker.check_schedule import POLLING_PROFILE, WEBHOOK_PROFILE, CheckSchedule
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.validation import load_schema, validator

__all__ = [
    "DEFAULT_RETRY_BUDGET",
    "FAILURE_RETRY_BASE_SECONDS",
    "FAILURE_RETRY_CAP_SECONDS",
    "MAX_CHECKS",
    "MAX_DEADLINE_SECONDS",
    "TrackingSettings",
]

SETTINGS_SCHEMA = "tracking_settings.schema.json"
DEFAULT_RETRY_BUDGET = 8
MAX_DEADLINE_SECONDS: int = load_schema(SETTINGS_SCHEMA)["$defs"]["seconds"]["maximum"]
# Step Functions ends an execution at 25,000 history events; a parked round costs about 13.
# Settings that would schedule more checks than this are made sparser until they do not.
MAX_CHECKS = 1_000
# A Tiqets failure is about the API's health, not about how the order waits: retries start at
# a minute (or the schedule's densest spacing, if shorter), double, and never wait longer than
# ten minutes, whatever the schedule (a webhook-mode spacing of an hour would leave a 503
# unretried for too long).
FAILURE_RETRY_BASE_SECONDS = 60
FAILURE_RETRY_CAP_SECONDS = 600


def _normalised(raw: Mapping[str, Any]) -> dict[str, object]:
    """The settings as the schema judges them: blank or absent values dropped (the profile's
    default applies), the webhook flag in lower case, whole numbers written as ASCII digits
    read as numbers (anything else is left as it is, for the schema to refuse)."""
    normalised: dict[str, object] = {}
    for name, value in raw.items():
        text = str(value).strip() if value is not None else ""
        if not text:
            continue
        if name == "webhook_enabled":
            normalised[name] = text.lower()
        # isascii: str.isdigit() also accepts digits int() refuses ("²") or reads ("١٢").
        elif text.isascii() and text.isdigit():
            normalised[name] = int(text)
        else:
            normalised[name] = text
    return normalised


def _whole(settings: Mapping[str, object], name: str, default: int) -> int:
    # The schema let only whole numbers through for these.
    return cast(int, settings.get(name, default))


def _refusal(field: str) -> str:
    """What a refused setting must be, from its rule in the schema."""
    rule = load_schema(SETTINGS_SCHEMA)["properties"].get(field, {})
    if "$ref" in rule:
        rule = load_schema(SETTINGS_SCHEMA)["$defs"][rule["$ref"].rsplit("/", 1)[-1]]
    if rule.get("type") == "integer":
        return (
            f"settings.{field} must be a whole number from {rule['minimum']} to {rule['maximum']}"
        )
    return f"settings.{field} must be {rule.get('description', 'valid')}"


@dataclass(frozen=True)
class TrackingSettings:
    webhook_enabled: bool
    schedule: CheckSchedule
    retry_budget: int

    @property
    def failure_retry(self) -> BackoffPolicy:
        """The back-off of retries after a retryable Tiqets failure."""
        base = min(self.schedule.densest_spacing_seconds, FAILURE_RETRY_BASE_SECONDS)
        return BackoffPolicy(
            base_seconds=base,
            cap_seconds=max(
                base, min(self.schedule.longest_wait_seconds, FAILURE_RETRY_CAP_SECONDS)
            ),
            deadline_seconds=self.schedule.deadline_seconds,
            multiplier=2.0,
            jitter_ratio=0.1,
        )

    @classmethod
    def from_raw(cls, raw: object) -> TrackingSettings:
        import fastjsonschema

        if not isinstance(raw, Mapping):
            raise InvalidExecutionInputError("settings must be an object")
        settings = _normalised(raw)
        try:
            validator(SETTINGS_SCHEMA)(settings)
        except fastjsonschema.JsonSchemaValueException as error:
            field = (error.name or "").removeprefix("data.")
            if error.rule == "required":
                field = "webhook_enabled"  # the one required setting
            raise InvalidExecutionInputError(_refusal(field)) from None
        webhook_enabled = settings["webhook_enabled"] == "true"
        profile = WEBHOOK_PROFILE if webhook_enabled else POLLING_PROFILE
        return cls(
            webhook_enabled=webhook_enabled,
            schedule=_bounded_schedule(
                spacing=_whole(settings, "backoff_base_seconds", profile.densest_spacing_seconds),
                longest=_whole(settings, "backoff_cap_seconds", profile.longest_wait_seconds),
                deadline=_whole(settings, "deadline_seconds", profile.deadline_seconds),
                jitter_ratio=profile.jitter_ratio,
            ),
            retry_budget=_whole(settings, "retry_budget", DEFAULT_RETRY_BUDGET),
        )


def _bounded_schedule(
    *, spacing: int, longest: int, deadline: int, jitter_ratio: float
) -> CheckSchedule:
    """Every value the template's parameters allow gives a valid schedule: a longest wait below
    the densest spacing is raised to it, and a schedule of more than MAX_CHECKS checks (the
    execution's history limit) is spread out until it has no more."""
    longest = max(spacing, longest, math.ceil(deadline / MAX_CHECKS))
    while True:
        schedule = CheckSchedule(spacing, max(spacing, longest), deadline, jitter_ratio)
        checks = len(schedule.nominal_offsets())
        if checks <= MAX_CHECKS:
            return schedule
        spacing = math.ceil(spacing * checks / MAX_CHECKS) + 1
