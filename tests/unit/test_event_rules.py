"""The local stack's EventBridge rules (event_rules.py): a Lambda target needs the template's
permission, as on AWS, and an event reaches a target in the shape EventBridge delivers."""

from __future__ import annotations

from typing import Any

import pytest

from tiqets_tracker_local.event_rules import UngrantedTargetError, as_delivered, create_rules
from tiqets_tracker_local.template import Resolver

pytestmark = pytest.mark.unit

RULE_ARN = "arn:aws:events:eu-west-1:123456789012:rule/s-outcomes/s-Metrics"
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:s-OutcomeMetricsFunction"
RULE = {
    "EventBusName": "s-outcomes",
    "EventPattern": {"source": ["tiqets-tracker"]},
    "Targets": [{"Arn": FUNCTION_ARN, "Id": "metrics"}],
}
GRANT = {
    "Action": "lambda:InvokeFunction",
    "FunctionName": "s-OutcomeMetricsFunction",
    "Principal": "events.amazonaws.com",
    "SourceArn": RULE_ARN,
}


class RecordingEvents:
    """Stands in for the EventBridge client: answers put_rule with the rule's ARN."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def put_rule(self, **request: Any) -> dict[str, str]:
        self.calls.append(("put_rule", request))
        return {"RuleArn": RULE_ARN}

    def put_targets(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("put_targets", request))
        return {"FailedEntryCount": 0}


def create(permissions: list[dict[str, Any]]) -> RecordingEvents:
    events = RecordingEvents()
    create_rules(
        events,
        [("Metrics", RULE)],
        permissions,
        physical_ids={"Metrics": "s-Metrics"},
        arns={"Metrics": RULE_ARN},
    )
    return events


def test_a_granted_lambda_target_is_created_with_its_rule() -> None:
    events = create([GRANT])

    assert [name for name, _ in events.calls] == ["put_rule", "put_targets"]
    assert events.calls[0][1]["EventPattern"] == '{"source": ["tiqets-tracker"]}'
    assert events.calls[1][1]["Targets"] == RULE["Targets"]


@pytest.mark.parametrize(
    "permission",
    [
        pytest.param(None, id="no-permission"),
        pytest.param(GRANT | {"SourceArn": RULE_ARN + "-other"}, id="another-rule"),
        pytest.param(GRANT | {"Principal": "apigateway.amazonaws.com"}, id="another-service"),
        pytest.param(GRANT | {"FunctionName": "s-WebhookFunction"}, id="another-function"),
    ],
)
def test_a_lambda_target_the_template_does_not_grant_is_refused(
    permission: dict[str, Any] | None,
) -> None:
    with pytest.raises(UngrantedTargetError, match="s-OutcomeMetricsFunction"):
        create([] if permission is None else [permission])


def test_an_event_is_delivered_with_an_rfc_3339_time_and_without_motos_fields() -> None:
    event = {"version": "0", "time": 1_780_000_000.5, "ingestion-time": 1.0, "detail": {}}

    assert as_delivered(event) == {"version": "0", "time": "2026-05-28T20:26:40Z", "detail": {}}


@pytest.mark.parametrize(
    ("bus", "arn"),
    [
        (None, "arn:aws:events:eu-west-1:123456789012:rule/s-Rule"),
        ({"Ref": "Bus"}, "arn:aws:events:eu-west-1:123456789012:rule/s-outcomes/s-Rule"),
    ],
)
def test_a_rules_arn_names_its_bus_unless_it_is_the_default_one(
    bus: dict[str, str] | None, arn: str
) -> None:
    rule: dict[str, Any] = {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {}}}
    if bus is not None:
        rule["Properties"]["EventBusName"] = bus
    template = {
        "Resources": {
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "s-outcomes"}},
            "Rule": rule,
        }
    }

    resolver = Resolver.for_template(template, stack_name="s", region="eu-west-1")

    assert resolver.arns["Rule"] == arn
