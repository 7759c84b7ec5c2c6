"""The worked example's order-placement handler (examples/order_placement/src/app.py) on the
local stack: example handler in, outcome event out.

The handler runs as a role that has nothing but the tracker's StartTrackingPolicy, as the
example's template deploys it, with the three settings the template gives it. Its one stub, the
distributor's own Tiqets booking, is replaced by a booking on the Tiqets simulator that registers
the callback URL the handler signed. The outcomes are read from a queue subscribed to the bus with
the example template's own rule, as the distributor's systems would read them.

Back-offs are 600 s (PARKED_FOR_LONG), so an order still pending at its first check can only
finish within a test's time if the callback wakes it; nothing here asserts a duration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.order_placement_support import EXAMPLE, example_handler
from tests.workflow.conftest import API_KEY, PARKED_FOR_LONG
from tests.workflow.support import (
    executions_of,
    failed_task_errors,
    only_outcome,
    wait_until_all_finished,
    wait_until_parked,
)
from tiqets_tracker.errors import ConfigurationError
from tiqets_tracker.secret_store import clear_secret_cache
from tiqets_tracker.tracking import execution_arn_for
from tiqets_tracker_local import iam
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack
from tiqets_tracker_local.subscriber import OutcomeEvent, OutcomeQueue
from tiqets_tracker_local.template import ACCOUNT_ID, load_sam_template
from tiqets_tracker_local.webhook_server import LocalWebhookEndpoint

pytestmark = pytest.mark.workflow

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture(scope="module")
def app() -> Iterator[ModuleType]:
    with example_handler("order_placement_example_app_on_the_local_stack") as module:
        yield module


@pytest.fixture(scope="module")
def stack(tiqets: TiqetsSimulator) -> Iterator[LocalStack]:
    with LocalStack(
        tiqets_base_url=tiqets.base_url, api_key=API_KEY, parameters=PARKED_FOR_LONG
    ) as local_stack:
        yield local_stack


def _role(stack: LocalStack, name: str, *, start_tracking_policy: bool) -> iam.Identity:
    """A Lambda execution role with the tracker's StartTrackingPolicy (as the example's template
    attaches it) or with no policy at all; the credentials of a session of it."""
    client = stack.client("iam")
    arn = client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))[
        "Role"
    ]["Arn"]
    if start_tracking_policy:
        policy_arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/{stack.stack_name}-StartTrackingPolicy"
        client.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return iam.active().role(arn)


@pytest.fixture(scope="module")
def order_placement_role(stack: LocalStack) -> iam.Identity:
    return _role(stack, "order-placement-example", start_tracking_policy=True)


@pytest.fixture(scope="module")
def examples_queue(stack: LocalStack) -> OutcomeQueue:
    """A queue subscribed to the outcome bus by the example template's rule (its event pattern),
    standing for the example's OutcomeQueue."""
    rule = load_sam_template(EXAMPLE / "template.yaml")["Resources"]["OutcomesRule"]["Properties"]
    sqs = stack.client("sqs")
    events = stack.client("events")
    queue_url = sqs.create_queue(QueueName="order-placement-example-outcomes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="order-placement-example-outcomes",
        EventBusName=stack.event_bus_name,
        EventPattern=json.dumps(rule["EventPattern"]),
        State=rule["State"],
    )
    events.put_targets(
        Rule="order-placement-example-outcomes",
        EventBusName=stack.event_bus_name,
        Targets=[{"Id": "OutcomeQueue", "Arn": queue_arn}],
    )
    return OutcomeQueue(sqs, queue_url)


@pytest.fixture(autouse=True)
def settings(
    monkeypatch: pytest.MonkeyPatch, stack: LocalStack, endpoint: LocalWebhookEndpoint
) -> None:
    """What the example's template sets from the tracker stack's exports."""
    monkeypatch.setenv("TRACKER_STATE_MACHINE_ARN", stack.state_machine_arn)
    monkeypatch.setenv("TRACKER_WEBHOOK_URL", endpoint.url)
    monkeypatch.setenv("TRACKER_WEBHOOK_KEYS_SECRET", stack.webhook_keys_secret_name)


class SimulatorBooking:
    """The test's place_order_on_tiqets: books the order on the Tiqets simulator with the
    callback URL the handler signed, and, as the stub asks of real code, finds the order it
    booked before for the same external reference instead of booking another."""

    def __init__(self, tiqets: TiqetsSimulator, order_id: str, scenario: str) -> None:
        self._tiqets = tiqets
        self._order_id = order_id
        self._scenario = scenario
        self.booked: dict[str, str] = {}
        self.callback_urls: list[str] = []

    def __call__(self, order: Any, callback_url: str) -> str:
        self.callback_urls.append(callback_url)
        if order.external_reference not in self.booked:
            self._tiqets.add_order(
                self._order_id, self._scenario, callback_url=callback_url, lang=order.lang
            )
            self.booked[order.external_reference] = self._order_id
        return self.booked[order.external_reference]


