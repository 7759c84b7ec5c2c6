"""Keeping secrets out of library logs: one filter on every logger that can write one.

- botocore's `botocore.parsers` and `botocore.endpoint` write raw request and response bodies at
  DEBUG: for GetSecretValue that is the secret itself, and a tracking record read or written can
  hold a task token. Dropped while `aws_bodies_unlogged()` is active.
- urllib3's `urllib3.connectionpool` and `urllib3.util.retry` log request lines, query string
  included, at DEBUG (and retries at WARNING): while a voucher is fetched that can be a
  pre-signed URL. Dropped while `voucher_urls_unlogged()` is active.
- Powertools' HTTP resolver writes the request's raw path (the callback secret's neighbour) in
  its DEBUG records (POWERTOOLS_DEBUG): those are always dropped.

"Active" is per thread or task (a context variable). Standard library only, so importing this
costs nothing at a cold start.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Final

__all__ = ["aws_bodies_unlogged", "voucher_urls_unlogged"]

_AWS_BODIES: Final = "aws bodies"
_VOUCHER_URLS: Final = "voucher URLs"
# Each logger, and what its records may carry while that is hidden.
_CARRIERS: Final[dict[str, str]] = {
    "botocore.parsers": _AWS_BODIES,
    "botocore.endpoint": _AWS_BODIES,
    "urllib3.connectionpool": _VOUCHER_URLS,
    "urllib3.util.retry": _VOUCHER_URLS,
}
_DEBUG_NEVER: Final = ("aws_lambda_powertools.event_handler.api_gateway",)

_hidden: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "tiqets_tracker_hidden_in_logs", default=frozenset()
)


class _DropSecretCarryingRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _DEBUG_NEVER:
            return record.levelno > logging.DEBUG
        return _CARRIERS.get(record.name) not in _hidden.get()


_FILTER: Final = _DropSecretCarryingRecords()
for _logger_name in (*_CARRIERS, *_DEBUG_NEVER):
    logging.getLogger(_logger_name).addFilter(_FILTER)


@contextmanager
def _hiding(what: str) -> Iterator[None]:
    token = _hidden.set(_hidden.get() | {what})
    try:
        yield
    finally:
        _hidden.reset(token)


def aws_bodies_unlogged() -> AbstractContextManager[None]:
    """Drop botocore's body records while the block runs: for AWS calls whose bodies carry a
    secret, such as a secret value, or a task token read from the tracking table."""
    return _hiding(_AWS_BODIES)


def voucher_urls_unlogged() -> AbstractContextManager[None]:
    """Drop urllib3's request records while the block runs: while a voucher, whose URL may be
    pre-signed, is fetched."""
    return _hiding(_VOUCHER_URLS)
