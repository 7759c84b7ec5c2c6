"""`tiqets-tracker start` and `tiqets-tracker status`: a deployed stack, through boto3 and the
usual AWS credential chain (environment, profile, SSO, instance role).

The stack's CloudFormation outputs name everything: `StateMachineArn` to start executions on,
`TrackingTableName` for the tracking record. The voucher location comes from the record.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TextIO

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1  # AWS refused or could not be reached, or the stack is not there
EXIT_BAD_USAGE: Final = 2
EXIT_NOT_TRACKED: Final = 8  # status: the order has no tracker on this stack

EXIT_CODES_HELP: Final = (
    "exit status: 0 done, 1 AWS error (no credentials, stack not found, access denied),"
    " 2 bad usage, 8 (status) the order is not tracked by this stack"
)


class OperateError(Exception):
    """One line for the user; `code` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DeployedStack:
    name: str
    outputs: dict[str, str]
    region: str | None

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise OperateError(
                f"stack {self.name} has no output {key}: is it a tiqets-tracker stack?"
            ) from None


def _aws_error(error: Exception, doing: str) -> OperateError:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, NoCredentialsError):
        return OperateError(f"{doing}: no AWS credentials found (configure the AWS CLI or env)")
    if isinstance(error, NoRegionError):
        return OperateError(f"{doing}: no AWS region configured (give --region)")
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return OperateError(f"{doing}: {details.get('Code')}: {details.get('Message')}")
    return OperateError(f"{doing}: {type(error).__name__}")


def open_stack(name: str, region: str | None) -> DeployedStack:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cloudformation = boto3.client("cloudformation", region_name=region)
        described = cloudformation.describe_stacks(StackName=name)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            where = region or cloudformation.meta.region_name
            raise OperateError(f"no stack {name} in region {where}") from None
        raise _aws_error(error, f"reading stack {name}") from None
    except BotoCoreError as error:
        raise _aws_error(error, f"reading stack {name}") from None
    stacks = described.get("Stacks", [])
    if not stacks:
        raise OperateError(f"no stack {name}")
    outputs = {
        str(output["OutputKey"]): str(output["OutputValue"])
        for output in stacks[0].get("Outputs", [])
    }
    return DeployedStack(name=name, outputs=outputs, region=region)


