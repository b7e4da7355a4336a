"""deploy/nginx.conf, run by real nginx in front of two instances on one PostgreSQL
database: the page, static files cached long, a whole round over the WebSocket, /control
(answered by either instance: a standby relays it to the engine), the request limits,
and what nginx does for the instances that cannot see past it: the cap on requests in
progress per address and the timeouts for slow and idle clients, all through the proxy."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.db_fixtures import postgres_server_url, truncate_all  # noqa: F401
from tests.deploy.nginx import NEEDS_NGINX, SHIPPED, Nginx
from tests.service import ADMIN_TOKEN, Service
from tests.web.conftest import Client, is_state

pytestmark = [pytest.mark.postgres, NEEDS_NGINX]

# The shipped 10 s and 15 s would make each timeout test that long: the test's nginx gets
# these instead (the same directives, swapped like its ports).
HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 1.5
OVERRIDES = {"client_header_timeout": f"{HEADER_TIMEOUT * 1000:.0f}ms",
             "keepalive_timeout": f"{KEEPALIVE_TIMEOUT * 1000:.0f}ms"}


class Site:
    """nginx on a free port in front of ``leader`` (the engine) and ``standby``."""

    def __init__(self, nginx: Nginx, leader: Service, standby: Service) -> None:
        self.nginx, self.leader, self.standby = nginx, leader, standby

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.nginx.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()

    def control(self, action: str, token: str | None = ADMIN_TOKEN) -> tuple[int, dict[str, Any]]:
        """POST /control through nginx: whichever instance nginx picks answers."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"action": action}).encode()
        request = urllib.request.Request(self.nginx.url + "/control", data=body, method="POST",
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def request_from(self, source: str, method: str, path: str,
                     headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
        """A request to nginx from the loopback address ``source`` (127.0.0.2, ...): a
        client other than nginx itself, whose own address is 127.0.0.1."""
        connection = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=10,
                                                source_address=(source, 0))
        try:
            body = b'{"action":"pause"}' if method == "POST" else None
            connection.request(method, path, body=body, headers={"Content-Type": "application/json",
                                                               **(headers or {})})
            response = connection.getresponse()
            response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()

    def instance_logs(self) -> str:
        return self.leader.logs() + self.standby.logs()

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.nginx.port}/ws"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> Iterator[Site]:  # noqa: F811
    """One site for the module (two instances and nginx take seconds to start); the tests
    run in file order, the request-limit test last."""
    tmp_path = tmp_path_factory.mktemp("site")
    truncate_all(postgres_server_url)
    for name in ("a", "b", "nginx"):
        (tmp_path / name).mkdir()
    env = {"DATABASE_URL": postgres_server_url,
           "MESSAGE_GAP_MIN_SECONDS": "0.05", "MESSAGE_GAP_MAX_SECONDS": "0.08",
           # nginx is the one trusted proxy: the instances take the client from its
           # X-Forwarded-For. A tiny /api rate, so a short burst shows the limit's key.
           "TRUSTED_PROXIES": "127.0.0.1", "API_REQUESTS_PER_IP_PER_SECOND": "1"}
    leader = Service(tmp_path / "a", env).start()
    standby = Service(tmp_path / "b", env)
    nginx = Nginx(tmp_path / "nginx", [leader.port, standby.port], OVERRIDES)
    try:
        standby.start()
        assert "as a standby" in standby.logs()
        nginx.start()
        yield Site(nginx, leader, standby)
        assert "[emerg]" not in nginx.error_log() and "[crit]" not in nginx.error_log()
        assert standby.stop() == 0 and leader.stop() == 0
        assert "Traceback" not in leader.logs() + standby.logs()
    finally:
        nginx.stop()
        standby.stop()
        leader.stop()


def test_a_round_plays_through_nginx(site: Site) -> None:
    status, headers, body = site.get("/")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"data-roundtable" in body
    origin = site.nginx.url  # a browser on the site: the upgrade and the origin check pass
    visitors = [Client(site.ws_url, origin=origin) for _ in range(4)]
    try:
        for visitor in visitors:
            assert visitor.next()["type"] == "hello"
        # Through nginx: a standby relays the command to the engine and answers as it would.
        status, body = site.control("force")
        assert status == 200, body
        conversation_id = body["conversation"]["id"]
        for visitor in visitors:
            visitor.until(is_state("complete"), timeout=30)
    finally:
        for visitor in visitors:
            visitor.close()
    for visitor in visitors:
        assert [m["seq"] for m in visitor.messages()] == list(range(1, 17))
        assert {m["conversation_id"] for m in visitor.messages()} == {conversation_id}
    status, _, _ = site.get(f"/api/conversations/{conversation_id}")
    assert status == 200
    ws_lines = [line for line in site.nginx.access_log().splitlines() if '"GET /ws ' in line]
    assert len(ws_lines) == 4 and all(" 101 " in line for line in ws_lines)


