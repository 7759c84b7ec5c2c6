"""Voucher storage: download an order's PDF tickets, verify them, keep them in S3.

`store_voucher` is the whole step the state machine runs when an order is `done`:

1. Idempotency first: when `vouchers/{order}/{lang}/tickets.pdf` already exists with the
   `sha256` and `size` metadata this module writes, nothing is downloaded; the information
   document beside it is written if it is missing, and the same location is returned.
2. Download into an anonymous temporary file in the Lambda's ephemeral storage (`/tmp`), never
   holding the whole file in memory, from public addresses only (voucher_download.py,
   download_guard.py).
3. Verify before anything reaches S3: a non-empty body of the announced length, a PDF's first
   and last bytes, the size limit (voucher_download.py).
4. Upload the verified file with s3transfer (s3.upload_with_sha256): one PutObject up to
   8 MiB, otherwise a multipart upload of 8 MiB parts read back from the spool file one at a
   time. Every request carries a SHA-256 so S3 verifies what it receives, and any failure
   aborts the multipart upload: S3 never shows a half-written voucher.
5. Write the information document `vouchers/{order}/{lang}/order.json` (order fields, Tiqets'
   informational fields as the status check staged them (information.py), the voucher's checksum
   and size) after the PDF, so that a re-run after a failure in between completes it without
   downloading again.

Why spool to disk rather than stream parts straight into S3: the object's metadata (its SHA-256
and size) must be given when the upload starts, and is only known once the download ends. A
disk spool lets the object be created once, with its final metadata, only after the file is
verified: no temporary key, no server-side copy, nothing left in the bucket by a crash. The
Lambda's ephemeral storage must therefore hold `VOUCHER_MAX_BYTES` (the 512 MB default holds the
100 MiB default limit).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from tiqets_tracker.download_guard import Resolver, resolve_host
from tiqets_tracker.errors import ConfigurationError, InvalidExecutionInputError
from tiqets_tracker.information import InformationStore, check_staged_information_key
from tiqets_tracker.s3 import (
    is_not_found,
    kms_key_arguments,
    s3_call,
    s3_error,
    sse_arguments,
    upload_with_sha256,
    voucher_kms_key_from_env,
)
from tiqets_tracker.settings import float_env, require_env
from tiqets_tracker.validation import LANGS, ORDER_REFERENCE_ID, check
from tiqets_tracker.voucher_download import download_pdf

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_READ_TIMEOUT_SECONDS",
    "StoredVoucher",
    "VoucherConfig",
    "VoucherRequest",
    "information_key",
    "mark_cancelled",
    "store_voucher",
    "voucher_key",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 104_857_600
"""100 MiB: `VOUCHER_MAX_BYTES` when unset."""
MAX_MAX_BYTES: Final = 10 * 1024**3
"""`VOUCHER_MAX_BYTES` may not exceed the largest ephemeral storage a Lambda can have (10 GiB)."""
CONNECT_TIMEOUT_SECONDS: Final = 3.05
DEFAULT_READ_TIMEOUT_SECONDS: Final = 30.0

PDF_CONTENT_TYPE: Final = "application/pdf"
INFORMATION_CONTENT_TYPE: Final = "application/json; charset=utf-8"
CANCELLED_TAG: Final = ("order-status", "cancelled")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,19}")


# --------------------------------------------------------------------------------------------
# Configuration, input and result
# --------------------------------------------------------------------------------------------


def _int_env(name: str, default: int, environ: Mapping[str, str] | None) -> int:
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    if not _DIGITS.fullmatch(raw):
        raise ConfigurationError(f"{name} must be a whole number of bytes, not {raw[:20]!r}")
    value = int(raw)
    if not 0 < value <= MAX_MAX_BYTES:
        raise ConfigurationError(f"{name} must be between 1 and {MAX_MAX_BYTES} bytes")
    return value


def _bool_env(name: str, environ: Mapping[str, str] | None) -> bool:
    raw = (os.environ if environ is None else environ).get(name, "").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ConfigurationError(f"{name} must be 'true' or 'false', not {raw[:20]!r}")


@dataclass(frozen=True)
class VoucherConfig:
    """How vouchers are fetched and stored (environment variables set by template.yaml)."""

    bucket: str
    max_bytes: int = DEFAULT_MAX_BYTES
    kms_key_id: str | None = None
    """SSE-KMS with this key when set, SSE-S3 (AES256) otherwise."""
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS
    allow_loopback_http: bool = False
    """Local stack only: also allow http(s) to hosts that resolve only to loopback addresses."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VoucherConfig:
        return cls(
            bucket=require_env("VOUCHER_BUCKET_NAME", environ),
            max_bytes=_int_env("VOUCHER_MAX_BYTES", DEFAULT_MAX_BYTES, environ),
            kms_key_id=voucher_kms_key_from_env(environ),
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=float_env(
                "VOUCHER_DOWNLOAD_TIMEOUT_SECONDS", DEFAULT_READ_TIMEOUT_SECONDS, environ
            ),
            allow_loopback_http=_bool_env("VOUCHER_ALLOW_LOOPBACK_HTTP", environ),
        )

    def encryption_arguments(self) -> dict[str, Any]:
        """The information document's server-side encryption arguments, spelled out (the PDF's
        upload names only a customer KMS key: s3.kms_key_arguments)."""
        return sse_arguments(self.kms_key_id)


