"""The sweep's decisions against moto (DynamoDB with the template's OpenOrders index, Step
Functions without running executions, EventBridge): the cases the local-stack tests in
tests/workflow/test_sweep.py cannot reach, such as a restart that never started, a record
from before executions were recorded, a race with the order's own execution, and an action
whose event cannot be published."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3
import pytest
from moto import mock_aws

from tests.conftest import emf_records, use_fake_aws
from tests.lambda_context import lambda_context
from tests.tracking_table import create_tracking_table
from tiqets_tracker.errors import SweepActionNotPublishedError
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.records import TrackingRecords
from tiqets_tracker.sweep import MAX_SWEEP_RESTARTS, MIN_OPEN_AGE, SweepReport, sweep_orders
from tiqets_tracker.tracking import execution_arn_for

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_stepfunctions.client import SFNClient

pytestmark = pytest.mark.moto

REGION: Final = "eu-west-1"
TABLE: Final = "tiqets-tracker-sweep-test"
BUS: Final = "tiqets-tracker-sweep-test-outcomes"
NOW = datetime(2026, 6, 2, 12, 0, 0, tzinfo=UTC)
OPENED = NOW - MIN_OPEN_AGE - timedelta(hours=1)
# Never runs anything: the sweep only starts and describes executions.
DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


@dataclass
class World:
    dynamodb: DynamoDBClient
    stepfunctions: SFNClient
    events: EventBridgeClient
    records: TrackingRecords
    state_machine_arn: str

    def sweep(self, *, event_bus_name: str = BUS) -> SweepReport:
        return sweep_orders(
            records=self.records,
            stepfunctions=self.stepfunctions,
            events=self.events,
            event_bus_name=event_bus_name,
            state_machine_arn=self.state_machine_arn,
            now=NOW,
        )

    def open_order(self, order_id: str, *, execution_arn: str | None) -> None:
        """A record as the first status check leaves it."""
        order = OrderToTrack(
            order_reference_id=order_id,
            lang="nl",
            external_reference=f"shop-{order_id}",
            placed_at=OPENED,
        )
        self.records.begin_check(order, OPENED, execution_arn=execution_arn)

    def record(self, order_id: str) -> dict[str, Any]:
        item = self.records.get(order_id)
        assert item is not None
        return item

    def executions(self) -> list[str]:
        listed = self.stepfunctions.list_executions(stateMachineArn=self.state_machine_arn)
        return sorted(execution["name"] for execution in listed["executions"])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    use_fake_aws(monkeypatch, REGION)
    with mock_aws():
        dynamodb: DynamoDBClient = boto3.client("dynamodb", region_name=REGION)
        create_tracking_table(dynamodb, TABLE)
        stepfunctions: SFNClient = boto3.client("stepfunctions", region_name=REGION)
        arn = stepfunctions.create_state_machine(
            name="tracker",
            definition=json.dumps(DEFINITION),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]
        events: EventBridgeClient = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=BUS)
        yield World(dynamodb, stepfunctions, events, TrackingRecords(TABLE, dynamodb), arn)


def test_an_order_whose_restart_never_started_is_restarted_again(world: World) -> None:
    never_started = execution_arn_for(world.state_machine_arn, "1111111-sweep-1")
    world.open_order("1111111", execution_arn=never_started)

    report = world.sweep()

    assert [order.order_reference_id for order in report.swept] == ["1111111"]
    (swept,) = report.swept
    assert swept.previous_execution_status == "MISSING"
    assert swept.restarts == 1
    assert world.executions() == ["1111111-sweep-1"]
    started = world.stepfunctions.describe_execution(
        executionArn=execution_arn_for(world.state_machine_arn, "1111111-sweep-1")
    )
    assert json.loads(started["input"]) == {
        "order_reference_id": "1111111",
        "lang": "nl",
        "external_reference": "shop-1111111",
        "placed_at": "2026-06-02T10:55:00.000Z",
        "visit_date": None,
    }
    record = world.record("1111111")
    assert record["sweep_restarts"] == {"N": "1"}
    assert record["tracking_state"] == {"S": "active"}


def test_a_record_without_an_execution_is_left_alone(world: World) -> None:
    world.open_order("2222222", execution_arn=None)

    report = world.sweep()

    assert report.swept == []
    assert report.skipped == 1
    assert world.executions() == []


def test_orders_opened_in_the_last_minutes_are_not_looked_at(world: World) -> None:
    order = OrderToTrack(
        order_reference_id="3333333", lang="en", external_reference=None, placed_at=NOW
    )
    world.records.begin_check(
        order, NOW - MIN_OPEN_AGE / 2, execution_arn=execution_arn_for(world.state_machine_arn, "x")
    )

    report = world.sweep()

    assert report.open_orders == 0
    assert world.executions() == []


def test_a_record_taken_over_since_the_sweep_read_it_is_not_restarted(world: World) -> None:
    gone = execution_arn_for(world.state_machine_arn, "4444444")
    world.open_order("4444444", execution_arn=gone)

    taken_over = world.records.claim_sweep_restart(
        "4444444",
        seen_execution_arn=execution_arn_for(world.state_machine_arn, "some-other-execution"),
        restarted_execution_arn=execution_arn_for(world.state_machine_arn, "4444444-sweep-1"),
        now=NOW,
    )

    assert taken_over is False
    assert world.record("4444444")["execution_arn"] == {"S": gone}


def test_an_order_restarted_too_often_is_taken_out_of_the_index(world: World) -> None:
    gone = execution_arn_for(world.state_machine_arn, "5555555-sweep-3")
    world.open_order("5555555", execution_arn=gone)
    world.dynamodb.update_item(
        TableName=TABLE,
        Key={"order_reference_id": {"S": "5555555"}},
        UpdateExpression="SET sweep_restarts = :restarts",
        ExpressionAttributeValues={":restarts": {"N": str(MAX_SWEEP_RESTARTS)}},
    )

    report = world.sweep()

    (swept,) = report.swept
    assert swept.action.value == "TrackingAbandoned"
    assert world.executions() == []
    record = world.record("5555555")
    assert "sweep_partition" not in record
    assert "open_since" not in record
    assert record["sweep_gave_up_at"] == {"S": "2026-06-02T12:00:00.000Z"}
    assert world.sweep().open_orders == 0


def test_an_action_whose_event_cannot_be_published_stands_and_fails_the_sweep(
    world: World,
) -> None:
    for order_id in ("6666661", "6666662"):
        world.open_order(
            order_id, execution_arn=execution_arn_for(world.state_machine_arn, order_id)
        )

    report = world.sweep(event_bus_name="no-such-bus")

    assert report.unpublished == ["6666661", "6666662"]
    with pytest.raises(SweepActionNotPublishedError, match="2 sweep event"):
        report.raise_for_unpublished()

    # Both orders were restarted (the first failed publish did not stop the sweep), once each.
    assert world.executions() == ["6666661-sweep-1", "6666662-sweep-1"]
    assert world.sweep().swept == []


def test_an_order_a_webhook_just_handed_to_a_re_check_is_left_alone(world: World) -> None:
    """The re-check execution records itself only at its first check: until then the record
    still names the ended execution, and a restart would run a second one beside it."""
    world.open_order("7777777", execution_arn=execution_arn_for(world.state_machine_arn, "x"))
    world.dynamodb.update_item(
        TableName=TABLE,
        Key={"order_reference_id": {"S": "7777777"}},
        UpdateExpression="SET last_recheck_at = :moments_ago",
        ExpressionAttributeValues={":moments_ago": {"S": "2026-06-02T11:59:00.000Z"}},
    )

    report = world.sweep()

    assert report.swept == []
    assert report.skipped == 1
    assert world.executions() == []


@dataclass
class HandlerRun:
    """One invocation of the sweep Lambda's handler: its report (None if it raised), what it
    raised, and the metrics it printed (EMF)."""

    report: dict[str, Any] | None
    raised: Exception | None
    metrics: list[dict[str, Any]]


def sweep_handler(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    *,
    remaining_millis: int,
    event_bus_name: str = BUS,
) -> HandlerRun:
    """The sweep Lambda's handler over the world. Its metrics are read from a redirected stdout,
    not capsys: the handler's logger keeps the stdout it finds when its module is first imported,
    and capsys closes its stream after the test."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tiqets-tracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TiqetsTracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("TRACKING_TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENT_BUS_NAME", event_bus_name)
    monkeypatch.setenv("STATE_MACHINE_ARN", world.state_machine_arn)
    from sweep_orders.app import lambda_handler

    from tiqets_tracker.aws import forget_clients

    forget_clients()
    printed = io.StringIO()
    report: dict[str, Any] | None = None
    raised: Exception | None = None
    with contextlib.redirect_stdout(printed):
        try:
            report = lambda_handler({}, lambda_context("sweep", remaining_millis=remaining_millis))
        except SweepActionNotPublishedError as error:
            raised = error
    return HandlerRun(report, raised, emf_records(printed.getvalue()))


