"""Between the accept and the first request: a request head (or a TLS handshake) that
takes longer than HEADER_TIMEOUT_SECONDS ends its connection, and one address cannot
hold more than MAX_TCP_CONNECTIONS_PER_IP connections (web/accept.py, web/serving.py).

Against the real service over raw sockets. Other client addresses are other loopback
addresses (127.0.0.2, ...): Linux answers for all of 127.0.0.0/8. Every wait for the
server's close is a read with a timeout.
"""

from __future__ import annotations

import hashlib
import inspect
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.deploy.certs import self_signed
from tests.service import Service
from tests.web.conftest import Client
from web.accept import LOG_EVERY, ConnectionCap
from web.forwarded import TrustedProxies
from web.hypercorn_patches import CLOSED_CONNECTION_SOURCES
from web.limits import CoalescedLog

HEAD = b"GET /healthz HTTP/1.1\r\nHost: roundtable.test\r\n\r\n"
DEADLINE = 1.0  # HEADER_TIMEOUT_SECONDS in the slow-head tests
HYPERCORN_0_18_CLOSED_CONNECTION = "2fd1ef0e366bd89dd163c92be7080585999309c9bdf4dff775863b59f026ae11"


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def closed_within(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset, with no bytes) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLEOFError):
        return True
    except TimeoutError:
        return False


def healthz(sock: socket.socket) -> int:
    """Ask ``/healthz`` on a kept-alive connection; the status (its body is read whole)."""
    sock.settimeout(10)
    sock.sendall(HEAD)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(4096)
    return int(head.split()[1])


def trickle_until_closed(sock: socket.socket, pace: float, limit: float,
                         keep_alive: socket.socket) -> float:
    """Send a never-ending request head on ``sock`` one byte per ``pace`` seconds (the
    pace is the read timeout that watches for the close), while ``keep_alive`` asks
    ``/healthz`` now and then; the seconds until the server closed ``sock``."""
    started = time.monotonic()
    head = b"GET /healthz HTTP/1.1\r\nHost: roundtable.test\r\n" + b"X-Slow: 1\r\n" * 1000
    for index, byte in enumerate(head):
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"still open after {elapsed:.1f} s"
        try:
            sock.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return elapsed
        if closed_within(sock, pace):
            return time.monotonic() - started
        if index % 2:
            assert healthz(keep_alive) == 200
    raise AssertionError("the head ran out before the server closed it")


def ping_pong(client: Client) -> None:
    client.connection.ping().wait(5)  # raises unless the pong comes back (the socket lives)


# -- request heads -----------------------------------------------------------------------------


def test_a_slow_head_is_closed_at_the_deadline_and_others_are_not(tmp_path: Path) -> None:
    with Service(tmp_path, {"HEADER_TIMEOUT_SECONDS": str(DEADLINE)}) as service:
        websocket = Client(service.ws_url)
        try:
            assert websocket.next()["type"] == "hello"
            with connect(service.port) as keep_alive, connect(service.port) as slow:
                took = trickle_until_closed(slow, 0.2, 10 * DEADLINE, keep_alive)
                assert DEADLINE * 0.9 <= took < DEADLINE * 3  # Hypercorn's default was 5 s
                for _ in range(6):  # another 1.5 deadlines of requests on the same socket
                    assert healthz(keep_alive) == 200
                    assert not closed_within(keep_alive, DEADLINE / 4)
            ping_pong(websocket)  # idle well past the deadline, and open
        finally:
            websocket.close()
        assert "Traceback" not in service.logs()


@contextmanager
def tls_service(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Service, ssl.SSLContext]]:
    cert, key = self_signed(tmp_path)
    service = Service(tmp_path, {"TLS_CERTFILE": str(cert), "TLS_KEYFILE": str(key), **env})
    service.start(wait_ready=False)
    try:
        service.wait_for_log("Running on https://")
        yield service, ssl.create_default_context(cafile=str(cert))
    finally:
        service.stop()
    assert "Traceback" not in service.logs()


def test_over_tls_a_silent_client_and_a_slow_head_are_closed_at_the_deadline(tmp_path: Path) -> None:
    with tls_service(tmp_path, {"HEADER_TIMEOUT_SECONDS": str(DEADLINE)}) as (service, context):
        with connect(service.port) as silent:  # never starts its TLS handshake (was 60 s)
            started = time.monotonic()
            assert closed_within(silent, 10 * DEADLINE)
            assert time.monotonic() - started < DEADLINE * 3
        keep_alive = context.wrap_socket(connect(service.port), server_hostname="127.0.0.1")
        slow = context.wrap_socket(connect(service.port), server_hostname="127.0.0.1")
        with keep_alive, slow:
            took = trickle_until_closed(slow, 0.2, 10 * DEADLINE, keep_alive)
            assert took < DEADLINE * 3
            for _ in range(6):
                assert healthz(keep_alive) == 200
                assert not closed_within(keep_alive, DEADLINE / 4)


# -- connections per address -------------------------------------------------------------------


def served(service: Service, source: str) -> socket.socket:
    """A new connection from ``source`` that was answered (kept open for the caller)."""
    sock = connect(service.port, source)
    assert healthz(sock) == 200
    return sock


