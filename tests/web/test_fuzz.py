"""A bounded fuzz pass over every public endpoint and the WebSocket of the real service.

Hypothesis draws methods, paths (known routes and junk), query strings, headers (Host,
Origin, Authorization, forwarded headers, oversized values), /control bodies (bytes,
deep JSON, valid commands) and WebSocket frames (text, binary, JSON-ish, deep). Each
request goes out over a raw socket, so the bytes are exactly the drawn ones. After each:
no 5xx and a well-formed answer; at the end: no traceback and no 5xx in the service's
log, and its memory back near where it started.

Bounded for the suite: a fixed number of examples per property, derandomized (the same
examples every run, so CI cannot fail by luck; a new finding is found by changing the
seed or ``FUZZ_EXAMPLES``), no example database on disk.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.service import ADMIN_TOKEN, Service
from tests.web.conftest import Client

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ROUTES = [
    "/", "/history", "/control", "/c/1", "/c/0", "/c/99999999999999999999", "/ws",
    "/api/status", "/api/countdown", "/api/conversations", "/api/conversations/1",
    "/api/conversations/1/export", "/api/conversations/-1", "/healthz", "/readyz", "/metrics",
    "/static/js/realtime_ui_components.js", "/static/css/roundtable.css", "/static/../settings.py",
]
#: Close codes the service may end a fuzzed WebSocket with; anything else is a bug.
CLEAN_CLOSES = {1000, 1001, 1003, 1007, 1008, 1009, 1013}


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with Service(tmp_path_factory.mktemp("fuzz"), {"ALLOWED_ORIGINS": "https://partner.example"}) as running:
        yield running


@pytest.fixture(scope="module")
def start_rss(service: Service) -> int:
    assert service.process is not None
    for _ in range(20):  # warm up every route once, so lazy imports are not counted
        for route in ROUTES:
            service.get(route)
    return _rss_kib(service.process.pid)


# -- strategies ----------------------------------------------------------------------------

_SAFE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\r\n\x7f"),
                       max_size=200)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(ROUTES) | st.builds(lambda s: "/" + s, st.text(_SAFE, max_size=40)))
    extra = draw(st.sampled_from(["", "/", "/x", "//", "/%00", "/%ff", "/..", "/" + "a" * 3000]))
    keys = st.sampled_from(["limit", "before", "format", "t", "", "limit[]", "%ff"])
    values = st.sampled_from(["1", "0", "-1", "md", "json", "pdf", "99999999999999999999", "%00", "1e9", "",
                              "abc", "%e9"]) | st.text(_SAFE, max_size=30)
    query = draw(st.lists(st.tuples(keys, values), max_size=4))
    text = base + extra
    if query:
        text += "?" + "&".join(f"{k}={v.replace('&', '').replace('#', '')}" for k, v in query)
    return text.replace(" ", "%20")


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    drawn: list[tuple[str, str]] = []
    host = draw(st.sampled_from(["127.0.0.1", "roundtable.example", "", "[::1]:80", "a" * 300, "é.example",
                                 "x:99999", "ex ample", "a..b"]) | _HEADER_TEXT)
    drawn.append(("Host", host))
    optional = {
        "Origin": st.sampled_from(["https://partner.example", "HTTPS://PARTNER.EXAMPLE:443", "null",
                                   "https://evil.example", "javascript:alert(1)"]) | _HEADER_TEXT,
        "Authorization": st.sampled_from([f"Bearer {ADMIN_TOKEN}", "Bearer x", "Basic abc", "Bearer"]) | _HEADER_TEXT,
        "X-Forwarded-For": st.sampled_from(["203.0.113.5", "junk", "1.2.3.4, 5.6.7.8", "::1"]) | _HEADER_TEXT,
        "X-Forwarded-Proto": st.sampled_from(["https", "http", "gopher"]) | _HEADER_TEXT,
        "X-Forwarded-Host": _HEADER_TEXT,
        "Content-Type": st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x"]),
        "Accept": _HEADER_TEXT,
        "Cookie": _HEADER_TEXT,
        "X-Big": st.integers(0, 20_000).map(lambda n: "b" * n),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            drawn.append((name, draw(values)))
    return drawn


_BODIES = (
    st.binary(max_size=300)
    | _JSONISH.map(lambda v: json.dumps(v).encode())
    | st.sampled_from(["force", "skip", "pause", "resume", "explode", ""]).map(
        lambda a: json.dumps({"action": a}).encode())
    | st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
    | st.just(b'{"action": "\xff"}')
)


# -- plumbing ----------------------------------------------------------------------------------


def send_raw(port: int, method: str, path: str, header_list: list[tuple[str, str]], body: bytes) -> int:
    """One request over a raw socket; the status of the (well-formed) answer."""
    head = f"{method} {path} HTTP/1.1\r\n".encode("latin-1", "replace")
    for name, value in header_list:
        head += f"{name}: {value}\r\n".encode("latin-1", "replace")
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n" + body)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # refused mid-request (a 4xx sent before the body was read)
    assert data.startswith(b"HTTP/1.1 "), (method, path, data[:200])
    return int(data.split(b" ", 2)[1])


# -- properties ---------------------------------------------------------------------------------


@FUZZ
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]),
       path=paths(), header_list=headers(), body=st.binary(max_size=200))
def test_no_request_gets_a_5xx(service: Service, start_rss: int, method: str, path: str,
                               header_list: list[tuple[str, str]], body: bytes) -> None:
    status = send_raw(service.port, method, path, header_list, body if method in ("POST", "PUT", "PATCH") else b"")
    assert 100 <= status < 500, (method, path, header_list, status)


@FUZZ
@given(body=_BODIES, content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
def test_no_control_body_gets_a_5xx(service: Service, start_rss: int, body: bytes, content_type: str) -> None:
    header_list = [("Host", "127.0.0.1"), ("Authorization", f"Bearer {ADMIN_TOKEN}"), ("Content-Type", content_type)]
    status = send_raw(service.port, "POST", "/control", header_list, body)
    assert status in (200, 400, 409, 413, 503) and status != 500, (body[:100], status)


_FRAMES = st.lists(
    st.text(max_size=300)
    | st.binary(max_size=200)
    | _JSONISH.map(json.dumps)
    | st.builds(lambda t: json.dumps({"type": "ping", "t": t}), _JSONISH)
    | st.integers(1, 3000).map(lambda n: "[" * n)
    | st.integers(4000, 9000).map(lambda n: "x" * n),
    min_size=1, max_size=5,
)


@FUZZ
@given(frames=_FRAMES)
def test_no_frame_breaks_the_websocket(service: Service, start_rss: int, frames: list[Any]) -> None:
    try:
        client = Client(service.ws_url)
    except InvalidStatus as refused:
        raise AssertionError(f"handshake refused: {refused.response.status_code}") from None
    try:
        assert client.next()["type"] == "hello"
        try:
            for frame in frames:
                client.connection.send(frame)
            client.send(json.dumps({"type": "ping", "t": 424242}))
            client.until(lambda e: e["type"] == "pong" and e["t"] == 424242, timeout=10)
        except ConnectionClosed as closed:  # the server closed it: with a clean code
            # No close frame at all happens when frames we sent after a refused one
            # reach a socket the server already closed: the reset can swallow its close
            # frame. The server's side of that is checked in its log at the end.
            if closed.rcvd is not None:
                assert closed.rcvd.code in CLEAN_CLOSES, (frames, closed.rcvd)
    finally:
        client.close()


def test_after_the_fuzz_the_log_is_clean_and_memory_is_back(service: Service, start_rss: int) -> None:
    """Runs last in this module."""
    assert service.get("/healthz") == (200, {"ok": True})
    logs = service.logs()
    assert "Traceback" not in logs and "unexpected error" not in logs and " 500 " not in logs
    assert service.process is not None
    grown_kib = _rss_kib(service.process.pid) - start_rss
    assert grown_kib < 40 * 1024, f"RSS grew by {grown_kib / 1024:.1f} MiB during the fuzz pass"
