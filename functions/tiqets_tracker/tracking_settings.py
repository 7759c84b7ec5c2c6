"""The tracking settings: what the state machine's definition gives every execution (the
template's parameters, through DefinitionSubstitutions), as one back-off policy and a retry
budget. Their rules are `schemas/tracking_settings.schema.json`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from tiqets_tracker.backoff import POLLING_PROFILE, WEBHOOK_PROFILE, BackoffPolicy
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.validation import load_schema, validator

__all__ = ["DEFAULT_RETRY_BUDGET", "MAX_DEADLINE_SECONDS", "TrackingSettings"]

SETTINGS_SCHEMA = "tracking_settings.schema.json"
DEFAULT_RETRY_BUDGET = 8
MAX_DEADLINE_SECONDS: int = load_schema(SETTINGS_SCHEMA)["$defs"]["seconds"]["maximum"]
# Step Functions ends an execution at 25,000 history events; a parked round costs about 13.
# A cap that would allow more checks than this before the deadline is raised until it does not.
MAX_ROUNDS_AT_CAP = 1_000


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
    policy: BackoffPolicy
    retry_budget: int

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
        base = _whole(settings, "backoff_base_seconds", profile.base_seconds)
        deadline = _whole(settings, "deadline_seconds", profile.deadline_seconds)
        # Every value the template's parameters allow gives a valid policy: a cap below the
        # first wait, or too short to keep the checks within the history limit, is raised.
        cap = max(
            base,
            _whole(settings, "backoff_cap_seconds", profile.cap_seconds),
            math.ceil(deadline / MAX_ROUNDS_AT_CAP),
        )
        policy = replace(profile, base_seconds=base, cap_seconds=cap, deadline_seconds=deadline)
        return cls(
            webhook_enabled=webhook_enabled,
            policy=policy,
            retry_budget=_whole(settings, "retry_budget", DEFAULT_RETRY_BUDGET),
        )
