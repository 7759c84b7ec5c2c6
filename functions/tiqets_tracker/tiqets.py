"""The Tiqets Distributor API client: one call, `get_tickets`, and the sorting of every way it can
fail into the errors of `tiqets_tracker.errors`.

Ships in every Lambda bundle: the standard library and `requests` only.

The client never retries: a failed call raises at once and the workflow decides when to ask again.
The API key lives only inside the request authentication object; it is never part of a `repr`, an
exception message, a log record or a returned value.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from tiqets_tracker.errors import (
    TiqetsRequestRejectedError,
    TiqetsResponseInvalidError,
    TiqetsUnavailableError,
)
from tiqets_tracker.http_failures import TRANSPORT_ERRORS, failure_kind
from tiqets_tracker.validation import LANGS, MAX_URL_LENGTH, ORDER_REFERENCE_ID

__all__ = [
    "MAX_ANSWER_BYTES",
    "PRODUCTION_BASE_URL",
    "TEST_BASE_URL",
    "USER_AGENT",
    "OrderStatus",
    "Tickets",
    "TiqetsClient",
    "parse_retry_after",
]

TEST_BASE_URL: Final = "https://api-tiqt-test.steq.it/v2/"
PRODUCTION_BASE_URL: Final = "https://api.tiqets.com/v2/"
USER_AGENT: Final = f"tiqets-tracker/0.1 (python-requests/{requests.__version__})"

MAX_ANSWER_BYTES: Final = 5 * 1024 * 1024
"""Largest answer read from Tiqets: an order's status and free text, at most a few hundred KB in
practice; a larger one is refused (and retried) instead of filling the function's memory."""

MAX_RETRY_AFTER_SECONDS: Final = 86_400.0
"""Longest wait a `Retry-After` header can ask for; longer values are clamped to this."""

_log = logging.getLogger(__name__)

