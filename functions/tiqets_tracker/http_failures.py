"""One name for each way an HTTP exchange made with `requests` can fail, shared by the Tiqets
client (tiqets.py) and the voucher download (voucher_download.py).

The name goes into error messages and logs instead of the exception's text: that text holds the
URL (a voucher URL may be pre-signed, its query string a credential) and, for some errors,
request headers.
"""

from __future__ import annotations

from typing import Final

import requests
import urllib3.exceptions

__all__ = ["TRANSPORT_ERRORS", "failure_kind"]

TRANSPORT_ERRORS: Final = (requests.RequestException, urllib3.exceptions.HTTPError)
"""What a request or the reading of its body raises when the exchange fails: `requests` wraps
most of urllib3's errors, but a body read can still raise urllib3's own."""

_u3 = urllib3.exceptions
# Most specific first: urllib3's NewConnectionError (and so NameResolutionError) still derives
# from ConnectTimeoutError, and requests' SSLError and ProxyError from its ConnectionError.
_KINDS: Final[tuple[tuple[tuple[type[Exception], ...], str], ...]] = (
    ((_u3.NameResolutionError,), "name resolution failed"),
    ((_u3.NewConnectionError,), "connection failed"),
    ((requests.ConnectTimeout, _u3.ConnectTimeoutError), "connect timeout"),
    ((requests.ReadTimeout, _u3.ReadTimeoutError), "read timeout"),
    ((requests.Timeout, _u3.TimeoutError), "timeout"),
    ((requests.exceptions.SSLError, _u3.SSLError), "TLS error"),
    ((requests.exceptions.ProxyError, _u3.ProxyError), "proxy error"),
    ((requests.exceptions.ChunkedEncodingError, _u3.ProtocolError), "connection closed early"),
    ((requests.exceptions.ContentDecodingError, _u3.DecodeError), "undecodable answer"),
    ((requests.ConnectionError,), "connection error"),
)


def failure_kind(error: Exception) -> str:
    """A short name for a failed exchange (one of TRANSPORT_ERRORS); never the error's text."""
    inner = error.args[0] if error.args else None
    if isinstance(inner, _u3.MaxRetryError):
        # With retries off, urllib3 reports the first failure wrapped, as its reason, and
        # requests passes that on as a mere ConnectionError.
        inner = inner.reason
    for types, kind in _KINDS:
        if isinstance(error, types) or isinstance(inner, types):
            return kind
    return type(error).__name__
