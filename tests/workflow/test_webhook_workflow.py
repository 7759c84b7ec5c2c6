"""The webhook end to end on the local stack: the Tiqets simulator POSTs its order-change
callbacks over HTTP to the local API Gateway endpoint, which runs the real webhook handler in
front of the real state machine in webhook mode.

Back-offs are 600 s, so an order that finishes within a test's time was woken by a callback;
nothing here asserts a wall-clock duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.workflow.conftest import API_KEY, PARKED_FOR_LONG
from tests.workflow.support import (
    failed_task_errors,
    finished_record,
    only_outcome,
    outcomes,
    post,
    pretend_last_recheck_was_long_ago,
    signed_url,
    wait_until_all_finished,
    wait_until_parked,
)
from tiqets_tracker.tracking import execution_arn_for
from tiqets_tracker_local.simulator import Fault, Scenario, TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def stack(tiqets: TiqetsSimulator) -> Iterator[LocalStack]:
    # Webhook mode for the stack's own state machine: the template then deploys the webhook
    # function, and the re-checks it starts run in webhook mode too.
    with LocalStack(
        tiqets_base_url=tiqets.base_url, api_key=API_KEY, parameters=PARKED_FOR_LONG
    ) as local_stack:
        yield local_stack


def park(stack: LocalStack, order_id: str, reference: str) -> str:
    started = stack.start_tracking(order_id, external_reference=reference)
    wait_until_parked(stack, order_id)
    return started.execution_arn


def test_parked_order_is_woken_by_the_simulators_callback_long_before_its_timeout(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    reference = f"shop-{order_id}"
    tiqets.add_order(
        order_id, "always_pending", callback_url=signed_url(stack, endpoint, reference)
    )
    arn = park(stack, order_id, reference)

    tiqets.set_status(order_id, "done")
    execution = stack.wait_for(arn, timeout=60)

    assert execution["status"] == "SUCCEEDED"
    assert "States.Timeout" not in failed_task_errors(stack, arn)
    event = only_outcome(stack, order_id)
    assert event.detail_type == "TicketsReady"
    assert event.detail["order"]["external_reference"] == reference
    assert tiqets.ticket_calls(order_id) == 2
    assert tiqets.webhook_deliveries(order_id) == [200]
    record = stack.record(order_id)
    assert record is not None
    assert record["webhook_count"] == 1
    assert "task_token" not in record


def test_duplicate_callback_still_ends_in_exactly_one_outcome(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    reference = f"shop-{order_id}"
    url = signed_url(stack, endpoint, reference)
    tiqets.add_order(order_id, "always_pending", callback_url=url)
    arn = park(stack, order_id, reference)

    tiqets.set_status(order_id, "done")
    stack.wait_until(lambda: tiqets.webhook_deliveries(order_id) == [200], what="the callback")
    status, answer = post(url, {"order_reference_id": order_id})  # Tiqets sends it again
    stack.wait_for(arn, timeout=60)
    wait_until_all_finished(stack, order_id)

    assert status == 200
    assert answer["result"] in {"noted", "woken", "recheck_started", "recheck_running"}
    assert only_outcome(stack, order_id).detail_type == "TicketsReady"
    assert "States.Timeout" not in failed_task_errors(stack, arn)
    record = finished_record(stack, order_id)
    assert record["webhook_count"] == 2


def track_done_order_with_callback(
    stack: LocalStack,
    tiqets: TiqetsSimulator,
    endpoint: LocalWebhookEndpoint,
    order_id: str,
    **order: Any,
) -> str:
    """Track an order Tiqets has done at once, with its callback URL registered, to its
    TicketsReady; return the URL."""
    reference = f"shop-{order_id}"
    url = signed_url(stack, endpoint, reference)
    tiqets.add_order(order_id, Scenario(timeline=((0.0, "done"),)), callback_url=url)
    started = stack.start_tracking(order_id, external_reference=reference, **order)
    stack.wait_for(started.execution_arn, timeout=60)
    assert outcomes(stack, order_id) == ["TicketsReady"]
    return url


def test_late_callback_after_tracking_ended_publishes_the_cancellation_once(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    url = track_done_order_with_callback(stack, tiqets, endpoint, order_id)

    # Days later Tiqets cancels the order and calls back.
    tiqets.set_status(order_id, "cancelled")
    stack.wait_until(lambda: tiqets.webhook_deliveries(order_id) == [200], what="the callback")
    first_recheck = stack.wait_for(
        execution_arn_for(stack.state_machine_arn, f"{order_id}-recheck-1"), timeout=60
    )

    assert first_recheck["status"] == "SUCCEEDED"
    assert outcomes(stack, order_id) == ["TicketsReady", "OrderCancelled"]
    cancelled = stack.outcomes_for(order_id)[1]
    assert cancelled.detail["status"] == "cancelled"

    # A repeated callback moments later is deferred: 429, which Tiqets retries within minutes.
    status, answer = post(url, {"order_reference_id": order_id})
    assert (status, answer) == (429, {"error": "recheck_too_soon"})
    # Its retry, minutes later (the record is moved there instead of the clock), finds nothing
    # new to publish.
    pretend_last_recheck_was_long_ago(stack, order_id)
    status, answer = post(url, {"order_reference_id": order_id})
    assert (status, answer) == (200, {"result": "recheck_started"})
    second_recheck = stack.wait_for(
        execution_arn_for(stack.state_machine_arn, f"{order_id}-recheck-2"), timeout=60
    )

    assert second_recheck["status"] == "SUCCEEDED"
    assert outcomes(stack, order_id) == ["TicketsReady", "OrderCancelled"]
    assert len(wait_until_all_finished(stack, order_id)) == 3
    finished_record(stack, order_id, announced="OrderCancelled")


def test_a_cancellation_long_after_placement_but_before_the_visit_is_still_published(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    # Sold 500 days ahead of its visit (records used to be kept 180 days, vouchers 400), the
    # order is cancelled shortly before the visit; DynamoDB's TTL is emulated at that moment.
    now = datetime.now(UTC)
    track_done_order_with_callback(
        stack,
        tiqets,
        endpoint,
        order_id,
        placed_at=now - timedelta(days=1),
        visit_date=(now + timedelta(days=500)).date(),
    )

    cancelled_at = now + timedelta(days=495)
    assert order_id not in stack.expire_records(cancelled_at)
    tiqets.set_status(order_id, "cancelled")
    stack.wait_until(lambda: tiqets.webhook_deliveries(order_id) == [200], what="the callback")
    recheck = stack.wait_for(
        execution_arn_for(stack.state_machine_arn, f"{order_id}-recheck-1"), timeout=60
    )

    assert recheck["status"] == "SUCCEEDED"
    assert outcomes(stack, order_id) == ["TicketsReady", "OrderCancelled"]
    record = stack.record(order_id)
    assert record is not None
    assert record["visit_date"] == (now + timedelta(days=500)).date().isoformat()
    # Kept until 30 days after the visit, and then gone as TTL would have it.
    assert order_id in stack.expire_records(now + timedelta(days=500 + 31))


def test_an_expired_record_makes_an_authentic_callback_an_unknown_order(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    # The control of the test above: what expiry costs, so the emulated TTL is known to bite.
    url = track_done_order_with_callback(stack, tiqets, endpoint, order_id)

    assert order_id in stack.expire_records(datetime.now(UTC) + timedelta(days=401))
    status, answer = post(url, {"order_reference_id": order_id})

    assert (status, answer) == (200, {"result": "unknown_order"})
    assert outcomes(stack, order_id) == ["TicketsReady"]


def test_callback_during_a_status_check_is_not_lost(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    reference = f"shop-{order_id}"
    url = signed_url(stack, endpoint, reference)
    # The first check is slow; a callback arrives while it is in flight, after the check read
    # the webhook count and before the execution parks.
    tiqets.add_order(
        order_id,
        Scenario(timeline=((0.0, "pending"),), faults=(Fault(delay_seconds=1.5),)),
        callback_url=url,
    )
    started = stack.start_tracking(order_id, external_reference=reference)
    stack.wait_until(lambda: tiqets.ticket_calls(order_id) == 1, what="the first check")

    assert post(url, {"order_reference_id": order_id}) == (200, {"result": "noted"})
    # With a 600 s back-off, a second check this soon can only come from the refused park.
    stack.wait_until(lambda: tiqets.ticket_calls(order_id) == 2, what="the re-check")
    stack.wait_until(
        lambda: (stack.record(order_id) or {}).get("task_token"), what="the order to park"
    )
    tiqets.set_status(order_id, "failed")
    execution = stack.wait_for(started.execution_arn, timeout=60)

    assert execution["status"] == "SUCCEEDED"
    assert "DynamoDb.ConditionalCheckFailedException" in failed_task_errors(
        stack, started.execution_arn
    )
    assert "States.Timeout" not in failed_task_errors(stack, started.execution_arn)
    assert only_outcome(stack, order_id).detail_type == "OrderFailed"
    assert tiqets.ticket_calls(order_id) == 3
    assert tiqets.webhook_deliveries(order_id) == [200]


def test_forged_or_misdirected_callbacks_leave_a_parked_order_parked(
    stack: LocalStack, tiqets: TiqetsSimulator, endpoint: LocalWebhookEndpoint, order_id: str
) -> None:
    reference = f"shop-{order_id}"
    url = signed_url(stack, endpoint, reference)
    tiqets.add_order(order_id, "always_pending", callback_url=url)
    arn = park(stack, order_id, reference)
    parked = stack.record(order_id)
    assert parked is not None
    other_orders_url = signed_url(stack, endpoint, f"{reference}-other")
    forged_url = url[:-1] + ("A" if url[-1] != "A" else "B")
    unsigned_url = url.partition("&sig=")[0]
    body = {"order_reference_id": order_id}

    answers = [
        post(forged_url, body),
        post(unsigned_url, body),
        post(other_orders_url, body),
        post(url, {"order_reference_id": "../" + order_id}),
        post(endpoint.url + "?" + urlsplit(url).query.replace("ref=", "ref=x"), body),
    ]

    assert answers == [
        (403, {"error": "bad_signature"}),
        (401, {"error": "missing_signature"}),
        (403, {"error": "callback_not_for_this_order"}),
        (400, {"error": "invalid_order_reference_id"}),
        (403, {"error": "bad_signature"}),
    ]
    assert stack.record(order_id) == parked
    assert stack.describe(arn)["status"] == "RUNNING"
    assert tiqets.ticket_calls(order_id) == 1

    # The real callback still works.
    tiqets.set_status(order_id, "failed")
    assert stack.wait_for(arn, timeout=60)["status"] == "SUCCEEDED"
    assert only_outcome(stack, order_id).detail_type == "OrderFailed"


def test_callback_for_an_order_no_one_tracks_is_answered_200(
    stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    url = signed_url(stack, endpoint, "shop-unknown")

    assert post(url, {"order_reference_id": 987654321}) == (200, {"result": "unknown_order"})
    assert stack.record("987654321") is None
