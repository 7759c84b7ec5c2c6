"""What the webhook's unit and property tests share: the AWS the handler needs, on moto, and
requests shaped as API Gateway (HTTP API, payload format 2.0) hands them to the handler."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.conftest import use_fake_aws
from tests.lambda_context import lambda_context as function_context
from tests.tracking_table import create_tracking_table
from tiqets_tracker.aws import forget_clients, stepfunctions_client
from tiqets_tracker.callback_urls import CALLBACK_PATH, callback_url
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.records import TrackingRecords
from tiqets_tracker.secret_store import clear_secret_cache
from tiqets_tracker_local.lambdas import LocalLambdaContext
from tiqets_tracker_local.webhook_server import http_api_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_stepfunctions.client import SFNClient

REGION = "eu-west-1"
TABLE_NAME = "tiqets-tracker-webhook-test"
KEYS_SECRET = "tiqets-tracker/webhook-keys"
WEBHOOK_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/tiqets/callbacks"
# Key texts that occur nowhere else, so finding one (or a signature) anywhere means it leaked.
CURRENT_KEY = "current-webhook-key-7f3a9c1e5b2d4068a1c3e5f7091b2d4f"
PREVIOUS_KEY = "previous-webhook-key-0d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
RETIRED_KEY = "retired-webhook-key-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"

# A stand-in for the tracker: an execution started with "park" writes its task token into the
# order's record and waits for it, as the real ParkUntilWebhookOrTimeout step does; any other
# execution (a re-check started by the webhook) succeeds at once.
PARKING_DEFINITION = {
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.park", "IsPresent": True, "Next": "Park"}],
            "Default": "Done",
        },
        "Park": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken",
            "Parameters": {
                "TableName": TABLE_NAME,
                "Key": {"order_reference_id": {"S.$": "$.order_reference_id"}},
                "UpdateExpression": "SET task_token = :token",
                "ExpressionAttributeValues": {":token": {"S.$": "$$.Task.Token"}},
            },
            "TimeoutSeconds": 300,
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def keys_secret_value(current: str = CURRENT_KEY, previous: str | None = PREVIOUS_KEY) -> str:
    return json.dumps({"current": current, "previous": previous})


def lambda_context() -> LocalLambdaContext:
    """The webhook function's context (tests/lambda_context.py)."""
    return function_context("tiqets-tracker-webhook", memory_mb=256, timeout_seconds=10)


@dataclass
class WebhookAws:
    """The table, state machine and keys secret on moto, and every AWS call the handler made."""

    dynamodb: DynamoDBClient
    stepfunctions: SFNClient
    state_machine_arn: str
    calls: list[str] = field(default_factory=list)

    @property
    def records(self) -> TrackingRecords:
        return TrackingRecords(TABLE_NAME, self.dynamodb)

    def track(
        self,
        order_reference_id: str,
        *,
        external_reference: str | None = None,
        finished: bool = False,
        task_token: str | None = None,
    ) -> None:
        """A tracking record as the workflow leaves it: created by a status check's
        begin_check, then finished or parked on a token when asked."""
        now = datetime.now(UTC)
        self.records.begin_check(
            OrderToTrack(
                order_reference_id=order_reference_id,
                lang="en",
                external_reference=external_reference,
                placed_at=now,
            ),
            now,
        )
        values: dict[str, Any] = {}
        if finished:
            values[":finished"] = {"S": "finished"}
        if task_token is not None:
            values[":token"] = {"S": task_token}
        if values:
            assignments = []
            if finished:
                assignments.append("tracking_state = :finished")
            if task_token is not None:
                assignments.append("task_token = :token")
            self.dynamodb.update_item(
                TableName=TABLE_NAME,
                Key={"order_reference_id": {"S": order_reference_id}},
                UpdateExpression="SET " + ", ".join(assignments),
                ExpressionAttributeValues=values,
            )

    def record(self, order_reference_id: str) -> dict[str, Any] | None:
        return self.records.get(order_reference_id)

    def scan(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=TABLE_NAME, ConsistentRead=True)["Items"]
        return sorted(items, key=lambda item: item["order_reference_id"]["S"])

    def executions(self) -> list[dict[str, Any]]:
        listed = self.stepfunctions.list_executions(stateMachineArn=self.state_machine_arn)
        return [dict(execution) for execution in listed["executions"]]

    def park(self, order_reference_id: str) -> str:
        """Start a stand-in execution that parks the order on a task token; its ARN."""
        arn = self.stepfunctions.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=f"{order_reference_id}-parked",
            input=json.dumps({"order_reference_id": order_reference_id, "park": True}),
        )["executionArn"]
        return arn

    def calls_of(self, *operations: str) -> int:
        return sum(1 for call in self.calls if call in operations)


