"""The local stack's interpreter refuses what AWS refuses (strict_states.py): the two errors no
wildcard catches, a branch's error kept as it is, and the history limit. Small state machines
of their own, on the stack's moto, show each rule; every test here fails on moto unpatched
(without strict_states, tried: the Retry tests see a retry, the others a SUCCEEDED or the wrong
error)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tiqets_tracker_local import strict_states
from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow

# A role IAM does not know: the tasks run as the operator (iam.py).
ROLE_ARN = "arn:aws:iam::123456789012:role/strict-states-test"
BIG_ORDER = "strict-states-big"
# Half the quota: a state that outputs it twice is over 256 KB.
HALF_A_QUOTA = json.dumps({"s": "x" * 150_000})


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(tiqets_base_url="https://tiqets.invalid/v2/", api_key="unused") as local:
        # An item whose read gives a task result over the 256 KB a state may hold.
        local.client("dynamodb").put_item(
            TableName=local.tracking_table_name,
            Item={"order_reference_id": {"S": BIG_ORDER}, "notes": {"S": "x" * 300_000}},
        )
        yield local


def run(
    stack: LocalStack, states: dict[str, Any], start_at: str, execution_input: str = "{}"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run a state machine of these states to its end; its description and its history."""
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"strict-{uuid.uuid4().hex[:12]}",
        definition=json.dumps({"StartAt": start_at, "States": states}),
        roleArn=ROLE_ARN,
    )
    started = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"],
        name=uuid.uuid4().hex,
        input=execution_input,
    )
    execution = stack.wait_for(started["executionArn"], timeout=30)
    return execution, stack.history(started["executionArn"])


def count(history: list[dict[str, Any]], event_type: str) -> int:
    return sum(1 for event in history if event["type"] == event_type)


