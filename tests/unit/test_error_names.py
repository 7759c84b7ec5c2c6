"""Every error name a Retry or Catch of the definition matches is one AWS can raise there.

A name that is never raised is a retrier that never fires, and no linter sees it (moto's
interpreter does not either: it raises whatever the handler or its own model says). The names
come from where AWS defines them:

- AWS SDK integrations (`arn:aws:states:::aws-sdk:<service>:<action>`): `<Service>.<Error>`,
  the error one of the operation's error shapes in botocore's service model, with `Exception`
  appended where the service's own name lacks it ("S3.BucketAlreadyExistsException" for S3's
  BucketAlreadyExists), and the service in the SDK's PascalCase ("AcmPca" for acmpca)
  (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
- The optimized Lambda integration: the names AWS lists for it
  (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
- The optimized EventBridge integration: `EventBridge.FailedEntry`
  (https://docs.aws.amazon.com/step-functions/latest/dg/connect-eventbridge.html).
- `States.*`: the predefined error codes
  (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
- A bare name: the errorType our handler reports, which is one of errors.py's classes.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
import pytest

from tiqets_tracker import errors
from tiqets_tracker_local.template import PROJECT_ROOT

pytestmark = pytest.mark.unit

DEFINITION = PROJECT_ROOT / "statemachine" / "order_tracking.asl.json"

# The SDK integration's PascalCase service names (the Java SDK's), for the services we call.
SDK_SERVICE_PREFIXES = {"dynamodb": "DynamoDb"}
DOCUMENTED_LAMBDA_ERRORS = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
}
DOCUMENTED_EVENTBRIDGE_ERRORS = {"EventBridge.FailedEntry"}
PREDEFINED_STATES_ERRORS = {
    "States.ALL",
    "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.Http.Socket",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.Runtime",
    "States.TaskFailed",
    "States.Timeout",
}
SDK_RESOURCE = re.compile(
    r"^arn:aws:states:::aws-sdk:(?P<service>[a-z0-9]+):(?P<action>[A-Za-z0-9]+)(\.\w+)?$"
)


def all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from all_states(state[key]["States"])


def matched_errors(state: dict[str, Any]) -> set[str]:
    rules = state.get("Retry", []) + state.get("Catch", [])
    return {error for rule in rules for error in rule["ErrorEquals"]}


@cache
def sdk_error_names(service: str, action: str) -> frozenset[str]:
    """The error names Step Functions raises for an SDK integration's operation."""
    model = botocore.session.get_session().get_service_model(service)
    operation = model.operation_model(action[0].upper() + action[1:])
    prefix = SDK_SERVICE_PREFIXES[service]
    return frozenset(
        f"{prefix}.{shape.name}" + ("" if shape.name.endswith("Exception") else "Exception")
        for shape in operation.error_shapes
    )


def our_error_names() -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, errors.TiqetsTrackerError)
    }


def task_states() -> list[tuple[str, dict[str, Any]]]:
    definition = json.loads(DEFINITION.read_text("utf-8"))
    return [
        (name, state) for name, state in all_states(definition["States"]) if matched_errors(state)
    ]


def allowed_names(state: dict[str, Any]) -> set[str]:
    """Every name AWS may raise in this state (and States.*, which any state may see)."""
    resource = state.get("Resource", "")
    allowed = set(PREDEFINED_STATES_ERRORS)
    sdk = SDK_RESOURCE.match(resource)
    if sdk:
        allowed |= sdk_error_names(sdk["service"], sdk["action"])
    elif resource.startswith("arn:aws:states:::lambda:invoke"):
        allowed |= DOCUMENTED_LAMBDA_ERRORS | our_error_names()
    elif resource.startswith("arn:aws:states:::events:putEvents"):
        allowed |= DOCUMENTED_EVENTBRIDGE_ERRORS
    return allowed


@pytest.mark.parametrize(("name", "state"), task_states(), ids=[n for n, _ in task_states()])
def test_each_matched_error_is_one_aws_raises_in_that_state(
    name: str, state: dict[str, Any]
) -> None:
    assert matched_errors(state) - allowed_names(state) == set(), name


def test_the_sdk_names_come_with_the_exception_suffix_where_the_service_has_none() -> None:
    names = sdk_error_names("dynamodb", "updateItem")

    # DynamoDB calls these RequestLimitExceeded and InternalServerError.
    assert "DynamoDb.RequestLimitExceededException" in names
    assert "DynamoDb.InternalServerErrorException" in names
    assert "DynamoDb.RequestLimitExceeded" not in names
    assert "DynamoDb.ConditionalCheckFailedException" in names


def test_a_name_aws_never_raises_is_refused() -> None:
    state = {"Resource": "arn:aws:states:::aws-sdk:dynamodb:updateItem"}
    assert "DynamoDb.RequestLimitExceeded" not in allowed_names(state)
    assert "Lambda.TooManyRequestsException" not in allowed_names(state)
    lambda_state = {"Resource": "arn:aws:states:::lambda:invoke"}
    assert "Lambda.ThrottlingException" not in allowed_names(lambda_state)
    assert "TiqetsUnavailableError" in allowed_names(lambda_state)
    assert "TiqetsUnavailable" not in allowed_names(lambda_state)


def test_every_named_error_the_handlers_raise_for_a_retry_is_one_of_ours() -> None:
    # Each bare name in a Lambda state is a class of errors.py (what the handler reports as its
    # errorType), so renaming a class without the definition fails here.
    lambda_names = {
        error
        for _, state in task_states()
        if state.get("Resource", "").startswith("arn:aws:states:::lambda:invoke")
        for error in matched_errors(state)
        if "." not in error
    }
    assert lambda_names
    assert lambda_names <= our_error_names()
