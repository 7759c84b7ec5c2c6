"""Callback URLs that authenticate Tiqets' order-change webhooks: signing and verifying them.

Tiqets signs nothing, so the URL the distributor registers as `callback_url` when it creates an
order carries a secret we issue. The Tiqets order ID is not known yet at that moment (Tiqets
assigns it), but the distributor's own `external_reference` is, so the secret is an HMAC over it:

    sig = base64url(HMAC-SHA256(key, b"tiqets-tracker/callback/v1\\x00" + external_reference))
    url = f"{webhook_url}?ref={quote(external_reference)}&sig={sig}"

A leaked URL can therefore wake only the orders of that one external reference: the webhook
checks that the order named in the (untrusted) body carries the same external reference in its
tracking record before it wakes anything (wakeups.wake_for_callback). An order placed without an
external reference gets a stack-wide URL (no `ref`, the HMAC over the empty string) that can
wake any tracked order. Keys, and how to rotate them without breaking URLs already handed to
Tiqets: README, "Operate a deployed stack".

Nothing here logs, and no message built here contains a key or a signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from tiqets_tracker.validation import schema_definition

__all__ = [
    "CALLBACK_PATH",
    "MAX_EXTERNAL_REFERENCE_CHARS",
    "callback_url",
    "callback_url_for_order",
    "is_well_formed_signature",
    "verify_callback",
]

CALLBACK_PATH = "/tiqets/callbacks"
MAX_EXTERNAL_REFERENCE_CHARS: int = schema_definition("external_reference")["maxLength"]

_DOMAIN = b"tiqets-tracker/callback/v1\x00"
_MIN_KEY_BYTES = 32  # secrets.MIN_WEBHOOK_KEY_BYTES, without importing boto3 here
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url, no padding, of 32 bytes


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
    tiqets_tracker.secret_store). Pass the same `external_reference` to Tiqets and to
    start_tracking: the webhook wakes an order only when the two agree.

        url = callback_url_for_order("shop-42", webhook_url=os.environ["TRACKER_WEBHOOK_URL"],
                                     keys_secret=os.environ["TRACKER_WEBHOOK_KEYS_SECRET"])

    The role needs secretsmanager:GetSecretValue on that secret. Raises ConfigurationError when
    the keys cannot be loaded, ValueError for a malformed argument."""
    from tiqets_tracker.secret_store import load_webhook_keys

    current = load_webhook_keys(keys_secret)[0]
    return callback_url(webhook_url, external_reference=external_reference, key=current)
