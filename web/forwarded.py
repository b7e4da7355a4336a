"""Who the client really is, behind the proxies we trust (``TRUSTED_PROXIES``).

``X-Forwarded-For``, ``-Proto`` and ``-Host`` are honoured only when the peer that sent
them is a trusted proxy: anyone else could write them to dodge a limit or to pose as
another address. The client is found by walking ``X-Forwarded-For`` from the right
(the entry the nearest proxy appended) past every trusted proxy: the first address that
is not one is the client, and every limit, the /control throttle and the logs use it.
Pure functions over plain values; safe on any thread.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from settings import Network

__all__ = ["Forwarded", "TrustedProxies", "parse_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES: Final = frozenset({"http", "https"})


@dataclass(frozen=True)
class Forwarded:
    """What the trusted proxies said: the client's address, and the scheme and host the
    client used (None when no trusted proxy said so)."""

    client: str
    scheme: str | None = None
    host: str | None = None


def parse_address(text: str) -> IPAddress | None:
    """An address from a header or a socket (``1.2.3.4``, ``[::1]:80``, ``1.2.3.4:5``)."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:1.2.3.4 is 1.2.3.4 (dual-stack sockets)
    return address


class TrustedProxies:
    """The proxies whose forwarded headers count."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self._networks)

    def resolve(self, peer: str, forwarded_for: Sequence[str], proto: str | None,
                host: str | None) -> Forwarded:
        """The client behind ``peer`` given the raw header values (every
        ``X-Forwarded-For`` line, in order; the first ``-Proto`` and ``-Host``)."""
        current = parse_address(peer)
        if not self.trusts(current):
            return Forwarded(peer)
        hops = [hop for line in forwarded_for for hop in line.split(",") if hop.strip()]
        while hops and self.trusts(current):
            previous = parse_address(hops.pop())
            if previous is None:  # garbage left of a trusted hop: stop at what we know
                break
            current = previous
        assert current is not None
        return Forwarded(str(current), _first_scheme(proto), _first_host(host))


def _first_scheme(value: str | None) -> str | None:
    scheme = (value or "").split(",")[0].strip().lower()
    return scheme if scheme in _SCHEMES else None


def _first_host(value: str | None) -> str | None:
    host = (value or "").split(",")[0].strip()
    return host or None
