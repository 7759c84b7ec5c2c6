"""Where the local stack corrects moto, checked against moto itself."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow


def test_a_callback_while_another_execution_is_starting_is_answered_like_aws(
    stack: LocalStack,
) -> None:
    """moto walks every RUNNING execution on SendTaskSuccess and used to crash on one whose
    interpreter had not started yet (RELIABILITY.md); AWS answers InvalidToken for a token no
    execution holds."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    sfn = stack.client("stepfunctions")
    with mock.patch.object(ExecutionWorker, "start", return_value=None):  # never starts
        starting = sfn.start_execution(
            stateMachineArn=stack.state_machine_arn, name="starting-forever", input="{}"
        )
    assert sfn.describe_execution(executionArn=starting["executionArn"])["status"] == "RUNNING"

    with pytest.raises(ClientError) as raised:
        sfn.send_task_success(taskToken="a-token-no-execution-holds", output="{}")

    assert raised.value.response["Error"]["Code"] == "InvalidToken"


def test_two_concurrent_updates_of_one_record_both_apply_like_aws(stack: LocalStack) -> None:
    """moto evaluates an update expression against the item, then writes the result, with no
    lock: an update that ran in between was lost (RELIABILITY.md). AWS applies each update to
    the item atomically: a status check's `SET n = if_not_exists(n, :zero)` and a webhook's
    `ADD n :one` on a record with n = 1 leave n = 2 whatever their timing."""
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    dynamodb = stack.client("dynamodb")
    key = {"order_reference_id": {"S": "seam-concurrent-updates"}}
    dynamodb.put_item(TableName=stack.tracking_table_name, Item=key | {"n": {"N": "1"}})
    original_execute = UpdateExpressionExecutor.execute
    first_update_evaluated = threading.Event()
    second_update_done = threading.Event()

    def execute_first_update_late(self: Any, node: Any = None) -> None:
        if not first_update_evaluated.is_set():
            first_update_evaluated.set()
            # Gives the second update time to run in between, if anything lets it.
            second_update_done.wait(timeout=0.5)
        original_execute(self, node)

    def update(expression: str, values: dict[str, Any]) -> None:
        dynamodb.update_item(
            TableName=stack.tracking_table_name,
            Key=key,
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    with mock.patch.object(UpdateExpressionExecutor, "execute", execute_first_update_late):
        first = threading.Thread(
            target=update, args=("SET n = if_not_exists(n, :zero)", {":zero": {"N": "0"}})
        )
        first.start()
        assert first_update_evaluated.wait(timeout=10)
        update("ADD n :one", {":one": {"N": "1"}})
        second_update_done.set()
        first.join(timeout=10)

    record = dynamodb.get_item(TableName=stack.tracking_table_name, Key=key, ConsistentRead=True)
    assert record["Item"]["n"] == {"N": "2"}