VOUCHER_STEP_INPUT_SCHEMA: Final = "voucher_step_input.schema.json"


def voucher_key(order_reference_id: str, lang: str) -> str:
    """The voucher's S3 key: one per order and language."""
    return f"vouchers/{order_reference_id}/{lang}/tickets.pdf"


def information_key(order_reference_id: str, lang: str) -> str:
    """The key of the JSON document stored beside the voucher."""
    return f"vouchers/{order_reference_id}/{lang}/order.json"


def _check_key_parts(order_reference_id: object, lang: object) -> tuple[str, str]:
    if not isinstance(order_reference_id, str) or not ORDER_REFERENCE_ID.fullmatch(
        order_reference_id
    ):
        raise InvalidExecutionInputError(
            "order.order_reference_id must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'"
        )
    if not isinstance(lang, str) or lang not in LANGS:
        raise InvalidExecutionInputError("order.lang must be one of Tiqets' languages")
    return order_reference_id, lang


@dataclass(frozen=True)
class VoucherRequest:
    """What the state machine hands the voucher step (see events/store_vouchers.json)."""

    order_reference_id: str
    lang: str
    external_reference: str | None
    placed_at: str | None
    tickets_pdf_url: str
    information_key: str | None = None
    """Where the status check staged the order's informational fields (information.py)."""

    @classmethod
    def from_event(cls, event: object) -> VoucherRequest:
        """Read the handler's event; InvalidExecutionInputError says which field is wrong."""
        check(VOUCHER_STEP_INPUT_SCHEMA, event, what="the voucher step's input")
        data = cast(Mapping[str, Any], event)
        order = data["order"]
        order_reference_id, lang = order["order_reference_id"], order.get("lang") or "en"
        url = data["tickets_pdf_url"]
        information_key = check_staged_information_key(
            data.get("information_key"), order_reference_id, lang
        )
        return cls(
            order_reference_id=order_reference_id,
            lang=lang,
            external_reference=order.get("external_reference"),
            placed_at=order.get("placed_at"),
            tickets_pdf_url=url.strip(),
            information_key=information_key,
        )


