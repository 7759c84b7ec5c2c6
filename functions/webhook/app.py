"""Webhook Lambda: receives Tiqets' order-change callbacks behind API Gateway (HTTP API, payload
format 2.0) and wakes the order's tracker (see tiqets_tracker.callback_requests and .wakeups).

    POST /tiqets/callbacks?ref=<external reference>&sig=<signature>
    {"order_reference_id": "1111111"}

Answers, always JSON:
- 200 `{"result": "<WakeResult>"}` for every authentic callback, also when there is nothing to
  wake (unknown order, finished order, stale token): Tiqets retries anything else and then
  e-mails the distributor.
- 4xx `{"error": "<reason>"}` for a request that is not an authentic, well-formed callback, with
  nothing changed: 401 missing_signature, 403 bad_signature, 403 callback_not_for_this_order,
  400 missing_body / body_not_json / invalid_order_reference_id / ambiguous_query,
  413 body_too_large, 404 not_found, 405 method_not_allowed.
- 429 `{"error": "recheck_too_soon"}` with Retry-After for an authentic callback for a finished
  order re-checked less than a minute ago: Tiqets retries it, so nothing is lost.
- 503 `{"error": "try_again_later"}` when AWS (DynamoDB, Step Functions, Secrets Manager) or the
  configuration fails: Tiqets retries after 1, 2, 4 and 8 minutes, which is what we want.

The order of checks keeps an unauthenticated request away from the tracking table: signature,
then body, then the order's record. No Tiqets call is made here: the workflow asks Tiqets.
Rate limiting per order lives in the domain: the workflow pauses before a re-check after a raced
webhook and stops parking after a budget of early wake-ups, and a finished order gets at most one
re-check a minute (the 429 above), so a flood of authentic callbacks cannot become a flood of
Tiqets calls.

Never logged: the signature, the query string, the raw path, the body and the task token. Logged:
the order ID, the result or the reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

# Importing it installs the filter that drops the resolver's debug records (POWERTOOLS_DEBUG),
# which quote the request's raw path.
from tiqets_tracker import quiet_logs  # noqa: F401
from tiqets_tracker.callback_requests import (
    CallbackRejectedError,
    read_credentials,
    read_order_reference_id,
)
from tiqets_tracker.callback_urls import CALLBACK_PATH, is_well_formed_signature, verify_callback
from tiqets_tracker.errors import (
    ConfigurationError,
    SecretStoreUnavailableError,
    TrackingStoreUnavailableError,
    WorkflowUnavailableError,
)
from tiqets_tracker.logs import handler_logger
from tiqets_tracker.settings import require_env
from tiqets_tracker.wakeups import MIN_RECHECK_INTERVAL, WakeResult, wake_for_callback

# debug=False always: Powertools' debug mode (POWERTOOLS_DEV, POWERTOOLS_EVENT_HANDLER_DEBUG)
# prints every event, whose query string holds the callback secret.
app = APIGatewayHttpResolver(debug=False)
logger = handler_logger()
metrics = Metrics()


RETRY_AFTER_SECONDS = "60"


@app.post(CALLBACK_PATH)
def receive_callback() -> Response[str]:
    event = app.current_event
    credentials = read_credentials(event.get("rawQueryString"), event.get("queryStringParameters"))
    if credentials.signature is None:
        raise CallbackRejectedError(401, "missing_signature")
    if not is_well_formed_signature(credentials.signature):
        raise CallbackRejectedError(403, "bad_signature")
    # Imported here, not at module scope: boto3 is needed only once a request carries a
    # plausible signature, so junk hitting a cold container does not pay for it.
    from tiqets_tracker.secret_store import aws_bodies_unlogged, load_webhook_keys

    keys = load_webhook_keys(require_env("WEBHOOK_KEYS_SECRET"))
    if not verify_callback(credentials.external_reference, credentials.signature, keys):
        raise CallbackRejectedError(403, "bad_signature")
    order_reference_id = read_order_reference_id(
        event.get("body"), is_base64_encoded=event.get("isBase64Encoded") is True
    )
    logger.append_keys(order_reference_id=order_reference_id)

    from tiqets_tracker.aws import dynamodb_client, stepfunctions_client
    from tiqets_tracker.records import TrackingRecords

    records = TrackingRecords(require_env("TRACKING_TABLE_NAME"), dynamodb_client())
    state_machine_arn = require_env("STATE_MACHINE_ARN")
    # The record read and the wake-up carry the task token: keep botocore's body logs quiet.
    with aws_bodies_unlogged():
        result = wake_for_callback(
            order_reference_id,
            external_reference=credentials.external_reference,
            records=records,
            stepfunctions=stepfunctions_client(),
            now=datetime.now(UTC),
            state_machine_arn=state_machine_arn,
        )
    if result is WakeResult.UNKNOWN_ORDER:
        # Authentic, but no record: never tracked here, or its record expired (records.py).
        logger.warning("callback for an order not tracked", extra={"result": result.value})
    else:
        logger.info("callback handled", extra={"result": result.value})
    if result is WakeResult.RECHECK_DEFERRED:
        # The order was re-checked moments ago: Tiqets retries a non-200 within minutes.
        return _answer(
            429,
            {"error": "recheck_too_soon"},
            outcome=result.value,
            headers={"Retry-After": str(int(MIN_RECHECK_INTERVAL.total_seconds()))},
        )
    return _answer(200, {"result": result.value}, outcome=result.value)


# Powertools leaves exception_handler unannotated.
@app.exception_handler(CallbackRejectedError)  # type: ignore[untyped-decorator]
def rejected(error: CallbackRejectedError) -> Response[str]:
    logger.warning(
        "callback rejected", extra={"reason": error.reason, "status_code": error.status_code}
    )
    return _answer(error.status_code, {"error": error.reason}, outcome=error.reason)


@app.not_found
def no_such_route(error: NotFoundError) -> Response[str]:
    # Behind the deployed HTTP API only POST /tiqets/callbacks reaches this function; a
    # $default route or the local endpoint forward everything.
    if app.current_event.path == CALLBACK_PATH:
        reason, status_code, headers = "method_not_allowed", 405, {"Allow": "POST"}
    else:
        reason, status_code, headers = "not_found", 404, {}
    logger.warning("callback rejected", extra={"reason": reason, "status_code": status_code})
    return _answer(status_code, {"error": reason}, outcome=reason, headers=headers)


@app.exception_handler(  # type: ignore[untyped-decorator]
    [
        TrackingStoreUnavailableError,
        WorkflowUnavailableError,
        SecretStoreUnavailableError,
        ConfigurationError,
    ]
)
def unavailable(
    error: TrackingStoreUnavailableError
    | WorkflowUnavailableError
    | SecretStoreUnavailableError
    | ConfigurationError,
) -> Response[str]:
    # These messages are ours and name no secret (errors.py, secret_store.py).
    logger.error(
        "callback not handled now",
        extra={"reason": "try_again_later", "error": type(error).__name__, "detail": str(error)},
    )
    return _answer(
        503,
        {"error": "try_again_later"},
        outcome="try_again_later",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def failed(error: Exception) -> Response[str]:
    # A bug. Its message is not ours to vouch for (it may quote the request): log where, not what.
    logger.error(
        "callback failed unexpectedly",
        extra={"reason": "internal_error", "error": type(error).__name__, "at": _where(error)},
    )
    return _answer(500, {"error": "internal_error"}, outcome="internal_error")


def _answer(
    status_code: int,
    body: dict[str, str],
    *,
    outcome: str,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    metrics.add_dimension(name="outcome", value=outcome)
    metrics.add_metric(name="WebhookRequests", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


def _where(error: BaseException) -> str:
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return "unknown"
    return f"{frame.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.tb_lineno}"


def _is_http_api_event(event: object) -> bool:
    if not isinstance(event, dict):
        return False
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    return (
        isinstance(http, dict)
        and isinstance(http.get("method"), str)
        and isinstance(event.get("rawPath"), str)
    )


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not _is_http_api_event(event):
        # Not from an HTTP API with payload format 2.0 (a misconfigured integration or a test
        # invoke): say so instead of failing inside the resolver.
        logger.warning("callback rejected", extra={"reason": "unsupported_event"})
        metrics.add_dimension(name="outcome", value="unsupported_event")
        metrics.add_metric(name="WebhookRequests", unit=MetricUnit.Count, value=1)
        return {
            "statusCode": 400,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps({"error": "unsupported_event"}, separators=(",", ":")),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)