def run_start(
    order_reference_id: str,
    *,
    stack_name: str,
    region: str | None,
    lang: str,
    external_reference: str | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from tiqets_tracker.errors import InvalidExecutionInputError
    from tiqets_tracker.tracking import start_tracking

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        stack = open_stack(stack_name, region)
        state_machine_arn = stack.output("StateMachineArn")
        try:
            started = start_tracking(
                order_reference_id,
                state_machine_arn=state_machine_arn,
                lang=lang,
                external_reference=external_reference,
                client=stack.client("stepfunctions"),
            )
        except InvalidExecutionInputError as error:
            raise OperateError(str(error), EXIT_BAD_USAGE) from None
        except (ClientError, BotoCoreError) as error:
            raise _aws_error(error, "starting the tracker") from None
    except OperateError as error:
        print(f"tiqets-tracker start: error: {error}", file=err)
        return error.code
    if started.already_tracked:
        print(f"already tracked: {started.execution_arn}", file=out)
    else:
        print(f"tracking started: {started.execution_arn}", file=out)
    return EXIT_OK


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets, and datetimes, as JSON values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def read_status(stack: DeployedStack, order_reference_id: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer
    from botocore.exceptions import BotoCoreError, ClientError

    from tiqets_tracker.tracking import execution_arn_for, execution_name

    table = stack.output("TrackingTableName")
    state_machine_arn = stack.output("StateMachineArn")
    try:
        item = (
            stack.client("dynamodb")
            .get_item(
                TableName=table,
                Key={"order_reference_id": {"S": order_reference_id}},
                ConsistentRead=True,
            )
            .get("Item")
        )
    except (ClientError, BotoCoreError) as error:
        raise _aws_error(error, "reading the tracking record") from None
    deserializer = TypeDeserializer()
    record = (
        None
        if item is None
        else {key: _plain(deserializer.deserialize(value)) for key, value in item.items()}
    )
    # The record names the execution that looks after the order now (a re-check, a restart by
    # the sweep); before its first check, only the first execution's name is known.
    execution_arn = (record or {}).get("execution_arn") or execution_arn_for(
        state_machine_arn, execution_name(order_reference_id)
    )
    execution: dict[str, Any] | None
    sfn = stack.client("stepfunctions")
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
        execution = {
            "arn": execution_arn,
            "status": described["status"],
            "started_at": _plain(described.get("startDate")),
            "stopped_at": _plain(described.get("stopDate")),
        }
    except sfn.exceptions.ExecutionDoesNotExist:
        execution = None
    except (ClientError, BotoCoreError) as error:
        raise _aws_error(error, "reading the execution") from None
    if record is None and execution is None:
        raise OperateError(
            f"order {order_reference_id} is not tracked by stack {stack.name}", EXIT_NOT_TRACKED
        )
    record = record or {}
    voucher = _json_attribute(record.get("voucher"))
    return {
        "order_reference_id": order_reference_id,
        "tracking_state": record.get("tracking_state"),
        "last_status": record.get("last_status"),
        "status_history": record.get("status_history", []),
        "checks": record.get("checks_made", 0),
        "webhook_wakeups": record.get("webhook_count", 0),
        "last_checked_at": record.get("last_checked_at"),
        "outcome": record.get("announced_outcome"),
        "failure": _json_attribute(record.get("failure")),
        "voucher": voucher,
        "voucher_location": _voucher_location(voucher),
        "execution": execution,
        "sweep_restarts": record.get("sweep_restarts", 0),
        "sweep_gave_up_at": record.get("sweep_gave_up_at"),
    }


def _json_attribute(value: Any) -> Any:
    """The workflow stores some attributes as JSON text (States.JsonToString)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _voucher_location(voucher: Any) -> str | None:
    if isinstance(voucher, dict) and voucher.get("bucket") and voucher.get("key"):
        return f"s3://{voucher['bucket']}/{voucher['key']}"
    return None


def run_status(
    order_reference_id: str,
    *,
    stack_name: str,
    region: str | None,
    as_json: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        status = read_status(open_stack(stack_name, region), order_reference_id)
    except OperateError as error:
        print(f"tiqets-tracker status: error: {error}", file=err)
        return error.code
    if as_json:
        print(json.dumps(status, sort_keys=True), file=out)
        return EXIT_OK
    execution = status["execution"]
    history = ", ".join(
        f"{change.get('status')} at {change.get('at')}" for change in status["status_history"]
    )
    lines = [
        f"order:           {status['order_reference_id']}",
        f"tracking:        {status['tracking_state'] or '-'}",
        f"last status:     {status['last_status'] or '-'}"
        f" (last checked {status['last_checked_at'] or '-'})",
        f"history:         {history or '-'}",
        f"checks:          {status['checks']}",
        f"webhook wakeups: {status['webhook_wakeups']}",
        f"outcome:         {status['outcome'] or '-'}",
        f"voucher:         {status['voucher_location'] or '-'}",
        f"execution:       {execution['status'] if execution else '-'}"
        f" {execution['arn'] if execution else ''}".rstrip(),
    ]
    if status["sweep_restarts"] or status["sweep_gave_up_at"]:
        gave_up = status["sweep_gave_up_at"]
        lines.append(
            f"sweep:           restarted {status['sweep_restarts']} time(s)"
            + (f", gave up at {gave_up}" if gave_up else "")
        )
    if status["failure"]:
        failure = status["failure"]
        lines.append(
            f"failure:         {failure.get('Error') if isinstance(failure, dict) else failure}"
        )
    print("\n".join(lines), file=out)
    return EXIT_OK
