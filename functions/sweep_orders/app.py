"""Sweep Lambda, run on a schedule: restarts tracked orders whose execution ended without an
outcome, gives up on those restarted too often, and publishes what it did
(see tiqets_tracker.sweep). Its event (the schedule's) is ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiqets_tracker.aws import dynamodb_client, events_client, stepfunctions_client
from tiqets_tracker.logs import handler_logger
from tiqets_tracker.records import TrackingRecords
from tiqets_tracker.settings import require_env
from tiqets_tracker.sweep import SweepAction, sweep_orders

logger = handler_logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweep_orders(
        records=TrackingRecords(require_env("TRACKING_TABLE_NAME"), dynamodb_client()),
        stepfunctions=stepfunctions_client(),
        events=events_client(),
        event_bus_name=require_env("EVENT_BUS_NAME"),
        state_machine_arn=require_env("STATE_MACHINE_ARN"),
        now=datetime.now(UTC),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    for action in SweepAction:
        count = sum(1 for swept in report.swept if swept.action is action)
        metrics.add_metric(name=f"Sweep{action.value}", unit=MetricUnit.Count, value=count)
    if not report.stopped_early:
        # Gauges for the dashboard, from a whole pass only (a partial one would under-count):
        # orders open longer than sweep.MIN_OPEN_AGE, and those of them with a live execution.
        metrics.add_metric(name="OpenOrders", unit=MetricUnit.Count, value=report.open_orders)
        metrics.add_metric(name="RunningExecutions", unit=MetricUnit.Count, value=report.running)
    # After the counts: an order abandoned by a sweep that then fails (its event unpublished)
    # still trips OrdersAbandonedAlarm, besides SweepFailedAlarm.
    report.raise_for_unpublished()
    return report.to_json()
