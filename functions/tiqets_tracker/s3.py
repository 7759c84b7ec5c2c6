"""The S3 adapter shared by the voucher step and the status check: S3 failures become the named
errors the state machine retries or catches, objects get the bucket's encryption, and large
files go up in parts (s3transfer) with SHA-256 checksums.

- `ConfigurationError`: the deployment is wrong (bucket, policy, role, KMS key); asking again
  will not help.
- `VoucherStoreUnavailableError`: S3 could not serve the request now (throttling, a service
  error, a dropped connection); the state machine retries, then pauses the order and checks it
  again.

Messages name the action and S3's error code, never a key's query string or a body.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import IO, TYPE_CHECKING, Any, Final

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

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from mypy_boto3_s3.client import S3Client

__all__ = [
    "PART_BYTES",
    "is_not_found",
    "kms_key_arguments",
    "s3_call",
    "s3_error",
    "sse_arguments",
    "upload_with_sha256",
    "voucher_kms_key_from_env",
]

PART_BYTES: Final = 8 * 1024 * 1024
"""Multipart part size; S3's minimum is 5 MiB for every part but the last. Files up to this size
go up in one PutObject."""

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


def kms_key_arguments(kms_key_id: str | None) -> dict[str, Any]:
    """What an upload must say to be encrypted with the customer's KMS key; nothing without one.
    The rest (SSE-S3 without a key, the bucket key) is the bucket's default encryption, which
    applies to an upload that does not say."""
    if not kms_key_id:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}


def sse_arguments(kms_key_id: str | None) -> dict[str, Any]:
    """Every server-side encryption argument of a PutObject, spelled out: SSE-KMS with the key
    when one is set, SSE-S3 otherwise."""
    if kms_key_id:
        # A bucket key spares a KMS request per object.
        return {**kms_key_arguments(kms_key_id), "BucketKeyEnabled": True}
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


@cache
def _transfer_config() -> TransferConfig:
    # Imported on first use, as the clients are (aws.py): importing boto3 is most of a cold start.
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        # s3transfer goes multipart from the threshold up: a file of exactly PART_BYTES still
        # goes up in one PutObject.
        multipart_threshold=PART_BYTES + 1,
        multipart_chunksize=PART_BYTES,
        # One part in memory at a time, read from the file just before it is sent, and no
        # thread pool to start in a function that has a fraction of a vCPU.
        use_threads=False,
        # Never the CRT transfer client, which ignores use_threads and the part size.
        preferred_transfer_client="classic",
    )


def upload_with_sha256(
    s3: S3Client,
    file: IO[bytes],
    *,
    bucket: str,
    key: str,
    size: int,
    sha256: bytes,
    extra_args: Mapping[str, Any],
) -> None:
    """Upload the `size` bytes of `file` (whose SHA-256 digest is `sha256`) to `key` with
    s3transfer: one PutObject up to PART_BYTES, a multipart upload of PART_BYTES parts beyond,
    completed only when every part is in and aborted on any failure.

    Every request carries a SHA-256 that S3 checks on receipt. A PutObject's is `sha256` itself,
    so bytes damaged since it was computed are refused too; a multipart object's is composed
    from its parts' (S3 keeps no whole-object SHA-256 for those).
    """
    arguments: dict[str, Any] = {**extra_args, "ChecksumAlgorithm": "SHA256"}
    if size <= PART_BYTES:
        arguments["ChecksumSHA256"] = base64.b64encode(sha256).decode("ascii")
    file.seek(0)
    try:
        s3.upload_fileobj(file, bucket, key, ExtraArgs=arguments, Config=_transfer_config())
    except ClientError as error:
        # s3transfer makes several calls: the error names the one that failed.
        raise s3_error(error, error.operation_name) from error
    except BotoCoreError as error:
        raise s3_error(error, "upload") from error
