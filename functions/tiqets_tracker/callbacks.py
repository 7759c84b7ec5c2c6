"""Callback URLs that authenticate Tiqets' order-change webhooks, and what an authentic one does.

Tiqets signs nothing, so the URL the distributor registers as `callback_url` when it creates an
order carries a secret we issue. The Tiqets order ID is not known yet at that moment (Tiqets
assigns it), but the distributor's own `external_reference` is, so the secret is an HMAC over it:

    sig = base64url(HMAC-SHA256(key, b"tiqets-tracker/callback/v1\\x00" + external_reference))
    url = f"{webhook_url}?ref={quote(external_reference)}&sig={sig}"

A leaked URL can therefore wake only the orders of that one external reference: the webhook
checks that the order named in the (untrusted) body carries the same external reference in its
tracking record before it wakes anything. An order placed without an external reference gets a
stack-wide URL (no `ref`, the HMAC over the empty string) that can wake any tracked order; give
every order an external reference to keep each URL to one order.

Keys live in Secrets Manager as `{"current": "...", "previous": "..."}` (tiqets_tracker.secrets):
`current` signs new URLs, both verify. URLs handed to Tiqets stay valid as long as their key is
one of the two, so they survive one rotation. Warm Lambdas cache the keys for five minutes, so
rotate in two steps: first write the new key as `previous` (current unchanged) and wait five
minutes, so every verifier accepts it; then swap (`current` = new, `previous` = old). Drop the old
key only once no order signed with it can still be cancelled (after its visit date).

Nothing here logs, and no message built here contains a key or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from tiqets_tracker.errors import TiqetsTrackerError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.client import SFNClient

    from tiqets_tracker.records import TrackingRecords
    from tiqets_tracker.wakeups import WakeResult

__all__ = [
    "CALLBACK_PATH",
    "MAX_BODY_BYTES",
    "CallbackCredentials",
    "CallbackRejectedError",
    "callback_url",
    "callback_url_for_order",
    "is_well_formed_signature",
    "read_credentials",
    "read_order_reference_id",
    "verify_callback",
    "wake_for_callback",
]

CALLBACK_PATH = "/tiqets/callbacks"
MAX_BODY_BYTES = 4096
MAX_EXTERNAL_REFERENCE_CHARS = 255  # Tiqets' limit on external_reference

_DOMAIN = b"tiqets-tracker/callback/v1\x00"
_MIN_KEY_BYTES = 32  # secrets.MIN_WEBHOOK_KEY_BYTES, without importing boto3 here
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url, no padding, of 32 bytes
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
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


# -- signing and verifying ------------------------------------------------------------------


def _signature(key: bytes, external_reference: str | None) -> str:
    message = _DOMAIN + (external_reference or "").encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def callback_url(webhook_url: str, *, external_reference: str | None, key: bytes) -> str:
    """The callback URL to register with Tiqets for an order with this external reference
    (None: a stack-wide URL that any tracked order's webhook may use).

    `webhook_url` is the full route URL (the stack's `WebhookUrl` output, ending in
    /tiqets/callbacks), without a query string. Raises ValueError for a malformed argument."""
    parts = urlsplit(webhook_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("webhook_url must be an absolute http(s) URL")
    if parts.query or parts.fragment or webhook_url.endswith(("?", "#")):
        raise ValueError("webhook_url must carry no query string or fragment")
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"the signing key must be at least {_MIN_KEY_BYTES} bytes")
    if external_reference is None:
        return f"{webhook_url}?sig={_signature(key, None)}"
    if not 1 <= len(external_reference) <= MAX_EXTERNAL_REFERENCE_CHARS:
        raise ValueError(
            f"external_reference must be 1 to {MAX_EXTERNAL_REFERENCE_CHARS} characters, or None"
        )
    try:
        signature = _signature(key, external_reference)
    except UnicodeEncodeError:
        raise ValueError("external_reference must be encodable as UTF-8") from None
    return f"{webhook_url}?ref={quote(external_reference, safe='')}&sig={signature}"


def is_well_formed_signature(signature: object) -> bool:
    """Whether `signature` has the shape of one callback_url makes (43 base64url characters).
    Says nothing about whether it is right; lets a caller refuse junk before loading keys."""
    return isinstance(signature, str) and _SIGNATURE.fullmatch(signature) is not None


def verify_callback(external_reference: str | None, signature: str, keys: Sequence[bytes]) -> bool:
    """Whether `signature` is the callback signature of `external_reference` (None or "": the
    stack-wide URL) under any of `keys`.

    Every key is compared, in constant time and without stopping at a match, so the time taken
    tells neither whether nor which key matched. A malformed signature or reference is False,
    never an exception."""
    if not is_well_formed_signature(signature):
        return False
    if external_reference is not None and (
        not isinstance(external_reference, str)
        or len(external_reference) > MAX_EXTERNAL_REFERENCE_CHARS
    ):
        return False
    given = signature.encode("ascii")
    matched = False
    for key in keys:
        try:
            expected = _signature(key, external_reference).encode("ascii")
        except (UnicodeEncodeError, TypeError):
            return False
        matched |= hmac.compare_digest(expected, given)
    return matched


def callback_url_for_order(
    external_reference: str | None, *, webhook_url: str, keys_secret: str
) -> str:
    """The `callback_url` the order-placement Lambda passes to Tiqets when it creates an order:
    signed with the current key from the `keys_secret` secret (a name or ARN; see
    tiqets_tracker.secrets). Pass the same `external_reference` to Tiqets and to start_tracking:
    the webhook wakes an order only when the two agree.

        url = callback_url_for_order("shop-42", webhook_url=os.environ["TRACKER_WEBHOOK_URL"],
                                     keys_secret=os.environ["TRACKER_WEBHOOK_KEYS_SECRET"])

    The role needs secretsmanager:GetSecretValue on that secret. Raises ConfigurationError when
    the keys cannot be loaded, ValueError for a malformed argument."""
    from tiqets_tracker.secrets import load_webhook_keys

    current = load_webhook_keys(keys_secret)[0]
    return callback_url(webhook_url, external_reference=external_reference, key=current)


# -- reading a webhook request ----------------------------------------------------------------


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
    return text if _ORDER_ID.fullmatch(text) else None


# -- what an authentic callback does -----------------------------------------------------------


def wake_for_callback(
    order_reference_id: str,
    *,
    external_reference: str | None,
    records: TrackingRecords,
    stepfunctions: SFNClient,
    now: datetime,
    state_machine_arn: str,
) -> WakeResult:
    """Wake the tracker of the order named by an authentic callback, if the callback's URL was
    issued for that order.

    - No tracking record: UNKNOWN_ORDER, and nothing is written.
    - The URL carries an external reference and the order's is another (or none):
      CallbackRejectedError(403, `callback_not_for_this_order`), and nothing is written.
    - Otherwise whatever wake_tracker does (count the webhook, resume the parked execution, or
      start a re-check of a finished order).

    A flood of authentic callbacks cannot become a flood of Tiqets calls: the workflow pauses
    before a re-check after a raced webhook, and runs at most one re-check of a finished order
    at a time (see wakeups.py), so no limiter is needed here.
    """
    from tiqets_tracker.wakeups import WakeResult, wake_tracker

    item = records.get(order_reference_id)
    if item is None:
        return WakeResult.UNKNOWN_ORDER
    if external_reference is not None and _external_reference_of(item) != external_reference:
        raise CallbackRejectedError(403, "callback_not_for_this_order")
    return wake_tracker(
        order_reference_id,
        records=records,
        stepfunctions=stepfunctions,
        now=now,
        state_machine_arn=state_machine_arn,
    )


def _external_reference_of(item: Mapping[str, Any]) -> str | None:
    value = item.get("external_reference")
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None
