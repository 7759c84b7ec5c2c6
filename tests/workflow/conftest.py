"""One simulator and one local stack per test module: standing a stack up costs about a second,
and tests stay independent by using their own order IDs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

API_KEY = "sk-workflow-test-7f3a9c"

# The stack as deployed by default (webhook on), with seconds instead of minutes.
STACK_PARAMETERS = {
    "WebhookEnabled": "true",
    "BackoffBaseSeconds": "1",
    "BackoffCapSeconds": "1",
    "DeadlineSeconds": "600",
}
# Polling in seconds instead of minutes, and a deadline far beyond any test.
FAST_POLLING = {
    "WebhookEnabled": "false",
    "BackoffBaseSeconds": "1",
    "BackoffCapSeconds": "1",
    "DeadlineSeconds": "600",
}
# Parked waits so long that a test can only finish early if a wake-up ends them.
PARKED_FOR_LONG = {
    "WebhookEnabled": "true",
    "BackoffBaseSeconds": "600",
    "BackoffCapSeconds": "600",
    "DeadlineSeconds": "3600",
}

_order_ids = itertools.count(7_000_001)


@pytest.fixture
def order_id() -> str:
    return str(next(_order_ids))


@pytest.fixture(scope="module")
def tiqets() -> Iterator[TiqetsSimulator]:
    with TiqetsSimulator(api_key=API_KEY) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def stack(tiqets: TiqetsSimulator) -> Iterator[LocalStack]:
    with LocalStack(
        tiqets_base_url=tiqets.base_url, api_key=API_KEY, parameters=STACK_PARAMETERS
    ) as local_stack:
        yield local_stack


@pytest.fixture(scope="module")
def endpoint(stack: LocalStack) -> Iterator[LocalWebhookEndpoint]:
    """The local API Gateway endpoint in front of the module's stack's webhook function."""
    assert stack.webhook_function_name, "the template deploys no webhook function"
    with LocalWebhookEndpoint(stack.webhook_function_name) as local_endpoint:
        yield local_endpoint
