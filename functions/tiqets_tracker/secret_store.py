"""Loading secrets from AWS Secrets Manager, with caching: the Tiqets API key (`load_api_key`) and
the keys that sign webhook callback URLs (`load_webhook_keys`). A source names the secret, by
name or ARN. The values' formats, and rotating keys: README, "Secrets: their formats, and
rotating keys".

Values are cached for `API_KEY_CACHE_SECONDS` (`WEBHOOK_KEYS_CACHE_SECONDS`) by Powertools'
parameter cache, which lives as long as the Lambda container: a rotated key takes up to that long
to reach a warm container, unless `clear_secret_cache()` is called (nothing in the tracker calls
it after a 401 today: a refused key ends the order in TrackingFailed; see OPERATIONS.md).

Secrecy: no secret value ever appears in a log record or in an error. A failure that may pass
(throttling, a service error, a dropped connection) raises `SecretStoreUnavailableError`, which
the state machine retries and the webhook answers with 503; every other failure raises
`ConfigurationError`. Either message names the source and the reason (an AWS error code, or what
is wrong with the value's shape) and carries no chained exception. While a value is being fetched,
botocore's debug log of raw response bodies (which would contain the value) is suppressed;
`aws_bodies_unlogged()` offers the same to code whose AWS calls carry other secrets (task tokens).

Named secret_store rather than secrets so that it never stands in for the standard library's
`secrets` module, which the local stack and the tests import beside it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tiqets_tracker.errors import ConfigurationError, SecretStoreUnavailableError
from tiqets_tracker.quiet_logs import aws_bodies_unlogged

__all__ = [
    "API_KEY_CACHE_SECONDS",
    "MIN_WEBHOOK_KEY_BYTES",
    "WEBHOOK_KEYS_CACHE_SECONDS",
    "aws_bodies_unlogged",  # re-exported from quiet_logs
    "clear_secret_cache",
    "load_api_key",
    "load_webhook_keys",
]

API_KEY_CACHE_SECONDS = 300
WEBHOOK_KEYS_CACHE_SECONDS = 300
MIN_WEBHOOK_KEY_BYTES = 32

_JSON_KEY_FIELD = "api_key"
_SAFE_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_WEBHOOK_KEY_FIELDS = ("current", "previous")  # the order load_webhook_keys returns them in
_BASE64_PREFIX = "base64:"
# Base64 in one alphabet (standard or URL-safe), padding optional.
_BASE64_TEXT = re.compile(r"(?:[A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}")

_T = TypeVar("_T")

# Answers that say Secrets Manager (or KMS behind it) could not serve the value now,
# not that the configuration is wrong, and botocore's names for a connection that failed.
_TRANSIENT_ERRORS = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "InternalServiceError",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "KMSThrottlingException",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "EndpointConnectionError",
        "ConnectionClosedError",
    }
)


@dataclass(frozen=True)
class _Failure:
    reason: str
    transient: bool = False


def load_api_key(source: str) -> str:
    """Return the Tiqets API key stored at `source` (see the module docstring for its forms),
    from the cache when it was read less than `API_KEY_CACHE_SECONDS` ago.

    Raises ConfigurationError (without the value, and without a chained exception) when the
    source is malformed, cannot be read, or holds no usable key.
    """
    return _load(source, "Tiqets API key", _parse_value, API_KEY_CACHE_SECONDS)


def load_webhook_keys(source: str) -> tuple[bytes, ...]:
    """Return the keys that sign and verify webhook callback URLs, stored at `source` as
    `{"current": "...", "previous": "..."}`: the current key first, then the previous one when
    there is one (and it differs). Cached like the API key, for `WEBHOOK_KEYS_CACHE_SECONDS`.

    Raises ConfigurationError (without the values, and without a chained exception) when the
    source is malformed, cannot be read, or does not hold that shape with keys of at least
    `MIN_WEBHOOK_KEY_BYTES` bytes.
    """
    return _load(source, "webhook signing keys", _parse_webhook_keys, WEBHOOK_KEYS_CACHE_SECONDS)


def clear_secret_cache() -> None:
    """Forget every cached value (and the AWS clients Powertools holds for them)."""
    from aws_lambda_powertools.utilities import parameters

    # Powertools leaves clear_caches unannotated.
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def _load(
    source: str,
    what: str,
    parse: Callable[[str | bytes], _T | _Failure],
    max_age: int,
) -> _T:
    if not isinstance(source, str) or not source.strip():
        raise ConfigurationError(
            f"{what} source is invalid: it is empty; set it to a Secrets Manager secret name or ARN"
        )
    name = source.strip()
    # The helpers return failures instead of raising them, so no exception is being handled
    # here: the ConfigurationError gets neither a __cause__ nor a __context__.
    fetched = _fetch(name, max_age)
    outcome = fetched if isinstance(fetched, _Failure) else parse(fetched)
    if isinstance(outcome, _Failure):
        error = SecretStoreUnavailableError if outcome.transient else ConfigurationError
        raise error(
            f"cannot load the {what} from Secrets Manager secret {name!r}: {outcome.reason}"
        ) from None
    return outcome


def _fetch(name: str, max_age: int) -> str | bytes | _Failure:
    # Imported here: the Parameters utility pulls in boto3 and more, and a cold start that never
    # reads a secret (a malformed event) should not pay for it.
    from aws_lambda_powertools.utilities import parameters

    try:
        with aws_bodies_unlogged():
            value: object = parameters.get_secret(name, max_age=max_age)
    except Exception as exc:  # every failure becomes a named one; see _error_name
        code = _error_name(exc)
        if code in _TRANSIENT_ERRORS:
            return _Failure(f"{code} (try again later)", transient=True)
        return _Failure(f"{code} (check that it exists and that this function's role may read it)")
    if isinstance(value, str | bytes):
        return value
    return _Failure(f"unexpected value type {type(value).__name__}")


def _as_text(raw: str | bytes) -> str | _Failure:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _Failure("the value is binary, not UTF-8 text")
    text = raw.strip()
    if not text:
        return _Failure("the value is empty")
    return text


def _parse_value(raw: str | bytes) -> str | _Failure:
    text = _as_text(raw)
    if isinstance(text, _Failure):
        return text
    # JSON only when it looks like it: a plain key made of digits must stay a plain key.
    if text[0] in '{["':
        try:
            document: object = json.loads(text)
        except ValueError:
            return _Failure(
                f'the value looks like JSON but is not valid JSON (expected {{"{_JSON_KEY_FIELD}": '
                '"..."} or the plain key)'
            )
        if not isinstance(document, dict) or _JSON_KEY_FIELD not in document:
            return _Failure(
                f'the value is JSON but not an object with an "{_JSON_KEY_FIELD}" field'
            )
        field = document[_JSON_KEY_FIELD]
        if not isinstance(field, str):
            return _Failure(f'the "{_JSON_KEY_FIELD}" field is not a string')
        text = field.strip()
        if not text:
            return _Failure(f'the "{_JSON_KEY_FIELD}" field is empty')
    # The key goes into an HTTP header: whitespace, control or non-ASCII characters inside it
    # would make the HTTP library raise an error that may quote the header value.
    if not all(char.isascii() and char.isprintable() and not char.isspace() for char in text):
        return _Failure("the key contains whitespace, control or non-ASCII characters")
    return text


def _parse_webhook_keys(raw: str | bytes) -> tuple[bytes, ...] | _Failure:
    text = _as_text(raw)
    if isinstance(text, _Failure):
        return text
    expected = '(expected {"current": "<key>", "previous": "<optional key>"})'
    try:
        document: object = json.loads(text)
    except ValueError:
        return _Failure(f"the value is not JSON {expected}")
    if not isinstance(document, dict) or "current" not in document:
        return _Failure(f'the value is not a JSON object with a "current" field {expected}')
    keys: list[bytes] = []
    for name in _WEBHOOK_KEY_FIELDS:
        field = document.get(name)
        if name == "previous" and field in (None, ""):
            continue  # no previous key: nothing is being rotated out
        if not isinstance(field, str):
            return _Failure(f'the "{name}" field is not a string')
        key = _webhook_key_bytes(field)
        if isinstance(key, _Failure):
            return _Failure(f'the "{name}" key {key.reason}')
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def _webhook_key_bytes(written: str) -> bytes | _Failure:
    """The key a field holds. `base64:<text>` is decoded; anything else is a text key, used as
    its UTF-8 bytes. An explicit prefix instead of a guess: a text key that happens to look
    like base64 must not turn into different bytes in one place than in another."""
    text = written.strip()
    if text.startswith(_BASE64_PREFIX):
        encoded = text.removeprefix(_BASE64_PREFIX).strip()
        if not _BASE64_TEXT.fullmatch(encoded) or len(encoded.rstrip("=")) % 4 == 1:
            return _Failure("is not valid base64 after its base64: prefix")
        unpadded = encoded.rstrip("=")
        try:
            key = base64.urlsafe_b64decode(
                unpadded.replace("+", "-").replace("/", "_") + "=" * (-len(unpadded) % 4)
            )
        except (binascii.Error, ValueError):
            return _Failure("is not valid base64 after its base64: prefix")
    else:
        key = text.encode("utf-8", "surrogatepass")
    if len(key) < MIN_WEBHOOK_KEY_BYTES:
        return _Failure(
            f"is shorter than {MIN_WEBHOOK_KEY_BYTES} bytes (make one with "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return key


def _error_name(exc: BaseException) -> str:
    """A safe name for a failure to read: the AWS error code when there is one (for example
    ResourceNotFoundException, AccessDeniedException), else the class name of
    the innermost exception (Powertools wraps the original one, e.g. NoCredentialsError).
    Never an exception's message, which is not ours to vouch for."""
    seen: set[int] = set()
    current: BaseException | None = exc
    innermost = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        innermost = current
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            error = response.get("Error")
            code = error.get("Code") if isinstance(error, dict) else None
            if isinstance(code, str) and _SAFE_ERROR_CODE.fullmatch(code):
                return code
        current = current.__cause__ or current.__context__
    return type(innermost).__name__