@contextmanager
def webhook_aws(
    monkeypatch: pytest.MonkeyPatch,
    *,
    execute_state_machine: bool = True,
    keys: str | None = None,
) -> Iterator[WebhookAws]:
    """moto with the tracking table (its definition from template.yaml), a state machine, the
    keys secret, and the webhook's environment set."""
    use_fake_aws(monkeypatch, REGION)
    for name, value in {
        "TRACKING_TABLE_NAME": TABLE_NAME,
        "WEBHOOK_KEYS_SECRET": KEYS_SECRET,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    from webhook import app as webhook_app

    monkeypatch.setattr(webhook_app.metrics, "namespace", "TiqetsTrackerTest")
    clear_secret_cache()
    forget_clients()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": execute_state_machine}}):
        dynamodb: DynamoDBClient = boto3.client("dynamodb", region_name=REGION)
        create_tracking_table(dynamodb, TABLE_NAME)
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=KEYS_SECRET, SecretString=keys if keys is not None else keys_secret_value()
        )
        stepfunctions: SFNClient = boto3.client("stepfunctions", region_name=REGION)
        arn = stepfunctions.create_state_machine(
            name="tracker",
            definition=json.dumps(PARKING_DEFINITION),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        aws = WebhookAws(dynamodb=dynamodb, stepfunctions=stepfunctions, state_machine_arn=arn)

        def note(model: Any, **_: Any) -> None:
            aws.calls.append(model.name)

        # The handler's own clients (tiqets_tracker.aws caches them): every call they make.
        from tiqets_tracker.aws import dynamodb_client

        dynamodb_client().meta.events.register("before-call", note)
        stepfunctions_client().meta.events.register("before-call", note)
        try:
            yield aws
        finally:
            # Release parked stand-ins, so no interpreter thread outlives the test.
            with contextlib.suppress(ClientError):
                for item in aws.scan():
                    if "task_token" in item:
                        with contextlib.suppress(ClientError):
                            stepfunctions.send_task_success(
                                taskToken=item["task_token"]["S"], output="{}"
                            )
            clear_secret_cache()
            forget_clients()


# -- requests -----------------------------------------------------------------------------


def signed_query(
    external_reference: str | None, *, key: str | bytes = CURRENT_KEY, url: str = WEBHOOK_URL
) -> str:
    """The query string of the callback URL issued for this external reference."""
    key_bytes = key.encode() if isinstance(key, str) else key
    return urlsplit(callback_url(url, external_reference=external_reference, key=key_bytes)).query


def callback_body(order_reference_id: object) -> bytes:
    return json.dumps({"order_reference_id": order_reference_id}).encode()


def request(
    *,
    query: str = "",
    body: bytes | None = None,
    method: str = "POST",
    path: str = CALLBACK_PATH,
    headers: Sequence[tuple[str, str]] = (("content-type", "application/json"),),
    base64_always: bool = False,
) -> dict[str, Any]:
    return http_api_event(
        method,
        path,
        query=query,
        headers=headers,
        body=body or b"",
        base64_always=base64_always,
    )


def callback(
    order_reference_id: object,
    external_reference: str | None = None,
    *,
    key: str | bytes = CURRENT_KEY,
    **options: Any,
) -> dict[str, Any]:
    """An authentic callback for the order (one whose URL was issued for external_reference)."""
    return request(
        query=signed_query(external_reference, key=key),
        body=callback_body(order_reference_id),
        **options,
    )


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def result(self) -> str | None:
        value = self.body.get("result")
        return str(value) if value is not None else None

    @property
    def error(self) -> str | None:
        value = self.body.get("error")
        return str(value) if value is not None else None


def invoke(event: dict[str, Any]) -> Answer:
    from webhook.app import lambda_handler

    response = lambda_handler(event, lambda_context())
    assert isinstance(response, dict)
    assert response.get("isBase64Encoded") in (None, False)
    body = json.loads(response["body"])
    assert isinstance(body, dict)
    return Answer(
        status_code=int(response["statusCode"]),
        body=body,
        headers={str(name).lower(): str(value) for name, value in response["headers"].items()},
    )


@contextmanager
def captured_handler_logs() -> Iterator[io.StringIO]:
    """What the handler's Powertools logger writes (JSON lines; it writes to the stdout it found
    at import, which pytest's capsys does not see)."""
    import logging

    from webhook.app import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)
