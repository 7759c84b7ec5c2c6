"""The template's EventBridge rules on the local stack, and their delivery to Lambda targets.

moto creates rules and sends matching events to SQS, log groups and other buses, but raises
NotImplementedError for a Lambda target. On AWS, EventBridge invokes a Lambda target
asynchronously, with the event as the payload, once the function's resource policy lets the
rule do so (an `AWS::Lambda::Permission` for `events.amazonaws.com` with the rule's ARN as
`SourceArn`; https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions),
and Lambda retries a function error twice
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).

Here, `create_rules` creates each rule of the template on moto and refuses a Lambda target that
no permission of the template lets the rule invoke (moto keeps no resource policies, so this is
checked on the template). `LambdaTargetDeliveries` is what moto_seams.eventbridge_lambda_targets
hands the matching events to: each runs the registered handler on a worker thread, after
put_events has answered, under the function's role, up to three times, and keeps what it
answered in `invocations`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tiqets_tracker_local import lambdas

logger = logging.getLogger(__name__)

# Lambda's default for asynchronous invocations: the first attempt and two retries.
ATTEMPTS = 3


class UngrantedTargetError(Exception):
    """A rule targets a function that no AWS::Lambda::Permission of the template lets it invoke:
    on AWS, EventBridge's invocations would be refused."""


@dataclass(frozen=True)
class TargetInvocation:
    """One event EventBridge handed a Lambda target, and what the function answered (its
    result, or the error of its last attempt)."""

    function_name: str
    event: dict[str, Any]
    answer: Any
    failed: bool


def _function_name(function_arn: str) -> str:
    # arn:<partition>:lambda:<region>:<account>:function:<name>
    return function_arn.split(":")[6]


def create_rules(
    events: Any,
    rules: Sequence[tuple[str, Mapping[str, Any]]],
    permissions: Sequence[Mapping[str, Any]],
    *,
    physical_ids: Mapping[str, str],
    arns: Mapping[str, str],
) -> None:
    """Create each rule (logical ID, resolved properties) with its targets, as CloudFormation
    would; `permissions` are the template's resolved AWS::Lambda::Permission properties."""
    for logical, properties in rules:
        name = physical_ids[logical]
        created = events.put_rule(
            Name=name,
            EventBusName=properties.get("EventBusName", "default"),
            EventPattern=json.dumps(properties["EventPattern"]),
            State=properties.get("State", "ENABLED"),
        )
        if created["RuleArn"] != arns[logical]:
            raise RuntimeError(
                f"rule {logical}: moto named it {created['RuleArn']}, the template {arns[logical]}"
            )
        targets = [dict(target) for target in properties.get("Targets", [])]
        for target in targets:
            if target["Arn"].split(":")[2] == "lambda":
                _require_permission(logical, arns[logical], target["Arn"], permissions)
        events.put_targets(
            Rule=name, EventBusName=properties.get("EventBusName", "default"), Targets=targets
        )


def _require_permission(
    rule: str, rule_arn: str, function_arn: str, permissions: Sequence[Mapping[str, Any]]
) -> None:
    function_name = _function_name(function_arn)
    for permission in permissions:
        if (
            permission.get("Action") == "lambda:InvokeFunction"
            and permission.get("Principal") == "events.amazonaws.com"
            and permission.get("FunctionName") in (function_name, function_arn)
            and permission.get("SourceArn") == rule_arn
        ):
            return
    raise UngrantedTargetError(
        f"rule {rule} targets {function_name}, but no AWS::Lambda::Permission lets "
        f"events.amazonaws.com invoke it with SourceArn {rule_arn}"
    )


def as_delivered(event: Mapping[str, Any]) -> dict[str, Any]:
    """moto's event message as EventBridge hands it to a target: `time` as RFC 3339 (moto keeps
    a Unix time), without moto's `ingestion-time`."""
    delivered = {key: value for key, value in event.items() if key != "ingestion-time"}
    moment = delivered.get("time")
    if isinstance(moment, int | float):
        delivered["time"] = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


class LambdaTargetDeliveries:
    """EventBridge's asynchronous invocations of Lambda targets, on worker threads."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventbridge")
        self._lock = threading.Lock()
        self._invocations: list[TargetInvocation] = []

    def deliver(self, function_arn: str, event: dict[str, Any]) -> None:
        self._pool.submit(self._invoke, _function_name(function_arn), as_delivered(event))

    def _invoke(self, function_name: str, event: dict[str, Any]) -> None:
        answer: Any = None
        failed = True
        for _ in range(ATTEMPTS):
            try:
                payload, failed = lambdas.invoke_registered(function_name, event)
            except LookupError as missing:  # the stack stopped under a late delivery
                answer = {"errorType": "LookupError", "errorMessage": str(missing)}
                break
            answer = json.loads(payload)
            if not failed:
                break
        if failed:
            logger.warning(
                "asynchronous invocation failed",
                extra={"function": function_name, "error": answer.get("errorType")},
            )
        with self._lock:
            self._invocations.append(TargetInvocation(function_name, event, answer, failed))

    @property
    def invocations(self) -> list[TargetInvocation]:
        """Every delivery finished so far, in the order they finished."""
        with self._lock:
            return list(self._invocations)

    def drain(self) -> None:
        """Wait for every delivery handed over so far, and take no more."""
        self._pool.shutdown(wait=True)