def test_another_origin_is_still_refused_through_nginx(site: Site) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Client(site.ws_url, origin="https://evil.example")
    assert refused.value.response.status_code == 403


def test_control_through_nginx_answers_as_the_engine_whichever_instance_serves_it(site: Site) -> None:
    # Several commands, so that nginx (least_conn, equal load) hands some to each instance.
    answers = [site.control(action) for action in ("pause", "pause", "resume", "resume")]
    assert [status for status, _ in answers] == [200, 409, 200, 409]
    # The engine's refusal crosses nginx (and the relay, when a standby took it) whole.
    assert answers[1][1] == {"error": answers[1][1]["error"], "code": "command_refused"}
    assert "paused" in answers[1][1]["error"]
    status, body = site.control("pause", token=None)  # the instance's own refusal passes through
    assert status == 401 and "error" in body and "code" in body


def test_static_files_are_cached_long_when_versioned(site: Site) -> None:
    path = "/static/js/realtime_ui_components.js"
    status, headers, first = site.get(f"{path}?v=abc123")
    assert status == 200 and headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["x-cache-status"] == "MISS"
    # nginx commits the entry when the upstream response is finalised, which may come a
    # moment after the client read the last byte: ask again until it is there.
    deadline = time.monotonic() + 5
    while True:
        status, headers, again = site.get(f"{path}?v=abc123")
        if headers["x-cache-status"] == "HIT" or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling the cache state, bounded by the deadline
    assert status == 200 and headers["x-cache-status"] == "HIT" and again == first
    status, headers, _ = site.get(path)  # as embedded on other sites: no version
    assert status == 200 and headers["cache-control"] == "public, max-age=3600"


def shipped_conn_limit(zone: str) -> int:
    """The ``limit_conn`` of ``zone`` in deploy/nginx.conf, the same wherever it is set."""
    values = set(re.findall(rf"^\s*limit_conn {zone} (\d+);", SHIPPED.read_text(), flags=re.MULTILINE))
    assert len(values) == 1, f"limit_conn {zone}: {values or 'not set'}"
    return int(values.pop())


