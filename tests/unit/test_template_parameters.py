"""The template's parameters refuse at deploy time every value the code would refuse later.

A parameter value that deploys and then makes every execution fail is the worst kind of
mistake: `sam deploy` succeeds and each order ends in TrackingFailed. So each parameter is
constrained exactly (checked here the way CloudFormation checks it, `parameter_refusal`), and
every value the constraints admit gives settings the tracker accepts.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiqets_tracker.tracking_settings import MAX_CHECKS, TrackingSettings
from tiqets_tracker_local.template import Resolver, load_sam_template, parameter_refusal

pytestmark = pytest.mark.unit

PARAMETERS: dict[str, Any] = load_sam_template()["Parameters"]
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

REFUSED = {
    "TiqetsBaseUrl": ["http://api.tiqets.com/v2/", "https://api.tiqets.com/v2", ""],
    "TiqetsApiKeySecretName": ["", "ssm:/tiqets/key", "a" * 257, "name with space"],
    "WebhookEnabled": ["yes", "True", ""],
    "WebhookKeysSecretName": ["", "arn:aws:secretsmanager:x"],
    "WebhookThrottleRatePerSecond": ["0", "10001", "fast"],
    "WebhookThrottleBurst": ["0", "5001", "-1", "1.5", ""],
    "BackoffBaseSeconds": ["0", "86401", "99999", "-5", "60s", " 60", "1e3", "007"],
    "BackoffCapSeconds": ["0", "86401", "3600.0"],
    "DeadlineSeconds": ["", "0", "86401", "99999", "100000", "024"],
    "TiqetsRetryBudget": ["", "-1", "1001", "01", "eight"],
    "VoucherRetentionDays": ["", "0", "100000", "030"],
    "VoucherKmsKeyArn": ["alias/my-key", KEY_ARN + " ", "arn:aws:kms:eu-west-1:1234:key/x"],
    "SecretsKmsKeyArn": ["alias/aws/secretsmanager", "1234abcd-12ab-34cd-56ef-1234567890ab"],
    "VoucherMaxBytes": ["", "1023", "419430401", "536870912", "10737418240", "0x100000"],
    "SweepSchedule": ["15 minutes", "every(15 minutes)", ""],
    "LogLevel": ["info", "TRACE"],
    "LogRetentionDays": ["2", "0", "3653"],
    "AlarmEmail": ["on-call", "on call@example.com", "@example.com", "ops@localhost"],
    "WebhookDomainName": ["Callbacks.Example.com", "https://callbacks.example.com", "localhost"],
    "WebhookCertificateArn": ["certificate/1", "arn:aws:acm:eu-west-1:123456789012:key/x"],
    "AlarmTopicArn": [
        "alarms",
        "arn:aws:sqs:eu-west-1:123456789012:alarms",
        "arn:aws:sns:eu-west-1:1234:alarms",
    ],
}
ACCEPTED = {
    "WebhookThrottleRatePerSecond": ["1", "10000"],
    "WebhookThrottleBurst": ["1", "999", "1000", "4999", "5000"],
    "BackoffBaseSeconds": ["", "1", "9999", "10000", "79999", "85999", "86399", "86400"],
    "BackoffCapSeconds": ["", "1", "86400"],
    "DeadlineSeconds": ["1", "60", "86400"],
    "TiqetsRetryBudget": ["0", "8", "999", "1000"],
    "VoucherRetentionDays": ["1", "400", "99999"],
    "VoucherKmsKeyArn": ["", KEY_ARN],
    "SecretsKmsKeyArn": ["", KEY_ARN, KEY_ARN.replace("arn:aws:", "arn:aws-cn:")],
    "VoucherMaxBytes": ["1024", "1099", "9999", "104857600", "419430399", "419430400"],
    "AlarmEmail": ["", "on-call@example.com", "ops+tiqets@shop.example.co.uk"],
    "WebhookDomainName": ["", "callbacks.example.com", "tiqets-callbacks.shop.example.co.uk"],
    "WebhookCertificateArn": [
        "",
        "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
    ],
    "AlarmTopicArn": [
        "",
        "arn:aws:sns:eu-west-1:123456789012:on-call",
        "arn:aws-cn:sns:cn-north-1:123456789012:on-call",
    ],
}


def test_every_parameter_is_constrained_and_listed_here() -> None:
    for name, spec in PARAMETERS.items():
        constrained = {"AllowedPattern", "AllowedValues", "MinValue", "MaxValue"} & set(spec)
        assert constrained, f"{name} takes any value"
    assert set(REFUSED) == set(PARAMETERS)


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in REFUSED.items() for value in values]
)
def test_a_bad_value_is_refused_at_deploy_with_a_readable_reason(name: str, value: str) -> None:
    reason = parameter_refusal(name, PARAMETERS[name], value)

    assert reason is not None
    assert reason.startswith(f"Parameter '{name}' ")
    if "ConstraintDescription" in PARAMETERS[name]:
        assert PARAMETERS[name]["ConstraintDescription"] in reason


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name, values in ACCEPTED.items() for value in values]
    + [(name, str(spec["Default"])) for name, spec in PARAMETERS.items()],
)
def test_a_good_value_and_every_default_are_accepted(name: str, value: str) -> None:
    assert parameter_refusal(name, PARAMETERS[name], value) is None


def pattern_values(name: str) -> st.SearchStrategy[str]:
    return st.from_regex(re.compile(PARAMETERS[name]["AllowedPattern"]), fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    webhook_enabled=st.sampled_from(["true", "false"]),
    base=pattern_values("BackoffBaseSeconds"),
    cap=pattern_values("BackoffCapSeconds"),
    deadline=pattern_values("DeadlineSeconds"),
    budget=pattern_values("TiqetsRetryBudget"),
)
def test_every_combination_the_parameters_admit_gives_settings_the_tracker_accepts(
    webhook_enabled: str, base: str, cap: str, deadline: str, budget: str
) -> None:
    # No cross-parameter rule is needed at deploy (CloudFormation Rules cannot compare numbers
    # anyway): a cap below the base, or too short for the deadline, is raised, not refused.
    tracking = TrackingSettings.from_raw(
        {
            "webhook_enabled": webhook_enabled,
            "backoff_base_seconds": base,
            "backoff_cap_seconds": cap,
            "deadline_seconds": deadline,
            "retry_budget": budget,
        }
    )
    schedule = tracking.schedule
    assert schedule.densest_spacing_seconds <= schedule.longest_wait_seconds
    assert schedule.deadline_seconds == int(deadline)
    assert len(schedule.nominal_offsets()) <= MAX_CHECKS


def test_the_local_stack_refuses_what_cloudformation_refuses() -> None:
    with pytest.raises(ValueError, match="Parameter 'DeadlineSeconds' failed to satisfy"):
        Resolver.for_template(
            load_sam_template(),
            stack_name="refused",
            region="eu-west-1",
            overrides={"DeadlineSeconds": "99999"},
        )
