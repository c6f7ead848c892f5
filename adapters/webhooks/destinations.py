"""Where webhooks may call: the destination policy against server-side request forgery.

A subscription's ``dest`` is chosen by a client, and the server then makes requests to it;
left alone, a client could have the server call its own loopback services, the private
network it sits in, or the cloud metadata service (``169.254.169.254``). So a ``dest``:

* is an ``http`` or ``https`` URL without credentials (``user:password@``): callbacks are
  authenticated by their ``GS1-Signature``, and credentials in a URL end up in logs;
* names a host that is not a known cloud metadata name (``metadata.google.internal``…);
* is, or resolves to, only public unicast addresses: every address a name resolves to must
  pass, and a name that does not resolve is refused (when subscribing too: a typo shows at
  once rather than as failing deliveries). Refused: loopback (127/8, ::1), private (10/8,
  172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), unspecified
  (0.0.0.0, ::), multicast, reserved, shared (CGNAT, 100.64/10), and other special-purpose
  blocks; IPv4 addresses inside IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64) are judged by the
  IPv4 address. Numeric hosts are read the way the C resolver reads them (``2130706433``,
  ``0x7f.1``, ``017700000001`` and ``127.1`` are all 127.0.0.1; a dotted quad with leading
  zeros, ``0177.0.0.1``, is not a valid URL).

``TRACECODE_WEBHOOK_ALLOW_HOSTS`` (comma-separated, default empty) lets an operator allow
internal receivers: a host name (exactly that name, whatever it resolves to) or an IP
address or CIDR block (addresses inside it pass).

The policy is applied when a subscription is made and again at each connection a delivery
makes: :class:`CheckedBackend` is the network backend of the webhook connection pool, and it
resolves the name once, checks every address, and connects to the checked addresses
themselves, so that a second lookup (DNS rebinding) cannot swap them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpcore
import httpx

ALLOW_ENV = "TRACECODE_WEBHOOK_ALLOW_HOSTS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Special-purpose blocks that Python's ``is_global`` lets through on some versions.
_SPECIAL = tuple(
    ipaddress.ip_network(n) for n in ("192.0.0.0/24", "64:ff9b:1::/48", "100::/64", "2001::/23")
)
_HINT = f"; an operator can allow it in {ALLOW_ENV}"


class ForbiddenDestination(ValueError):
    """A ``dest`` the policy refuses; the message says why and never shows credentials."""


@dataclass(frozen=True)
class Destination:
    """A ``dest`` that passed the checks that need no DNS."""

    scheme: str
    host: str
    """ASCII (IDNA) host name, or the IP address as written; no brackets."""
    port: int
    host_header: bytes
    """``host[:port]`` as the URL gives it (brackets kept for IPv6)."""
    target: bytes
    """Path and query."""


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_refused(ip: IPAddress) -> str | None:
    """Why an address may not be called back (None: it is a public unicast address)."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        why = why_refused(inner)
        return None if why is None else f"{why} ({inner} inside IPv6)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if any(ip in network for network in _PRIVATE):
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global or any(ip in network for network in _SPECIAL):
        return "a special-purpose address, not publicly routable"
    return None


