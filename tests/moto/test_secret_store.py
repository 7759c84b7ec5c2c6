"""Loading the Tiqets API key from Secrets Manager, against moto."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from tests.moto.conftest import REGION
from tiqets_tracker.errors import ConfigurationError
from tiqets_tracker.secret_store import API_KEY_CACHE_SECONDS, clear_secret_cache, load_api_key

pytestmark = pytest.mark.moto

SECRET_NAME = "tiqets-tracker/api-key"
# A value that occurs nowhere else, so finding it anywhere means it leaked.
API_KEY = "tq-live-7f3a9c1e5b2d4068a1c3e5f7091b2d4f"


def secretsmanager() -> Any:
    return boto3.client("secretsmanager", region_name=REGION)


def create_secret(value: str, name: str = SECRET_NAME) -> str:
    arn: str = secretsmanager().create_secret(Name=name, SecretString=value)["ARN"]
    return arn


def configuration_error(source: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load_api_key(source)
    return caught.value


@pytest.mark.usefixtures("aws")
def test_a_plain_secret_is_the_key() -> None:
    create_secret(API_KEY)
    assert load_api_key(SECRET_NAME) == API_KEY


@pytest.mark.usefixtures("aws")
def test_a_secret_can_be_named_by_its_arn() -> None:
    arn = create_secret(API_KEY)
    assert load_api_key(arn) == API_KEY


@pytest.mark.usefixtures("aws")
def test_a_json_secret_holds_the_key_in_its_api_key_field() -> None:
    create_secret(json.dumps({"api_key": API_KEY, "environment": "production"}))
    assert load_api_key(SECRET_NAME) == API_KEY


@pytest.mark.usefixtures("aws")
def test_whitespace_around_the_key_is_removed() -> None:
    create_secret(f"  {API_KEY}\n")
    assert load_api_key(SECRET_NAME) == API_KEY


@pytest.mark.usefixtures("aws")
def test_a_key_made_of_digits_is_a_plain_key_not_json() -> None:
    create_secret("1234567890")
    assert load_api_key(SECRET_NAME) == "1234567890"


@pytest.mark.usefixtures("aws")
def test_a_binary_secret_holding_text_is_the_key() -> None:
    secretsmanager().create_secret(Name=SECRET_NAME, SecretBinary=API_KEY.encode())
    assert load_api_key(SECRET_NAME) == API_KEY


@pytest.mark.usefixtures("aws")
def test_a_missing_secret_is_a_configuration_error_naming_the_source() -> None:
    error = configuration_error("tiqets-tracker/no-such-key")
    assert "Secrets Manager secret 'tiqets-tracker/no-such-key'" in str(error)
    assert "ResourceNotFoundException" in str(error)


@pytest.mark.usefixtures("aws")
def test_a_source_that_looks_like_ssm_names_a_secret_not_a_parameter() -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/tiqets-tracker/api-key", Value=API_KEY, Type="SecureString"
    )
    error = configuration_error("ssm:/tiqets-tracker/api-key")
    assert "Secrets Manager secret 'ssm:/tiqets-tracker/api-key'" in str(error)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("   \n", "the value is empty"),
        (json.dumps({"apikey": API_KEY}), 'not an object with an "api_key" field'),
        (json.dumps([API_KEY]), 'not an object with an "api_key" field'),
        (json.dumps(API_KEY), 'not an object with an "api_key" field'),
        (json.dumps({"api_key": 12345}), 'the "api_key" field is not a string'),
        (json.dumps({"api_key": "  "}), 'the "api_key" field is empty'),
        ('{"api_key": "' + API_KEY, "looks like JSON but is not valid JSON"),
        (f"{API_KEY} {API_KEY}", "whitespace, control or non-ASCII characters"),
        (f"{API_KEY}\x00", "whitespace, control or non-ASCII characters"),
        (f"{API_KEY}\u20ac", "non-ASCII characters"),
    ],
)
@pytest.mark.usefixtures("aws")
def test_a_secret_without_a_usable_key_is_a_configuration_error(value: str, reason: str) -> None:
    create_secret(value)
    error = configuration_error(SECRET_NAME)
    assert reason in str(error)
    assert SECRET_NAME in str(error)


@pytest.mark.usefixtures("aws")
def test_a_key_is_read_from_aws_once_within_the_cache_age() -> None:
    assert API_KEY_CACHE_SECONDS == 300
    create_secret(API_KEY)
    assert load_api_key(SECRET_NAME) == API_KEY
    secretsmanager().put_secret_value(SecretId=SECRET_NAME, SecretString="tq-rotated-key")
    assert load_api_key(SECRET_NAME) == API_KEY
    clear_secret_cache()
    assert load_api_key(SECRET_NAME) == "tq-rotated-key"


@pytest.mark.usefixtures("aws")
def test_the_cache_is_asked_for_the_documented_age(monkeypatch: pytest.MonkeyPatch) -> None:
    ages: list[object] = []
    real_get_secret = parameters.get_secret

    def recording_get_secret(name: str, **options: Any) -> Any:
        ages.append(options.get("max_age"))
        return real_get_secret(name, **options)

    monkeypatch.setattr(parameters, "get_secret", recording_get_secret)
    create_secret(API_KEY)
    load_api_key(SECRET_NAME)
    assert ages == [API_KEY_CACHE_SECONDS]


def every_text_of(error: BaseException) -> str:
    """The message, repr and full printed traceback (with any chained exceptions), and the same
    for __cause__ and __context__ explicitly."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            texts.append(every_text_of(linked))
    return "\n".join(texts)