def test_the_connection_past_the_cap_is_closed_and_other_addresses_still_connect(tmp_path: Path) -> None:
    env = {"MAX_TCP_CONNECTIONS_PER_IP": "3", "MAX_CONNECTIONS_PER_IP": "3", "HEADER_TIMEOUT_SECONDS": "2"}
    with Service(tmp_path, env) as service:
        held = [served(service, "127.0.0.2") for _ in range(3)]
        for _ in range(3):  # refused at once, without a byte of answer; one log line
            with connect(service.port, "127.0.0.2") as extra:
                assert closed_within(extra, 5)
        with served(service, "127.0.0.3"):  # another address is not affected
            pass
        for sock in held:
            assert healthz(sock) == 200  # the held ones were never disturbed
        for sock in held:  # until the server ends them (idle past HEADER_TIMEOUT_SECONDS)
            assert closed_within(sock, 10)
            sock.close()
        deadline = time.monotonic() + 5  # their places are free again
        while True:
            with connect(service.port, "127.0.0.2") as again:
                if not closed_within(again, 0.2):
                    assert healthz(again) == 200
                    break
            assert time.monotonic() < deadline, "the closed connections were never given back"
        logs = service.logs()
    assert logs.count("refused a connection from 127.0.0.2") == 1, logs
    assert "Traceback" not in logs


def test_a_trusted_proxy_is_not_capped(tmp_path: Path) -> None:
    env = {"MAX_TCP_CONNECTIONS_PER_IP": "2", "MAX_CONNECTIONS_PER_IP": "2",
           "TRUSTED_PROXIES": "127.0.0.4", "HEADER_TIMEOUT_SECONDS": "30"}
    with Service(tmp_path, env) as service:
        proxied = [served(service, "127.0.0.4") for _ in range(6)]
        others = [served(service, "127.0.0.5") for _ in range(2)]
        with connect(service.port, "127.0.0.5") as extra:  # the cap is on for everyone else
            assert closed_within(extra, 5)
        for sock in proxied + others:
            assert healthz(sock) == 200
            sock.close()
        assert "127.0.0.4" not in service.logs()


def admitted_within(service: Service, source: str, timeout: float) -> bool:
    """Whether a new connection from ``source`` is served within ``timeout`` (retried
    while the server refuses it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect(service.port, source) as sock:
            if not closed_within(sock, 0.2):
                return healthz(sock) == 200
    return False


def test_a_connection_the_client_closes_gives_its_place_back_at_once(tmp_path: Path) -> None:
    # Hypercorn kept a connection its client closed between requests until the keep-alive
    # timer ran out (web/hypercorn_patches.py: apply_connection_fixes).
    env = {"MAX_TCP_CONNECTIONS_PER_IP": "1", "MAX_CONNECTIONS_PER_IP": "1", "HEADER_TIMEOUT_SECONDS": "30"}
    with Service(tmp_path, env) as service:
        with served(service, "127.0.0.6"):
            pass  # one request, then the client hangs up
        assert admitted_within(service, "127.0.0.6", 5)  # (closed by the client as well)
        connect(service.port, "127.0.0.6").close()  # a bare connect and hang-up
        assert admitted_within(service, "127.0.0.6", 5)


def test_the_hypercorn_code_the_hang_up_fix_wraps_is_still_the_one_it_was_written_against() -> None:
    # The fix stops the idle timer after TCPServer._read_data returns, so that run()'s task
    # group empties and _close() runs. If an upgrade changes any of these, re-read them
    # (or drop the fix when Hypercorn ends a connection at the client's EOF by itself).
    source = b"".join(inspect.getsource(function).encode() for function in CLOSED_CONNECTION_SOURCES)
    assert hashlib.sha256(source).hexdigest() == HYPERCORN_0_18_CLOSED_CONNECTION


# -- the count itself --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cap_counts_per_address_gives_back_once_and_logs_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cap = ConnectionCap(2, TrustedProxies([ipaddress.ip_network("10.0.0.0/8")]),
                        CoalescedLog(logging.getLogger("test.accept"), LOG_EVERY, clock))
    first, second = cap.admit("203.0.113.7"), cap.admit("203.0.113.7")
    assert first is not None and second is not None
    assert cap.admit("203.0.113.7") is None and cap.admit("203.0.113.7:4242") is None
    assert cap.admit("203.0.113.8") is not None  # another address
    assert cap.admit("2001:db8::1") and cap.admit("2001:db8::2") and cap.admit("2001:db8::3") is None  # one /64
    assert all(cap.admit("10.1.2.3") is not None for _ in range(10))  # a trusted proxy
    first()
    assert cap.open_from("203.0.113.7") == 1 and cap.admit("203.0.113.7") is not None
    clock.now += LOG_EVERY
    assert cap.admit("203.0.113.7") is None
    lines = [r.getMessage() for r in caplog.records if "203.0.113.7" in r.getMessage()]
    assert len(lines) == 2 and "(x2 since the last line)" in lines[1]
    assert not any("10.1.2.3" in r.getMessage() for r in caplog.records)
