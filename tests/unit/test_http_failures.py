"""The one naming of failed HTTP exchanges that the Tiqets client and the voucher download share:
what urllib3 and requests raise, wrapped however they wrap it, gets a short name that never
carries the exception's text (its URL)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
import urllib3.exceptions as u3

from tiqets_tracker.http_failures import failure_kind

pytestmark = pytest.mark.unit

URL = "https://vouchers.example.com/x.pdf?X-Amz-Signature=SECRET"
NO_POOL: Any = None
"""urllib3's errors name the pool or connection they came from; these come from none."""


def wrapped(reason: Exception) -> u3.MaxRetryError:
    """How urllib3 reports a first failure when retries are off."""
    return u3.MaxRetryError(NO_POOL, URL, reason)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            requests.ConnectionError(wrapped(u3.NewConnectionError(NO_POOL, URL))),
            "connection failed",
        ),
        (
            requests.ConnectionError(
                wrapped(u3.NameResolutionError("host", NO_POOL, socket.gaierror()))
            ),
            "name resolution failed",
        ),
        (requests.ConnectTimeout(wrapped(u3.ConnectTimeoutError(URL))), "connect timeout"),
        (
            requests.ConnectionError(wrapped(u3.ReadTimeoutError(NO_POOL, URL, "slow"))),
            "read timeout",
        ),
        (requests.ReadTimeout(u3.ReadTimeoutError(NO_POOL, URL, "slow")), "read timeout"),
        (requests.exceptions.SSLError(wrapped(u3.SSLError(URL))), "TLS error"),
        (requests.exceptions.ProxyError(wrapped(u3.ProxyError(URL, OSError()))), "proxy error"),
        (
            requests.ConnectionError(u3.ProtocolError(URL, ConnectionResetError())),
            "connection closed early",
        ),
        (requests.exceptions.ChunkedEncodingError(URL), "connection closed early"),
        (requests.exceptions.ContentDecodingError(URL), "undecodable answer"),
        (u3.ProtocolError(URL), "connection closed early"),
        (requests.ConnectionError(URL), "connection error"),
        (requests.exceptions.InvalidURL(URL), "InvalidURL"),
    ],
)
def test_each_failure_gets_its_short_name_and_never_the_url(error: Exception, kind: str) -> None:
    assert failure_kind(error) == kind
    assert "SECRET" not in failure_kind(error)
