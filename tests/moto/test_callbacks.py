"""Callback URL secrets from Secrets Manager, against moto: loading the webhook keys (shapes,
rotation, caching, no leaks) and signing a URL for an order with the current key. Signing,
verifying and reading requests in plain Python: tests/unit/test_callbacks.py."""

from __future__ import annotations

import base64
import json
import logging
import traceback

import boto3
import pytest

from tests.callback_support import WEBHOOK_URL, signature_of
from tests.moto.conftest import REGION
from tiqets_tracker.callback_urls import callback_url, callback_url_for_order, verify_callback
from tiqets_tracker.errors import ConfigurationError
from tiqets_tracker.secret_store import (
    WEBHOOK_KEYS_CACHE_SECONDS,
    clear_secret_cache,
    load_webhook_keys,
)

pytestmark = pytest.mark.moto

SECRET_NAME = "tiqets-tracker/webhook-keys"
# Key texts that occur nowhere else, so finding one anywhere means it leaked.
CURRENT_TEXT = "cur-Zq8wX2vN5tR7yU1iO3pA6sD9fG4hJ0kL"
PREVIOUS_TEXT = "prev-Mn7bV4cX1zL8kJ5hG2fD9sA6pO3iU0yT"


# -- loading the keys ------------------------------------------------------------------------


def store_keys(value: object, name: str = SECRET_NAME) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name=name, SecretString=text)


@pytest.mark.usefixtures("aws")
def test_keys_load_current_first_then_previous() -> None:
    store_keys({"current": CURRENT_TEXT, "previous": PREVIOUS_TEXT})

    assert load_webhook_keys(SECRET_NAME) == (CURRENT_TEXT.encode(), PREVIOUS_TEXT.encode())


@pytest.mark.parametrize(
    "value",
    [
        {"current": CURRENT_TEXT},
        {"current": CURRENT_TEXT, "previous": None},
        {"current": CURRENT_TEXT, "previous": ""},
        {"current": CURRENT_TEXT, "previous": CURRENT_TEXT},
        {"current": f"  {CURRENT_TEXT}\n", "rotated_at": "2025-01-01"},
    ],
)
@pytest.mark.usefixtures("aws")
def test_without_a_distinct_previous_key_only_the_current_one_loads(value: object) -> None:
    store_keys(value)

    assert load_webhook_keys(SECRET_NAME) == (CURRENT_TEXT.encode(),)


@pytest.mark.parametrize(
    "written",
    [
        "base64:" + base64.b64encode(bytes(range(200, 232))).decode(),
        "base64:" + base64.b64encode(bytes(range(200, 232))).decode().rstrip("="),
        "base64:" + base64.urlsafe_b64encode(bytes(range(200, 232))).decode(),
        "base64: " + base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("="),
    ],
)
@pytest.mark.usefixtures("aws")
def test_a_base64_prefixed_key_is_decoded(written: str) -> None:
    store_keys({"current": written})

    assert load_webhook_keys(SECRET_NAME) == (bytes(range(200, 232)),)


@pytest.mark.usefixtures("aws")
def test_a_key_that_merely_looks_like_base64_is_text() -> None:
    looks_like_base64 = base64.b64encode(b"k" * 33).decode()
    store_keys({"current": looks_like_base64})

    assert load_webhook_keys(SECRET_NAME) == (looks_like_base64.encode(),)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (CURRENT_TEXT, "not JSON"),
        ("   ", "the value is empty"),
        ([CURRENT_TEXT], 'not a JSON object with a "current" field'),
        ({"previous": CURRENT_TEXT}, 'not a JSON object with a "current" field'),
        ({"current": None}, 'the "current" field is not a string'),
        ({"current": 12345678901234567890123456789012345}, '"current" field is not a string'),
        ({"current": ""}, 'the "current" key is shorter than 32 bytes'),
        ({"current": "x" * 31}, 'the "current" key is shorter than 32 bytes'),
        ({"current": "base64:" + "QUJD" * 7}, 'the "current" key is shorter than 32 bytes'),
        ({"current": "base64:not base64!" + "x" * 40}, "not valid base64"),
        ({"current": "base64:" + "A" * 45}, "not valid base64"),
        ({"current": CURRENT_TEXT, "previous": "short"}, 'the "previous" key is shorter'),
        ({"current": CURRENT_TEXT, "previous": ["x"]}, 'the "previous" field is not a string'),
    ],
)
@pytest.mark.usefixtures("aws")
def test_keys_of_a_bad_shape_are_a_configuration_error(value: object, reason: str) -> None:
    store_keys(value)

    with pytest.raises(ConfigurationError) as caught:
        load_webhook_keys(SECRET_NAME)
    assert reason in str(caught.value)
    assert SECRET_NAME in str(caught.value)
    assert "webhook signing keys" in str(caught.value)


