"""The Tiqets client in plain Python: the order status parser, the Retry-After parser, and the
settings a client refuses. The client against the simulator on loopback:
tests/loopback/test_tiqets_client.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tiqets_tracker.errors import TiqetsResponseInvalidError
from tiqets_tracker.tiqets import (
    PRODUCTION_BASE_URL,
    TEST_BASE_URL,
    OrderStatus,
    TiqetsClient,
    parse_retry_after,
)

pytestmark = pytest.mark.unit


# -- parsing ---------------------------------------------------------------------------------


def test_the_order_status_parser_is_lenient_only_about_case_blanks_and_spelling() -> None:
    assert OrderStatus.parse("Canceled") is OrderStatus.CANCELLED
    assert OrderStatus.parse("  pending\n") is OrderStatus.PENDING
    assert [status for status in OrderStatus if status.is_final] == [
        OrderStatus.FAILED,
        OrderStatus.DONE,
        OrderStatus.CANCELLED,
    ]
    with pytest.raises(TiqetsResponseInvalidError) as raised:
        OrderStatus.parse("shipped-" + "x" * 100)
    assert "shipped-xxx" in str(raised.value)
    assert "x" * 41 not in str(raised.value)
    for value in (None, 3, ["done"], ""):
        with pytest.raises(TiqetsResponseInvalidError):
            OrderStatus.parse(value)


def test_retry_after_values_are_clamped_to_a_day_and_garbage_is_ignored() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-5") == 0
    assert parse_retry_after("999999999") == 86_400
    assert parse_retry_after("Sun, 01 Jun 2025 12:01:30 GMT", now=now) == 90
    assert parse_retry_after("Sun, 01 Jun 2025 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("Sun, 01 Jun 2031 11:00:00 GMT", now=now) == 86_400
    for garbage in (None, "", "soon", "nan", "Sun, 99 Foo 2025"):
        assert parse_retry_after(garbage, now=now) is None


# -- settings --------------------------------------------------------------------------------


def test_the_two_environments_have_their_documented_base_urls() -> None:
    assert TEST_BASE_URL == "https://api-tiqt-test.steq.it/v2/"
    assert PRODUCTION_BASE_URL == "https://api.tiqets.com/v2/"
    assert TiqetsClient("key").base_url == TEST_BASE_URL


@pytest.mark.parametrize(
    "base_url", ["ftp://example.com/v2/", "api.tiqets.com/v2", "https://u:p@example.com/v2/", ""]
)
def test_a_base_url_that_is_not_a_plain_http_url_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        TiqetsClient("key", base_url)


@pytest.mark.parametrize("api_key", ["", "has space", "line\nbreak", "caf\u00e9"])
def test_an_api_key_that_cannot_be_a_header_is_refused_without_being_echoed(
    api_key: str,
) -> None:
    with pytest.raises(ValueError, match="api_key") as raised:
        TiqetsClient(api_key)

    assert not api_key or api_key not in str(raised.value)


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="read_timeout"):
        TiqetsClient("key", read_timeout=0)
    with pytest.raises(ValueError, match="connect_timeout"):
        TiqetsClient("key", connect_timeout=float("inf"))
