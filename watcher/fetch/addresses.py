"""Which addresses a target's fetches may connect to.

A redirect or a listing's link can point anywhere: at the watcher's own UI on
127.0.0.1, at a router on 192.168.1.1, at a cloud's metadata service on
169.254.169.254. Whatever such a page answers would be stored and shown in the UI,
the feeds and the alerts. So a fetch may connect to public addresses only, plus
the target's own address when its URL names a non-public one (that address, not
its whole class: a target on 127.0.0.5 does not reach the UI on 127.0.0.1), plus
what ``settings.allow_private`` opens. The check is made on the address actually
connected to (transport.py), so a host name that resolves to a private address,
now or after its next DNS answer, is caught too.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Reach", "classify", "parse_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_LOCALHOST = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
HOW_TO_ALLOW = "settings.allow_private"


@functools.lru_cache(maxsize=4096)  # asked several times a request; parsing costs ~20 µs
def parse_ip(text: str) -> IPAddress | None:
    """``text`` as an IP address (brackets, a zone and IPv4-mapped IPv6 undone), or None."""
    text = text.strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
    return address


def classify(address: IPAddress | str) -> str | None:
    """What kind of non-public address this is ("loopback", "private" …), None if public."""
    ip = parse_ip(str(address)) if isinstance(address, str) else parse_ip(address.compressed)
    if ip is None:
        raise ValueError(f"not an IP address: {address!r}")
    return _kind(ip)


@functools.lru_cache(maxsize=4096)
def _kind(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.version == 4 and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if ip.is_reserved:  # before private, which includes 240.0.0.0/4
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class Reach:
    """The non-public addresses one target's fetches may connect to. Hashable: the
    transport keeps connections apart for targets that may reach different places."""

    own: frozenset[IPAddress] = frozenset()  # the target URL's own non-public address(es)
    allowed: tuple[IPNetwork, ...] = ()  # from settings.allow_private
    anywhere: bool = False  # settings.allow_private: true

    @classmethod
    def of(cls, url: str, allow_private: bool | Iterable[str] = False) -> Reach:
        """The reach of a target at ``url`` under ``settings.allow_private``."""
        host = urlsplit(url).hostname or ""
        own = _addresses_named(host)
        if allow_private is True:
            return cls(own, anywhere=True)
        if allow_private is False:
            return cls(own)
        allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allow_private)
        return cls(own, allowed)

    def refusal(self, address: str, url: str) -> str | None:
        """Why connecting to ``address`` for ``url`` is refused (one line), or None."""
        ip = parse_ip(address)
        if ip is None or self.anywhere:
            return None
        kind = classify(ip)
        if kind is None or ip in self.own or any(ip in net for net in self.allowed):
            return None
        host = urlsplit(url).hostname or ""
        where = ip.compressed if parse_ip(host) == ip else f"{host}, at {ip.compressed},"
        return (
            f"refused to fetch {url}: {where} is a {kind} address, not the target's own;"
            f" to allow it, add {ip.compressed} to {HOW_TO_ALLOW}"
        )

    def refusal_of_host(self, url: str) -> str | None:
        """The refusal known before connecting: ``url``'s host is an address that may
        not be reached, or localhost and none of its addresses may be. Other names
        are checked once resolved, on the address connected to."""
        host = urlsplit(url).hostname or ""
        refusals = [self.refusal(ip.compressed, url) for ip in _ordered(_addresses_named(host))]
        return refusals[0] if refusals and all(refusals) else None


@functools.lru_cache(maxsize=4096)
def _addresses_named(host: str) -> frozenset[IPAddress]:
    """The non-public addresses a host part names by itself: an IP literal, or localhost."""
    ip = parse_ip(host)
    if ip is not None:
        return frozenset([ip]) if classify(ip) else frozenset()
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return frozenset(_LOCALHOST)
    return frozenset()


def _ordered(addresses: frozenset[IPAddress]) -> list[IPAddress]:
    """IPv4 first, so messages are the same every run (v4 and v6 do not compare)."""
    return sorted(addresses, key=lambda ip: (ip.version, int(ip)))
