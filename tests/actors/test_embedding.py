"""The embedding API as a host process uses it: ``start_system()`` and nothing else."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect
from wsproto import ConnectionType, WSConnection
from wsproto.events import Ping, Request

from actors.system import get_countdown_info, start_system, stop_system
from settings import Settings
from tests.fakes.webhook_server import FakeWebhook
from tests.service import ROOT, free_port

HOST_EXIT_SECONDS = 5.0


def host(tmp_path: Path, script: str) -> subprocess.Popen[str]:
    """Run ``script`` as a host would: its own directory (with its ``.env``), no settings."""
    (tmp_path / "host.py").write_text(textwrap.dedent(script))
    return subprocess.Popen(
        [sys.executable, "host.py"], cwd=tmp_path, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def ended(process: subprocess.Popen[str]) -> tuple[int, str]:
    """The host's exit code and stderr once it has ended on its own (killed after
    ``HOST_EXIT_SECONDS``: a host that hangs fails the test, never the suite)."""
    try:
        code = process.wait(timeout=HOST_EXIT_SECONDS)
    finally:
        process.kill()
    return code, process.stderr.read() if process.stderr else ""


def write_env(tmp_path: Path) -> Path:
    database = tmp_path / "from-dotenv" / "roundtable.db"
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{database}\nMIN_COUNTDOWN_SECONDS=1\n")
    return database


def test_a_host_that_starts_the_system_and_returns_exits_on_its_own(tmp_path: Path) -> None:
    database = write_env(tmp_path)
    process = host(tmp_path, """
        import logging
        logging.basicConfig(level=logging.INFO)
        from actors.system import start_system
        system = start_system()  # settings from .env, like run.py
        print(system.settings.database_url, flush=True)
    """)
    assert process.stdout is not None
    started = process.stdout.readline().strip()
    code, stderr = ended(process)
    assert code == 0, stderr
    assert started == f"sqlite:///{database}" and database.is_file()
    assert "engine stopped" in stderr  # stop_system ran at exit: a clean stop, not a kill
    assert "Traceback" not in stderr


def test_setup_database_without_an_argument_uses_the_configured_database(tmp_path: Path) -> None:
    database = write_env(tmp_path)
    process = host(tmp_path, """
        from actors.system import setup_database
        print(setup_database().after)
    """)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert int(out) >= 2 and database.is_file()


def test_every_engine_thread_is_a_daemon_and_stop_system_ends_them(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    system = start_system(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/rt.db",
                                             "RETENTION_DAYS": "30"}))
    try:
        assert start_system() is system  # one engine per process
        started = set(threading.enumerate()) - before
        assert started and all(thread.daemon for thread in started), started
    finally:
        stop_system()
    assert [t for t in started if t.is_alive()] == []
    stop_system()  # idempotent


def test_the_countdown_has_the_same_keys_stopped_and_running(tmp_path: Path) -> None:
    stopped = get_countdown_info()
    start_system(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/rt.db"}))
    try:
        running = get_countdown_info()
    finally:
        stop_system()
    assert set(stopped) == set(running) and stopped["state"] == "stopped"
    assert isinstance(stopped["server_time"], int) and stopped["seconds_remaining"] is None


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            get(url)
            return
        except OSError:
            assert time.monotonic() < deadline, "the host did not start serving"
            threading.Event().wait(0.05)


def pinged_twice(port: int) -> bool:
    """Whether a WebSocket client that only reads gets two pings within 10 s."""
    client = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(client.send(Request(host="127.0.0.1", target="/ws")))
        pings = 0
        while pings < 2:
            data = sock.recv(65536)
            if not data:
                return False
            client.receive_data(data)
            for event in client.events():
                if isinstance(event, Ping):
                    pings += 1
                    sock.sendall(client.send(event.response()))
    return True


def test_the_readme_quart_host_serves_its_routes_and_roundtables(tmp_path: Path) -> None:
    write_env(tmp_path)
    with (tmp_path / ".env").open("a") as env:
        env.write("WS_PING_SECONDS=0.2\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "docs" / "examples" / "quart_host.py")], cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PORT": str(port)},
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/shop", process)
        assert get(f"{base}/shop") == (200, '{"page":"the host\'s own"}\n')
        status, page = get(f"{base}/")
        assert status == 200 and "data-roundtable" in page
        status, body = get(f"{base}/api/status")
        assert status == 200 and json.loads(body)["state"] in ("countdown", "active")
        assert get(f"{base}/static/js/realtime_ui_components.js")[0] == 200
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as live:
            assert json.loads(live.recv(timeout=5))["type"] == "hello"
        assert pinged_twice(port)  # the Hub's keepalive runs (WS_PING_SECONDS=0.2 in .env)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=HOST_EXIT_SECONDS) == 0
    finally:
        process.kill()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr, stderr


def test_a_second_process_embedding_the_same_database_is_refused(tmp_path: Path) -> None:
    """What the README promises for WSGI workers that each call ``start_system()``."""
    database = write_env(tmp_path)
    system = start_system(Settings.from_env({"DATABASE_URL": f"sqlite:///{database}"}))
    try:
        process = host(tmp_path, """
            from actors.system import start_system
            from storage.leader import EngineLockHeld
            try:
                start_system()
            except EngineLockHeld as refused:
                print(refused)
        """)
        out, err = process.communicate(timeout=30)
    finally:
        stop_system()
    assert process.returncode == 0, err
    assert "another process runs the engine" in out and f"pid={os.getpid()}" in out
    assert system.own_lock is not None


def test_a_host_gets_the_alerts_it_configured(tmp_path: Path) -> None:
    """ALERT_WEBHOOK_URL works for a host as under run.py: ``start_system`` starts the
    sender and ``stop_system`` (at exit) delivers what is queued."""
    write_env(tmp_path)
    with FakeWebhook() as webhook:
        with (tmp_path / ".env").open("a") as env:
            env.write(f"ALERT_WEBHOOK_URL={webhook.url}/hooks/roundtable\n")
        process = host(tmp_path, """
            from actors.observe import events
            from actors.system import start_system
            start_system()
            events.alert("host_probe", "an alert raised inside the host")
        """)
        code, stderr = ended(process)
        assert code == 0, stderr
        [alert] = webhook.wait_for("host_probe", timeout=5)
    assert alert["text"].endswith("an alert raised inside the host")
