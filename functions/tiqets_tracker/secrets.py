"""Loading the Tiqets API key from AWS Secrets Manager or SSM Parameter Store, with caching.

The source names where the key lives:

- a Secrets Manager secret name or ARN: `tiqets-tracker/api-key`,
  `arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiqets-tracker/api-key-AbCdEf`;
- an SSM SecureString parameter, prefixed `ssm:`: `ssm:/tiqets-tracker/api-key` (read with
  decryption). A bare SSM parameter ARN (`arn:aws:ssm:...:parameter/...`) is read from SSM too,
  since it can never name a secret.

The value is either the key itself or a JSON object holding it in `api_key`
(`{"api_key": "..."}`, the shape the Secrets Manager console writes for key/value secrets).
Surrounding whitespace (a trailing newline from `echo`) is removed.

Values are cached for `API_KEY_CACHE_SECONDS` by Powertools' parameter cache, which lives as long
as the Lambda container: a rotated key takes up to that long to reach a warm container, unless
`clear_secret_cache()` is called (for example after Tiqets answers 401).

Secrecy: the key never appears in a log record or in an error. Every failure raises
`ConfigurationError` whose message names the source and the reason (an AWS error code, or what is
wrong with the value's shape) and carries no chained exception. While the key is being fetched,
botocore's debug log of raw response bodies (which would contain the value) is suppressed.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools.utilities import parameters

from tiqets_tracker.errors import ConfigurationError

__all__ = ["API_KEY_CACHE_SECONDS", "clear_secret_cache", "load_api_key"]

API_KEY_CACHE_SECONDS = 300

_SSM_PREFIX = "ssm:"
_JSON_KEY_FIELD = "api_key"
_SAFE_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# botocore loggers that write raw HTTP bodies at DEBUG level: `botocore.parsers` logs every
# response body, which for GetSecretValue / GetParameter is the secret itself.
_BODY_LOGGERS = ("botocore.parsers", "botocore.endpoint")

_fetching_secret: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tiqets_tracker_fetching_secret", default=False
)


class _DropRecordsWhileFetchingSecret(logging.Filter):
    """Drops records of botocore's body loggers while this module fetches a secret value."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _fetching_secret.get()


_BODY_LOG_FILTER = _DropRecordsWhileFetchingSecret()
for _logger_name in _BODY_LOGGERS:
    logging.getLogger(_logger_name).addFilter(_BODY_LOG_FILTER)


@dataclass(frozen=True)
class _Source:
    store: Literal["secretsmanager", "ssm"]
    name: str

    def describe(self) -> str:
        if self.store == "ssm":
            return f"SSM parameter {self.name!r}"
        return f"Secrets Manager secret {self.name!r}"


@dataclass(frozen=True)
class _Failure:
    reason: str


def load_api_key(source: str) -> str:
    """Return the Tiqets API key stored at `source` (see the module docstring for its forms),
    from the cache when it was read less than `API_KEY_CACHE_SECONDS` ago.

    Raises ConfigurationError (without the value, and without a chained exception) when the
    source is malformed, cannot be read, or holds no usable key.
    """
    where = _parse_source(source)
    if isinstance(where, _Failure):
        raise ConfigurationError(f"Tiqets API key source is invalid: {where.reason}")
    # The helpers return failures instead of raising them, so no exception is being handled
    # here: the ConfigurationError gets neither a __cause__ nor a __context__.
    outcome = _read_api_key(where)
    if isinstance(outcome, _Failure):
        raise ConfigurationError(
            f"cannot load the Tiqets API key from {where.describe()}: {outcome.reason}"
        ) from None
    return outcome


def clear_secret_cache() -> None:
    """Forget every cached value (and the AWS clients Powertools holds for them)."""
    # Powertools leaves clear_caches unannotated.
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def _parse_source(source: str) -> _Source | _Failure:
    if not isinstance(source, str) or not source.strip():
        return _Failure("it is empty; set it to a Secrets Manager secret name or ARN, or ssm:/name")
    source = source.strip()
    if source.startswith(_SSM_PREFIX):
        name = source.removeprefix(_SSM_PREFIX).strip()
        if not name:
            return _Failure(f"{source!r} names no SSM parameter after {_SSM_PREFIX!r}")
        return _Source("ssm", name)
    if source.startswith("arn:") and source.split(":")[2:3] == ["ssm"]:
        return _Source("ssm", source)
    return _Source("secretsmanager", source)


def _read_api_key(source: _Source) -> str | _Failure:
    fetched = _fetch(source)
    if isinstance(fetched, _Failure):
        return fetched
    return _parse_value(fetched)


def _fetch(source: _Source) -> str | bytes | _Failure:
    token = _fetching_secret.set(True)
    try:
        if source.store == "ssm":
            return parameters.get_parameter(
                source.name, decrypt=True, max_age=API_KEY_CACHE_SECONDS
            )
        value: object = parameters.get_secret(source.name, max_age=API_KEY_CACHE_SECONDS)
    except Exception as exc:  # every failure becomes a ConfigurationError; see _error_name
        return _Failure(
            f"{_error_name(exc)} (check that it exists and that this function's role may read it)"
        )
    finally:
        _fetching_secret.reset(token)
    if isinstance(value, str | bytes):
        return value
    return _Failure(f"unexpected value type {type(value).__name__}")


def _parse_value(raw: str | bytes) -> str | _Failure:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _Failure("the value is binary, not UTF-8 text")
    text = raw.strip()
    if not text:
        return _Failure("the value is empty")
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


def _error_name(exc: BaseException) -> str:
    """A safe name for a failure to read: the AWS error code when there is one (for example
    ResourceNotFoundException, AccessDeniedException, ParameterNotFound), else the class name of
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
