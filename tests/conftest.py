"""Shared by every test tier."""

from __future__ import annotations

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
