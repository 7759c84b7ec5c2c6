"""Webhook latency, measured in this process (not a test).

1. The handler's warm latency: `lambda_handler` called in-process against moto (DynamoDB, Step
   Functions, Secrets Manager), with time.perf_counter, for an authentic callback that wakes a
   parked order (GetItem, UpdateItem, SendTaskSuccess), one for an unknown order (GetItem),
   and a forged one (refused before any AWS call).
2. Callback to execution resumed on the local stack: a callback POSTed over HTTP to the local
   API Gateway endpoint until the parked execution's callback task succeeds (its history event
   timestamp).

    .venv/bin/python bench/webhook_latency.py [calls]

moto's in-process AWS is slower per call than nothing and faster than a real network round trip:
on AWS expect the DynamoDB and Step Functions round trips (a few ms each) on top of the
handler's own work.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def describe(name: str, seconds: list[float]) -> None:
    ms = [value * 1000 for value in seconds]
    print(
        f"{name:<34} n={len(ms):>5}  median {statistics.median(ms):6.2f} ms  "
        f"p99 {percentile(ms, 0.99):6.2f} ms  max {max(ms):6.2f} ms"
    )


def handler_latency(calls: int) -> None:
    import pytest

    from tests.webhook_support import callback, invoke, request, webhook_aws

    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        webhook_aws(monkeypatch, execute_state_machine=False) as aws,
    ):
        aws.track("1111111", external_reference="shop-42", task_token="parked")  # noqa: S106
        woken = callback("1111111", "shop-42")
        unknown = callback("9999999", "shop-42")
        forged = request(query="ref=shop-42&sig=" + "A" * 43, body=b'{"order_reference_id": 1}')
        for event in (woken, unknown, forged):  # cold start and first reads out of the way
            invoke(event)
        for name, event, expected in (
            ("authentic, woken", woken, 200),
            ("authentic, unknown order", unknown, 200),
            ("forged (403 bad_signature)", forged, 403),
        ):
            samples = []
            for _ in range(calls):
                started = time.perf_counter()
                answer = invoke(event)
                samples.append(time.perf_counter() - started)
                assert answer.status_code == expected, answer
            describe(name, samples)


def callback_to_resumed(orders: int) -> None:
    from tests.workflow.conftest import API_KEY, PARKED_FOR_LONG
    from tiqets_tracker.callback_urls import callback_url_for_order
    from tiqets_tracker_local.simulator import TiqetsSimulator
    from tiqets_tracker_local.stack import LocalStack
    from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

    with (
        TiqetsSimulator(api_key=API_KEY) as tiqets,
        LocalStack(
            tiqets_base_url=tiqets.base_url, api_key=API_KEY, parameters=PARKED_FOR_LONG
        ) as stack,
    ):
        assert stack.webhook_function_name
        with LocalWebhookEndpoint(stack.webhook_function_name) as endpoint:
            samples: list[float] = []
            for number in range(orders):
                order_id = str(8_100_000 + number)
                reference = f"bench-{order_id}"
                tiqets.add_order(order_id, "always_pending")
                started = stack.start_tracking(order_id, external_reference=reference)
                stack.wait_until(
                    lambda order_id=order_id: (stack.record(order_id) or {}).get("task_token"),
                    what="the order to park",
                )
                url = callback_url_for_order(
                    reference,
                    webhook_url=endpoint.url,
                    keys_secret=stack.webhook_keys_secret_name,
                )
                body = json.dumps({"order_reference_id": order_id}).encode()
                post = urllib.request.Request(url, data=body, method="POST")  # noqa: S310
                tiqets.set_status(order_id, "failed")  # what the woken check will find
                sent_at = datetime.now(UTC)
                with urllib.request.urlopen(post, timeout=10) as response:  # noqa: S310
                    assert response.status == 200
                stack.wait_for(started.execution_arn, timeout=60)
                resumed = next(
                    event["timestamp"]
                    for event in stack.history(started.execution_arn)
                    if event["type"] == "TaskSucceeded"
                    and event["taskSucceededEventDetails"]["resource"].endswith(".waitForTaskToken")
                )
                samples.append((resumed - sent_at).total_seconds())
            describe("callback POST -> execution resumed", samples)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    handler_latency(count)
    callback_to_resumed(20)
