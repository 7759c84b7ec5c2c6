"""The voucher's download: its PDF fetched into a spool file and verified, steps 2 and 3 of the
voucher step (vouchers.py).

- Download with `requests` (`stream=True`, 1 MiB chunks) into the caller's spool file, never
  holding the whole file in memory. The SHA-256, the size, the first bytes and a 1 KiB tail are
  computed on the way.
- Verify before anything reaches S3: a non-empty body, the length Content-Length announced, the
  `%PDF-` magic, a `%%EOF` marker in the last 1024 bytes. The size limit is enforced on
  Content-Length up front and on the bytes actually read.
- Only addresses download_guard.py allows are reached. Redirects are followed by hand, at most
  three, each one checked the same way.

The voucher URL may be pre-signed: logs and error messages show its host and path only, never
its query string, and exceptions from `requests` (whose text holds the full URL) are not chained.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Final
from urllib.parse import urljoin, urlsplit

import requests

from tiqets_tracker.download_guard import AddressPolicy, Resolver, check_url, guarded_session
from tiqets_tracker.errors import VoucherDownloadError, VoucherRejectedError
from tiqets_tracker.http_failures import TRANSPORT_ERRORS, failure_kind

__all__ = ["MAX_REDIRECTS", "USER_AGENT", "Downloaded", "download_pdf"]

_log = logging.getLogger(__name__)

MAX_REDIRECTS: Final = 3
DOWNLOAD_CHUNK_BYTES: Final = 1024 * 1024

PDF_MAGIC: Final = b"%PDF-"
PDF_EOF_MARKER: Final = b"%%EOF"
PDF_EOF_WINDOW: Final = 1024
"""`%%EOF` must lie within this many bytes of the end (the PDF specification's reader rule)."""

USER_AGENT: Final = f"tiqets-tracker/0.1 voucher-fetcher (python-requests/{requests.__version__})"

_DIGITS = re.compile(r"[0-9]{1,19}")
_MAX_SHOWN: Final = 120
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_RETRY_HINTS: Final[dict[int, str]] = {
    403: "forbidden: an expired pre-signed link?",
    404: "not found: not generated yet?",
    429: "too many requests",
    503: "unavailable",
}


@dataclass(frozen=True)
class Downloaded:
    """A verified PDF in the spool file."""

    size: int
    sha256: bytes


def download_pdf(
    url: str,
    spool: IO[bytes],
    *,
    max_bytes: int,
    timeout: tuple[float, float],
    allow_loopback_http: bool,
    resolver: Resolver,
    deadline: float | None,
    clock: Callable[[], float],
) -> Downloaded:
    """Stream the PDF at `url` into `spool` and verify it.

    `timeout` is (connect, read) in seconds; `deadline` (a `clock()` value) bounds the whole
    download. Raises VoucherRejectedError for a URL or file refused for good (not https, a
    non-public address, over `max_bytes`), VoucherDownloadError for a download that may work next
    time (timeouts, truncated, empty or non-PDF bodies, HTTP errors).
    """
    policy = AddressPolicy(allow_loopback_http)
    with guarded_session(policy) as session:
        response = _open(session, url, policy, resolver, timeout)
        with response:
            return _read_pdf(response, spool, max_bytes, deadline, clock)


def _shown_url(url: str) -> str:
    """Host and path only: the query string of a pre-signed URL is a credential."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unreadable URL>"
    text = f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _get(session: requests.Session, url: str, timeout: tuple[float, float]) -> requests.Response:
    try:
        return session.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=timeout,
            headers={
                "Accept": "application/pdf, */*;q=0.5",
                # Content-Length must count the bytes we verify; no decompression either.
                "Accept-Encoding": "identity",
                "User-Agent": USER_AGENT,
            },
        )
    except TRANSPORT_ERRORS as error:
        kind = failure_kind(error)
    raise VoucherDownloadError(f"the voucher download failed ({kind})")


def _open(
    session: requests.Session,
    url: str,
    policy: AddressPolicy,
    resolver: Resolver,
    timeout: tuple[float, float],
) -> requests.Response:
    """The voucher's 200 response, unread; redirects followed by hand and checked hop by hop."""
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(current, policy, resolver)
        _log.info("requesting voucher from %s", _shown_url(current))
        response = _get(session, current, timeout)
        status = response.status_code
        if status in _REDIRECT_STATUSES:
            location = response.headers.get("Location", "").strip()
            response.close()
            if not location:
                raise VoucherDownloadError(f"the voucher server redirected ({status}) nowhere")
            current = urljoin(current, location)
            continue
        if status != 200:
            response.close()
            hint = _RETRY_HINTS.get(status)
            raise VoucherDownloadError(
                f"the voucher server answered HTTP {status}" + (f" ({hint})" if hint else "")
            )
        return response
    raise VoucherDownloadError(f"the voucher URL redirected more than {MAX_REDIRECTS} times")


def _declared_length(response: requests.Response) -> int | None:
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    text = raw.strip()
    if not _DIGITS.fullmatch(text):
        raise VoucherDownloadError("the voucher server sent an unreadable Content-Length")
    return int(text)


def _read_pdf(
    response: requests.Response,
    spool: IO[bytes],
    max_bytes: int,
    deadline: float | None,
    clock: Callable[[], float],
) -> Downloaded:
    """Stream the body into `spool` and verify it; raise if it is not a whole PDF."""
    declared = _declared_length(response)
    if declared is not None and declared > max_bytes:
        raise VoucherRejectedError(
            f"the voucher is {declared} bytes, more than the {max_bytes} allowed"
        )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise VoucherDownloadError(f"the voucher was sent with Content-Encoding {encoding[:20]!r}")

    digest = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    failure: str | None = None
    try:
        for chunk in response.iter_content(chunk_size=DOWNLOAD_CHUNK_BYTES):
            if not chunk:
                continue
            size += len(chunk)
            if size > max_bytes:
                raise VoucherRejectedError(
                    f"the voucher is more than the {max_bytes} bytes allowed"
                )
            if declared is not None and size > declared:
                raise VoucherDownloadError(
                    f"the voucher is longer than its Content-Length ({declared} bytes)"
                )
            if len(head) < len(PDF_MAGIC):
                head = (head + chunk[: len(PDF_MAGIC)])[: len(PDF_MAGIC)]
                if len(head) == len(PDF_MAGIC) and head != PDF_MAGIC:
                    raise VoucherDownloadError("the voucher is not a PDF (no %PDF- header)")
            tail = (tail + chunk[-PDF_EOF_WINDOW:])[-PDF_EOF_WINDOW:]
            digest.update(chunk)
            _spool_write(spool, chunk)
            if deadline is not None and clock() > deadline:
                raise VoucherDownloadError(
                    f"the voucher download did not finish in time ({size} bytes read)"
                )
    except TRANSPORT_ERRORS as error:
        failure = failure_kind(error)
    if failure is not None:
        raise VoucherDownloadError(f"the voucher download broke off after {size} bytes ({failure})")

    # Verification, cheapest and most telling first.
    if size == 0:
        raise VoucherDownloadError("the voucher download was empty")
    if declared is not None and size != declared:
        raise VoucherDownloadError(
            f"the voucher download is incomplete: {size} of {declared} bytes"
        )
    if head != PDF_MAGIC:
        raise VoucherDownloadError("the voucher is not a PDF (no %PDF- header)")
    if PDF_EOF_MARKER not in tail:
        raise VoucherDownloadError("the voucher PDF has no %%EOF marker at its end (truncated?)")
    return Downloaded(size=size, sha256=digest.digest())


def _spool_write(spool: IO[bytes], chunk: bytes) -> None:
    try:
        spool.write(chunk)
    except OSError as error:
        # A full /tmp: a leftover of an earlier invocation, or ephemeral storage too small.
        raise VoucherDownloadError(
            f"could not keep the voucher in local storage ({type(error).__name__}: "
            f"{error.strerror or 'write failed'})"
        ) from None
