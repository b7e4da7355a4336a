"""Run the real service (``python run.py``) as a subprocess, for integration and browser tests.

``Service`` starts it on a free port with a temp SQLite file and tiny timings, waits until
``/readyz`` answers, and can ``kill`` it (SIGKILL, a crash) and ``restart`` it on the same
port and database. ``force()`` and friends call ``POST /control`` with the admin token.
Everything it starts, it stops.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actors.providers import registry

ROOT = Path(__file__).resolve().parent.parent
#: At least 24 characters: start-up refuses a shorter one (settings.MIN_ADMIN_TOKEN_LENGTH).
ADMIN_TOKEN = "test-admin-token-3f9c2b7e1d5a8046"

#: Timings that play a full 16-message round in well under a second or two.
FAST_ENV = {
    # A daily grid: no scheduled round starts in the middle of a test (but at 00:00 UTC).
    "ROUND_INTERVAL_SECONDS": "86400",
    "MESSAGE_GAP_MIN_SECONDS": "0.01",
    "MESSAGE_GAP_MAX_SECONDS": "0.02",
    "MIN_COUNTDOWN_SECONDS": "60",
    "COMPLETE_HOLD_SECONDS": "0.5",
    "GENERATION_GRACE_SECONDS": "3",
    "TYPING_LEAD_SECONDS": "0.005",
    "TICK_SECONDS": "0.005",
    # Test clients rarely answer the 1001 close at SIGTERM (a browser does at once), so
    # the default 3 s grace would be spent on every stop.
    "SHUTDOWN_GRACE_SECONDS": "0.3",
    # Every test talks from 127.0.0.1 and polls fast: the per-address limits are tested
    # on their own (tests/web/test_edge_limits.py) with small values set there.
    "API_REQUESTS_PER_IP_PER_SECOND": "100000",
    "MAX_CONNECTIONS_PER_IP": "100000",
    "MAX_NEW_CONNECTIONS_PER_IP_PER_MINUTE": "100000",
    "MAX_TCP_CONNECTIONS_PER_IP": "100000",
}


INHERITED = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    def __init__(
        self, tmp_path: Path, env: dict[str, str] | None = None, *, port: int | None = None,
        args: tuple[str, ...] = (), preexec: Callable[[], None] | None = None,
        script: Path = ROOT / "run.py",
    ) -> None:
        """``preexec`` runs in the child before ``run.py`` (e.g. to lower its limits);
        ``script`` replaces ``run.py`` (``tests/toy_run.py`` registers a provider first)."""
        self.args = args
        self.script = script
        self.preexec = preexec
        self.port = port or free_port()
        self.database = tmp_path / "roundtable.db"
        self.log_path = tmp_path / f"service-{self.port}.log"
        self.env = {
            # Only what a process needs to run: a developer's LOG_LEVEL, keys, topics or
            # budget must not change what the tests see.
            **{k: v for k, v in os.environ.items() if k in INHERITED},
            **FAST_ENV,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{self.database}",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    # -- lifecycle -------------------------------------------------------------------
    def start(self, timeout: float = 30.0, *, wait_ready: bool = True) -> Service:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            [sys.executable, str(self.script), "--env-file", "/nonexistent", *self.args],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=self.preexec,
        )
        if wait_ready:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.kill()
                raise
        return self

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        """Wait until the service's log contains ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.logs():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not logged in {timeout} s:\n{self.logs()}")
            time.sleep(0.05)  # polling a log file for a condition, bounded by the timeout

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.logs()}")
            try:
                status, _ = self.get("/readyz", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)  # polling a readiness probe: waiting on a condition, not syncing
        raise TimeoutError(f"service not ready in {timeout} s:\n{self.logs()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait: the clean shutdown path. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def restart(self, timeout: float = 30.0) -> Service:
        self.kill()
        return self.start(timeout)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP helpers ----------------------------------------------------------------
    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
        *, timeout: float = 10.0, raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text). Never raises for an HTTP error status."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, _decode(response.read(), response.headers.get_content_type())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read(), error.headers.get_content_type())

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kwargs)

    def control(self, action: str, token: str | None = ADMIN_TOKEN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.request("POST", "/control", {"action": action}, headers)

    def force(self) -> dict[str, Any]:
        status, body = self.control("force")
        assert status == 200, (status, body)
        return dict(body)

    def wait_for_state(self, state: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, body = self.get("/api/countdown")
            if isinstance(body, dict) and body.get("state") == state:
                return body
            time.sleep(0.02)  # polling the API for a condition, bounded by the timeout
        raise TimeoutError(f"state never became {state!r}")


def _decode(payload: bytes, content_type: str) -> Any:
    text = payload.decode("utf-8", errors="replace")
    if content_type == "application/json":
        return json.loads(text) if text else None
    return text


@contextmanager
def engine_and_standby(
    engine_dir: Path, standby_dir: Path, env: dict[str, str]
) -> Iterator[tuple[Service, Service]]:
    """Two ``python run.py`` on one database (``env``): the first started runs the engine,
    the second serves as its standby. Both are stopped afterwards, the standby first."""
    engine = Service(engine_dir, env).start()
    standby = Service(standby_dir, env)
    try:
        standby.start()
        yield engine, standby
    finally:
        standby.stop()
        engine.stop()


def unreachable_providers_env() -> dict[str, str]:
    """A key for every registered provider, each base URL at a local port where nothing
    listens: the SDKs load (for the model check) but no request can succeed."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {}
    for name in registry.names():
        env[f"{name.upper()}_API_KEY"] = f"sk-{name}-unreachable-0123456789"
        env[f"{name.upper()}_BASE_URL"] = dead + ("/v1" if name == "openai" else "")
    return env
