"""Voucher storage in plain Python: its configuration from the environment, the store_vouchers
event read and refused, the download deadline taken from the Lambda context, and the result
handed back. Storing vouchers from the local Tiqets simulator in moto's S3:
tests/moto/test_vouchers.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.lambda_context import lambda_context, without_clock
from tests.vouchers_support import BUCKET, sample_event
from tiqets_tracker.errors import ConfigurationError, InvalidExecutionInputError
from tiqets_tracker.vouchers import StoredVoucher, VoucherConfig, VoucherRequest

pytestmark = pytest.mark.unit


# -- configuration and input -----------------------------------------------------------------


def test_configuration_comes_from_the_environment() -> None:
    config = VoucherConfig.from_env({"VOUCHER_BUCKET_NAME": "vouchers"})
    assert config == VoucherConfig(
        bucket="vouchers",
        max_bytes=104_857_600,
        kms_key_id=None,
        connect_timeout=3.05,
        read_timeout=30.0,
        allow_loopback_http=False,
    )
    assert config.encryption_arguments() == {"ServerSideEncryption": "AES256"}

    custom = VoucherConfig.from_env(
        {
            "VOUCHER_BUCKET_NAME": "vouchers",
            "VOUCHER_MAX_BYTES": "1000",
            "VOUCHER_KMS_KEY_ID": "alias/vouchers",
            "VOUCHER_DOWNLOAD_TIMEOUT_SECONDS": "2.5",
            "VOUCHER_ALLOW_LOOPBACK_HTTP": "TRUE",
        }
    )
    assert (custom.max_bytes, custom.read_timeout, custom.allow_loopback_http) == (1000, 2.5, True)
    assert custom.encryption_arguments() == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/vouchers",
        "BucketKeyEnabled": True,
    }


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"VOUCHER_BUCKET_NAME": "b", "VOUCHER_MAX_BYTES": "ten"},
        {"VOUCHER_BUCKET_NAME": "b", "VOUCHER_MAX_BYTES": "0"},
        {"VOUCHER_BUCKET_NAME": "b", "VOUCHER_DOWNLOAD_TIMEOUT_SECONDS": "-1"},
        {"VOUCHER_BUCKET_NAME": "b", "VOUCHER_ALLOW_LOOPBACK_HTTP": "yes"},
    ],
)
def test_bad_configuration_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        VoucherConfig.from_env(environ)


def test_the_sample_event_parses() -> None:
    request = VoucherRequest.from_event(sample_event())
    assert (request.order_reference_id, request.lang, request.external_reference) == (
        "1111111",
        "en",
        "shop-42",
    )
    assert request.tickets_pdf_url.startswith("https://")
    assert request.information_key == "vouchers/1111111/en/tiqets_information.json"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda event: event.pop("order"), "order"),
        (lambda event: event["order"].update(order_reference_id="../etc"), "order_reference_id"),
        (lambda event: event["order"].update(lang="EN"), "lang"),
        (lambda event: event["order"].update(external_reference=42), "external_reference"),
        (lambda event: event.update(tickets_pdf_url=None), "tickets_pdf_url"),
        (lambda event: event.update(information_key=["a"]), "information_key"),
        (
            lambda event: event.update(
                information_key="vouchers/2222222/en/tiqets_information.json"
            ),
            "information_key",
        ),
        (lambda event: event.update(information_key="vouchers/1111111/en/order.json"), "info"),
    ],
)
def test_a_malformed_event_is_refused(
    change: Callable[[dict[str, Any]], object], field: str
) -> None:
    event = sample_event()
    change(event)
    with pytest.raises(InvalidExecutionInputError, match=field):
        VoucherRequest.from_event(event)


# -- the Lambda handler ----------------------------------------------------------------------


def test_the_download_deadline_keeps_time_for_the_upload() -> None:
    from store_vouchers.app import download_deadline

    assert download_deadline(without_clock(lambda_context()), now=100.0) is None
    assert download_deadline(lambda_context(remaining_millis=300_000), now=100.0) == (
        pytest.approx(100.0 + 210.0)
    )
    assert download_deadline(lambda_context(remaining_millis=20_000), now=0.0) == (
        pytest.approx(10.0)
    )


def test_stored_voucher_result_holds_only_the_location() -> None:
    stored = StoredVoucher(BUCKET, "k", "i", 1, "0" * 64, downloaded=False)
    assert set(stored.as_result()) == {"bucket", "key", "information_key", "size_bytes", "sha256"}
