"""A simulated runtime failure (tiqets_tracker_local.aws_faults) in a registered function is
reported as Lambda reports it. The fault injector itself, on moto: tests/moto/test_aws_faults.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tiqets_tracker_local import lambdas
from tiqets_tracker_local.aws_faults import SimulatedRuntimeFailure

pytestmark = pytest.mark.unit


def test_a_simulated_runtime_failure_is_reported_as_lambda_reports_a_timeout() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            raise SimulatedRuntimeFailure.timeout(60)
        except Exception:  # a handler cannot catch the runtime dying
            return {"caught": True}

    function = lambdas.RegisteredFunction(
        code_dir=Path("."),
        handler_path="unused.handler",
        memory_mb=128,
        timeout_seconds=60,
        arn="arn:aws:lambda:eu-west-1:123456789012:function:crashing",
        _handler=handler,
    )
    lambdas.register("crashing-test-function", function)
    try:
        payload, errored = lambdas.invoke_registered("crashing-test-function", {})
    finally:
        lambdas.unregister("crashing-test-function")

    assert errored
    answer = json.loads(payload)
    assert answer["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 60.00 seconds" in answer["errorMessage"]
    assert "stackTrace" not in answer
