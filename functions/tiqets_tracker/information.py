"""A done order's informational fields, staged beside its voucher instead of in the state.

Tiqets' answer for a done order carries free text of any length (how to use, important
information, conditions...). An execution's state holds at most 256 KB, and on AWS an oversized
state ends the execution with `States.DataLimitExceeded`, which no `States.ALL` Catch stops
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). So the
status check stores these fields in the voucher bucket, at `staged_information_key(...)`, and the
state carries only that key; the voucher step reads them back into the order's information
document (vouchers.py).
"""

from __future__ import annotations

import hashlib
import json
from base64 import b64encode
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tiqets_tracker.errors import InvalidExecutionInputError, VoucherStoreUnavailableError
from tiqets_tracker.s3 import (
    is_not_found,
    s3_call,
    s3_error,
    sse_arguments,
    voucher_kms_key_from_env,
)
from tiqets_tracker.settings import require_env

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["InformationStore", "check_staged_information_key", "staged_information_key"]

STAGED_INFORMATION_CONTENT_TYPE = "application/json; charset=utf-8"
STAGED_INFORMATION_NAME = "tiqets_information.json"


def staged_information_key(order_reference_id: str, lang: str) -> str:
    """Where the status check stages an order's informational fields (template.yaml grants it
    PutObject on exactly these keys)."""
    return f"vouchers/{order_reference_id}/{lang}/{STAGED_INFORMATION_NAME}"


def check_staged_information_key(raw: object, order_reference_id: str, lang: str) -> str | None:
    """The staged key a step's input names, which must be the order's own (a step must not be
    pointed at another object of the bucket), or None."""
    if raw is None:
        return None
    if not isinstance(raw, str) or raw != staged_information_key(order_reference_id, lang):
        raise InvalidExecutionInputError(
            "information_key must be null or the order's staged information key"
        )
    return raw


class InformationStore:
    """Stages and reads back the informational fields of done orders in the voucher bucket."""

    def __init__(self, bucket: str, s3: S3Client, *, kms_key_id: str | None = None) -> None:
        self.bucket = bucket
        self._s3 = s3
        self._kms_key_id = kms_key_id

    @classmethod
    def from_env(cls, s3: S3Client) -> InformationStore:
        """The store of the voucher bucket the function's environment names."""
        return cls(require_env("VOUCHER_BUCKET_NAME"), s3, kms_key_id=voucher_kms_key_from_env())

    def __repr__(self) -> str:
        return f"InformationStore(bucket={self.bucket!r})"

    def stage(self, order_reference_id: str, lang: str, information: Mapping[str, Any]) -> str:
        """Store the fields as JSON; return their key. Storing again overwrites (idempotent)."""
        key = staged_information_key(order_reference_id, lang)
        body = json.dumps(dict(information), ensure_ascii=False, sort_keys=True).encode("utf-8")
        with s3_call("PutObject"):
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=STAGED_INFORMATION_CONTENT_TYPE,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=b64encode(hashlib.sha256(body).digest()).decode("ascii"),
                **sse_arguments(self._kms_key_id),
            )
        return key

    def load(self, key: str) -> dict[str, Any]:
        """The fields staged at `key`. A missing or unreadable document raises
        VoucherStoreUnavailableError: the order is checked again, which stages it anew."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if is_not_found(error):
                raise VoucherStoreUnavailableError(
                    f"the staged information {key} is missing; the order is checked again"
                ) from None
            raise s3_error(error, "GetObject") from None
        except BotoCoreError as error:
            raise s3_error(error, "GetObject") from None
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise VoucherStoreUnavailableError(f"the staged information {key} is not a JSON object")
        return document
