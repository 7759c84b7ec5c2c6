"""Shared by every test tier."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest


def use_fake_aws(env: pytest.MonkeyPatch, region: str) -> None:
    """Point boto3 at fake credentials and a fixed region, and away from any real profile or
    endpoint on this machine, so that nothing can reach a real AWS account."""
    env.setenv("AWS_DEFAULT_REGION", region)
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "POWERTOOLS_PARAMETERS_MAX_AGE",
    ):
        env.delenv(name, raising=False)


def emf_records(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric-format records among a handler's printed lines."""
    return [
        json.loads(line)
        for line in stdout.splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]


def empty_powertools_metrics() -> None:
    """Empty the metric state that every Powertools `Metrics()` of the process shares, as the
    flush after each Lambda invocation does (with metrics disabled, Powertools never does)."""
    if "aws_lambda_powertools.metrics" not in sys.modules:
        return  # no handler imported yet: no state
    from aws_lambda_powertools.metrics import Metrics

    Metrics().clear_metrics()


@pytest.fixture(autouse=True)
def _fresh_powertools_metrics() -> Iterator[None]:
    """Each test starts and ends with Powertools' metric state empty, as a Lambda invocation
    does (its flush empties it): tests call handlers directly, some with metrics disabled,
    where Powertools never flushes. (Invocations through the local stack get their own state:
    tiqets_tracker_local/lambdas.py.)"""
    empty_powertools_metrics()
    yield
    empty_powertools_metrics()
