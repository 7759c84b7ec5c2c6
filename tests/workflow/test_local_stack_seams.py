"""Where the local stack corrects moto (and Powertools), checked against moto itself; and the
version guard of moto_seams.py, which holds every such patch."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
import warnings
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from tests.check_states import first_check_state
from tiqets_tracker_local import lambdas, moto_seams
from tiqets_tracker_local.aws_faults import AwsCall, AwsFaults
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.template import PROJECT_ROOT

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


def test_concurrent_invocations_of_a_handler_each_have_their_own_metrics_like_aws(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    """A Lambda container runs one invocation at a time, and the flush after each empties its
    metric state. The local stack runs a function's invocations in threads of one process,
    where every Powertools `Metrics()` shares one state that, with metrics disabled (as here),
    nothing empties: a check that saw "done" while another held "pending" warned `Dimension
    'status' has already been added`, and every invocation inherited the metrics of those
    before it. Each invocation has its own (lambdas.py, moto_seams.invocation_metrics)."""
    from aws_lambda_powertools.warnings import PowertoolsUserWarning
    from check_order_status.app import metrics

    check = stack.resolver.physical_ids["CheckOrderStatusFunction"]
    pending, done, later = (f"{order_id}{n}" for n in range(1, 4))
    tiqets.add_order(pending, "always_pending")
    tiqets.add_order(done, "instant")
    tiqets.add_order(later, "always_pending")
    done_started, pending_finished = threading.Event(), threading.Event()
    answers: dict[str, tuple[bytes, bool]] = {}
    metrics_at_start: list[tuple[dict[str, Any], dict[str, str]]] = []

    def hold_until_pending_finished(call: AwsCall) -> None:
        # The check of `done` has begun (its state is in use) while `pending` runs to its end.
        done_started.set()
        pending_finished.wait(timeout=30)

    def note_metrics(call: AwsCall) -> None:
        provider = metrics.provider  # in the invocation: its own state
        metrics_at_start.append((dict(provider.metric_set), dict(provider.dimension_set)))

    def invoke(order: str) -> None:
        answers[order] = lambdas.invoke_registered(check, first_check_state(order))

    with AwsFaults() as faults, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        faults.before(
            "dynamodb", "UpdateItem", hold_until_pending_finished, when=lambda c: done in c.text
        )
        faults.before("dynamodb", "UpdateItem", note_metrics, when=lambda c: later in c.text)
        checking_done = threading.Thread(target=invoke, args=(done,))
        checking_done.start()
        assert done_started.wait(timeout=30)
        invoke(pending)
        pending_finished.set()
        checking_done.join(timeout=60)
        invoke(later)  # after both, in this thread

    for order, status in ((pending, "pending"), (done, "done"), (later, "pending")):
        payload, errored = answers[order]
        assert not errored, payload
        assert json.loads(payload)["status"] == status
    assert [str(w.message) for w in caught if issubclass(w.category, PowertoolsUserWarning)] == []
    assert metrics_at_start == [({}, {})]
    assert metrics.provider.metric_set == {}  # nothing was left in the process's state


# -- the version guard of moto_seams.py -------------------------------------------------------


@pytest.mark.parametrize("version", ["5.3.0", "5.2.4", "6.0.0", "5.1.9", "not a version"])
def test_the_seams_refuse_a_moto_they_were_not_written_for(version: str) -> None:
    with pytest.raises(moto_seams.MotoInternalsChangedError) as refused:
        moto_seams.require_moto(version)

    message = str(refused.value)
    assert f"moto {version} is installed" in message
    assert "moto>=5.2.5,<5.3" in message
    assert "local/tiqets_tracker_local/moto_seams.py" in message
    assert "pip install -e '.[dev]'" in message  # what to do


@pytest.mark.parametrize("version", ["5.2.5", "5.2.12", "5.2.6.dev3"])
def test_the_seams_accept_the_pinned_moto_series(version: str) -> None:
    moto_seams.require_moto(version)


@pytest.mark.parametrize("version", ["4.0.0", "3.19.0", "2.43.0"])
def test_the_seams_refuse_a_powertools_they_were_not_written_for(version: str) -> None:
    with pytest.raises(moto_seams.PowertoolsInternalsChangedError, match=re.escape(version)):
        moto_seams.require_powertools(version)


def test_the_version_guard_is_the_pin_in_pyproject() -> None:
    """The ranges moto_seams.py admits are the ones pyproject.toml installs (and the tests run)."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = {re.sub(r"\[.*?\]", "", requirement) for requirement in requirements}

    assert str(moto_seams.MOTO_VERSIONS) in pins
    assert str(moto_seams.POWERTOOLS_VERSIONS) in pins


def test_the_local_stack_does_not_import_with_another_moto() -> None:
    """The guard runs once, at import: a stack module never loads with an unexpected moto."""
    pretend = (
        "import importlib.metadata as metadata\n"
        "real = metadata.version\n"
        "metadata.version = lambda name: '5.3.0' if name == 'moto' else real(name)\n"
        "import tiqets_tracker_local.stack\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", pretend], capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode != 0
    assert "MotoInternalsChangedError: moto 5.3.0 is installed" in result.stderr
