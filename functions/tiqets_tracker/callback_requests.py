"""Reading a Tiqets webhook request: the callback URL's credentials and the order it names.

The body is never trusted: it only names an order to check now. Every refusal is a
CallbackRejectedError with a short reason that never quotes the request.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from tiqets_tracker.errors import TiqetsTrackerError
from tiqets_tracker.validation import ORDER_REFERENCE_ID

__all__ = [
    "MAX_BODY_BYTES",
    "CallbackCredentials",
    "CallbackRejectedError",
    "read_credentials",
    "read_order_reference_id",
]

MAX_BODY_BYTES = 4096

_ORDER_ID_FIELDS = ("order_reference_id", "orderReferenceId")
_MAX_QUERY_FIELDS = 20
# The longest base64 text that can decode to MAX_BODY_BYTES, with room for line breaks.
_MAX_BASE64_CHARS = (MAX_BODY_BYTES + 2) // 3 * 4 + 64


class CallbackRejectedError(TiqetsTrackerError):
    """A webhook request that must be refused with a 4xx. `reason` is short and
    machine-readable (`bad_signature`, `body_not_json`, ...) and never quotes the request."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(f"{status_code} {reason}")
        self.status_code = status_code
        self.reason = reason


@dataclass(frozen=True)
class CallbackCredentials:
    """What the callback URL's query string claims: whose URL it is and its signature."""

    external_reference: str | None
    signature: str | None

    def __repr__(self) -> str:  # the signature is a secret: keep it out of any printout
        return f"CallbackCredentials(external_reference={self.external_reference!r})"


def read_credentials(
    raw_query_string: str | None, query_parameters: Mapping[str, str] | None = None
) -> CallbackCredentials:
    """`ref` and `sig` from the raw query string (API Gateway's `rawQueryString`), or from the
    already decoded `queryStringParameters` when there is no raw one. An empty `ref` is no
    `ref`. A repeated `ref` or `sig` is ambiguous and refused (400 `ambiguous_query`)."""
    pairs: list[tuple[str, str]]
    if raw_query_string:
        try:
            pairs = parse_qsl(
                raw_query_string, keep_blank_values=True, max_num_fields=_MAX_QUERY_FIELDS
            )
        except ValueError:
            raise CallbackRejectedError(400, "ambiguous_query") from None
    elif query_parameters:
        pairs = [(str(name), str(value)) for name, value in query_parameters.items()]
    else:
        pairs = []
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in ("ref", "sig"):
            if name in found:
                raise CallbackRejectedError(400, "ambiguous_query")
            found[name] = value
    return CallbackCredentials(
        external_reference=found.get("ref") or None, signature=found.get("sig") or None
    )


def read_order_reference_id(body: object, *, is_base64_encoded: bool = False) -> str:
    """The order reference ID from a webhook body (API Gateway's `body`, base64 when
    `is_base64_encoded`), or CallbackRejectedError: 400 `missing_body`, 413 `body_too_large`
    (over MAX_BODY_BYTES), 400 `body_not_json` (not a JSON object), 400
    `invalid_order_reference_id` (neither `order_reference_id` nor `orderReferenceId` holds a
    string or a non-negative integer of 1 to 64 characters [A-Za-z0-9_-])."""
    raw = _body_bytes(body, is_base64_encoded)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
        document: object = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise CallbackRejectedError(400, "body_not_json") from None
    if not isinstance(document, dict):
        raise CallbackRejectedError(400, "body_not_json")
    # Both spellings may be present, but then they must agree.
    found = {_order_id_of(document[field]) for field in _ORDER_ID_FIELDS if field in document}
    if len(found) != 1:
        raise CallbackRejectedError(400, "invalid_order_reference_id")
    (order_reference_id,) = found
    if order_reference_id is None:
        raise CallbackRejectedError(400, "invalid_order_reference_id")
    return order_reference_id


def _body_bytes(body: object, is_base64_encoded: bool) -> bytes:
    if body is None or body == "":
        raise CallbackRejectedError(400, "missing_body")
    if not isinstance(body, str):
        raise CallbackRejectedError(400, "body_not_json")
    if is_base64_encoded:
        if len(body) > _MAX_BASE64_CHARS:
            raise CallbackRejectedError(413, "body_too_large")
        try:
            raw = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRejectedError(400, "body_not_json") from None
    else:
        # Every character is at least one byte: a longer text is too large before encoding.
        if len(body) > MAX_BODY_BYTES:
            raise CallbackRejectedError(413, "body_too_large")
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise CallbackRejectedError(400, "body_not_json") from None
    if len(raw) > MAX_BODY_BYTES:
        raise CallbackRejectedError(413, "body_too_large")
    if not raw:
        raise CallbackRejectedError(400, "missing_body")
    return raw


def _order_id_of(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value < 0:
            return None
        text = str(value) if value < 10**64 else ""
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if ORDER_REFERENCE_ID.fullmatch(text) else None