def failing_sources() -> list[tuple[str, Callable[[], object]]]:
    """Sources that fail in every way the module knows, each after storing the key somewhere
    near the failure."""
    return [
        (
            "bad-json-shape",
            lambda: create_secret(json.dumps({"apikey": API_KEY}), "bad-json-shape"),
        ),
        ("list", lambda: create_secret(json.dumps([API_KEY]), "list")),
        ("broken-json", lambda: create_secret('{"api_key": "' + API_KEY, "broken-json")),
        ("inner-space", lambda: create_secret(f"{API_KEY} x", "inner-space")),
        ("missing", lambda: None),
    ]


@pytest.mark.usefixtures("aws")
def test_the_key_never_appears_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    create_secret(API_KEY)
    setups = failing_sources()
    for _, setup in setups:
        setup()

    # Only what loading logs counts: the test's own setup sent the key to moto.
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    assert load_api_key(SECRET_NAME) == API_KEY
    error_texts = [every_text_of(configuration_error(source)) for source, _ in setups]

    # The capture works: botocore's debug records of these very calls were recorded.
    assert any(record.name.startswith("botocore") for record in caplog.records)
    assert all(API_KEY not in text for text in error_texts)
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
    assert API_KEY not in caplog.text


@pytest.mark.usefixtures("aws")
def test_an_error_from_aws_is_reported_by_its_code_without_its_message_or_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def denied(name: str, **options: Any) -> str:
        raise parameters.exceptions.GetParameterError(
            f"An error occurred (AccessDeniedException): not allowed; value was {API_KEY}"
        ) from ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": f"leaked {API_KEY}"}},
            "GetSecretValue",
        )

    monkeypatch.setattr(parameters, "get_secret", denied)
    error = configuration_error(SECRET_NAME)
    assert "AccessDeniedException" in str(error)
    assert SECRET_NAME in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None
    assert API_KEY not in every_text_of(error)


@pytest.mark.usefixtures("aws")
def test_an_error_without_an_aws_code_is_reported_by_its_innermost_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoCredentialsHereError(Exception):
        pass

    def unreachable(name: str, **options: Any) -> str:
        try:
            raise NoCredentialsHereError(API_KEY)
        except NoCredentialsHereError as exc:
            raise parameters.exceptions.GetParameterError(str(exc)) from exc

    monkeypatch.setattr(parameters, "get_secret", unreachable)
    error = configuration_error(SECRET_NAME)
    assert "NoCredentialsHereError" in str(error)
    assert API_KEY not in every_text_of(error)
