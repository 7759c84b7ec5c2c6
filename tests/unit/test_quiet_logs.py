"""The one filter that keeps secrets out of library logs (quiet_logs.py): which records of which
loggers it drops, and when."""

from __future__ import annotations

import logging

import pytest

from tiqets_tracker.quiet_logs import aws_bodies_unlogged, voucher_urls_unlogged

pytestmark = pytest.mark.unit


def _passes(logger_name: str, level: int = logging.DEBUG) -> bool:
    logger = logging.getLogger(logger_name)
    record = logger.makeRecord(logger_name, level, __file__, 1, "a record", (), None)
    return bool(logger.filter(record))


def test_botocore_bodies_are_dropped_only_while_hidden() -> None:
    assert _passes("botocore.parsers")
    with aws_bodies_unlogged():
        assert not _passes("botocore.parsers")
        assert not _passes("botocore.endpoint")
        assert _passes("urllib3.connectionpool")  # another secret's loggers stay as they are
    assert _passes("botocore.endpoint")


def test_urllib3_request_lines_are_dropped_only_while_a_voucher_is_fetched() -> None:
    with voucher_urls_unlogged():
        assert not _passes("urllib3.connectionpool")
        assert not _passes("urllib3.util.retry", logging.WARNING)
        assert _passes("botocore.parsers")
        with aws_bodies_unlogged():  # nested: both hidden
            assert not _passes("botocore.parsers")
            assert not _passes("urllib3.connectionpool")
        assert _passes("botocore.parsers")
    assert _passes("urllib3.connectionpool")


def test_the_http_resolvers_debug_records_are_always_dropped() -> None:
    resolver = "aws_lambda_powertools.event_handler.api_gateway"
    assert not _passes(resolver, logging.DEBUG)
    assert _passes(resolver, logging.INFO)


def test_other_loggers_are_left_alone() -> None:
    with aws_bodies_unlogged(), voucher_urls_unlogged():
        assert _passes("tiqets_tracker.checking")
        assert _passes("botocore.credentials")
