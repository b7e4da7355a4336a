"""The public edge's limits against the real service: WebSockets per address, new ones per
minute and in total (below the file-descriptor limit), /api/* requests per second, the
/control throttle, each keyed by the real client address behind TRUSTED_PROXIES only.

Every client here is 127.0.0.1; a trusted proxy's X-Forwarded-For stands for the other
addresses. Each test sets small limits of its own (tests/service.py lifts them for the
rest of the suite).
"""

from __future__ import annotations

import base64
import os
import resource
import socket
import struct
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.service import ADMIN_TOKEN, Service
from tests.web.conftest import Client

TOO_MANY_OPEN = (1013, "too many connections from your address")
TOO_MANY_NEW = (1013, "too many new connections from your address; wait a minute")
SERVER_FULL = (1013, "the server is full; try again later")


def first_frame(service: Service, forwarded_for: str | None = None) -> tuple[Client | None, tuple[int, str] | None]:
    """Open a WebSocket: (the client, None) when it got its hello, (None, (code, reason))
    when it was refused with a close."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    client = Client(service.ws_url, additional_headers=headers)
    try:
        assert client.next()["type"] == "hello"
    except ConnectionClosed as closed:
        client.close()
        assert closed.rcvd is not None
        return None, (closed.rcvd.code, closed.rcvd.reason)
    return client, None


def still_answers(service: Service) -> None:
    """/healthz, / and the API answer at once for everyone else."""
    assert service.get("/healthz", timeout=3) == (200, {"ok": True})
    assert service.get("/", timeout=3)[0] == 200
    assert service.get("/api/countdown", timeout=3)[0] == 200


# -- WebSockets per address and per minute -----------------------------------------------------


def test_connections_per_address_are_capped_and_a_trusted_proxy_names_the_address(tmp_path: Path) -> None:
    env = {"MAX_CONNECTIONS_PER_IP": "3", "TRUSTED_PROXIES": "127.0.0.1/32, ::1"}
    with Service(tmp_path, env) as service:
        clients = [first_frame(service)[0] for _ in range(3)]
        assert all(clients)
        assert first_frame(service) == (None, TOO_MANY_OPEN)
        assert first_frame(service, "127.0.0.1") == (None, TOO_MANY_OPEN)  # a proxy hop: still us
        still_answers(service)
        # Behind the trusted proxy, another client is another address.
        other, refused = first_frame(service, "203.0.113.9")
        assert other is not None and refused is None
        clients[0].close()  # type: ignore[union-attr]
        service.wait_for_log("refused WebSocket from 127.0.0.1: too many connections from your address")
        again = [first_frame(service) for _ in range(3)]
        assert again[0][1] is None or again[1][1] is None  # the slot came free once it closed
        for client in [*clients[1:], other, *(c for c, _ in again)]:
            if client is not None:
                client.close()
        # Refusals are logged coalesced: one line per address per 10 s.
        assert service.logs().count("refused WebSocket from 127.0.0.1") <= 2


@pytest.mark.parametrize("trusted", [None, "10.0.0.0/8"], ids=["no proxies", "other proxies"])
def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path, trusted: str | None) -> None:
    env = {"MAX_CONNECTIONS_PER_IP": "2", **({"TRUSTED_PROXIES": trusted} if trusted else {})}
    with Service(tmp_path, env) as service:
        first, _ = first_frame(service, "203.0.113.1")
        second, _ = first_frame(service, "203.0.113.2")
        assert first is not None and second is not None
        assert first_frame(service, "203.0.113.3") == (None, TOO_MANY_OPEN)  # all are 127.0.0.1
        first.close()
        second.close()
        assert "refused WebSocket from 127.0.0.1" in service.logs()


def test_new_connections_per_address_per_minute(tmp_path: Path) -> None:
    env = {"MAX_NEW_CONNECTIONS_PER_IP_PER_MINUTE": "4", "TRUSTED_PROXIES": "127.0.0.1"}
    with Service(tmp_path, env) as service:
        for _ in range(4):
            client, refused = first_frame(service)
            assert client is not None and refused is None
            client.close()
        assert first_frame(service) == (None, TOO_MANY_NEW)
        still_answers(service)
        other, _ = first_frame(service, "203.0.113.77")
        assert other is not None
        other.close()


# -- /api/* requests per second --------------------------------------------------------------


def test_api_requests_per_address_per_second_get_429_with_retry_after(tmp_path: Path) -> None:
    env = {"API_REQUESTS_PER_IP_PER_SECOND": "5", "TRUSTED_PROXIES": "127.0.0.1"}
    with Service(tmp_path, env) as service:
        answers = [service.get("/api/countdown") for _ in range(15)]
        refused = [body for status, body in answers if status == 429]
        assert refused and refused[0] == {"error": "too many requests from your address; slow down", "code": "rate_limited"}
        status, retry = 0, "0"
        for _ in range(10):  # the headers of a refusal: Retry-After in whole seconds
            try:
                urllib.request.urlopen(service.url + "/api/status", timeout=5).close()
            except urllib.error.HTTPError as error:
                status, retry = error.code, error.headers["Retry-After"]
                break
        assert status == 429 and int(retry) >= 1
        assert all(service.get("/healthz")[0] == 200 for _ in range(20))  # not an API route
        assert service.get("/api/countdown", headers={"X-Forwarded-For": "198.51.100.20"})[0] == 200
        assert service.logs().count("429: /api requests over the rate from 127.0.0.1") == 1


# -- the /control throttle behind a proxy ---------------------------------------------------------


def test_control_throttles_the_guessing_address_not_the_admins(tmp_path: Path) -> None:
    with Service(tmp_path, {"TRUSTED_PROXIES": "127.0.0.1"}) as service:
        def control(token: str, address: str) -> int:
            headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}
            return service.request("POST", "/control", {"action": "pause"}, headers)[0]

        for attempt in range(5):
            assert control(f"guess-{attempt}", "203.0.113.66") == 403
        assert control(ADMIN_TOKEN, "203.0.113.66") == 429  # right, but too late for this address
        assert control(ADMIN_TOKEN, "198.51.100.2") == 200  # the admins are not locked out
        assert "refused 1 /control attempts from 203.0.113.66" in service.logs()
        assert "127.0.0.1" not in service.logs().split("refused", 1)[1].split("\n", 1)[0]


# -- file descriptors ------------------------------------------------------------------------------


def nofile(soft: int, hard: int) -> Callable[[], None]:
    def lower() -> None:  # in the child, before run.py
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return lower


class RawWebSocket:
    """A WebSocket opened by hand: one socket, no thread; reads only its first frame."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, "closed during the handshake"
            data += chunk
        head, _, self.rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def first_frame(self) -> tuple[int, bytes]:
        """The opcode and payload of the first data or close frame (pings skipped)."""
        data = self.rest
        while True:
            size, start = (data[1] & 0x7F, 2) if len(data) >= 2 else (0, 99)  # 99: wait for more
            if size == 126:
                size, start = (struct.unpack("!H", data[2:4])[0], 4) if len(data) >= 4 else (0, 99)
            assert size != 127, "a frame over 64 KiB"
            if len(data) >= start + size:
                opcode, payload, data = data[0] & 0x0F, data[start:start + size], data[start + size:]
                if opcode not in (0x9, 0xA):
                    return opcode, payload
                continue
            chunk = self.sock.recv(65536)
            assert chunk, "closed without a frame"
            data += chunk


