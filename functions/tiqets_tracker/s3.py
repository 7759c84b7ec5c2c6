"""The S3 adapter shared by the voucher step and the status check: S3 failures become the named
errors the state machine retries or catches, and objects get the bucket's encryption.

- `ConfigurationError`: the deployment is wrong (bucket, policy, role, KMS key); asking again
  will not help.
- `VoucherStoreUnavailableError`: S3 could not serve the request now (throttling, a service
  error, a dropped connection); the state machine retries, then pauses the order and checks it
  again.

Messages name the action and S3's error code, never a key's query string or a body.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)

from tiqets_tracker.errors import (
    ConfigurationError,
    TiqetsTrackerError,
    VoucherStoreUnavailableError,
)

__all__ = ["is_not_found", "s3_call", "s3_error", "sse_arguments"]

# S3 error codes that say the deployment is wrong (bucket, permissions, key): retrying cannot help.
S3_CONFIGURATION_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "AuthorizationHeaderMalformed",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "InvalidBucketState",
        "KMS.DisabledException",
        "KMS.InvalidKeyUsageException",
        "KMS.KMSInvalidStateException",
        "KMS.NotFoundException",
        "NoSuchBucket",
        "PermanentRedirect",
        "SignatureDoesNotMatch",
    }
)
# S3 error codes that pass: throttling, server trouble, a body damaged on the way (S3 checked
# our checksum and refused it), a concurrent run aborting or completing the same upload.
S3_TRANSIENT_CODES: Final = frozenset(
    {
        "BadDigest",
        "ExpiredToken",
        "InternalError",
        "InvalidDigest",
        "KMS.ThrottlingException",
        "NoSuchUpload",
        "OperationAborted",
        "RequestTimeTooSkewed",
        "RequestTimeout",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "XAmzContentSHA256Mismatch",
    }
)
S3_NOT_FOUND_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})


def voucher_kms_key_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The KMS key the voucher bucket's objects are written with (VOUCHER_KMS_KEY_ID), or None
    for SSE-S3."""
    return (os.environ if environ is None else environ).get(
        "VOUCHER_KMS_KEY_ID", ""
    ).strip() or None


def sse_arguments(kms_key_id: str | None) -> dict[str, Any]:
    """The server-side encryption arguments of PutObject and CreateMultipartUpload: SSE-KMS with
    the key when one is set, SSE-S3 otherwise."""
    if kms_key_id:
        # A bucket key spares a KMS request per object.
        return {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": kms_key_id,
            "BucketKeyEnabled": True,
        }
    return {"ServerSideEncryption": "AES256"}


def s3_error(error: ClientError | BotoCoreError, action: str) -> TiqetsTrackerError:
    """A named error for an S3 failure: transient ones are retried by the state machine."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "Unknown"))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        reason = f"S3 {action} failed: {code}"
        if code in S3_CONFIGURATION_CODES or code == "403":
            return ConfigurationError(reason + " (check the bucket, its policy and the role)")
        if code in S3_TRANSIENT_CODES or status >= 500 or status in (408, 429):
            return VoucherStoreUnavailableError(reason)
        # Any other refusal (InvalidArgument, InvalidRequest, ...) is a deployment or code
        # problem: asking again the same way will not help.
        return ConfigurationError(reason)
    if isinstance(
        error, NoCredentialsError | PartialCredentialsError | NoRegionError | ParamValidationError
    ):
        return ConfigurationError(f"S3 {action} failed: {type(error).__name__}")
    # Connection trouble, timeouts, a damaged response (BotoConnectionError, HTTPClientError, ...).
    return VoucherStoreUnavailableError(f"S3 {action} failed: {type(error).__name__}")


@contextmanager
def s3_call(action: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise s3_error(error, action) from error


def is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in S3_NOT_FOUND_CODES
