"""What the tests of starting a tracker share (tests/unit/test_tracking.py builds and refuses
input in plain Python; tests/moto/test_tracking.py starts executions on moto's Step Functions)."""

from __future__ import annotations

from typing import Any, Final

from tiqets_tracker.validation import validator

REGION: Final = "eu-west-1"
ACCOUNT: Final = "123456789012"
EXECUTION_INPUT_SCHEMA: Final = "execution_input.schema.json"


def schema_validator() -> Any:
    """The validator of functions/tiqets_tracker/schemas/execution_input.schema.json."""
    return validator(EXECUTION_INPUT_SCHEMA)
