"""AWS clients shared by the handlers: created on first use, reused while the container is warm.

Timeouts are short so that an AWS outage becomes a quick, named failure (the webhook answers 503
and Tiqets retries; the state machine retries the step) instead of a Lambda that hangs until its
own timeout. S3 gets a longer read timeout for multipart uploads.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from tiqets_tracker.errors import WorkflowUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_stepfunctions.client import SFNClient

_READ_TIMEOUT_SECONDS = {"dynamodb": 5, "stepfunctions": 5, "events": 5, "s3": 60}


@cache
def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=2,
        read_timeout=_READ_TIMEOUT_SECONDS[service],
        # Four attempts in all: botocore's client-config max_attempts counts retries only.
        retries={"mode": "standard", "max_attempts": 3},
    )
    return boto3.client(service, config=config)  # type: ignore[call-overload]


def dynamodb_client() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb")
    return client


def stepfunctions_client() -> SFNClient:
    client: SFNClient = _client("stepfunctions")
    return client


def events_client() -> EventBridgeClient:
    client: EventBridgeClient = _client("events")
    return client


def s3_client() -> S3Client:
    client: S3Client = _client("s3")
    return client


def forget_clients() -> None:
    """Drop the cached clients (the local stack calls this when it stands up a new stack)."""
    _client.cache_clear()


def step_functions_unavailable(
    error: ClientError | BotoCoreError, action: str
) -> WorkflowUnavailableError:
    """The named error to raise for a Step Functions call (`action`) that failed for a reason
    that may pass."""
    if isinstance(error, ClientError):
        code = error.response["Error"]["Code"]
        return WorkflowUnavailableError(f"Step Functions answered {code} to {action}")
    return WorkflowUnavailableError(f"Step Functions could not be reached ({type(error).__name__})")