def connect_from(site: Site, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", site.nginx.port), timeout=10, source_address=(source, 0))


def start_upload(site: Site, source: str) -> tuple[socket.socket, bytes]:
    """A POST from ``source`` whose body never comes: nginx answers ``100 Continue`` once
    it has counted the request and waits for the body (client_body_timeout), or refuses
    it. The socket, and the status line nginx sent."""
    sock = connect_from(site, source)
    sock.sendall(b"POST /static/upload HTTP/1.1\r\nHost: roundtable\r\nContent-Length: 10\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"nginx closed the connection after {head!r}"
        head += chunk
    return sock, head.split(b"\r\n", 1)[0]


def ended_by_peer(sock: socket.socket, within: float) -> tuple[float, str]:
    """Wait for nginx to end ``sock`` (nothing more is expected on it): the seconds it
    took, and "reset" (an RST) or "closed" (a FIN). Fails after ``within`` seconds."""
    start = time.monotonic()
    sock.settimeout(within)
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return time.monotonic() - start, "reset"
    except TimeoutError:
        pytest.fail(f"nginx kept the connection open for {within} s")
    assert data == b"", f"unexpected data: {data!r}"
    return time.monotonic() - start, "closed"


def test_requests_in_progress_per_address_are_capped_across_the_server(site: Site) -> None:
    """The instances do not count nginx's connections, so nginx caps each address across
    every location, WebSockets included (the /ws location repeats the server's limit)."""
    limit, source = shipped_conn_limit("roundtable_addr"), "127.0.0.4"
    assert limit > shipped_conn_limit("roundtable_ws")  # a visitor's WebSockets fit in the total
    visitors: list[Client] = []
    uploads: list[socket.socket] = []
    try:
        for _ in range(5):
            visitors.append(Client(site.ws_url, origin=site.nginx.url, source_address=(source, 0)))
            assert visitors[-1].next()["type"] == "hello"
        for _ in range(limit - len(visitors)):
            sock, status = start_upload(site, source)
            uploads.append(sock)
            assert status == b"HTTP/1.1 100 Continue", f"upload {len(uploads)}: {status!r}"
        sock, status = start_upload(site, source)
        uploads.append(sock)
        assert status.startswith(b"HTTP/1.1 429 "), status
        # Another address is not held back by this one.
        assert site.request_from("127.0.0.6", "GET", "/healthz")[0] == 200
    finally:
        for sock in uploads:
            sock.close()
        for visitor in visitors:
            visitor.close()
    assert 'limiting connections by zone "roundtable_addr", client: 127.0.0.4' in site.nginx.error_log()
    # Each request gives its count back when its client leaves (nginx notices the closes
    # in its own time: ask again until it has, bounded).
    deadline = time.monotonic() + 5
    while (status_code := site.request_from(source, "GET", "/healthz")[0]) == 429 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling nginx's count, bounded by the deadline
    assert status_code == 200


def test_a_slow_request_head_is_reset_at_the_header_timeout(site: Site) -> None:
    """A head sent a line every 0.2 s, never finished (the slowloris pattern): the header
    timeout is a deadline for the whole head, not for each read, and the connection is
    reset (reset_timedout_connection), its socket freed at once."""
    with connect_from(site, "127.0.0.5") as sock:
        start = time.monotonic()
        sock.sendall(b"GET /api/countdown HTTP/1.1\r\nHost: roundtable\r\n")
        sock.settimeout(0.2)
        ended = ""
        while not ended and time.monotonic() - start < HEADER_TIMEOUT + 5:
            try:
                ended = "closed" if sock.recv(4096) == b"" else "answered"
            except TimeoutError:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except (ConnectionResetError, BrokenPipeError):
                    ended = "reset"
            except ConnectionResetError:
                ended = "reset"
        took = time.monotonic() - start
    assert ended == "reset", f"after {took:.1f} s: {ended or 'still open'}"
    assert HEADER_TIMEOUT - 0.1 < took < HEADER_TIMEOUT + 2
    assert "client timed out" in site.nginx.error_log()


def test_an_idle_keep_alive_connection_is_closed_at_the_keepalive_timeout(site: Site) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", site.nginx.port, timeout=10,
                                            source_address=("127.0.0.5", 0))
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and response.getheader("connection") == "keep-alive"
        assert connection.sock is not None
        took, _ = ended_by_peer(connection.sock, KEEPALIVE_TIMEOUT + 5)
    finally:
        connection.close()
    assert KEEPALIVE_TIMEOUT - 0.1 < took < KEEPALIVE_TIMEOUT + 2


def test_a_websocket_outlives_the_header_and_keepalive_timeouts(site: Site) -> None:
    """Those timeouts end a connection that sends no request and an idle keep-alive one;
    a quiet WebSocket opened before both is still served once both have ended."""
    visitor = Client(site.ws_url, origin=site.nginx.url)
    silent = connect_from(site, "127.0.0.7")
    keep_alive = http.client.HTTPConnection("127.0.0.1", site.nginx.port, timeout=10,
                                            source_address=("127.0.0.7", 0))
    try:
        assert visitor.next()["type"] == "hello"
        keep_alive.request("GET", "/healthz")
        keep_alive.getresponse().read()
        assert keep_alive.sock is not None
        ended_by_peer(silent, HEADER_TIMEOUT + 5)
        ended_by_peer(keep_alive.sock, KEEPALIVE_TIMEOUT + 5)
        visitor.send(json.dumps({"type": "ping", "t": 12345}))
        pong = visitor.until(lambda event: event["type"] == "pong", timeout=5)
        assert pong["t"] == 12345
    finally:
        visitor.close()
        silent.close()
        keep_alive.close()


def test_the_client_address_behind_nginx_reaches_the_logs_and_the_limits(site: Site) -> None:
    """The instances see only nginx's address (127.0.0.1); with nginx in TRUSTED_PROXIES
    they log and limit by the client's (127.0.0.2 here), so one client's burst does not
    hold back another (127.0.0.3) behind the same proxy."""
    status, _ = site.request_from("127.0.0.2", "POST", "/control", {"Authorization": "Bearer wrong"})
    assert status == 403
    answers = [site.request_from("127.0.0.2", "GET", "/api/countdown") for _ in range(8)]
    limited = [headers for status, headers in answers if status == 429]
    assert limited and all(h["content-type"] == "application/json" and "retry-after" in h
                           for h in limited)  # the instances' own 429, not nginx's page
    assert site.request_from("127.0.0.3", "GET", "/api/countdown")[0] == 200
    logs = site.instance_logs()
    assert "refused 1 /control attempts from 127.0.0.2" in logs
    assert "429: /api requests over the rate from 127.0.0.2" in logs
    assert "from 127.0.0.3" not in logs


def test_a_burst_on_control_is_limited_by_nginx_before_the_instances(site: Site) -> None:
    answers: list[tuple[int, str]] = []
    for _ in range(20):  # the /control zone allows 30 a minute with a burst of 10
        request = urllib.request.Request(site.nginx.url + "/control", data=b'{"action":"pause"}',
                                         method="POST", headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as error:
            answers.append((error.code, error.headers.get_content_type()))
    assert answers[0] == (401, "application/json")  # the instance's own answer
    from_nginx = [answer for answer in answers if answer == (429, "text/html")]
    assert len(from_nginx) >= 5 and answers[-1] == (429, "text/html")
    assert "limiting requests" in site.nginx.error_log()
