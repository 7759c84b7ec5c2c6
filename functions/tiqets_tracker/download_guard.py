"""Which addresses a voucher download may reach: the defence against server-side request forgery
(SSRF) through the voucher URL, which comes from Tiqets' answer and so from outside.

`https` only in production; every address the host resolves to must be public (not private,
loopback, link-local, multicast, reserved, unspecified or otherwise not globally routable, nor an
IPv6 address that tunnels to such an IPv4 address), checked before each request (`check_url`)
and again on the connected socket's peer address (`guarded_session`), so that a DNS answer that
changes between the check and the connection (DNS rebinding) reaches nothing internal either.
The local stack may allow `http` and `https` to hosts that resolve only to loopback addresses
(`VOUCHER_ALLOW_LOOPBACK_HTTP=true`), for the Tiqets simulator.

Why this is ours: the library that did it for `requests`, Advocate, is archived, and its IPv6
support never went past "ignored by default". What it takes is the standard library's
`ipaddress` and two urllib3 connection classes that check their socket.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from tiqets_tracker.errors import VoucherDownloadError, VoucherRejectedError
from tiqets_tracker.quiet_logs import voucher_urls_unlogged
from tiqets_tracker.validation import MAX_URL_LENGTH

__all__ = [
    "AddressPolicy",
    "Resolver",
    "check_url",
    "guarded_session",
    "resolve_host",
]

_MAX_SHOWN: Final = 120

Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the IP addresses the host resolves to."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `socket.getaddrinfo` gives for a TCP connection to host:port."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _shown(text: str) -> str:
    clipped = text[:_MAX_SHOWN]
    return repr(clipped) + ("..." if len(text) > _MAX_SHOWN else "")


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
class AddressPolicy:
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


def check_url(url: str, policy: AddressPolicy, resolver: Resolver) -> None:
    """Refuse (VoucherRejectedError) a URL this step must not fetch; resolve its host first."""
    if len(url) > MAX_URL_LENGTH:
        raise VoucherRejectedError(f"the voucher URL is longer than {MAX_URL_LENGTH} characters")
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


# The policy the connections of a guarded session apply to their peer address. A context
# variable, because urllib3 creates the connections deep inside `requests`.
_PEER_POLICY: ContextVar[AddressPolicy | None] = ContextVar("voucher_peer_policy", default=None)


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


@contextmanager
def guarded_session(policy: AddressPolicy) -> Iterator[requests.Session]:
    """A session whose every connection is refused (VoucherRejectedError) when its peer address
    breaks `policy`; urllib3's log records are dropped while it is open. It retries nothing;
    the caller checks each URL (`check_url`) and follows redirects by hand."""
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
    token = _PEER_POLICY.set(policy)
    try:
        with voucher_urls_unlogged():
            yield session
    finally:
        _PEER_POLICY.reset(token)
        session.close()