_API_KEY = re.compile(r"[\x21-\x7e]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_SHOWN_VALUE_MAX = 40

# Statuses Tiqets documents as "back off and try again"; every other 5xx is treated the same way.
_UNAVAILABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
_STATUS_HINTS: Final[dict[int, str]] = {
    400: "the request parameters were refused",
    401: "the API key was refused",
    403: "the API key may not use this endpoint or these parameters",
    404: "no such order",
    405: "the method is not allowed",
    429: "too many requests",
    503: "offline for maintenance or overloaded",
}
_CORE_FIELDS: Final = frozenset({"order_reference_id", "order_status", "tickets_pdf_url"})


def _shown(value: object) -> str:
    """A short, printable rendering of a value for an error message (at most 40 characters)."""
    text = value if isinstance(value, str) else repr(value)
    clipped = text[:_SHOWN_VALUE_MAX]
    return repr(clipped) + ("..." if len(text) > _SHOWN_VALUE_MAX else "")


class OrderStatus(enum.StrEnum):
    """An order's `order_status` as Tiqets reports it."""

    NEW = "new"
    PENDING = "pending"
    FAILED = "failed"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the order can no longer change by itself (done, failed or cancelled).

        A done order can still be cancelled later by Tiqets; tracking stops at done all the same.
        """
        return self in (OrderStatus.DONE, OrderStatus.FAILED, OrderStatus.CANCELLED)

    @classmethod
    def parse(cls, value: object) -> OrderStatus:
        """Read an `order_status` value: case-insensitive, surrounding blanks ignored, and the
        `canceled` spelling of the docs' prose accepted as `cancelled`.

        Raises TiqetsResponseInvalidError for anything else (the message shows at most 40
        characters of the bad value).
        """
        if value is None:
            raise TiqetsResponseInvalidError("Tiqets answered without an order_status")
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "canceled":
                text = "cancelled"
            for member in cls:
                if member.value == text:
                    return member
        raise TiqetsResponseInvalidError(f"Tiqets answered an unknown order_status {_shown(value)}")


@dataclass(frozen=True)
class Tickets:
    """What the tickets endpoint said about one order."""

    order_reference_id: str
    status: OrderStatus
    tickets_pdf_url: str | None
    """The voucher's absolute http(s) URL; set only when `status` is DONE."""
    information: dict[str, Any]
    """The informational fields (how_to_use, important_information, inclusions, starting_point,
    ...): every field of the answer but the three above, as found."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a `Retry-After` header value (delta-seconds or an HTTP-date),
    clamped to [0, 86400]; None when the value is absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class _TokenAuth(AuthBase):
    """Adds `Authorization: Token <key>`; its repr never shows the key.

    Passing this as the request's `auth` also keeps `requests` from replacing the header with
    credentials from a `.netrc` file.
    """

    def __init__(self, api_key: str) -> None:
        self._header_value = f"Token {api_key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header_value
        return request

    def __repr__(self) -> str:
        return "_TokenAuth(<redacted>)"


def _check_timeout(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return float(value)


def _normalise_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise TypeError("base_url must be a string")
    parts = urlsplit("")
    try:
        parts = urlsplit(base_url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    # The URL is not echoed: a mistyped setting could hold anything.
    if (
        not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            "base_url must be an absolute http(s) URL without credentials, query or fragment"
        )
    return base_url.strip().rstrip("/") + "/"


def _check_order_reference_id(order_reference_id: str) -> None:
    if not isinstance(order_reference_id, str) or not ORDER_REFERENCE_ID.fullmatch(
        order_reference_id
    ):
        raise ValueError(
            "order_reference_id must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-', "
            f"not {_shown(order_reference_id)}"
        )


def _check_lang(lang: str) -> None:
    if not isinstance(lang, str) or lang not in LANGS:
        raise ValueError(f"lang must be one of Tiqets' languages, not {_shown(lang)}")


class TiqetsClient:
    """A client of the Tiqets Distributor API, meant to be created once and reused (a warm Lambda
    keeps its connection pool across invocations).

    With `session` given, the caller's session is used as it is (its adapters, retries and
    lifetime are the caller's business: `close()` leaves it open). Otherwise the client owns a
    session whose adapter never retries on its own.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = TEST_BASE_URL,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        # The key itself is never part of a message.
        if not isinstance(api_key, str) or not _API_KEY.fullmatch(api_key):
            raise ValueError("api_key must be a non-empty string of printable ASCII without spaces")
        self._base_url = _normalise_base_url(base_url)
        self._timeout = (
            _check_timeout("connect_timeout", connect_timeout),
            _check_timeout("read_timeout", read_timeout),
        )
        self._auth = _TokenAuth(api_key)
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(
                pool_connections=2,
                pool_maxsize=4,
                # No retries at all. read=False makes urllib3 re-raise a read timeout as it is
                # (requests then raises ReadTimeout) instead of wrapping it in MaxRetryError,
                # which requests would report as a mere ConnectionError.
                max_retries=Retry(total=0, read=False, redirect=False, raise_on_status=False),
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    def __enter__(self) -> TiqetsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (only when the client created its own session)."""
        if self._owns_session:
            self._session.close()

    def get_tickets(self, order_reference_id: str, lang: str = "en") -> Tickets:
        """`GET orders/{order_reference_id}/tickets?lang=..`: the order's status, its voucher URL
        once done, and the informational fields.

        Raises ValueError for a malformed id or language (before any request),
        TiqetsRequestRejectedError for a 4xx other than 429, TiqetsResponseInvalidError for a
        200 whose body cannot be used, and TiqetsUnavailableError for everything else that
        went wrong (429, 5xx, timeouts, broken connections).
        """
        _check_order_reference_id(order_reference_id)
        _check_lang(lang)
        url = f"{self._base_url}orders/{order_reference_id}/tickets"
        outcome = self._get(url, {"lang": lang})
        if isinstance(outcome, str):
            _log.debug("Tiqets tickets call for order %s failed: %s", order_reference_id, outcome)
            raise TiqetsUnavailableError(f"Tiqets could not be reached ({outcome})")
        response, body = outcome
        _log.debug(
            "Tiqets tickets call for order %s answered HTTP %d",
            order_reference_id,
            response.status_code,
        )
        _raise_for_status(response)
        return _parse_tickets(order_reference_id, body)

    def _get(self, url: str, params: dict[str, str]) -> tuple[requests.Response, bytes] | str:
        """The response and its body, or the kind of transport failure. The exception is not
        kept, so that nothing raised later chains it."""
        try:
            with self._session.get(
                url,
                params=params,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                auth=self._auth,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                body = _bounded_body(response)
        except TRANSPORT_ERRORS as error:
            return failure_kind(error)
        if body is None:
            raise TiqetsResponseInvalidError(
                f"Tiqets answered more than {MAX_ANSWER_BYTES} bytes (HTTP {response.status_code})"
            )
        return response, body


def _bounded_body(response: requests.Response) -> bytes | None:
    """The body, or None once it is over MAX_ANSWER_BYTES (the rest is not read)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        return None
    body = bytearray()
    for chunk in response.iter_content(chunk_size=64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            return None
    return bytes(body)


def _raise_for_status(response: requests.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    hint = _STATUS_HINTS.get(status)
    reason = f"Tiqets answered HTTP {status}" + (f" ({hint})" if hint else "")
    if status in _UNAVAILABLE_STATUSES or 500 <= status < 600:
        raise TiqetsUnavailableError(
            reason, retry_after_seconds=parse_retry_after(response.headers.get("Retry-After"))
        )
    if 400 <= status < 500:
        raise TiqetsRequestRejectedError(reason, status_code=status)
    # 1xx and 3xx (redirects are not followed: the API never sends one) and anything odder.
    raise TiqetsResponseInvalidError(f"Tiqets answered an unexpected HTTP {status}")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse_tickets(requested_id: str, content: bytes) -> Tickets:
    body: object = None
    readable = True
    try:
        body = json.loads(content, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        readable = False
    if not readable:
        raise TiqetsResponseInvalidError("Tiqets answered 200 with a body that is not JSON")
    if not isinstance(body, dict):
        raise TiqetsResponseInvalidError("Tiqets answered 200 with JSON that is not an object")
    status = OrderStatus.parse(body.get("order_status"))
    _check_reference_in_body(body.get("order_reference_id"), requested_id)
    pdf_url = _pdf_url(body.get("tickets_pdf_url")) if status is OrderStatus.DONE else None
    information = {key: value for key, value in body.items() if key not in _CORE_FIELDS}
    return Tickets(
        order_reference_id=requested_id,
        status=status,
        tickets_pdf_url=pdf_url,
        information=information,
    )


def _check_reference_in_body(value: object, requested_id: str) -> None:
    """The body's order_reference_id (a number or a string, or absent) must be the requested one:
    an answer about another order (a caching proxy gone wrong) must not be filed under this one."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TiqetsResponseInvalidError(
            f"Tiqets answered an order_reference_id that is neither a number nor a string: "
            f"{_shown(value)}"
        )
    text = str(value).strip()
    same = text == requested_id or (
        _ASCII_DIGITS.fullmatch(text) is not None
        and _ASCII_DIGITS.fullmatch(requested_id) is not None
        and text.lstrip("0") == requested_id.lstrip("0")
    )
    if not same:
        raise TiqetsResponseInvalidError(
            f"Tiqets answered about order {_shown(text)} when asked about {requested_id!r}"
        )


def _pdf_url(value: object) -> str:
    if not isinstance(value, str):
        raise TiqetsResponseInvalidError("Tiqets answered a done order without a tickets_pdf_url")
    url = value.strip()
    valid = 0 < len(url) <= MAX_URL_LENGTH and not any(
        char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url
    )
    if valid:
        try:
            parts = urlsplit(url)
            valid = (
                parts.scheme in ("http", "https")
                and bool(parts.hostname)
                and (parts.port is None or parts.port > 0)
            )
        except ValueError:
            valid = False
    if not valid:
        # The URL is not echoed: a pre-signed URL is a credential of sorts.
        raise TiqetsResponseInvalidError(
            "Tiqets answered a tickets_pdf_url that is not an absolute http(s) URL"
        )
    return url