def test_a_whole_sweep_reports_open_orders_and_running_executions_as_gauges(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = world.stepfunctions.start_execution(
        stateMachineArn=world.state_machine_arn, name="5555555"
    )["executionArn"]
    world.open_order("5555555", execution_arn=running)
    world.open_order("6666666", execution_arn=None)

    run = sweep_handler(world, monkeypatch, remaining_millis=60_000)

    (metrics,) = run.metrics
    assert run.report is not None
    assert run.report["open_orders"] == 2
    assert metrics["OpenOrders"] == [2.0]
    assert metrics["RunningExecutions"] == [1.0]
    assert metrics["SweepTrackingRestarted"] == [0.0]


def test_a_sweep_that_stopped_early_reports_no_gauges(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.open_order("7777777", execution_arn=None)

    run = sweep_handler(world, monkeypatch, remaining_millis=5_000)

    (metrics,) = run.metrics
    assert run.report is not None
    assert run.report["stopped_early"] is True
    assert "OpenOrders" not in metrics
    assert "RunningExecutions" not in metrics


def test_a_sweep_that_fails_to_publish_still_counts_what_it_did(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OrdersAbandonedAlarm reads SweepTrackingAbandoned: an abandonment whose event could not
    be published is counted before the sweep fails."""
    gone = execution_arn_for(world.state_machine_arn, "8888888-sweep-3")
    world.open_order("8888888", execution_arn=gone)
    world.dynamodb.update_item(
        TableName=TABLE,
        Key={"order_reference_id": {"S": "8888888"}},
        UpdateExpression="SET sweep_restarts = :restarts",
        ExpressionAttributeValues={":restarts": {"N": str(MAX_SWEEP_RESTARTS)}},
    )
    run = sweep_handler(world, monkeypatch, remaining_millis=60_000, event_bus_name="no-such-bus")

    (metrics,) = run.metrics
    assert isinstance(run.raised, SweepActionNotPublishedError)
    assert "8888888" in str(run.raised)
    assert metrics["SweepTrackingAbandoned"] == [1.0]
    assert metrics["OpenOrders"] == [1.0]
