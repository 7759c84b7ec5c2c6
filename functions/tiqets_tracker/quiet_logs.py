"""Keeping secrets out of botocore's DEBUG logs.

botocore's `botocore.parsers` and `botocore.endpoint` loggers write raw request and response
bodies at DEBUG level: for GetSecretValue that is the secret itself, and a tracking record read
or written can hold a task token. While `aws_bodies_unlogged()` is active (in this thread or
task) their records are dropped. Standard library only, so importing it costs nothing at a cold
start.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

_BODY_LOGGERS = ("botocore.parsers", "botocore.endpoint")

_hiding_bodies: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tiqets_tracker_hiding_bodies", default=False
)


class _DropBodiesWhileHidden(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _hiding_bodies.get()


_BODY_LOG_FILTER = _DropBodiesWhileHidden()
for _logger_name in _BODY_LOGGERS:
    logging.getLogger(_logger_name).addFilter(_BODY_LOG_FILTER)


@contextmanager
def aws_bodies_unlogged() -> Iterator[None]:
    """Drop botocore's body records while the block runs: for AWS calls whose bodies carry a
    secret, such as a secret value, or a task token read from the tracking table."""
    token = _hiding_bodies.set(True)
    try:
        yield
    finally:
        _hiding_bodies.reset(token)
