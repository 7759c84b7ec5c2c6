"""The scenarios of `make demo` and `make test-aws`, run and checked by their own code
(scenarios.py) on the local stack, with Tiqets played as `make test-aws` plays it: the simulator
behind a function URL (emulated here), its orders in DynamoDB, its webhooks from the runner.

What only `make test-aws` does is deploy and connect (aws_run.py); everything it runs after
that runs here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.function_url import EmulatedFunctionUrl
from tiqets_tracker_local import remote_simulator
from tiqets_tracker_local.remote_simulator import OrderBook, RemoteTiqets, clock_offset
from tiqets_tracker_local.scenarios import (
    DEMO_PACE,
    Pace,
    demo_orders,
    local_trackers,
    problems,
    render_table,
    run_scenarios,
)
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

API_KEY = "sk-scenarios-test-51c0"
# The demo's pace, twice as fast: every parameter halved and the time scale doubled, so each
# scenario plays the same simulated timeline against the same simulated waits.
TEST_PACE = Pace(
    time_scale=DEMO_PACE.time_scale * 2,
    webhook_parameters={
        "WebhookEnabled": "true",
        "BackoffBaseSeconds": "5",
        "BackoffCapSeconds": "15",
        "DeadlineSeconds": "20",
    },
    polling_parameters={
        "WebhookEnabled": "false",
        "BackoffBaseSeconds": "1",
        "BackoffCapSeconds": "5",
        "DeadlineSeconds": "20",
    },
    timeout_seconds=60.0,
)


@pytest.fixture
def function_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedFunctionUrl]:
    with EmulatedFunctionUrl(remote_simulator.handler) as url:
        yield url
    remote_simulator.forget_simulator()


def _json(url: str) -> object:
    import requests

    response = requests.get(url, timeout=5)
    assert response.status_code == 200
    return response.json()


def test_every_scenario_ends_as_it_says_with_tiqets_behind_a_function_url(
    function_url: EmulatedFunctionUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url = f"{function_url.url}v2/"
    with (
        LocalStack(
            tiqets_base_url=base_url, api_key=API_KEY, parameters=TEST_PACE.webhook_parameters
        ) as stack,
        LocalWebhookEndpoint(function_name=stack.webhook_function_name) as webhook,
    ):
        # The test stack's part: the order table and the API key secret the function reads.
        dynamodb = stack.client("dynamodb")
        dynamodb.create_table(
            TableName="simulated-orders",
            AttributeDefinitions=[{"AttributeName": "order_reference_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "order_reference_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv(remote_simulator.ORDER_TABLE_ENV, "simulated-orders")
        monkeypatch.setenv(remote_simulator.API_KEY_SECRET_ENV, stack.api_key_secret_name)
        tracker, polling = local_trackers(stack, webhook.url, TEST_PACE)
        offset = clock_offset(_json, base_url)
        with RemoteTiqets(
            OrderBook("simulated-orders", dynamodb),
            base_url=base_url,
            time_scale=TEST_PACE.time_scale,
            clock_offset_seconds=offset,
        ) as tiqets:
            progress = run_scenarios(
                demo_orders(),
                webhook=tracker,
                polling=polling,
                tiqets=tiqets,
                outcome_events=stack.outcome_events,
                pace=TEST_PACE,
            )
            deliveries = {
                item.order.order_reference_id: tiqets.webhook_deliveries(
                    item.order.order_reference_id
                )
                for item in progress
            }

    table = render_table(progress, TEST_PACE.time_scale)
    assert abs(offset) < 1.0  # one machine: the function's clock is this one
    assert {item.order.scenario: problems(item) for item in progress} == {
        item.order.scenario: [] for item in progress
    }, table
    by_id = {item.order.order_reference_id: item for item in progress}
    # The webhook orders were woken through the real endpoint; the polling one never was.
    assert deliveries["9000002"] == [200]
    assert by_id["9000002"].wakeups >= 1
    assert deliveries["9000003"] == []
    # The function answered every check: the faults order took its three faults and one more.
    assert by_id["9000008"].checks >= 4
    assert all(item.voucher == item.expected_voucher for item in progress if item.voucher)