def read(
    stack: LocalStack,
    key: dict[str, Any],
    *,
    catch: list[str],
    retry: list[str] | None = None,
) -> dict[str, Any]:
    """A DynamoDB GetItem Task (the service integration our definition uses) of `key`, with a
    Catch on `catch` and, if given, one retry on `retry`."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
        "Parameters": {"TableName": stack.tracking_table_name, "Key": key},
        "Catch": [{"ErrorEquals": catch, "Next": "Caught"}],
        "End": True,
    }
    if retry:
        task["Retry"] = [{"ErrorEquals": retry, "MaxAttempts": 1, "IntervalSeconds": 1}]
    return {"Read": task, "Caught": {"Type": "Succeed"}}


BIG_ITEM = {"order_reference_id": {"S": BIG_ORDER}}
# A JSONPath the input lacks: States.Runtime, on AWS as in moto.
ABSENT_PATH = {"order_reference_id": {"S.$": "$.absent"}}


def parallel_of_a_pass_over_the_quota(catch: list[str]) -> dict[str, Any]:
    """A Parallel whose one branch is a Pass state outputting its input twice, with a Catch on
    `catch` (a Pass state has no Catch of its own)."""
    double = {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}
    return {
        "Both": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "Double", "States": {"Double": double}}],
            "Catch": [{"ErrorEquals": catch, "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Succeed"},
    }


# -- States.DataLimitExceeded -----------------------------------------------------------------


def test_a_task_result_over_256_kb_fails_the_execution_past_a_catch_on_states_all(
    stack: LocalStack,
) -> None:
    execution, _ = run(stack, read(stack, BIG_ITEM, catch=["States.ALL"]), "Read")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"


def test_a_retry_on_states_all_skips_the_data_limit_and_a_catch_naming_it_catches_it(
    stack: LocalStack,
) -> None:
    states = read(stack, BIG_ITEM, catch=["States.DataLimitExceeded"], retry=["States.ALL"])

    execution, history = run(stack, states, "Read")

    assert execution["status"] == "SUCCEEDED"
    assert count(history, "TaskScheduled") == 1  # no retry


@pytest.mark.parametrize("wildcard", ["States.ALL", "States.TaskFailed"])
def test_a_pass_state_over_256_kb_fails_the_execution_past_its_parallel_s_wildcard(
    stack: LocalStack, wildcard: str
) -> None:
    execution, _ = run(stack, parallel_of_a_pass_over_the_quota([wildcard]), "Both", HALF_A_QUOTA)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"
    assert "'Double' returned a result with a size exceeding" in execution["cause"]


def test_a_catch_naming_the_data_limit_catches_a_branch_over_256_kb(stack: LocalStack) -> None:
    states = parallel_of_a_pass_over_the_quota(["States.DataLimitExceeded"])

    execution, _ = run(stack, states, "Both", HALF_A_QUOTA)

    assert execution["status"] == "SUCCEEDED"


# -- States.Runtime ---------------------------------------------------------------------------


def test_a_runtime_error_fails_the_execution_past_a_catch_on_states_all(
    stack: LocalStack,
) -> None:
    execution, _ = run(stack, read(stack, ABSENT_PATH, catch=["States.ALL"]), "Read")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Runtime"
    assert "'$.absent'" in execution["cause"]


def test_a_retry_on_states_all_skips_a_runtime_error_and_a_catch_naming_it_catches_it(
    stack: LocalStack,
) -> None:
    states = read(stack, ABSENT_PATH, catch=["States.Runtime"], retry=["States.ALL"])

    execution, history = run(stack, states, "Read")

    assert execution["status"] == "SUCCEEDED"
    assert count(history, "TaskFailed") == 1  # no retry


# -- the history limit ------------------------------------------------------------------------

# Ten rounds of Pass, Choice and Wait 0 s, then Succeed.
TEN_ROUNDS = {
    "Start": {"Type": "Pass", "Result": 0, "ResultPath": "$.n", "Next": "Count"},
    "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "More"},
    "More": {
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericLessThan": 10, "Next": "Pause"}],
        "Default": "Done",
    },
    "Pause": {"Type": "Wait", "Seconds": 0, "Next": "Count"},
    "Done": {"Type": "Succeed"},
}


def test_the_history_limit_fails_the_execution_whose_last_event_would_not_end_it(
    stack: LocalStack,
) -> None:
    _, whole = run(stack, TEN_ROUNDS, "Start")
    events = len(whole)
    assert strict_states.HISTORY_EVENT_LIMIT == 25_000 > events

    with strict_states.history_event_limit(events):
        at_the_limit, history_at = run(stack, TEN_ROUNDS, "Start")
    with strict_states.history_event_limit(events - 1):
        over_the_limit, history_over = run(stack, TEN_ROUNDS, "Start")

    # Event number `limit` may be ExecutionSucceeded: the execution finishes.
    assert at_the_limit["status"] == "SUCCEEDED"
    assert history_at[-1]["type"] == "ExecutionSucceeded"
    # Otherwise it is ExecutionFailed, after limit - 1 events of the execution's own.
    assert over_the_limit["status"] == "FAILED"
    assert over_the_limit["error"] == "States.Runtime"
    assert over_the_limit["cause"] == (
        f"The execution reached the maximum number of history events ({events - 1})."
    )
    assert [event["id"] for event in history_over] == list(range(1, events))
    assert history_over[-1]["type"] == "ExecutionFailed"
    assert history_over[-1]["previousEventId"] == events - 2
    assert [event["type"] for event in history_over[:-1]] == [
        event["type"] for event in whole[: events - 2]
    ]


def test_no_catch_catches_the_history_limit_inside_a_task(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ExecutionStarted, TaskStateEntered, TaskScheduled: the fourth event (TaskStarted) would
    fill the history, and the Task's Catch on States.Runtime and States.ALL does not see it."""
    states = read(stack, {"order_reference_id": {"S": "absent"}}, catch=["States.Runtime"])
    states["Read"]["Catch"].append({"ErrorEquals": ["States.ALL"], "Next": "Caught"})
    monkeypatch.setattr(strict_states, "HISTORY_EVENT_LIMIT", 4)

    execution, history = run(stack, states, "Read")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Runtime"
    assert [event["type"] for event in history] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "ExecutionFailed",
    ]


# -- the version guard ------------------------------------------------------------------------


def test_the_patches_refuse_another_moto_series(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto

    monkeypatch.setattr(moto, "__version__", "5.3.0")

    with (
        pytest.raises(strict_states.MotoInternalsChangedError, match=r"moto 5\.2\.x .* 5\.3\.0"),
        strict_states.strict_states(),
    ):
        pass


def test_the_patches_refuse_a_moto_without_what_they_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )

    monkeypatch.delattr(StatesErrorName, "from_name")

    with (
        pytest.raises(strict_states.MotoInternalsChangedError, match=r"StatesErrorName\.from_name"),
        strict_states.strict_states(),
    ):
        pass
