"""Voucher storage: download an order's PDF tickets, verify them, keep them in S3.

`store_voucher` is the whole step the state machine runs when an order is `done`:

1. Idempotency first: when `vouchers/{order}/{lang}/tickets.pdf` already exists with the
   `sha256` and `size` metadata this module writes, nothing is downloaded; the information
   document beside it is written if it is missing, and the same location is returned.
2. Download with `requests` (`stream=True`, 1 MiB chunks) into an anonymous temporary file in
   the Lambda's ephemeral storage (`/tmp`), never holding the whole file in memory. The SHA-256,
   the size, the first bytes and a 1 KiB tail are computed on the way.
3. Verify before anything reaches S3: a non-empty body, the length Content-Length announced,
   the `%PDF-` magic, a `%%EOF` marker in the last 1024 bytes. The size limit is enforced on
   Content-Length up front and on the bytes actually read.
4. Upload the verified file: one PutObject up to 8 MiB, otherwise a multipart upload of 8 MiB
   parts read back from the spool file one at a time. Every request carries its SHA-256 so S3
   verifies what it receives, and any failure aborts the multipart upload: S3 never shows a
   half-written voucher.
5. Write the information document `vouchers/{order}/{lang}/order.json` (order fields, Tiqets'
   informational fields as the status check staged them (information.py), the voucher's checksum
   and size) after the PDF, so that a re-run after a failure in between completes it without
   downloading again.

Why spool to disk rather than stream parts straight into S3: the object's metadata (its SHA-256
and size) must be given when the upload starts, and is only known once the download ends. A
disk spool lets the object be created once, with its final metadata, only after the file is
verified: no temporary key, no server-side copy, nothing left in the bucket by a crash. The
Lambda's ephemeral storage must therefore hold `VOUCHER_MAX_BYTES` (the 512 MB default holds the
100 MiB default limit).

Safety of the URL: `https` only in production; every address the host resolves to must be
public (not private, loopback, link-local, multicast, reserved, unspecified or otherwise not
globally routable), checked before each request and again on the connected socket's peer
address, so a DNS answer that changes between the check and the connection (DNS rebinding)
reaches nothing internal either. Redirects are followed by hand, at most three, each one checked
the same way. The local stack may allow `http` and `https` to hosts that resolve only to
loopback addresses (`VOUCHER_ALLOW_LOOPBACK_HTTP=true`), for the Tiqets simulator.

The voucher URL may be pre-signed: logs and error messages show its host and path only, never
its query string, and exceptions from `requests` (whose text holds the full URL) are not chained.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from tiqets_tracker.errors import (
    ConfigurationError,
    InvalidExecutionInputError,
    VoucherDownloadError,
    VoucherRejectedError,
)
from tiqets_tracker.information import InformationStore, check_staged_information_key
from tiqets_tracker.s3 import (
    is_not_found,
    s3_call,
    s3_error,
    sse_arguments,
    voucher_kms_key_from_env,
)
from tiqets_tracker.settings import float_env, require_env

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_READ_TIMEOUT_SECONDS",
    "PART_BYTES",
    "StoredVoucher",
    "VoucherConfig",
    "VoucherRequest",
    "information_key",
    "mark_cancelled",
    "resolve_host",
    "store_voucher",
    "voucher_key",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 104_857_600
"""100 MiB: `VOUCHER_MAX_BYTES` when unset."""
MAX_MAX_BYTES: Final = 10 * 1024**3
"""`VOUCHER_MAX_BYTES` may not exceed the largest ephemeral storage a Lambda can have (10 GiB)."""
CONNECT_TIMEOUT_SECONDS: Final = 3.05
DEFAULT_READ_TIMEOUT_SECONDS: Final = 30.0
MAX_REDIRECTS: Final = 3

DOWNLOAD_CHUNK_BYTES: Final = 1024 * 1024
PART_BYTES: Final = 8 * 1024 * 1024
"""Multipart part size; S3's minimum is 5 MiB for every part but the last. Files up to this size
go up in one PutObject."""

PDF_MAGIC: Final = b"%PDF-"
PDF_EOF_MARKER: Final = b"%%EOF"
PDF_EOF_WINDOW: Final = 1024
"""`%%EOF` must lie within this many bytes of the end (the PDF specification's reader rule)."""

PDF_CONTENT_TYPE: Final = "application/pdf"
INFORMATION_CONTENT_TYPE: Final = "application/json; charset=utf-8"
CANCELLED_TAG: Final = ("order-status", "cancelled")
USER_AGENT: Final = f"tiqets-tracker/0.1 voucher-fetcher (python-requests/{requests.__version__})"

_ORDER_REFERENCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LANG = re.compile(r"[a-z]{2}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_MAX_URL_LENGTH: Final = 8192
_MAX_SHOWN: Final = 120
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_RETRY_HINTS: Final[dict[int, str]] = {
    403: "forbidden: an expired pre-signed link?",
    404: "not found: not generated yet?",
    429: "too many requests",
    503: "unavailable",
}


def _shown(text: str) -> str:
    clipped = text[:_MAX_SHOWN]
    return repr(clipped) + ("..." if len(text) > _MAX_SHOWN else "")


# --------------------------------------------------------------------------------------------
# Configuration, input and result
# --------------------------------------------------------------------------------------------


def _int_env(name: str, default: int, environ: Mapping[str, str] | None) -> int:
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    if not _DIGITS.fullmatch(raw):
        raise ConfigurationError(f"{name} must be a whole number of bytes, not {raw[:20]!r}")
    value = int(raw)
    if not 0 < value <= MAX_MAX_BYTES:
        raise ConfigurationError(f"{name} must be between 1 and {MAX_MAX_BYTES} bytes")
    return value


def _bool_env(name: str, environ: Mapping[str, str] | None) -> bool:
    raw = (os.environ if environ is None else environ).get(name, "").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ConfigurationError(f"{name} must be 'true' or 'false', not {raw[:20]!r}")


@dataclass(frozen=True)
class VoucherConfig:
    """How vouchers are fetched and stored (environment variables set by template.yaml)."""

    bucket: str
    max_bytes: int = DEFAULT_MAX_BYTES
    kms_key_id: str | None = None
    """SSE-KMS with this key when set, SSE-S3 (AES256) otherwise."""
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS
    allow_loopback_http: bool = False
    """Local stack only: also allow http(s) to hosts that resolve only to loopback addresses."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VoucherConfig:
        return cls(
            bucket=require_env("VOUCHER_BUCKET_NAME", environ),
            max_bytes=_int_env("VOUCHER_MAX_BYTES", DEFAULT_MAX_BYTES, environ),
            kms_key_id=voucher_kms_key_from_env(environ),
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=float_env(
                "VOUCHER_DOWNLOAD_TIMEOUT_SECONDS", DEFAULT_READ_TIMEOUT_SECONDS, environ
            ),
            allow_loopback_http=_bool_env("VOUCHER_ALLOW_LOOPBACK_HTTP", environ),
        )

    def encryption_arguments(self) -> dict[str, Any]:
        """The server-side encryption arguments of PutObject and CreateMultipartUpload."""
        return sse_arguments(self.kms_key_id)


def voucher_key(order_reference_id: str, lang: str) -> str:
    """The voucher's S3 key: one per order and language."""
    return f"vouchers/{order_reference_id}/{lang}/tickets.pdf"


def information_key(order_reference_id: str, lang: str) -> str:
    """The key of the JSON document stored beside the voucher."""
    return f"vouchers/{order_reference_id}/{lang}/order.json"


def _check_key_parts(order_reference_id: object, lang: object) -> tuple[str, str]:
    if not isinstance(order_reference_id, str) or not _ORDER_REFERENCE_ID.fullmatch(
        order_reference_id
    ):
        raise InvalidExecutionInputError(
            "order.order_reference_id must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'"
        )
    if not isinstance(lang, str) or not _LANG.fullmatch(lang):
        raise InvalidExecutionInputError("order.lang must be two lowercase letters (ISO 639-1)")
    return order_reference_id, lang


@dataclass(frozen=True)
class VoucherRequest:
    """What the state machine hands the voucher step (see events/store_vouchers.json)."""

    order_reference_id: str
    lang: str
    external_reference: str | None
    placed_at: str | None
    tickets_pdf_url: str
    information_key: str | None = None
    """Where the status check staged the order's informational fields (information.py)."""

    @classmethod
    def from_event(cls, event: object) -> VoucherRequest:
        """Read the handler's event; InvalidExecutionInputError says which field is wrong."""
        if not isinstance(event, Mapping):
            raise InvalidExecutionInputError("the voucher step's input must be a JSON object")
        order = event.get("order")
        if not isinstance(order, Mapping):
            raise InvalidExecutionInputError("order must be a JSON object")
        lang = order.get("lang")
        order_reference_id, lang = _check_key_parts(
            order.get("order_reference_id"), "en" if lang is None else lang
        )
        external_reference = order.get("external_reference")
        if external_reference is not None and (
            not isinstance(external_reference, str) or not 0 < len(external_reference) <= 255
        ):
            raise InvalidExecutionInputError(
                "order.external_reference must be null or a string of 1 to 255 characters"
            )
        placed_at = order.get("placed_at")
        if placed_at is not None and (not isinstance(placed_at, str) or len(placed_at) > 64):
            raise InvalidExecutionInputError("order.placed_at must be null or a timestamp string")
        url = event.get("tickets_pdf_url")
        if not isinstance(url, str) or not url.strip() or len(url) > _MAX_URL_LENGTH:
            raise InvalidExecutionInputError(
                f"tickets_pdf_url must be a URL of at most {_MAX_URL_LENGTH} characters"
            )
        information_key = check_staged_information_key(
            event.get("information_key"), order_reference_id, lang
        )
        return cls(
            order_reference_id=order_reference_id,
            lang=lang,
            external_reference=external_reference,
            placed_at=placed_at,
            tickets_pdf_url=url.strip(),
            information_key=information_key,
        )


@dataclass(frozen=True)
class StoredVoucher:
    """Where a verified voucher is stored. Only this location travels in the execution state."""

    bucket: str
    key: str
    information_key: str
    size_bytes: int
    sha256: str
    """Hex SHA-256 of the PDF."""
    downloaded: bool = True
    """False when the voucher was already stored and nothing was downloaded (not in the result)."""

    def as_result(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "information_key": self.information_key,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }


# --------------------------------------------------------------------------------------------
# Which addresses a voucher URL may reach
# --------------------------------------------------------------------------------------------

Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the IP addresses the host resolves to."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `socket.getaddrinfo` gives for a TCP connection to host:port."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address reaches through: mapped, NAT64, 6to4, Teredo."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _address_kind(text: str) -> str:
    """'public', 'loopback', or the reason the address must not be reached."""
    try:
        address: _IPAddress = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return "unreadable"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [_address_kind(str(inner)) for inner in _embedded_ipv4(address)]
        refused = [kind for kind in embedded if kind != "public"]
        if refused:
            return refused[0] if refused[0] != "loopback" else "IPv6-embedded loopback"
    if address.is_loopback:
        return "loopback"
    for kind, flag in (
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-global", not address.is_global),
    ):
        if flag:
            return kind
    return "public"


@dataclass(frozen=True)
class _AddressPolicy:
    allow_loopback_http: bool

    def check_scheme(self, scheme: str) -> str | None:
        if scheme == "https" or (self.allow_loopback_http and scheme == "http"):
            return None
        if self.allow_loopback_http:
            return f"the scheme {scheme!r} is not http(s)"
        return "only https voucher URLs are allowed"

    def refusal(self, scheme: str, addresses: Sequence[str]) -> str | None:
        """Why a connection by `scheme` to these addresses is refused, or None if allowed."""
        if not addresses:
            return "the host resolves to no address"
        kinds = {_address_kind(address) for address in addresses}
        if kinds == {"public"}:
            return None if scheme == "https" else "plain http is allowed to loopback hosts only"
        if self.allow_loopback_http and kinds == {"loopback"}:
            return None
        refused = sorted(kind for kind in kinds if kind != "public")
        return f"the host resolves to a {' and '.join(refused)} address"


# The policy the connections of the voucher session apply to their peer address. A context
# variable, because urllib3 creates the connections deep inside `requests`.
_PEER_POLICY: ContextVar[_AddressPolicy | None] = ContextVar("voucher_peer_policy", default=None)


class _DropRecordsWhileDownloading(logging.Filter):
    """urllib3 logs request lines, the query string included, at DEBUG (and retries at
    WARNING); while a voucher is fetched those records could carry a pre-signed URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _PEER_POLICY.get() is None


_URL_LOG_FILTER = _DropRecordsWhileDownloading()
for _logger_name in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_logger_name).addFilter(_URL_LOG_FILTER)


def _check_peer(sock: socket.socket, scheme: str) -> None:
    policy = _PEER_POLICY.get()
    if policy is None:
        return
    try:
        peer = str(sock.getpeername()[0])
    except OSError:
        sock.close()
        raise VoucherDownloadError("the voucher connection closed at once") from None
    reason = policy.refusal(scheme, [peer])
    if reason is not None:
        sock.close()
        raise VoucherRejectedError(f"voucher connection refused: {reason} ({peer})")


class _PeerCheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock, "http")
        return sock


class _PeerCheckedHTTPSConnection(HTTPSConnection):
    # Checked on the TCP connection, before the TLS handshake.
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock, "https")
        return sock


class _PeerCheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PeerCheckedHTTPConnection


class _PeerCheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PeerCheckedHTTPSConnection


class _PeerCheckedAdapter(HTTPAdapter):
    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PeerCheckedHTTPConnectionPool,
            "https": _PeerCheckedHTTPSConnectionPool,
        }


def _voucher_session() -> requests.Session:
    session = requests.Session()
    # No proxies, .netrc credentials or CA bundles from the environment: the connection must go
    # to the checked address itself, and no credentials of ours may reach the voucher host.
    session.trust_env = False
    adapter = _PeerCheckedAdapter(
        pool_connections=1,
        pool_maxsize=1,
        max_retries=Retry(total=0, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _shown_url(url: str) -> str:
    """Host and path only: the query string of a pre-signed URL is a credential."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unreadable URL>"
    text = f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _check_url(url: str, policy: _AddressPolicy, resolver: Resolver) -> None:
    """Refuse (VoucherRejectedError) a URL this step must not fetch; resolve its host first."""
    if len(url) > _MAX_URL_LENGTH:
        raise VoucherRejectedError(f"the voucher URL is longer than {_MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise VoucherRejectedError("the voucher URL is not a valid URL") from None
    scheme = parts.scheme.lower()
    reason = policy.check_scheme(scheme)
    if reason is not None:
        raise VoucherRejectedError(f"voucher URL refused: {reason}")
    host = parts.hostname
    if not host:
        raise VoucherRejectedError("the voucher URL names no host")
    if parts.username is not None or parts.password is not None:
        raise VoucherRejectedError("the voucher URL carries credentials")
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses: Sequence[str] = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolver(host, port)
        except UnicodeError:
            raise VoucherRejectedError(f"the voucher host {_shown(host)} is not valid") from None
        except OSError as error:
            # Name resolution trouble usually passes: retried by the state machine.
            raise VoucherDownloadError(
                f"could not resolve the voucher host {_shown(host)} ({type(error).__name__})"
            ) from None
    reason = policy.refusal(scheme, addresses)
    if reason is not None:
        raise VoucherRejectedError(f"voucher URL refused ({_shown(host)}): {reason}")


# --------------------------------------------------------------------------------------------
# Download and verification
# --------------------------------------------------------------------------------------------


def _failure_kind(error: Exception) -> str:
    """A short name for a transport failure; never the exception's text (it holds the URL)."""
    inner = error.args[0] if error.args else None
    if isinstance(inner, urllib3.exceptions.MaxRetryError):
        # Retries are off: urllib3 reports the first failure wrapped, as its reason.
        inner = inner.reason
    u3 = urllib3.exceptions
    kinds: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str], ...] = (
        ((requests.ConnectTimeout, u3.ConnectTimeoutError), "connect timeout"),
        ((requests.ReadTimeout, u3.ReadTimeoutError), "read timeout"),
        ((requests.Timeout, u3.TimeoutError), "timeout"),
        (u3.NameResolutionError, "name resolution failed"),
        (u3.NewConnectionError, "could not connect"),
        ((requests.exceptions.SSLError, u3.SSLError), "TLS error"),
        ((requests.exceptions.ChunkedEncodingError, u3.ProtocolError), "connection closed early"),
        (requests.ConnectionError, "connection error"),
    )
    for types, kind in kinds:
        if isinstance(error, types) or isinstance(inner, types):
            return kind
    return type(error).__name__


def _get(session: requests.Session, url: str, config: VoucherConfig) -> requests.Response:
    try:
        return session.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=(config.connect_timeout, config.read_timeout),
            headers={
                "Accept": "application/pdf, */*;q=0.5",
                # Content-Length must count the bytes we verify; no decompression either.
                "Accept-Encoding": "identity",
                "User-Agent": USER_AGENT,
            },
        )
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        kind = _failure_kind(error)
    raise VoucherDownloadError(f"the voucher download failed ({kind})")


