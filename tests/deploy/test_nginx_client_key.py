"""deploy/nginx.conf's client key, run by real nginx: every limit counts an IPv6 client by
its /64, as the instances do, and an IPv4 client by its address.

The shipped ``map`` block is copied as it is into a small config whose nginx takes the
client's address from X-Forwarded-For (the realip module, trusting only 127.0.0.1), so
the test can be any client; one request a minute per key shows which keys are the same.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.nginx import NEEDS_NGINX, SHIPPED, Nginx

pytestmark = NEEDS_NGINX

CONFIG = """
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
MAP
    limit_req_zone $roundtable_client zone=keyed:1m rate=1r/m;
    limit_req_status 429;
    server {{
        listen 127.0.0.1:{port};
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        location = /healthz {{ return 200; }}
        location / {{ limit_req zone=keyed; empty_gif; }}  # (a return would answer before the limit)
    }}
}}
"""


def shipped_map() -> str:
    found = re.search(r"^    map \$binary_remote_addr \$roundtable_client \{.*?^    \}", SHIPPED.read_text(),
                      re.MULTILINE | re.DOTALL)
    assert found, "deploy/nginx.conf has no map $binary_remote_addr $roundtable_client block"
    return found.group(0).replace("{", "{{").replace("}", "}}")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    prefix: Path = tmp_path_factory.mktemp("nginx-key")
    server = Nginx(prefix, [], config=CONFIG.replace("MAP", shipped_map())).start()
    try:
        yield server
    finally:
        server.stop()


def status_as(nginx: Nginx, client: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
    try:
        connection.request("GET", "/", headers={"X-Forwarded-For": client})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_every_limit_counts_the_shipped_client_key() -> None:
    shipped = SHIPPED.read_text()
    zones = re.findall(r"^\s*limit_(?:req|conn)_zone (\S+) ", shipped, re.MULTILINE)
    assert zones and set(zones) == {"$roundtable_client"}, zones


@pytest.mark.parametrize(("first", "same_64"), [
    ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"),
    ("2001:db8::1", "2001:db8::2"),                  # a prefix of zero bytes
    ("2001:db8:a0a:a0a::1", "2001:db8:a0a:a0a::2"),  # newline bytes in the prefix
])
def test_an_ipv6_client_is_its_slash_64(nginx: Nginx, first: str, same_64: str) -> None:
    # Keyed by the whole address, each of these got a fresh allowance: a client with a
    # /64 (any home or phone) had 2^64 times every limit.
    assert status_as(nginx, first) == 200
    assert status_as(nginx, same_64) == 429
    neighbour = first.replace("2001:db8:", "2001:db9:", 1)  # another /64
    assert status_as(nginx, neighbour) == 200


def test_an_ipv4_client_is_its_address(nginx: Nginx) -> None:
    assert [status_as(nginx, a) for a in ("192.0.2.1", "192.0.2.2", "192.0.2.1")] == [200, 200, 429]