@pytest.mark.usefixtures("aws")
def test_a_missing_keys_secret_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="ResourceNotFoundException"):
        load_webhook_keys("tiqets-tracker/no-such-keys")


@pytest.mark.usefixtures("aws")
def test_keys_are_read_from_aws_once_within_the_cache_age(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WEBHOOK_KEYS_CACHE_SECONDS == 300
    store_keys({"current": CURRENT_TEXT})
    assert load_webhook_keys(SECRET_NAME) == (CURRENT_TEXT.encode(),)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET_NAME,
        SecretString=json.dumps({"current": PREVIOUS_TEXT, "previous": CURRENT_TEXT}),
    )

    assert load_webhook_keys(SECRET_NAME) == (CURRENT_TEXT.encode(),)
    clear_secret_cache()
    assert load_webhook_keys(SECRET_NAME) == (PREVIOUS_TEXT.encode(), CURRENT_TEXT.encode())


def every_text_of(error: BaseException) -> str:
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            texts.append(every_text_of(linked))
    return "\n".join(texts)


@pytest.mark.usefixtures("aws")
def test_keys_never_appear_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    store_keys({"current": CURRENT_TEXT, "previous": PREVIOUS_TEXT})
    store_keys({"current": CURRENT_TEXT, "previous": "x"}, "short-previous")
    store_keys({"previous": PREVIOUS_TEXT, "current": 5}, "bad-current")
    store_keys('{"current": "' + CURRENT_TEXT, "broken-json")
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    assert len(load_webhook_keys(SECRET_NAME)) == 2
    errors = []
    for name in ("short-previous", "bad-current", "broken-json"):
        with pytest.raises(ConfigurationError) as caught:
            load_webhook_keys(name)
        errors.append(every_text_of(caught.value))

    assert any(record.name.startswith("botocore") for record in caplog.records)
    for secret in (CURRENT_TEXT, PREVIOUS_TEXT):
        assert all(secret not in text for text in errors)
        assert secret not in caplog.text


# -- the helper for the order-placement Lambda ----------------------------------------------


@pytest.mark.usefixtures("aws")
def test_callback_url_for_order_signs_with_the_current_key() -> None:
    store_keys({"current": CURRENT_TEXT, "previous": PREVIOUS_TEXT})

    url = callback_url_for_order("shop-42", webhook_url=WEBHOOK_URL, keys_secret=SECRET_NAME)

    assert url == callback_url(WEBHOOK_URL, external_reference="shop-42", key=CURRENT_TEXT.encode())
    assert verify_callback("shop-42", signature_of(url), load_webhook_keys(SECRET_NAME))


@pytest.mark.usefixtures("aws")
def test_a_url_survives_one_rotation_and_not_two() -> None:
    store_keys({"current": CURRENT_TEXT})
    url = callback_url_for_order("shop-42", webhook_url=WEBHOOK_URL, keys_secret=SECRET_NAME)
    secretsmanager = boto3.client("secretsmanager", region_name=REGION)

    def verifies_after(value: dict[str, str]) -> bool:
        secretsmanager.put_secret_value(SecretId=SECRET_NAME, SecretString=json.dumps(value))
        clear_secret_cache()
        return verify_callback("shop-42", signature_of(url), load_webhook_keys(SECRET_NAME))

    # Step one: the new key is accepted before anyone signs with it.
    assert verifies_after({"current": CURRENT_TEXT, "previous": PREVIOUS_TEXT})
    # Step two: the new key signs; the old one still verifies the URLs already handed out.
    assert verifies_after({"current": PREVIOUS_TEXT, "previous": CURRENT_TEXT})
    # The next rotation retires it.
    assert not verifies_after({"current": "n" * 40, "previous": PREVIOUS_TEXT})


@pytest.mark.usefixtures("aws")
def test_callback_url_for_order_without_usable_keys_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        callback_url_for_order("shop-42", webhook_url=WEBHOOK_URL, keys_secret=SECRET_NAME)
