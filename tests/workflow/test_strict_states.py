"""The local stack's interpreter refuses what AWS refuses (strict_states.py): the errors no
wildcard catches, and the history limit. Small state machines of their own, on the stack's
moto, show each rule; each would pass on moto unpatched."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tiqets_tracker_local import strict_states
from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow

ROLE_ARN = "arn:aws:iam::123456789012:role/strict-states-test"
BIG_ORDER = "strict-states-big"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(tiqets_base_url="https://tiqets.invalid/v2/", api_key="unused") as local:
        # An item whose read gives a task result over the 256 KB a state may hold.
        local.client("dynamodb").put_item(
            TableName=local.tracking_table_name,
            Item={"order_reference_id": {"S": BIG_ORDER}, "notes": {"S": "x" * 300_000}},
        )
        yield local


def run(stack: LocalStack, states: dict[str, Any], start_at: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"strict-{uuid.uuid4().hex[:12]}",
        definition=json.dumps({"StartAt": start_at, "States": states}),
        roleArn=ROLE_ARN,
    )
    started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
    return stack.wait_for(started["executionArn"], timeout=60)


def read_caught_by(stack: LocalStack, errors: list[str], key: str = "{}") -> dict[str, Any]:
    """A GetItem Task with a Catch on `errors`; `key` is the Key parameter's JSON."""
    return {
        "Read": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
            "Parameters": {"TableName": stack.tracking_table_name} | json.loads(key),
            "Catch": [{"ErrorEquals": errors, "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Succeed"},
    }


BIG_KEY = json.dumps({"Key": {"order_reference_id": {"S": BIG_ORDER}}})
MISSING_PATH_KEY = json.dumps({"Key": {"order_reference_id": {"S.$": "$.absent"}}})


@pytest.mark.parametrize("wildcard", ["States.ALL", "States.TaskFailed"])
def test_a_result_over_256_kb_is_not_caught_by_a_wildcard(stack: LocalStack, wildcard: str) -> None:
    execution = run(stack, read_caught_by(stack, [wildcard], BIG_KEY), "Read")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"


def test_a_catch_that_names_the_data_limit_catches_it(stack: LocalStack) -> None:
    execution = run(stack, read_caught_by(stack, ["States.DataLimitExceeded"], BIG_KEY), "Read")

    assert execution["status"] == "SUCCEEDED"


def test_a_runtime_error_is_not_caught_by_states_all(stack: LocalStack) -> None:
    execution = run(stack, read_caught_by(stack, ["States.ALL"], MISSING_PATH_KEY), "Read")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Runtime"


def test_an_execution_that_reaches_the_history_limit_fails(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(strict_states, "HISTORY_EVENT_LIMIT", 40)
    states = {
        "Count": {"Type": "Pass", "Result": 0, "ResultPath": "$.n", "Next": "Loop"},
        "Loop": {"Type": "Pass", "Next": "Loop"},
    }

    execution = run(stack, states, "Count")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Runtime"
    assert "maximum number of history events" in execution["cause"]
    assert len(stack.history(execution["executionArn"])) <= 40 + 3
