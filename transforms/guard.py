"""SSRF guard: which URLs and addresses newsflow may connect to.

Feeds are untrusted input: a feed entry pointing at ``http://169.254.169.254/`` (a cloud metadata
service) or at a private admin page must never be fetched. The rule is simple and checked for
every resolved address, before connecting and again after every redirect: only globally routable
unicast addresses are allowed, unless the URL's host was allowed by name with ``--allow-host``
(the exact spelling, so allowing ``127.0.0.1`` does not allow ``2130706433`` or ``127.0.0.2``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = ("http", "https")


class Refused(Exception):
    """A URL the guard will not connect to; ``reason`` is the rejects-row reason code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (numeric spellings such as ``0x7f.1`` included)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_problem(address: str) -> str | None:
    """Why an address must not be contacted, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return address_problem(str(mapped))
    for attr, label in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attr):
            return label
    if not ip.is_global:
        return "non-global"
    return None


@dataclass(frozen=True)
class Target:
    """A checked connection target: the URL parts plus the addresses it may use."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class AddressGuard:
    allowed_hosts: frozenset[str] = frozenset()
    resolver: Resolver = system_resolver

    @classmethod
    def allowing(cls, hosts: Iterable[str] = (), resolver: Resolver | None = None) -> AddressGuard:
        return cls(frozenset(h.strip().lower().strip("[]") for h in hosts if h.strip()),
                   resolver or system_resolver)

    def check(self, url: str) -> Target:
        """Resolve ``url`` and return where it may connect, or raise ``Refused``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise Refused("invalid_url", f"cannot parse URL {url!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise Refused("bad_scheme", f"scheme {scheme or '(none)'!r} is not http/https: {url}")
        host = (parts.hostname or "").lower()
        if not host:
            raise Refused("invalid_url", f"no host in URL {url!r}")
        port = port or (443 if scheme == "https" else 80)
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise Refused("dns_error", f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise Refused("dns_error", f"{host} resolved to no address")
        if host not in self.allowed_hosts:
            for address in addresses:
                problem = address_problem(address)
                if problem:
                    raise Refused(
                        "blocked_address",
                        f"{host} resolves to {problem} address {address}; "
                        f"allow it explicitly with --allow-host {host}",
                    )
        return Target(scheme, host, port, tuple(addresses))
