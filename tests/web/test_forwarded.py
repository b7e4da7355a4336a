"""TRUSTED_PROXIES: which X-Forwarded-For hop is the client (pure functions)."""

from __future__ import annotations

import ipaddress

import pytest

from web.forwarded import Forwarded, TrustedProxies, parse_address
from web.limits import address_key

PROXIES = TrustedProxies([ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")])


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("127.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("127.0.0.1", ["198.51.100.1, 203.0.113.5"], "203.0.113.5"),  # the left one is a claim
        ("127.0.0.1", ["198.51.100.1, 203.0.113.5, 10.1.2.3"], "203.0.113.5"),  # past two proxies
        ("127.0.0.1", ["198.51.100.1", "203.0.113.5"], "203.0.113.5"),  # two header lines
        ("127.0.0.1", ["junk, 10.0.0.1"], "10.0.0.1"),  # garbage: stop at what we know
        ("127.0.0.1", ["10.0.0.2"], "10.0.0.2"),  # all trusted: the farthest
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("::ffff:127.0.0.1", ["203.0.113.5"], "203.0.113.5"),  # dual-stack spelling
        ("192.0.2.9", ["203.0.113.5"], "192.0.2.9"),  # not a proxy of ours: ignored
    ],
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(peer: str, xff: list[str], client: str) -> None:
    assert PROXIES.resolve(peer, xff, None, None).client == client


def test_proto_and_host_count_only_from_a_trusted_peer() -> None:
    assert PROXIES.resolve("127.0.0.1", [], "HTTPS, http", "rt.example, lb") == Forwarded("127.0.0.1", "https", "rt.example")
    assert PROXIES.resolve("127.0.0.1", [], "gopher", "") == Forwarded("127.0.0.1", None, None)
    assert PROXIES.resolve("192.0.2.9", ["1.2.3.4"], "https", "rt.example") == Forwarded("192.0.2.9")
    assert not TrustedProxies([]).trusts(parse_address("127.0.0.1"))


def test_limits_key_ipv6_clients_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2::ffff") == "2001:db8:1:2::/64"
    assert address_key("203.0.113.5") == "203.0.113.5"
    assert address_key("::ffff:203.0.113.5") == "203.0.113.5"
    assert address_key("unknown") == "unknown"