def _open(
    session: requests.Session, url: str, config: VoucherConfig, resolver: Resolver
) -> requests.Response:
    """The voucher's 200 response, unread; redirects followed by hand and checked hop by hop."""
    policy = _AddressPolicy(config.allow_loopback_http)
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        _check_url(current, policy, resolver)
        _log.info("requesting voucher from %s", _shown_url(current))
        response = _get(session, current, config)
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


@dataclass(frozen=True)
class _Downloaded:
    size: int
    sha256: bytes


def _download(
    response: requests.Response,
    spool: IO[bytes],
    config: VoucherConfig,
    deadline: float | None,
    clock: Callable[[], float],
) -> _Downloaded:
    """Stream the body into `spool` and verify it; raise if it is not a whole PDF."""
    declared = _declared_length(response)
    if declared is not None and declared > config.max_bytes:
        raise VoucherRejectedError(
            f"the voucher is {declared} bytes, more than the {config.max_bytes} allowed"
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
            if size > config.max_bytes:
                raise VoucherRejectedError(
                    f"the voucher is more than the {config.max_bytes} bytes allowed"
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
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        failure = _failure_kind(error)
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
    return _Downloaded(size=size, sha256=digest.digest())


def _spool_write(spool: IO[bytes], chunk: bytes) -> None:
    try:
        spool.write(chunk)
    except OSError as error:
        # A full /tmp: a leftover of an earlier invocation, or ephemeral storage too small.
        raise VoucherDownloadError(
            f"could not keep the voucher in local storage ({type(error).__name__}: "
            f"{error.strerror or 'write failed'})"
        ) from None


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------


def _head(s3: S3Client, bucket: str, key: str) -> dict[str, Any] | None:
    """HeadObject's answer, or None when there is no such object."""
    try:
        return dict(s3.head_object(Bucket=bucket, Key=key))
    except ClientError as error:
        if is_not_found(error):
            return None
        raise s3_error(error, "HeadObject") from error
    except BotoCoreError as error:
        raise s3_error(error, "HeadObject") from error


def _stored_checksum(head: Mapping[str, Any]) -> tuple[str, int] | None:
    """The (sha256, size) a voucher stored by this module carries, or None for anything else."""
    metadata = head.get("Metadata") or {}
    sha256 = str(metadata.get("sha256", ""))
    size = str(metadata.get("size", ""))
    if not _SHA256_HEX.fullmatch(sha256) or not _DIGITS.fullmatch(size):
        return None
    if head.get("ContentLength") is not None and int(head["ContentLength"]) != int(size):
        return None
    return sha256, int(size)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _metadata(request: VoucherRequest, sha256_hex: str, size: int) -> dict[str, str]:
    return {
        "order-reference-id": request.order_reference_id,
        "lang": request.lang,
        "sha256": sha256_hex,
        "size": str(size),
    }


def _upload_pdf(
    s3: S3Client,
    config: VoucherConfig,
    *,
    key: str,
    spool: IO[bytes],
    downloaded: _Downloaded,
    metadata: Mapping[str, str],
) -> None:
    """Put the verified spool file at `key`: one PutObject, or a multipart upload that is
    completed only when every part is in and aborted on any failure."""
    spool.seek(0)
    common: dict[str, Any] = {
        "Bucket": config.bucket,
        "Key": key,
        "ContentType": PDF_CONTENT_TYPE,
        "Metadata": dict(metadata),
        **config.encryption_arguments(),
    }
    if downloaded.size <= PART_BYTES:
        body = spool.read()
        with s3_call("PutObject"):
            s3.put_object(
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(downloaded.sha256),
                **common,
            )
        return

    with s3_call("CreateMultipartUpload"):
        upload_id = s3.create_multipart_upload(ChecksumAlgorithm="SHA256", **common)["UploadId"]
    completed = False
    try:
        parts: list[CompletedPartTypeDef] = []
        part_number = 1
        while part := spool.read(PART_BYTES):
            checksum = _b64(hashlib.sha256(part).digest())
            with s3_call("UploadPart"):
                answer = s3.upload_part(
                    Bucket=config.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=part_number,
                    Body=part,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
            del part
            parts.append(
                {"PartNumber": part_number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}
            )
            part_number += 1
        with s3_call("CompleteMultipartUpload"):
            s3.complete_multipart_upload(
                Bucket=config.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        completed = True
    finally:
        if not completed:
            _abort(s3, config.bucket, key, upload_id)


def _abort(s3: S3Client, bucket: str, key: str, upload_id: str) -> None:
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (ClientError, BotoCoreError) as error:
        # The original failure is what matters; a lifecycle rule removes what stays behind.
        _log.warning(
            "could not abort the multipart upload of %s: %s", key, s3_error(error, "Abort")
        )


def _information_document(
    request: VoucherRequest,
    information: Mapping[str, Any] | None,
    *,
    bucket: str,
    key: str,
    sha256_hex: str,
    size: int,
) -> bytes:
    document = {
        "order_reference_id": request.order_reference_id,
        "external_reference": request.external_reference,
        "lang": request.lang,
        "placed_at": request.placed_at,
        "information": dict(information) if information is not None else None,
        "voucher": {
            "bucket": bucket,
            "key": key,
            "content_type": PDF_CONTENT_TYPE,
            "sha256": sha256_hex,
            "size_bytes": size,
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def _staged_information(
    s3: S3Client, config: VoucherConfig, request: VoucherRequest
) -> dict[str, Any] | None:
    if request.information_key is None:
        return None
    return InformationStore(config.bucket, s3).load(request.information_key)


def _put_information(
    s3: S3Client,
    config: VoucherConfig,
    request: VoucherRequest,
    information: Mapping[str, Any] | None,
    *,
    key: str,
    sha256_hex: str,
    size: int,
) -> str:
    info_key = information_key(request.order_reference_id, request.lang)
    body = _information_document(
        request, information, bucket=config.bucket, key=key, sha256_hex=sha256_hex, size=size
    )
    with s3_call("PutObject"):
        s3.put_object(
            Bucket=config.bucket,
            Key=info_key,
            Body=body,
            ContentType=INFORMATION_CONTENT_TYPE,
            Metadata=_metadata(request, sha256_hex, size),
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=_b64(hashlib.sha256(body).digest()),
            **config.encryption_arguments(),
        )
    return info_key


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------


def store_voucher(
    request: VoucherRequest,
    *,
    config: VoucherConfig,
    s3: S3Client,
    resolver: Resolver = resolve_host,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> StoredVoucher:
    """Download, verify and store one order's voucher; return where it is.

    `deadline` (a `clock()` value) bounds the download so the step fails cleanly, aborting its
    upload, before the Lambda times out.

    Raises VoucherRejectedError for a URL or file refused for good (not https, a non-public
    address, over the size limit), VoucherDownloadError for a download that may work next time
    (timeouts, truncated, empty or non-PDF bodies, HTTP errors), VoucherStoreUnavailableError
    for a transient S3 failure, ConfigurationError
    for an S3 refusal that only a deployment fix cures (AccessDenied, NoSuchBucket, ...).
    """
    key = voucher_key(request.order_reference_id, request.lang)
    info_key = information_key(request.order_reference_id, request.lang)

    existing = _head(s3, config.bucket, key)
    stored = _stored_checksum(existing) if existing is not None else None
    if stored is not None:
        sha256_hex, size = stored
        if _head(s3, config.bucket, info_key) is None:
            information = _staged_information(s3, config, request)
            _put_information(
                s3, config, request, information, key=key, sha256_hex=sha256_hex, size=size
            )
        _log.info("voucher %s already stored (%d bytes); nothing downloaded", key, size)
        return StoredVoucher(config.bucket, key, info_key, size, sha256_hex, downloaded=False)

    # Read before the download, so that a missing document costs no download.
    information = _staged_information(s3, config, request)
    started = clock()
    session = _voucher_session()
    token = _PEER_POLICY.set(_AddressPolicy(config.allow_loopback_http))
    try:
        # An anonymous file (O_TMPFILE on Linux): gone when closed, even if the process dies.
        with tempfile.TemporaryFile(prefix="voucher-") as spool:
            response = _open(session, request.tickets_pdf_url, config, resolver)
            with response:
                downloaded = _download(response, spool, config, deadline, clock)
            sha256_hex = downloaded.sha256.hex()
            _log.info(
                "voucher downloaded and verified: %d bytes in %.2f s",
                downloaded.size,
                clock() - started,
            )
            _upload_pdf(
                s3,
                config,
                key=key,
                spool=spool,
                downloaded=downloaded,
                metadata=_metadata(request, sha256_hex, downloaded.size),
            )
    finally:
        _PEER_POLICY.reset(token)
        session.close()

    _put_information(
        s3, config, request, information, key=key, sha256_hex=sha256_hex, size=downloaded.size
    )
    _log.info("voucher stored at s3://%s/%s in %.2f s", config.bucket, key, clock() - started)
    return StoredVoucher(config.bucket, key, info_key, downloaded.size, sha256_hex)


def mark_cancelled(bucket: str, order_reference_id: str, lang: str, *, s3: S3Client) -> bool:
    """Tag the order's stored voucher and information document `order-status=cancelled`
    (other tags are kept). False when no voucher is stored for this order and language."""
    order_reference_id, lang = _check_key_parts(order_reference_id, lang)
    key = voucher_key(order_reference_id, lang)
    if _head(s3, bucket, key) is None:
        return False
    for target in (key, information_key(order_reference_id, lang)):
        try:
            tags = s3.get_object_tagging(Bucket=bucket, Key=target)["TagSet"]
        except ClientError as error:
            if is_not_found(error) and target != key:
                continue
            raise s3_error(error, "GetObjectTagging") from error
        except BotoCoreError as error:
            raise s3_error(error, "GetObjectTagging") from error
        tag_key, tag_value = CANCELLED_TAG
        kept = [tag for tag in tags if tag["Key"] != tag_key]
        with s3_call("PutObjectTagging"):
            s3.put_object_tagging(
                Bucket=bucket,
                Key=target,
                Tagging={"TagSet": [*kept, {"Key": tag_key, "Value": tag_value}]},
            )
    _log.info("voucher %s tagged %s=%s", key, *CANCELLED_TAG)
    return True
