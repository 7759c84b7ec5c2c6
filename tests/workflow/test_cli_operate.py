"""`tiqets-tracker start` and `status` against a "deployed" stack on moto: a CloudFormation
stack whose outputs name a real (moto) state machine and tracking table (from template.yaml)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import use_fake_aws
from tests.tracking_table import create_tracking_table
from tiqets_tracker_local.cli import main
from tiqets_tracker_local.operate import EXIT_BAD_USAGE, EXIT_ERROR, EXIT_NOT_TRACKED, EXIT_OK

pytestmark = pytest.mark.workflow

REGION = "eu-west-1"
STACK = "tiqets-tracker-prod"
TABLE = "tiqets-tracker-prod-tracking"
BUCKET = "tiqets-tracker-prod-vouchers"


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A deployed stack's outputs, naming a real (moto) state machine and table."""
    use_fake_aws(monkeypatch, REGION)
    with mock_aws():
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        boto3.setup_default_session(region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tracking_table(dynamodb, TABLE)
        state_machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name=f"{STACK}-TrackerStateMachine",
            definition=json.dumps({"StartAt": "Idle", "States": {"Idle": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]
        outputs = {
            "StateMachineArn": state_machine_arn,
            "TrackingTableName": TABLE,
            "VoucherBucketName": BUCKET,
        }
        template = {
            # CloudFormation wants a resource; the outputs are what the commands read.
            "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {name: {"Value": value} for name, value in outputs.items()},
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK, TemplateBody=json.dumps(template)
        )
        yield outputs


def put_record(item: dict[str, Any]) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=TABLE, Item=item)


def test_start_starts_one_execution_named_after_the_order_with_its_input(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["start", "4200001", "--stack", STACK, "--lang", "de", "--external-reference", "shop-1"]
    )

    out = capsys.readouterr().out
    sfn = boto3.client("stepfunctions", region_name=REGION)
    (execution,) = sfn.list_executions(stateMachineArn=deployed["StateMachineArn"])["executions"]
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert code == EXIT_OK
    assert out == f"tracking started: {execution['executionArn']}\n"
    assert execution["name"] == "4200001"
    assert json.loads(described["input"])["lang"] == "de"
    assert json.loads(described["input"])["external_reference"] == "shop-1"


def test_starting_an_order_twice_finds_the_first_tracker(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["start", "4200002", "--stack", STACK, "--region", REGION])
    capsys.readouterr()

    code = main(["start", "4200002", "--stack", STACK, "--region", REGION])

    out = capsys.readouterr().out
    listed = boto3.client("stepfunctions", region_name=REGION).list_executions(
        stateMachineArn=deployed["StateMachineArn"]
    )["executions"]
    assert code == EXIT_OK
    assert out.startswith("already tracked: ")
    assert len(listed) == 1


def test_status_shows_the_record_the_outcome_the_voucher_and_the_execution(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["start", "4200003", "--stack", STACK])
    voucher = {"bucket": BUCKET, "key": "vouchers/4200003/en.pdf", "sha256": "0" * 64}
    put_record(
        {
            "order_reference_id": {"S": "4200003"},
            "tracking_state": {"S": "finished"},
            "last_status": {"S": "done"},
            "checks_made": {"N": "3"},
            "webhook_count": {"N": "1"},
            "announced_outcome": {"S": "TicketsReady"},
            "voucher": {"S": json.dumps(voucher)},
            "status_history": {
                "L": [
                    {"M": {"status": {"S": "pending"}, "at": {"S": "2026-11-26T10:00:00Z"}}},
                    {"M": {"status": {"S": "done"}, "at": {"S": "2026-11-26T10:11:00Z"}}},
                ]
            },
        }
    )
    capsys.readouterr()

    code = main(["status", "4200003", "--stack", STACK, "--json"])
    status = json.loads(capsys.readouterr().out.splitlines()[-1])
    text_code = main(["status", "4200003", "--stack", STACK])
    text = capsys.readouterr().out

    assert code == text_code == EXIT_OK
    assert status["outcome"] == "TicketsReady"
    assert status["checks"] == 3
    assert status["webhook_wakeups"] == 1
    assert [change["status"] for change in status["status_history"]] == ["pending", "done"]
    assert status["voucher_location"] == f"s3://{BUCKET}/vouchers/4200003/en.pdf"
    assert status["execution"]["arn"].endswith(":4200003")
    assert status["execution"]["status"] in ("RUNNING", "SUCCEEDED")
    assert f"s3://{BUCKET}/vouchers/4200003/en.pdf" in text
    assert "pending at 2026-11-26T10:00:00Z, done at 2026-11-26T10:11:00Z" in text
    assert "sweep:" not in text


def test_status_shows_the_execution_the_record_names_and_what_the_sweep_did(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    restarted = sfn.start_execution(
        stateMachineArn=deployed["StateMachineArn"], name="4200005-sweep-2", input="{}"
    )["executionArn"]
    put_record(
        {
            "order_reference_id": {"S": "4200005"},
            "tracking_state": {"S": "active"},
            "execution_arn": {"S": restarted},
            "sweep_restarts": {"N": "2"},
        }
    )

    code = main(["status", "4200005", "--stack", STACK, "--json"])
    status = json.loads(capsys.readouterr().out.splitlines()[-1])
    main(["status", "4200005", "--stack", STACK])
    text = capsys.readouterr().out

    assert code == EXIT_OK
    assert status["execution"]["arn"] == restarted
    assert status["sweep_restarts"] == 2
    assert status["sweep_gave_up_at"] is None
    assert "sweep:           restarted 2 time(s)\n" in text
    assert f"execution:       {status['execution']['status']} {restarted}" in text


def test_status_of_an_order_the_stack_does_not_track_is_one_line_and_exit_8(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "4200404", "--stack", STACK])

    captured = capsys.readouterr()
    assert code == EXIT_NOT_TRACKED
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert "not tracked" in captured.err


@pytest.mark.parametrize("command", ["start", "status"])
def test_an_unknown_stack_is_one_line_and_exit_1(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code = main([command, "4200005", "--stack", "no-such-stack"])

    captured = capsys.readouterr()
    assert code == EXIT_ERROR
    assert len(captured.err.splitlines()) == 1
    assert "no stack no-such-stack" in captured.err


def test_start_refuses_a_malformed_order_id_with_one_line_and_exit_2(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["start", "42 00", "--stack", STACK])

    captured = capsys.readouterr()
    assert code == EXIT_BAD_USAGE
    assert len(captured.err.splitlines()) == 1
    assert "Traceback" not in captured.err
