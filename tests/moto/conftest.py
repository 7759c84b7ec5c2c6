"""The moto tier: our code called directly (no state machine) against moto for AWS, and the
loopback Tiqets simulator where Tiqets is needed. The real state machine on the local stack is
tests/workflow; plain Python is tests/unit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.conftest import use_fake_aws
from tiqets_tracker.secret_store import clear_secret_cache

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS service, in REGION. Powertools caches secret values (and its boto3
    clients) across tests, so each test starts and ends with an empty cache."""
    use_fake_aws(monkeypatch, REGION)
    clear_secret_cache()
    with mock_aws():
        yield
    clear_secret_cache()
