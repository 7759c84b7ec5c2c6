"""Where the local stack corrects moto, checked against moto itself."""

from __future__ import annotations

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
