"""The execution input (OrderToTrack.from_input against the schema file) and the tracking settings
(TrackingSettings.from_raw): what is normalised, what is refused, and how refusals read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tiqets_tracker.check_schedule import POLLING_PROFILE, WEBHOOK_PROFILE, CheckSchedule
from tiqets_tracker.errors import InvalidExecutionInputError
from tiqets_tracker.order_input import OrderToTrack
from tiqets_tracker.timestamps import format_timestamp
from tiqets_tracker.tracking_settings import DEFAULT_RETRY_BUDGET, MAX_CHECKS, TrackingSettings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
STARTED = datetime(2026, 6, 1, 11, 59, 58, tzinfo=UTC)
# Long enough to be unmistakable if any part of it shows up in a message.
ATTACKER_VALUE = "attacker-controlled-" * 500


def order_from(raw: object) -> OrderToTrack:
    return OrderToTrack.from_input(raw, default_placed_at=STARTED, now=NOW)


def refusal(raw: object) -> str:
    with pytest.raises(InvalidExecutionInputError) as caught:
        order_from(raw)
    return str(caught.value)


def settings_refusal(raw: object) -> str:
    with pytest.raises(InvalidExecutionInputError) as caught:
        TrackingSettings.from_raw(raw)
    return str(caught.value)


# -- valid execution input ---------------------------------------------------------------------


def test_minimal_input_gets_the_defaults() -> None:
    order = order_from({"order_reference_id": "1111111"})

    assert order == OrderToTrack(
        order_reference_id="1111111", lang="en", external_reference=None, placed_at=STARTED
    )


def test_complete_input_is_kept_and_placed_at_is_normalised_to_utc() -> None:
    order = order_from(
        {
            "order_reference_id": "ABC_def-9",
            "lang": "nl",
            "external_reference": "shop-order-42",
            "placed_at": "2026-06-01T13:30:00.250+02:00",
        }
    )

    assert order.order_reference_id == "ABC_def-9"
    assert order.lang == "nl"
    assert order.external_reference == "shop-order-42"
    assert order.placed_at == datetime(2026, 6, 1, 11, 30, 0, 250_000, tzinfo=UTC)
    assert order.placed_at.tzinfo is UTC


def test_null_optional_fields_get_the_defaults() -> None:
    order = order_from(
        {"order_reference_id": "1111111", "external_reference": None, "placed_at": None}
    )

    assert order.external_reference is None
    assert order.placed_at == STARTED


def test_normalised_order_serialises_with_every_field_and_a_z_timestamp() -> None:
    order = order_from({"order_reference_id": "1111111", "placed_at": "2026-06-01T11:00:00Z"})

    assert order.to_json() == {
        "order_reference_id": "1111111",
        "lang": "en",
        "external_reference": None,
        "placed_at": "2026-06-01T11:00:00.000Z",
        "visit_date": None,
    }


def test_normalised_order_is_accepted_again_unchanged() -> None:
    order = order_from(
        {"order_reference_id": "42", "lang": "de", "placed_at": "2026-06-01T11:00:00.123456Z"}
    )

    assert order_from(order.to_json()) == OrderToTrack(
        order_reference_id="42",
        lang="de",
        external_reference=None,
        placed_at=datetime(2026, 6, 1, 11, 0, 0, 123_000, tzinfo=UTC),
    )


def test_order_id_of_64_characters_is_accepted() -> None:
    assert order_from({"order_reference_id": "9" * 64}).order_reference_id == "9" * 64


def test_placed_at_a_little_ahead_is_clock_skew_and_accepted() -> None:
    ahead = NOW + timedelta(minutes=5)

    assert order_from(
        {"order_reference_id": "1", "placed_at": format_timestamp(ahead)}
    ).placed_at == (ahead)


def test_placed_at_long_ago_is_accepted_and_left_to_the_deadline() -> None:
    # The deadline belongs to the settings; an old order times out at its first check.
    long_ago = NOW - timedelta(days=3)

    assert order_from(
        {"order_reference_id": "1", "placed_at": format_timestamp(long_ago)}
    ).placed_at == (long_ago)


# -- refused execution input -------------------------------------------------------------------


def test_missing_order_id_is_refused_by_name() -> None:
    assert "order_reference_id" in refusal({"lang": "en"})


@pytest.mark.parametrize("order_id", [1111111, ["1111111"], None, {"id": "1"}, True, 1.5])
def test_order_id_that_is_not_a_string_is_refused(order_id: object) -> None:
    message = refusal({"order_reference_id": order_id})

    assert "order_reference_id" in message
    assert "string" in message


@pytest.mark.parametrize(
    "order_id", ["../x", "a/b", "a b", "", "1111111\n", "order?id=1", "ü1", "1%2F2"]
)
def test_order_id_with_path_characters_is_refused(order_id: str) -> None:
    assert "order_reference_id" in refusal({"order_reference_id": order_id})


def test_order_id_of_65_characters_is_refused() -> None:
    assert "order_reference_id" in refusal({"order_reference_id": "9" * 65})


@pytest.mark.parametrize("lang", ["english", "xx", "EN", "", "e", None, 7])
def test_unknown_language_code_is_refused(lang: object) -> None:
    assert "lang" in refusal({"order_reference_id": "1", "lang": lang})


@pytest.mark.parametrize("external_reference", ["", "r" * 256, 42])
def test_external_reference_empty_too_long_or_not_text_is_refused(
    external_reference: object,
) -> None:
    assert "external_reference" in refusal(
        {"order_reference_id": "1", "external_reference": external_reference}
    )


def test_external_reference_of_255_characters_is_accepted() -> None:
    order = order_from({"order_reference_id": "1", "external_reference": "r" * 255})

    assert order.external_reference == "r" * 255


@pytest.mark.parametrize(
    "placed_at",
    [
        "yesterday",
        "2026-06-01",
        "2026-06-01 11:00:00Z",
        "2026-13-45T11:00:00Z",
        "2026-06-01T25:00:00Z",
        "2026-06-01T11:00:00+24:30",
        "",
        1780000000,
    ],
)
def test_malformed_placed_at_is_refused(placed_at: object) -> None:
    assert "placed_at" in refusal({"order_reference_id": "1", "placed_at": placed_at})


def test_placed_at_without_an_offset_is_refused() -> None:
    assert "placed_at" in refusal({"order_reference_id": "1", "placed_at": "2026-06-01T11:00:00"})


def test_placed_at_more_than_five_minutes_ahead_is_refused() -> None:
    ahead = NOW + timedelta(minutes=5, seconds=1)

    message = refusal({"order_reference_id": "1", "placed_at": format_timestamp(ahead)})

    assert message == "placed_at lies in the future"


def test_unknown_property_is_refused() -> None:
    message = refusal({"order_reference_id": "1", "product_id": 974626})

    assert "properties other than" in message
    assert "order_reference_id" in message


@pytest.mark.parametrize("raw", [None, [], ["1111111"], "1111111", 1111111, True])
def test_input_that_is_not_an_object_is_refused(raw: object) -> None:
    assert "must be object" in refusal(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"order_reference_id": "1", "external_reference": ATTACKER_VALUE},
        {"order_reference_id": ATTACKER_VALUE},
        {"order_reference_id": "1", "lang": ATTACKER_VALUE},
        {"order_reference_id": "1", "placed_at": ATTACKER_VALUE},
        {"order_reference_id": "1", ATTACKER_VALUE: "x"},
        {ATTACKER_VALUE: "x"},
    ],
)
def test_refusal_does_not_echo_a_long_value(raw: dict[str, Any]) -> None:
    message = refusal(raw)

    assert "attacker-controlled" not in message
    assert len(message) < 400


def test_refusal_carries_no_chained_exception() -> None:
    with pytest.raises(InvalidExecutionInputError) as caught:
        order_from({"order_reference_id": "1", "external_reference": ATTACKER_VALUE})

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# -- tracking settings -------------------------------------------------------------------------


def empty_settings(webhook_enabled: str) -> dict[str, str]:
    return {
        "backoff_base_seconds": "",
        "backoff_cap_seconds": "",
        "deadline_seconds": "",
        "webhook_enabled": webhook_enabled,
        "retry_budget": "",
    }


def test_empty_settings_without_webhook_mean_the_polling_profile() -> None:
    settings = TrackingSettings.from_raw(empty_settings("false"))

    assert settings == TrackingSettings(
        webhook_enabled=False, schedule=POLLING_PROFILE, retry_budget=DEFAULT_RETRY_BUDGET
    )


def test_empty_settings_with_webhook_mean_the_webhook_profile() -> None:
    settings = TrackingSettings.from_raw(empty_settings("true"))

    assert settings == TrackingSettings(
        webhook_enabled=True, schedule=WEBHOOK_PROFILE, retry_budget=DEFAULT_RETRY_BUDGET
    )


def test_absent_and_blank_settings_mean_the_defaults_too() -> None:
    assert TrackingSettings.from_raw({"webhook_enabled": "true"}).schedule == WEBHOOK_PROFILE
    assert (
        TrackingSettings.from_raw(
            {"webhook_enabled": " false ", "backoff_base_seconds": "  ", "retry_budget": None}
        ).schedule
        == POLLING_PROFILE
    )


def test_explicit_settings_override_the_profile_durations_only() -> None:
    settings = TrackingSettings.from_raw(
        {
            "backoff_base_seconds": "5",
            "backoff_cap_seconds": "30",
            "deadline_seconds": "600",
            "webhook_enabled": "true",
            "retry_budget": "3",
        }
    )

    assert settings.webhook_enabled
    assert settings.retry_budget == 3
    assert settings.schedule == CheckSchedule(5, 30, 600, WEBHOOK_PROFILE.jitter_ratio)


def test_settings_given_as_json_numbers_are_read_like_strings() -> None:
    settings = TrackingSettings.from_raw(
        {
            "webhook_enabled": "false",
            "backoff_base_seconds": 2,
            "deadline_seconds": 600,
            "retry_budget": 0,
        }
    )

    assert settings.schedule.densest_spacing_seconds == 2
    assert settings.retry_budget == 0


def test_cap_below_base_is_raised_to_base() -> None:
    settings = TrackingSettings.from_raw(
        {"webhook_enabled": "false", "backoff_base_seconds": "120", "backoff_cap_seconds": "10"}
    )

    assert settings.schedule.longest_wait_seconds == 120


def test_default_cap_below_an_explicit_base_is_raised_to_base() -> None:
    settings = TrackingSettings.from_raw(
        {"webhook_enabled": "false", "backoff_base_seconds": "1200"}
    )

    assert settings.schedule.longest_wait_seconds == 1200


def test_webhook_flag_is_read_without_regard_to_case() -> None:
    assert TrackingSettings.from_raw({"webhook_enabled": "TRUE"}).webhook_enabled
    assert not TrackingSettings.from_raw({"webhook_enabled": "False"}).webhook_enabled


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("backoff_base_seconds", "abc"),
        ("backoff_base_seconds", "-1"),
        ("backoff_base_seconds", "0"),
        ("backoff_base_seconds", "1.5"),
        ("backoff_base_seconds", "86401"),
        ("backoff_base_seconds", "²"),
        ("backoff_base_seconds", "١٢"),
        ("backoff_cap_seconds", "0"),
        ("backoff_cap_seconds", "86401"),
        ("deadline_seconds", "0"),
        ("deadline_seconds", "86401"),
        ("deadline_seconds", "1e3"),
        ("retry_budget", "-1"),
        ("retry_budget", "1001"),
    ],
)
def test_bad_setting_is_refused_by_name(field: str, value: str) -> None:
    raw = empty_settings("false") | {field: value}

    message = settings_refusal(raw)

    assert message.startswith(f"settings.{field} must be a whole number from ")


@pytest.mark.parametrize("flag", ["yes", "1", "", "on", None])
def test_webhook_flag_other_than_true_or_false_is_refused(flag: object) -> None:
    raw: dict[str, object] = {**empty_settings("false"), "webhook_enabled": flag}

    assert "settings.webhook_enabled" in settings_refusal(raw)


def test_missing_webhook_flag_is_refused() -> None:
    assert "settings.webhook_enabled" in settings_refusal({"backoff_base_seconds": "5"})


@pytest.mark.parametrize("raw", [None, "webhook_enabled=true", ["true"], 1])
def test_settings_that_are_not_an_object_are_refused(raw: object) -> None:
    assert settings_refusal(raw) == "settings must be an object"


def test_largest_durations_are_accepted() -> None:
    settings = TrackingSettings.from_raw(
        {
            "webhook_enabled": "false",
            "backoff_base_seconds": "86400",
            "backoff_cap_seconds": "86400",
            "deadline_seconds": "86400",
            "retry_budget": "1000",
        }
    )

    assert settings.schedule.densest_spacing_seconds == 86_400
    assert settings.schedule.nominal_offsets() == (0, 86_400)
    assert settings.retry_budget == 1000


def longest_wait(raw: dict[str, str]) -> int:
    return TrackingSettings.from_raw(raw).schedule.longest_wait_seconds


def test_a_cap_too_short_for_the_deadline_is_raised_to_protect_the_execution_history() -> None:
    raw = {
        "webhook_enabled": "false",
        "backoff_base_seconds": "60",
        "backoff_cap_seconds": "60",
        "deadline_seconds": "86400",
        "retry_budget": "",
    }

    # 86400 s / 1000 checks: no cap below 87 s may stand.
    assert longest_wait(raw) == 87
    assert longest_wait(raw | {"backoff_cap_seconds": "88"}) == 88
    assert longest_wait(raw | {"deadline_seconds": "60"}) == 60


@pytest.mark.parametrize(
    ("base", "cap"), [("1", "86400"), ("1", "1"), ("2", "90"), ("45", "900"), ("176", "5400")]
)
def test_no_settings_schedule_more_checks_than_the_execution_history_holds(
    base: str, cap: str
) -> None:
    settings = TrackingSettings.from_raw(
        {"webhook_enabled": "false", "backoff_base_seconds": base, "backoff_cap_seconds": cap}
    )

    assert len(settings.schedule.nominal_offsets()) <= MAX_CHECKS


def test_settings_within_the_history_limit_are_kept_as_given() -> None:
    settings = TrackingSettings.from_raw(
        {"webhook_enabled": "false", "backoff_base_seconds": "20", "backoff_cap_seconds": "900"}
    )

    assert settings.schedule.densest_spacing_seconds == 20
    assert len(settings.schedule.nominal_offsets()) <= MAX_CHECKS


def test_failure_retries_start_at_a_minute_and_stay_within_ten_minutes() -> None:
    webhook = TrackingSettings.from_raw({"webhook_enabled": "true"}).failure_retry
    assert (webhook.base_seconds, webhook.cap_seconds, webhook.multiplier) == (60, 600, 2.0)
    dense = TrackingSettings.from_raw(
        {
            "webhook_enabled": "false",
            "backoff_base_seconds": "5",
            "backoff_cap_seconds": "30",
            "deadline_seconds": "600",
        }
    ).failure_retry
    assert (dense.base_seconds, dense.cap_seconds) == (5, 30)
    assert dense.deadline_seconds == 600
