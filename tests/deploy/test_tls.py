"""TLS without a proxy: TLS_CERTFILE and TLS_KEYFILE make the real service serve https and
wss (with HSTS); a bad pair stops start-up with one line naming the setting."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from settings import VERSION
from tests.deploy.certs import self_signed
from tests.service import ADMIN_TOKEN, INHERITED, ROOT, Service
from tests.web.conftest import Client, is_state


class TLSService:
    """The real service with a self-signed certificate; requests trust only that one."""

    def __init__(self, tmp_path: Path) -> None:
        self.cert, key = self_signed(tmp_path)
        env = {"TLS_CERTFILE": str(self.cert), "TLS_KEYFILE": str(key)}
        self.service = Service(tmp_path, env)
        self.context = ssl.create_default_context(cafile=str(self.cert))
        self.base = f"https://127.0.0.1:{self.service.port}"

    def start(self) -> TLSService:
        self.service.start(wait_ready=False)
        deadline = time.monotonic() + 30
        while self.status("/readyz") != 200:
            assert time.monotonic() < deadline, self.service.logs()
            time.sleep(0.05)  # polling readiness over https, bounded by the deadline
        return self

    def status(self, path: str) -> int | None:
        try:
            return self.request("GET", path)[0]
        except OSError:
            return None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
    ) -> tuple[int, Message, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.context) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()


@pytest.fixture
def tls_service(tmp_path: Path) -> Iterator[TLSService]:
    running = TLSService(tmp_path).start()
    try:
        yield running
    finally:
        assert running.service.stop() == 0
        assert "Traceback" not in running.service.logs()


def test_the_service_serves_https_with_hsts(tls_service: TLSService) -> None:
    status, headers, body = tls_service.request("GET", "/")
    assert status == 200 and b"<html" in body.lower()
    assert headers.get("Strict-Transport-Security") == "max-age=31536000"
    status, _, body = tls_service.request("GET", "/api/status")
    assert status == 200 and json.loads(body)["version"] == VERSION
    assert f"Roundtable {VERSION} is live at https://" in tls_service.service.logs()


def test_plain_http_is_not_served_on_the_tls_port(tls_service: TLSService) -> None:
    with pytest.raises(OSError):  # a TLS server answers plain HTTP with a closed socket
        urllib.request.urlopen(tls_service.service.url + "/healthz", timeout=5).read()


def test_a_round_plays_over_wss(tls_service: TLSService) -> None:
    client = Client(f"wss://127.0.0.1:{tls_service.service.port}/ws", ssl=tls_service.context)
    try:
        assert client.next()["type"] == "hello"
        status, _, _ = tls_service.request(
            "POST", "/control", {"action": "force"}, {"Authorization": f"Bearer {ADMIN_TOKEN}",
                                                      "Content-Type": "application/json"},
        )
        assert status == 200
        client.until(is_state("complete"), timeout=30)
    finally:
        client.close()
    assert [m["seq"] for m in client.messages()] == list(range(1, 17))


def test_an_untrusted_certificate_is_refused_by_the_client(tls_service: TLSService) -> None:
    # The certificate is really checked: a default context does not trust a self-signed one.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(tls_service.base + "/healthz", timeout=5)


def start_up_error(env: dict[str, str]) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "run.py", "--env-file", "/nonexistent"], cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k in INHERITED}, "PORT": "1", **env},
        capture_output=True, text=True, timeout=30,
    )
    return result.returncode, result.stderr


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def test_a_certificate_without_a_key_stops_start_up(pair: tuple[Path, Path]) -> None:
    code, stderr = start_up_error({"TLS_CERTFILE": str(pair[0])})
    assert code == 2
    assert stderr == ("roundtable: invalid setting TLS_KEYFILE: is unset but TLS_CERTFILE is set; "
                      "TLS needs both (or neither)\n")


def test_a_key_without_a_certificate_stops_start_up(pair: tuple[Path, Path]) -> None:
    code, stderr = start_up_error({"TLS_KEYFILE": str(pair[1])})
    assert code == 2 and stderr.startswith("roundtable: invalid setting TLS_CERTFILE: is unset")


def test_a_key_of_another_certificate_stops_start_up(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    _, other_key = self_signed(tmp_path, "other")
    code, stderr = start_up_error({"TLS_CERTFILE": str(pair[0]), "TLS_KEYFILE": str(other_key)})
    assert (code, stderr) == (2, "roundtable: invalid setting TLS_KEYFILE: the key does not match "
                                 "the certificate in TLS_CERTFILE\n")


@pytest.mark.parametrize("which", ["TLS_CERTFILE", "TLS_KEYFILE"])
def test_a_file_that_is_not_pem_stops_start_up(tmp_path: Path, pair: tuple[Path, Path], which: str) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    env = {"TLS_CERTFILE": str(pair[0]), "TLS_KEYFILE": str(pair[1]), which: str(junk)}
    code, stderr = start_up_error(env)
    assert code == 2 and stderr.startswith(f"roundtable: invalid setting {which}: ")
    assert stderr.count("\n") == 1 and "holds no PEM" in stderr


def test_an_unreadable_path_stops_start_up(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    # As root, permissions stop nothing: a directory where a file is expected.
    code, stderr = start_up_error({"TLS_CERTFILE": str(tmp_path), "TLS_KEYFILE": str(pair[1])})
    assert (code, stderr) == (2, f"roundtable: invalid setting TLS_CERTFILE: {str(tmp_path)!r} "
                                 "is not a readable file\n")


def test_hsts_is_sent_only_when_tls_is_on(pair: tuple[Path, Path]) -> None:
    from settings import Settings
    from web.app import create_app

    async def header(settings: Settings) -> str | None:
        response = await create_app(None, settings).test_client().get("/healthz")
        return response.headers.get("Strict-Transport-Security")

    plain = Settings(providers={})
    tls = Settings(providers={}, tls_certfile=pair[0], tls_keyfile=pair[1])
    assert asyncio.run(header(plain)) is None  # browsers ignore it on http; never claim https
    assert asyncio.run(header(tls)) == "max-age=31536000"
