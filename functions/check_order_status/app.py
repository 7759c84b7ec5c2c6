"""Status-check Lambda: one round of the tracking loop (see tiqets_tracker.checking)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiqets_tracker.aws import dynamodb_client
from tiqets_tracker.checking import begins_tracking, check_order
from tiqets_tracker.errors import (
    ConfigurationError,
    TiqetsRequestRejectedError,
    TiqetsTrackerError,
    TiqetsUnavailableError,
)
from tiqets_tracker.logs import handler_logger
from tiqets_tracker.records import TrackingRecords, retention_from_env
from tiqets_tracker.secret_store import load_api_key
from tiqets_tracker.settings import TiqetsConfig, require_env
from tiqets_tracker.tiqets import Tickets, TiqetsClient

logger = handler_logger()
metrics = Metrics()
# The errors that end tracking at once (the state machine's Catch routes them to TrackingFailed):
# a first check that raises one of them still started an order. After any other error the state
# machine checks again with the same state, and that check counts it.
_ENDS_TRACKING = (TiqetsRequestRejectedError, TiqetsUnavailableError, ConfigurationError)


@cache
def _tiqets_client(
    base_url: str, api_key: str, connect_timeout: float, read_timeout: float
) -> TiqetsClient:
    # Keyed on the key too, so a rotated secret gets a fresh client after the cache expires.
    return TiqetsClient(
        api_key, base_url, connect_timeout=connect_timeout, read_timeout=read_timeout
    )


class _TiqetsOnFirstUse:
    """Loads the API key and builds the client only when a check asks Tiqets, so a malformed
    event is refused without touching Secrets Manager."""

    def get_tickets(self, order_reference_id: str, lang: str = "en") -> Tickets:
        return tiqets_client().get_tickets(order_reference_id, lang)


class _InformationOnFirstUse:
    """Builds the S3 client only when a done order's information is staged: most checks find
    an order pending and never need it."""

    def stage(self, order_reference_id: str, lang: str, information: Mapping[str, Any]) -> str:
        from tiqets_tracker.aws import s3_client
        from tiqets_tracker.information import InformationStore

        return InformationStore.from_env(s3_client()).stage(order_reference_id, lang, information)


def tiqets_client() -> TiqetsClient:
    config = TiqetsConfig.from_env()
    return _tiqets_client(
        config.base_url,
        load_api_key(config.api_key_source),
        config.connect_timeout,
        config.read_timeout,
    )


@logger.inject_lambda_context(correlation_id_path="order.order_reference_id")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = TrackingRecords(
        require_env("TRACKING_TABLE_NAME"),
        dynamodb_client(),
        retention=retention_from_env("TRACKING_RETENTION_DAYS"),
    )
    starts_order = begins_tracking(event)
    try:
        result = check_order(
            event,
            now=datetime.now(UTC),
            tiqets=_TiqetsOnFirstUse(),
            records=records,
            information=_InformationOnFirstUse(),
        )
    except TiqetsTrackerError as error:
        metrics.add_dimension(name="error", value=type(error).__name__)
        metrics.add_metric(name="FailedChecks", unit=MetricUnit.Count, value=1)
        if starts_order and isinstance(error, _ENDS_TRACKING):
            metrics.add_metric(name="OrdersStarted", unit=MetricUnit.Count, value=1)
        raise
    # One metric, StatusChecks, per status seen ("tiqets_error" when Tiqets failed to answer).
    seen = result.state["status"] if result.state.get("last_error") is None else "tiqets_error"
    metrics.add_dimension(name="status", value=str(seen))
    metrics.add_metric(name="StatusChecks", unit=MetricUnit.Count, value=1)
    if starts_order:
        # Under the same dimensions as StatusChecks (Powertools writes one dimension set per
        # invocation); the dashboard sums it over them.
        metrics.add_metric(name="OrdersStarted", unit=MetricUnit.Count, value=1)
    logger.info(
        "order checked",
        extra={
            "status": result.state["status"],
            "outcome": result.state["outcome"],
            "checks_made": result.state["checks_made"],
            "next_wait_seconds": result.state["next_wait_seconds"],
            "last_error": result.state.get("last_error"),
        },
    )
    return result.state