def test_start_up_raises_the_open_file_limit_to_the_hard_one(tmp_path: Path) -> None:
    with Service(tmp_path, preexec=nofile(256, 1024)) as service:
        assert service.process is not None
        limits = Path(f"/proc/{service.process.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert line.split()[3:5] == ["1024", "1024"]
        assert "open-file limit 1024: up to 924 WebSockets" in service.logs()


def test_one_address_opening_sockets_until_refused_leaves_everyone_else_served(tmp_path: Path) -> None:
    with Service(tmp_path, preexec=nofile(256, 256)) as service:
        opened: list[RawWebSocket] = []
        refusal = None
        try:
            for count in range(400):
                socket_ = RawWebSocket(service.port)
                opcode, payload = socket_.first_frame()
                if opcode == 0x8:  # refused: a close frame instead of the hello
                    refusal = struct.unpack("!H", payload[:2])[0], payload[2:].decode()
                    socket_.sock.close()
                    break
                opened.append(socket_)
                if count % 50 == 0:
                    still_answers(service)
            assert refusal == SERVER_FULL
            assert 100 <= len(opened) <= 256 - 100, len(opened)  # the budget: limit less the reserve
            for _ in range(20):  # further attempts are refused the same way, and cost nothing
                late = RawWebSocket(service.port)
                assert late.first_frame()[0] == 0x8
                late.sock.close()
            still_answers(service)
        finally:
            for socket_ in opened:
                socket_.sock.close()
        assert service.process is not None and service.process.poll() is None
        logs = service.logs()
        assert "Too many open files" not in logs and "Traceback" not in logs
        assert logs.count("refused WebSocket from 127.0.0.1: the server is full") == 1
