"""Voucher Lambda: download, verify and store a `done` order's PDF tickets
(see tiqets_tracker.vouchers). Returns only the location; the file never enters the state.

With `"action": "mark_cancelled"` it tags an order's stored voucher as cancelled instead: the
state machine calls it so when Tiqets cancels an order after fulfilment."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiqets_tracker.aws import s3_client
from tiqets_tracker.errors import InvalidExecutionInputError, TiqetsTrackerError
from tiqets_tracker.logs import handler_logger
from tiqets_tracker.vouchers import VoucherConfig, VoucherRequest, mark_cancelled, store_voucher

logger = handler_logger()
metrics = Metrics()

# Time kept back from the download for the upload, the information document and an abort.
_MIN_UPLOAD_RESERVE_SECONDS = 10.0
_UPLOAD_RESERVE_SHARE = 0.3


def download_deadline(context: object, *, now: float) -> float | None:
    """The monotonic time by which the download must end so the step can still fail cleanly
    (abort its upload) before the Lambda times out; None when the context cannot tell."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    seconds = float(remaining()) / 1000
    reserve = max(_MIN_UPLOAD_RESERVE_SECONDS, seconds * _UPLOAD_RESERVE_SHARE)
    return now + max(seconds - reserve, 1.0)


@logger.inject_lambda_context(correlation_id_path="order.order_reference_id")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("action") == "mark_cancelled":
        return _mark_cancelled(event)
    try:
        config = VoucherConfig.from_env()
        request = VoucherRequest.from_event(event)
        stored = store_voucher(
            request,
            config=config,
            s3=s3_client(),
            deadline=download_deadline(context, now=time.monotonic()),
        )
    except TiqetsTrackerError as error:
        metrics.add_metric(name="VoucherFailures", unit=MetricUnit.Count, value=1)
        # The message never holds the voucher URL's query string.
        logger.warning(
            "voucher not stored", extra={"error": type(error).__name__, "reason": str(error)}
        )
        raise
    if stored.downloaded:
        metrics.add_metric(name="VouchersStored", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="VoucherBytes", unit=MetricUnit.Bytes, value=stored.size_bytes)
    else:
        metrics.add_metric(name="VouchersAlreadyStored", unit=MetricUnit.Count, value=1)
    logger.info(
        "voucher stored",
        extra={
            "bucket": stored.bucket,
            "key": stored.key,
            "size_bytes": stored.size_bytes,
            "sha256": stored.sha256,
            "downloaded": stored.downloaded,
        },
    )
    return stored.as_result()


def _mark_cancelled(event: dict[str, Any]) -> dict[str, Any]:
    order = event.get("order")
    if not isinstance(order, dict):
        raise InvalidExecutionInputError("order must be a JSON object")
    order_reference_id, lang = order.get("order_reference_id"), order.get("lang") or "en"
    if not isinstance(order_reference_id, str) or not isinstance(lang, str):
        raise InvalidExecutionInputError("order.order_reference_id and order.lang must be strings")
    marked = mark_cancelled(
        VoucherConfig.from_env().bucket, order_reference_id, lang, s3=s3_client()
    )
    metrics.add_metric(
        name="VouchersMarkedCancelled" if marked else "CancelledWithoutVoucher",
        unit=MetricUnit.Count,
        value=1,
    )
    logger.info("voucher marked cancelled" if marked else "no voucher stored to mark cancelled")
    return {"marked_cancelled": marked}
