"""What `tiqets-tracker track` makes of its options before it stands anything up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiqets_tracker_local.track import (
    TrackOptions,
    UsageError,
    check_options,
    is_loopback_url,
    stack_parameters,
)

pytestmark = pytest.mark.unit


def options(**changes: object) -> TrackOptions:
    values: dict[str, object] = {
        "order_reference_id": "1234567",
        "tiqets_url": "https://api-tiqt-test.steq.it/v2/",
        "api_key_env": "TIQETS_API_KEY",
        "lang": "en",
        "webhook_port": None,
        "backoff_base": None,
        "backoff_cap": None,
        "deadline": None,
        "out": Path("track-output"),
        "json": False,
    }
    return TrackOptions(**(values | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/v2/", True),
        ("http://127.3.4.5/v2/", True),
        ("http://localhost:8080/v2/", True),
        ("http://[::1]:8080/v2/", True),
        ("https://api-tiqt-test.steq.it/v2/", False),
        ("https://api.tiqets.com/v2/", False),
        ("http://10.0.0.5/v2/", False),
        ("http://127.0.0.1.example.com/v2/", False),
    ],
)
def test_only_a_tiqets_url_on_loopback_allows_loopback_vouchers(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_the_timing_options_become_the_stacks_definition_parameters() -> None:
    parameters = stack_parameters(
        options(webhook_port=0, backoff_base=5, backoff_cap=50, deadline=600)
    )

    assert parameters == {
        "WebhookEnabled": "true",
        "BackoffBaseSeconds": "5",
        "BackoffCapSeconds": "50",
        "DeadlineSeconds": "600",
    }


def test_without_a_webhook_port_the_stack_only_polls() -> None:
    assert stack_parameters(options()) == {"WebhookEnabled": "false"}


@pytest.mark.parametrize(
    "changes",
    [
        {"order_reference_id": "12 34"},
        {"lang": "EN"},
        {"tiqets_url": "api.tiqets.com/v2/"},
        {"tiqets_url": "https://user:secret@api.tiqets.com/v2/"},
        {"backoff_cap": 10},  # below the 24-hour deadline / 1000
        {"deadline": 86401},
    ],
)
def test_option_values_the_tracker_cannot_use_are_usage_errors(changes: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        check_options(options(**changes))


def test_good_option_values_pass() -> None:
    check_options(options(backoff_base=1, backoff_cap=1, deadline=60, webhook_port=0))
