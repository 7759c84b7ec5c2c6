"""The errors this project names.

A Lambda that raises one of these reports its class name as the error type, and that name is what
the state machine's `Retry` and `Catch` fields match (`statemachine/order_tracking.asl.json`).
Renaming a class is therefore a change to the workflow, and `tests/unit/test_error_names.py`
checks that every name the definition matches exists here.

No message built here ever contains an API key, a webhook secret or a task token.
"""

from __future__ import annotations


class TiqetsTrackerError(Exception):
    """Base class of every error this project raises on purpose."""


class TiqetsUnavailableError(TiqetsTrackerError):
    """Tiqets could not answer now, but may later: 429, 5xx, timeouts, dropped connections,
    or an answer we could not read.

    The status check absorbs these and tries again after its failure back-off; it raises this
    error to the state machine only when the retry budget is spent, which ends the order in
    `TrackingFailed`.
    """

    def __init__(self, reason: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds


class TiqetsResponseInvalidError(TiqetsUnavailableError):
    """Tiqets answered 200 with a body we cannot use: not JSON, a missing field, an unknown
    status, a voucher URL that is not a URL. Treated as retryable, since a proxy error page or a
    half-deployed API fixes itself more often than not; the retry budget bounds it."""


class TiqetsRequestRejectedError(TiqetsTrackerError):
    """Tiqets refused the request for good (400, 401, 403, 404, 405 and other 4xx but 429):
    the configuration or the order is wrong and asking again will not help."""

    def __init__(self, reason: str, *, status_code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class InvalidExecutionInputError(TiqetsTrackerError):
    """The execution input (or the tracker state handed to a Lambda) is malformed.
    The message says which field is wrong and why, without echoing long values."""


class InvalidOutcomeEventError(TiqetsTrackerError):
    """An event handed to the outcome-metrics Lambda is not an outcome the tracker published."""


class ConfigurationError(TiqetsTrackerError):
    """A required setting (environment variable, secret) is missing or malformed."""


class VoucherDownloadError(TiqetsTrackerError):
    """The voucher could not be fetched whole and verified this time: a timeout, a truncated or
    empty body, a body that is not a PDF. Retried by the state machine; when retries run out the
    order ends in `TrackingFailed` so a person can act."""


class VoucherStoreUnavailableError(TiqetsTrackerError):
    """S3 could not store or read a voucher or an order's information this time (throttling, a
    service error, a dropped connection). An AWS failure, not the order's: the state machine
    retries the step, then pauses the order and checks it again; it never ends the order."""


class SecretStoreUnavailableError(TiqetsTrackerError):
    """Secrets Manager could not hand out a secret this time (throttling, a service error, a
    dropped connection). Retried like the other AWS failures; the webhook answers 503."""


class VoucherRejectedError(TiqetsTrackerError):
    """The voucher URL or file is refused for good: not https, an address that must not be
    reached from here, or larger than the configured maximum."""


class TrackingStoreUnavailableError(TiqetsTrackerError):
    """The tracking table could not be read or written (throttling, a service error).
    The state machine retries the step, then pauses the order and checks it again; the order is
    not lost and does not end because of it."""


class WorkflowUnavailableError(TiqetsTrackerError):
    """Step Functions could not be reached or refused a call (a wake-up, a re-check, a restart
    or a look at an execution) for a reason that may pass. The webhook answers 503 so that
    Tiqets calls back later; a sweep that meets it fails and runs again on schedule."""


class SweepActionNotPublishedError(TiqetsTrackerError):
    """The sweep acted on an order (a restart, giving up) but could not publish the event that
    says so. The action stands; the sweep's invocation fails so that its error alarm fires."""