@dataclass(frozen=True)
class StoredVoucher:
    """Where a verified voucher is stored. Only this location travels in the execution state."""

    bucket: str
    key: str
    information_key: str
    size_bytes: int
    sha256: str
    """Hex SHA-256 of the PDF."""
    downloaded: bool = True
    """False when the voucher was already stored and nothing was downloaded (not in the result)."""

    def as_result(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "information_key": self.information_key,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------


def _head(s3: S3Client, bucket: str, key: str) -> dict[str, Any] | None:
    """HeadObject's answer, or None when there is no such object."""
    try:
        return dict(s3.head_object(Bucket=bucket, Key=key))
    except ClientError as error:
        if is_not_found(error):
            return None
        raise s3_error(error, "HeadObject") from error
    except BotoCoreError as error:
        raise s3_error(error, "HeadObject") from error


def _stored_checksum(head: Mapping[str, Any]) -> tuple[str, int] | None:
    """The (sha256, size) a voucher stored by this module carries, or None for anything else."""
    metadata = head.get("Metadata") or {}
    sha256 = str(metadata.get("sha256", ""))
    size = str(metadata.get("size", ""))
    if not _SHA256_HEX.fullmatch(sha256) or not _DIGITS.fullmatch(size):
        return None
    if head.get("ContentLength") is not None and int(head["ContentLength"]) != int(size):
        return None
    return sha256, int(size)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _metadata(request: VoucherRequest, sha256_hex: str, size: int) -> dict[str, str]:
    return {
        "order-reference-id": request.order_reference_id,
        "lang": request.lang,
        "sha256": sha256_hex,
        "size": str(size),
    }


def _information_document(
    request: VoucherRequest,
    information: Mapping[str, Any] | None,
    *,
    bucket: str,
    key: str,
    sha256_hex: str,
    size: int,
) -> bytes:
    document = {
        "order_reference_id": request.order_reference_id,
        "external_reference": request.external_reference,
        "lang": request.lang,
        "placed_at": request.placed_at,
        "information": dict(information) if information is not None else None,
        "voucher": {
            "bucket": bucket,
            "key": key,
            "content_type": PDF_CONTENT_TYPE,
            "sha256": sha256_hex,
            "size_bytes": size,
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def _staged_information(
    s3: S3Client, config: VoucherConfig, request: VoucherRequest
) -> dict[str, Any] | None:
    if request.information_key is None:
        return None
    return InformationStore(config.bucket, s3).load(request.information_key)


def _put_information(
    s3: S3Client,
    config: VoucherConfig,
    request: VoucherRequest,
    information: Mapping[str, Any] | None,
    *,
    key: str,
    sha256_hex: str,
    size: int,
) -> str:
    info_key = information_key(request.order_reference_id, request.lang)
    body = _information_document(
        request, information, bucket=config.bucket, key=key, sha256_hex=sha256_hex, size=size
    )
    with s3_call("PutObject"):
        s3.put_object(
            Bucket=config.bucket,
            Key=info_key,
            Body=body,
            ContentType=INFORMATION_CONTENT_TYPE,
            Metadata=_metadata(request, sha256_hex, size),
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=_b64(hashlib.sha256(body).digest()),
            **config.encryption_arguments(),
        )
    return info_key


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------


def store_voucher(
    request: VoucherRequest,
    *,
    config: VoucherConfig,
    s3: S3Client,
    resolver: Resolver = resolve_host,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> StoredVoucher:
    """Download, verify and store one order's voucher; return where it is.

    `deadline` (a `clock()` value) bounds the download so the step fails cleanly, aborting its
    upload, before the Lambda times out.

    Raises VoucherRejectedError for a URL or file refused for good (not https, a non-public
    address, over the size limit), VoucherDownloadError for a download that may work next time
    (timeouts, truncated, empty or non-PDF bodies, HTTP errors), VoucherStoreUnavailableError
    for a transient S3 failure, ConfigurationError
    for an S3 refusal that only a deployment fix cures (AccessDenied, NoSuchBucket, ...).
    """
    key = voucher_key(request.order_reference_id, request.lang)
    info_key = information_key(request.order_reference_id, request.lang)

    existing = _head(s3, config.bucket, key)
    stored = _stored_checksum(existing) if existing is not None else None
    if stored is not None:
        sha256_hex, size = stored
        if _head(s3, config.bucket, info_key) is None:
            information = _staged_information(s3, config, request)
            _put_information(
                s3, config, request, information, key=key, sha256_hex=sha256_hex, size=size
            )
        _log.info("voucher %s already stored (%d bytes); nothing downloaded", key, size)
        return StoredVoucher(config.bucket, key, info_key, size, sha256_hex, downloaded=False)

    # Read before the download, so that a missing document costs no download.
    information = _staged_information(s3, config, request)
    started = clock()
    # An anonymous file (O_TMPFILE on Linux): gone when closed, even if the process dies.
    with tempfile.TemporaryFile(prefix="voucher-") as spool:
        downloaded = download_pdf(
            request.tickets_pdf_url,
            spool,
            max_bytes=config.max_bytes,
            timeout=(config.connect_timeout, config.read_timeout),
            allow_loopback_http=config.allow_loopback_http,
            resolver=resolver,
            deadline=deadline,
            clock=clock,
        )
        sha256_hex = downloaded.sha256.hex()
        _log.info(
            "voucher downloaded and verified: %d bytes in %.2f s",
            downloaded.size,
            clock() - started,
        )
        upload_with_sha256(
            s3,
            spool,
            bucket=config.bucket,
            key=key,
            size=downloaded.size,
            sha256=downloaded.sha256,
            extra_args={
                "ContentType": PDF_CONTENT_TYPE,
                "Metadata": _metadata(request, sha256_hex, downloaded.size),
                # The bucket's default encryption (template.yaml: SSE-S3, or the customer's KMS
                # key, with a bucket key either way) covers an upload that names no key.
                **kms_key_arguments(config.kms_key_id),
            },
        )

    _put_information(
        s3, config, request, information, key=key, sha256_hex=sha256_hex, size=downloaded.size
    )
    _log.info("voucher stored at s3://%s/%s in %.2f s", config.bucket, key, clock() - started)
    return StoredVoucher(config.bucket, key, info_key, downloaded.size, sha256_hex)


def mark_cancelled(bucket: str, order_reference_id: str, lang: str, *, s3: S3Client) -> bool:
    """Tag the order's stored voucher and information document `order-status=cancelled`
    (other tags are kept). False when no voucher is stored for this order and language."""
    order_reference_id, lang = _check_key_parts(order_reference_id, lang)
    key = voucher_key(order_reference_id, lang)
    if _head(s3, bucket, key) is None:
        return False
    for target in (key, information_key(order_reference_id, lang)):
        try:
            tags = s3.get_object_tagging(Bucket=bucket, Key=target)["TagSet"]
        except ClientError as error:
            if is_not_found(error) and target != key:
                continue
            raise s3_error(error, "GetObjectTagging") from error
        except BotoCoreError as error:
            raise s3_error(error, "GetObjectTagging") from error
        tag_key, tag_value = CANCELLED_TAG
        kept = [tag for tag in tags if tag["Key"] != tag_key]
        with s3_call("PutObjectTagging"):
            s3.put_object_tagging(
                Bucket=bucket,
                Key=target,
                Tagging={"TagSet": [*kept, {"Key": tag_key, "Value": tag_value}]},
            )
    _log.info("voucher %s tagged %s=%s", key, *CANCELLED_TAG)
    return True