_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCTAL = re.compile(r"0[0-7]*")
_DECIMAL = re.compile(r"[1-9][0-9]*")


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An all-numeric host read as the C resolver (``inet_aton``) reads it: one to four
    parts, each decimal, octal (leading 0) or hex (0x), the last filling the remaining
    bytes: ``2130706433``, ``0x7f.1``, ``127.1`` and ``0177.0.0.1`` are 127.0.0.1."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if _HEX.fullmatch(part):
            values.append(int(part[2:] or "0", 16))
        elif _OCTAL.fullmatch(part):
            values.append(int(part, 8))
        elif _DECIMAL.fullmatch(part):
            values.append(int(part))
        else:
            return None
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, value in enumerate(head):
        number += value << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def literal_ip(host: str) -> IPAddress | None:
    """The address a host names without DNS (None: it is a name)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return numeric_ipv4(host)


def _normal_name(host: str) -> str:
    return host.lower().rstrip(".")


@dataclass(frozen=True)
class DestinationPolicy:
    """Which callback destinations are allowed; see the module's documentation."""

    allowed_names: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> DestinationPolicy:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            bare = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
            try:
                networks.append(ipaddress.ip_network(bare, strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or ":" in entry or any(c.isspace() for c in entry):
                raise ValueError(f"{ALLOW_ENV}: {entry!r} is neither a host name nor an IP/CIDR")
            names.add(_normal_name(entry))
        return cls(frozenset(names), tuple(networks))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DestinationPolicy:
        """The policy ``TRACECODE_WEBHOOK_ALLOW_HOSTS`` sets (default: nothing internal)."""
        raw = (os.environ if environ is None else environ).get(ALLOW_ENV, "")
        return cls.from_entries(raw.split(","))

    # -- checks ----------------------------------------------------------------------------

    def parse(self, dest: str) -> Destination:
        """The checks that need no DNS: scheme, credentials, metadata names, literal IPs."""
        try:
            url = httpx.URL(dest)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise ForbiddenDestination("is not a valid URL") from None
        if url.scheme not in ("http", "https"):
            raise ForbiddenDestination("only http and https callbacks are allowed")
        if url.userinfo:
            raise ForbiddenDestination(
                "must not carry a user name or password (user:password@): callbacks are "
                "authenticated by their GS1-Signature"
            )
        host = url.raw_host.decode("ascii")
        if not host:
            raise ForbiddenDestination("has no host")
        if "%" in host:
            raise ForbiddenDestination("an IPv6 zone (%…) is not allowed")
        port = url.port or (443 if url.scheme == "https" else 80)
        destination = Destination(url.scheme, host, port, url.netloc, url.raw_path)
        if self._name_allowed(host):
            return destination
        if _normal_name(host) in METADATA_HOSTS:
            raise ForbiddenDestination(f"host {host!r} is a cloud metadata service{_HINT}")
        ip = literal_ip(host.rstrip("."))
        if ip is not None:
            self._check_address(host, ip, resolved=False)
        return destination

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for ``host``, each checked: a literal IP is itself;
        a name is resolved once, and refused unless every address it resolves to passes."""
        ip = literal_ip(host.rstrip("."))
        if ip is not None:
            if not self._name_allowed(host):
                self._check_address(host, ip, resolved=False)
            return [ip]
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise ForbiddenDestination(f"host {host!r} does not resolve ({exc})") from None
        resolved: list[IPAddress] = []
        for *_, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in resolved:
                resolved.append(address)
        if not resolved:
            raise ForbiddenDestination(f"host {host!r} does not resolve")
        if not self._name_allowed(host):
            for address in resolved:
                self._check_address(host, address, resolved=True)
        return resolved

    def check(self, dest: str) -> list[IPAddress]:
        """Every check, DNS included: the addresses ``dest`` would be called at."""
        destination = self.parse(dest)
        return self.addresses(destination.host, destination.port)

    def _name_allowed(self, host: str) -> bool:
        return _normal_name(host) in self.allowed_names

    def _check_address(self, host: str, ip: IPAddress, *, resolved: bool) -> None:
        inner = _embedded_ipv4(ip)
        if any(ip in n or (inner is not None and inner in n) for n in self.allowed_networks):
            return
        why = why_refused(ip)
        if why is None:
            return
        if resolved:
            raise ForbiddenDestination(f"host {host!r} resolves to {ip}, {why}{_HINT}")
        raise ForbiddenDestination(f"host {host!r} is {why}{_HINT}")


class CheckedBackend(httpcore.NetworkBackend):
    """An ``httpcore`` network backend that connects only to addresses the policy passed:
    one lookup, every address checked, then a connection to those very addresses (in
    order, until one answers). A refusal raises :class:`ForbiddenDestination`."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in self.policy.addresses(host, port):
            try:
                return self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise ForbiddenDestination("callbacks go over TCP only")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)