@dataclass(frozen=True)
class DeployedExample:
    """The example as its template deploys it: the handler, its role, its outcome queue."""

    app: ModuleType
    role: iam.Identity
    queue: OutcomeQueue

    def invoke(self, event: dict[str, Any], booking: SimulatorBooking) -> dict[str, Any]:
        """What Lambda does: the handler, its AWS calls signed as its role; the answer as JSON."""
        with iam.acting_as(self.role):
            answer = self.app.lambda_handler(event, None, place_order=booking)
        result: dict[str, Any] = json.loads(json.dumps(answer))
        return result

    def received(self, order_id: str) -> list[OutcomeEvent]:
        """The order's events that reached the example's outcome queue."""
        return [e for e in self.queue.events() if e.detail["order_reference_id"] == order_id]


@pytest.fixture(scope="module")
def example(
    app: ModuleType, order_placement_role: iam.Identity, examples_queue: OutcomeQueue
) -> DeployedExample:
    return DeployedExample(app=app, role=order_placement_role, queue=examples_queue)


def test_an_order_placed_by_the_example_ends_in_tickets_ready_in_the_examples_queue(
    example: DeployedExample, stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    reference = f"shop-{order_id}"
    visit = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    booking = SimulatorBooking(tiqets, order_id, "instant")
    event = {"external_reference": reference, "lang": "nl", "visit_date": visit, "product_id": 1}

    result = example.invoke(event, booking)
    execution = stack.wait_for(result["execution_arn"], timeout=60)

    assert result == {
        "order_reference_id": order_id,
        "execution_arn": execution_arn_for(stack.state_machine_arn, order_id),
        "already_tracked": False,
    }
    assert execution["status"] == "SUCCEEDED"
    outcome = only_outcome(stack, order_id)
    assert outcome.detail_type == "TicketsReady"
    assert outcome.detail["order"]["external_reference"] == reference
    assert outcome.detail["order"]["lang"] == "nl"
    (delivered,) = example.received(order_id)
    assert delivered == outcome
    record = stack.record(order_id)
    assert record is not None
    assert record["visit_date"] == visit


def test_invoking_the_example_again_for_the_same_order_reports_it_already_tracked(
    example: DeployedExample, stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    event = {"external_reference": f"shop-{order_id}", "lang": "en"}
    booking = SimulatorBooking(tiqets, order_id, "instant")

    first = example.invoke(event, booking)
    stack.wait_for(first["execution_arn"], timeout=60)
    again = example.invoke(event, booking)  # a retried invocation
    wait_until_all_finished(stack, order_id)

    assert first["already_tracked"] is False
    assert again == first | {"already_tracked": True}
    assert len(executions_of(stack, order_id)) == 1
    assert only_outcome(stack, order_id).detail_type == "TicketsReady"
    assert [event.detail_type for event in example.received(order_id)] == ["TicketsReady"]


def test_the_callback_url_the_example_signed_wakes_the_parked_order(
    example: DeployedExample,
    stack: LocalStack,
    tiqets: TiqetsSimulator,
    endpoint: LocalWebhookEndpoint,
    order_id: str,
) -> None:
    reference = f"shop-{order_id}"
    booking = SimulatorBooking(tiqets, order_id, "always_pending")

    result = example.invoke({"external_reference": reference}, booking)
    wait_until_parked(stack, order_id)
    tiqets.set_status(order_id, "done")  # Tiqets fulfils it and calls the URL it was given
    execution = stack.wait_for(result["execution_arn"], timeout=60)

    (callback_url,) = booking.callback_urls
    assert callback_url.startswith(f"{endpoint.url}?")
    assert parse_qs(urlsplit(callback_url).query)["ref"] == [reference]
    assert tiqets.webhook_deliveries(order_id) == [200]
    assert execution["status"] == "SUCCEEDED"
    assert "States.Timeout" not in failed_task_errors(stack, result["execution_arn"])
    assert tiqets.ticket_calls(order_id) == 2
    assert only_outcome(stack, order_id).detail_type == "TicketsReady"
    assert [event.detail_type for event in example.received(order_id)] == ["TicketsReady"]


def test_without_the_start_tracking_policy_the_example_books_nothing(
    example: DeployedExample, stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    # The control of the tests above: the role they run as is what authorizes them. A new
    # container holds no webhook keys yet.
    clear_secret_cache()
    bare_role = _role(stack, "order-placement-example-bare", start_tracking_policy=False)
    booking = SimulatorBooking(tiqets, order_id, "instant")

    bare = DeployedExample(app=example.app, role=bare_role, queue=example.queue)

    with pytest.raises(ConfigurationError, match="AccessDenied"):
        bare.invoke({"external_reference": f"shop-{order_id}"}, booking)

    assert booking.callback_urls == []
    assert executions_of(stack, order_id) == []
