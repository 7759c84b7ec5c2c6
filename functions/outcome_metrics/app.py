"""Outcome-metrics Lambda: a rule on the outcome bus invokes it once per published outcome; it
counts the outcome and how long after placement it came (see tiqets_tracker.outcome_metrics),
the figures the dashboard's outcome and time-to-outcome widgets read."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiqets_tracker.logs import handler_logger
from tiqets_tracker.outcome_metrics import measure_outcome

logger = handler_logger()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="detail.order_reference_id")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    measured = measure_outcome(event)
    metrics.add_dimension(name="outcome", value=measured.outcome.value)
    metrics.add_metric(name="Outcomes", unit=MetricUnit.Count, value=1)
    if measured.seconds_to_outcome is not None:
        metrics.add_metric(
            name="SecondsToOutcome", unit=MetricUnit.Seconds, value=measured.seconds_to_outcome
        )
    logger.info(
        "outcome measured",
        extra={
            "outcome": measured.outcome.value,
            "seconds_to_outcome": measured.seconds_to_outcome,
        },
    )
    return {"outcome": measured.outcome.value, "seconds_to_outcome": measured.seconds_to_outcome}
