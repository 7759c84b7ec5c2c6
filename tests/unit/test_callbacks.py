"""Callback URL secrets in plain Python: signing, verifying, rotation and reading requests.
Loading the keys from Secrets Manager (on moto): tests/moto/test_callbacks.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.callback_support import WEBHOOK_URL, signature_of
from tiqets_tracker import callback_urls
from tiqets_tracker.callback_requests import (
    CallbackRejectedError,
    read_credentials,
    read_order_reference_id,
)
from tiqets_tracker.callback_urls import callback_url, verify_callback
from tiqets_tracker.errors import ConfigurationError
from tiqets_tracker.secret_store import load_webhook_keys

pytestmark = pytest.mark.unit

KEY = b"k" * 16 + b"0123456789abcdef"
OTHER_KEY = b"o" * 32
THIRD_KEY = b"t" * 40


def reference_of(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get("ref")
    return values[0] if values else None


# -- signing -------------------------------------------------------------------------------


def test_callback_url_carries_the_reference_and_its_documented_hmac() -> None:
    url = callback_url(WEBHOOK_URL, external_reference="shop-42", key=KEY)

    digest = hmac.new(KEY, b"tiqets-tracker/callback/v1\x00shop-42", hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert url == f"{WEBHOOK_URL}?ref=shop-42&sig={expected}"
    assert len(expected) == 43


def test_callback_url_without_a_reference_signs_the_empty_string() -> None:
    url = callback_url(WEBHOOK_URL, external_reference=None, key=KEY)

    digest = hmac.new(KEY, b"tiqets-tracker/callback/v1\x00", hashlib.sha256).digest()
    assert url == f"{WEBHOOK_URL}?sig={base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    assert reference_of(url) is None


@pytest.mark.parametrize(
    "reference",
    ["shop 42", "a&b=c", "ümlaut-€", "plus+sign", "slash/and?query#frag", "x" * 255, "%41"],
)
def test_any_external_reference_survives_the_round_trip_through_the_query(
    reference: str,
) -> None:
    url = callback_url(WEBHOOK_URL, external_reference=reference, key=KEY)

    assert urlsplit(url).path == "/tiqets/callbacks"
    credentials = read_credentials(urlsplit(url).query)
    assert credentials.external_reference == reference
    assert credentials.signature is not None
    assert verify_callback(credentials.external_reference, credentials.signature, [KEY])


@pytest.mark.parametrize(
    ("webhook_url", "reference", "key", "message"),
    [
        ("/tiqets/callbacks", "shop-42", KEY, "absolute"),
        ("ftp://example.com/tiqets/callbacks", "shop-42", KEY, "absolute"),
        (WEBHOOK_URL + "?stage=prod", "shop-42", KEY, "no query"),
        (WEBHOOK_URL + "#x", "shop-42", KEY, "no query"),
        (WEBHOOK_URL, "shop-42", b"short key", "32 bytes"),
        (WEBHOOK_URL, "", KEY, "1 to 255"),
        (WEBHOOK_URL, "x" * 256, KEY, "1 to 255"),
        (WEBHOOK_URL, "lone \ud800 surrogate", KEY, "UTF-8"),
    ],
)
def test_callback_url_refuses_malformed_arguments(
    webhook_url: str, reference: str, key: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        callback_url(webhook_url, external_reference=reference, key=key)


# -- verifying -----------------------------------------------------------------------------


def test_a_signature_verifies_for_its_own_reference_only() -> None:
    signature = signature_of(callback_url(WEBHOOK_URL, external_reference="shop-42", key=KEY))

    assert verify_callback("shop-42", signature, [KEY])
    assert not verify_callback("shop-43", signature, [KEY])
    assert not verify_callback("shop-4", signature, [KEY])
    assert not verify_callback(None, signature, [KEY])


def test_the_stack_wide_signature_does_not_verify_any_reference() -> None:
    signature = signature_of(callback_url(WEBHOOK_URL, external_reference=None, key=KEY))

    assert verify_callback(None, signature, [KEY])
    assert verify_callback("", signature, [KEY])  # an empty ref is no ref
    assert not verify_callback("shop-42", signature, [KEY])


def test_a_signature_made_with_another_key_does_not_verify() -> None:
    signature = signature_of(callback_url(WEBHOOK_URL, external_reference="shop-42", key=KEY))

    assert not verify_callback("shop-42", signature, [OTHER_KEY])
    assert not verify_callback("shop-42", signature, [])


def test_both_the_current_and_the_previous_key_verify() -> None:
    old = signature_of(callback_url(WEBHOOK_URL, external_reference="shop-42", key=OTHER_KEY))
    new = signature_of(callback_url(WEBHOOK_URL, external_reference="shop-42", key=KEY))

    assert verify_callback("shop-42", old, [KEY, OTHER_KEY])
    assert verify_callback("shop-42", new, [KEY, OTHER_KEY])
    assert not verify_callback("shop-42", old, [KEY, THIRD_KEY])


def test_every_key_is_compared_in_constant_time_even_after_a_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording_compare)
    signature = signature_of(callback_url(WEBHOOK_URL, external_reference="shop-42", key=KEY))

    assert verify_callback("shop-42", signature, [KEY, OTHER_KEY, THIRD_KEY])
    assert len(compared) == 3  # no early exit at the first (matching) key
    assert all(given == signature.encode() for _, given in compared)
    compared.clear()
    assert not verify_callback("shop-42", "A" * 43, [KEY, OTHER_KEY])
    assert len(compared) == 2


def tampered(signature: str) -> str:
    replacement = "A" if signature[0] != "A" else "B"
    return replacement + signature[1:]


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "A" * 42,
        "A" * 44,
        "A" * 43 + "=",
        "A" * 42 + "=",
        "A" * 42 + "+",
        "A" * 42 + "/",
        "A" * 42 + "é",
        "A" * 42 + "\x00",
        " " + "A" * 42,
        "A" * 10_000,
        None,
        123,
        b"A" * 43,
    ],
)
def test_a_malformed_signature_is_false_not_an_exception(signature: Any) -> None:
    assert verify_callback("shop-42", signature, [KEY]) is False


def test_a_tampered_or_hex_signature_is_false() -> None:
    url = callback_url(WEBHOOK_URL, external_reference="shop-42", key=KEY)
    digest = hmac.new(KEY, b"tiqets-tracker/callback/v1\x00shop-42", hashlib.sha256)

    assert not verify_callback("shop-42", tampered(signature_of(url)), [KEY])
    assert not verify_callback("shop-42", digest.hexdigest(), [KEY])


@pytest.mark.parametrize("reference", ["x" * 256, "lone \udfff surrogate", 42, b"shop-42"])
def test_a_malformed_reference_is_false_not_an_exception(reference: Any) -> None:
    assert verify_callback(reference, "A" * 43, [KEY]) is False


@settings(max_examples=300, deadline=None)
@given(reference=st.one_of(st.none(), st.text(max_size=300)), signature=st.text(max_size=60))
def test_verify_never_raises_and_accepts_only_the_real_signature(
    reference: str | None, signature: str
) -> None:
    outcome = verify_callback(reference, signature, [KEY, OTHER_KEY])
    assert isinstance(outcome, bool)
    if outcome:
        assert signature in (
            callback_urls._signature(KEY, reference),
            callback_urls._signature(OTHER_KEY, reference),
        )


# -- reading the request ---------------------------------------------------------------------


def test_credentials_come_from_the_raw_query_string() -> None:
    credentials = read_credentials("ref=shop%2042&sig=abc&other=1")

    assert credentials.external_reference == "shop 42"
    assert credentials.signature == "abc"
    assert "abc" not in repr(credentials)


def test_credentials_fall_back_to_the_decoded_parameters() -> None:
    credentials = read_credentials(None, {"ref": "shop 42", "sig": "abc"})

    assert (credentials.external_reference, credentials.signature) == ("shop 42", "abc")


@pytest.mark.parametrize("query", ["", "ref=", "sig=", "ref=&sig=", "x=1", "sig", "=&&="])
def test_absent_or_empty_credentials_are_none(query: str) -> None:
    credentials = read_credentials(query)

    assert credentials.external_reference is None
    assert credentials.signature is None


@pytest.mark.parametrize(
    "query", ["ref=a&ref=b&sig=x", "ref=a&sig=x&sig=y", "&".join(["a=1"] * 21) + "&sig=x"]
)
def test_repeated_or_too_many_parameters_are_ambiguous(query: str) -> None:
    with pytest.raises(CallbackRejectedError) as caught:
        read_credentials(query)
    assert (caught.value.status_code, caught.value.reason) == (400, "ambiguous_query")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"order_reference_id": "1111111"}', "1111111"),
        ('{"order_reference_id": 1111111}', "1111111"),
        ('{"orderReferenceId": "ABC_12-x"}', "ABC_12-x"),
        ('{"order_reference_id": "7", "orderReferenceId": 7}', "7"),
        ('{"order_reference_id": 0}', "0"),
        ('\ufeff{"order_reference_id": "5"}', "5"),
        ('{"order_reference_id": "5", "status": "done", "extra": [1, {"a": null}]}', "5"),
        ('{"order_reference_id": "' + "9" * 64 + '"}', "9" * 64),
    ],
)
def test_the_order_reference_id_is_read_from_either_field_as_string_or_integer(
    body: str, expected: str
) -> None:
    assert read_order_reference_id(body) == expected
    encoded = base64.b64encode(body.encode()).decode()
    assert read_order_reference_id(encoded, is_base64_encoded=True) == expected


def rejection(body: object, *, is_base64_encoded: bool = False) -> tuple[int, str]:
    with pytest.raises(CallbackRejectedError) as caught:
        read_order_reference_id(body, is_base64_encoded=is_base64_encoded)
    return caught.value.status_code, caught.value.reason


INVALID_ID = (400, "invalid_order_reference_id")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, (400, "missing_body")),
        ("", (400, "missing_body")),
        ("x" * 4097, (413, "body_too_large")),
        ('{"order_reference_id": "1", "pad": "' + "x" * 4100 + '"}', (413, "body_too_large")),
        ("€" * 1400, (413, "body_too_large")),  # 4200 bytes in 1400 characters
        ("not json", (400, "body_not_json")),
        ("[1, 2]", (400, "body_not_json")),
        ('"1111111"', (400, "body_not_json")),
        ("1111111", (400, "body_not_json")),
        ("null", (400, "body_not_json")),
        ("[" * 2000 + "]" * 2000, (400, "body_not_json")),
        ('{"order_reference_id": "1"', (400, "body_not_json")),
        ("lone \udc80 surrogate", (400, "body_not_json")),
        (b'{"order_reference_id": "1"}', (400, "body_not_json")),
        ({"order_reference_id": "1"}, (400, "body_not_json")),
        ("{}", INVALID_ID),
        ('{"order": "1"}', INVALID_ID),
        ('{"order_reference_id": null}', INVALID_ID),
        ('{"order_reference_id": true}', INVALID_ID),
        ('{"order_reference_id": 1.0}', INVALID_ID),
        ('{"order_reference_id": 1e3}', INVALID_ID),
        ('{"order_reference_id": NaN}', INVALID_ID),
        ('{"order_reference_id": -5}', INVALID_ID),
        ('{"order_reference_id": ' + "9" * 65 + "}", INVALID_ID),
        ('{"order_reference_id": ""}', INVALID_ID),
        ('{"order_reference_id": "' + "9" * 65 + '"}', INVALID_ID),
        ('{"order_reference_id": "../etc/passwd"}', INVALID_ID),
        ('{"order_reference_id": "123\\n"}', INVALID_ID),
        ('{"order_reference_id": " 123"}', INVALID_ID),
        ('{"order_reference_id": "١٢٣"}', INVALID_ID),
        ('{"order_reference_id": ["1"]}', INVALID_ID),
        ('{"order_reference_id": {"id": "1"}}', INVALID_ID),
        (
            '{"order_reference_id": "1", "orderReferenceId": "2"}',
            INVALID_ID,
        ),
        (
            '{"order_reference_id": "1", "orderReferenceId": null}',
            INVALID_ID,
        ),
    ],
)
def test_a_bad_body_is_refused_with_a_short_reason(body: object, expected: tuple[int, str]) -> None:
    assert rejection(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not base64!", (400, "body_not_json")),
        ("QUJD=", (400, "body_not_json")),
        (base64.b64encode(b"\xff\xfe not utf-8").decode(), (400, "body_not_json")),
        (base64.b64encode(b"x" * 4097).decode(), (413, "body_too_large")),
        ("A" * 10_000, (413, "body_too_large")),
        ("", (400, "missing_body")),
    ],
)
def test_a_bad_base64_body_is_refused_with_a_short_reason(
    body: str, expected: tuple[int, str]
) -> None:
    assert rejection(body, is_base64_encoded=True) == expected


def test_a_body_of_exactly_the_limit_is_read() -> None:
    body = '{"order_reference_id": "1", "pad": "' + "x" * 4000
    body += " " * (4096 - len(body) - 2) + '"}'
    assert len(body.encode()) == 4096
    assert read_order_reference_id(body) == "1"


# -- loading the keys ------------------------------------------------------------------------


def test_an_empty_keys_source_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="webhook signing keys source is invalid"):
        load_webhook_keys(" ")


# -- the helper for the order-placement Lambda ----------------------------------------------


def test_well_formed_signatures_are_told_from_junk_without_keys() -> None:
    signature = signature_of(callback_url(WEBHOOK_URL, external_reference="shop-42", key=KEY))

    assert callback_urls.is_well_formed_signature(signature)
    assert callback_urls.is_well_formed_signature("A" * 43)
    assert not callback_urls.is_well_formed_signature("A" * 42)
    assert not callback_urls.is_well_formed_signature(None)
