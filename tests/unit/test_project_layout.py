"""What ships and what does not, and the files that must agree with each other."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import fastjsonschema
import pytest

from tiqets_tracker.validation import validator
from tiqets_tracker_local.template import PROJECT_ROOT

pytestmark = pytest.mark.unit

FUNCTIONS = PROJECT_ROOT / "functions"


def requirement_lines(path: Path) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_lambda_requirements_are_the_runtime_dependencies_of_pyproject() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))

    assert requirement_lines(FUNCTIONS / "requirements.txt") == pyproject["project"]["dependencies"]


def test_nothing_in_the_lambda_bundle_imports_local_tooling_or_test_libraries() -> None:
    forbidden = re.compile(r"^\s*(from|import)\s+(tiqets_tracker_local|moto|pytest|hypothesis)\b")
    shipped = list(FUNCTIONS.rglob("*.py"))

    assert len(shipped) > 10
    for path in shipped:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            assert not forbidden.match(line), f"{path}:{number}: {line}"


def test_every_outcome_sample_is_a_valid_event_of_its_detail_type() -> None:
    validate = validator("outcome_event.schema.json")
    samples = sorted((PROJECT_ROOT / "events" / "outcomes").glob("*.json"))

    assert {path.stem for path in samples} == {
        "TicketsReady",
        "OrderFailed",
        "OrderCancelled",
        "FulfilmentTimedOut",
        "TrackingFailed",
    }
    for path in samples:
        event = json.loads(path.read_text("utf-8"))
        assert event["source"] == "tiqets-tracker"
        assert event["detail-type"] == path.stem == event["detail"]["outcome"]
        validate(event["detail"])


def test_outcome_schema_refuses_tickets_ready_without_a_voucher() -> None:
    validate = validator("outcome_event.schema.json")
    event = json.loads((PROJECT_ROOT / "events" / "outcomes" / "TicketsReady.json").read_text())
    event["detail"]["voucher"] = None

    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        validate(event["detail"])
