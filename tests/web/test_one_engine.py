"""One engine per SQLite database: a second process serves visitors as a standby, and
takes over when the first dies; the embedding API refuses a second engine."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import Service, engine_and_standby
from tests.web.conftest import Client, is_state

STEADY = {"MESSAGE_GAP_MIN_SECONDS": "0.1", "MESSAGE_GAP_MAX_SECONDS": "0.15"}


def count(database: Path, sql: str) -> int:
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """Two ``python run.py`` on one SQLite file: the first runs the engine."""
    with engine_and_standby(tmp_path, tmp_path, STEADY) as both:
        yield both


def test_a_second_process_on_one_sqlite_file_is_a_standby(pair: tuple[Service, Service]) -> None:
    first, second = pair
    assert "as a standby" in second.logs() and "roundtable.db.lock" in second.logs()
    _, engine = first.get("/api/status")
    _, standby = second.get("/api/status")
    assert (engine["role"], standby["role"]) == ("engine", "standby")
    assert first.process is not None
    holder = (first.database.parent / "roundtable.db.lock").read_text()
    assert f"pid={first.process.pid} host={socket.gethostname()} since=" in holder

    client = Client(second.ws_url)  # a visitor of the standby sees the engine's round
    client.next()
    status, forced = second.control("force")  # relayed to the engine through the database
    assert status == 200 and forced["state"] == "active"
    conversation_id = forced["conversation"]["id"]
    assert first.control("force")[0] == 409  # one engine: the round is already active
    assert second.control("force") == first.control("force")
    client.until(is_state("complete"), timeout=30)
    client.close()
    assert [m["seq"] for m in client.messages() if m["conversation_id"] == conversation_id] == list(range(1, 17))
    kinds = [e["type"] if e["type"] != "state" else e["state"] for e in client.events]
    assert kinds.index("active") < kinds.index("message")
    # One engine played it: one round, 16 messages.
    assert count(first.database, "SELECT count(*) FROM conversations") == 1
    assert count(first.database, "SELECT count(*) FROM messages") == 16
    assert second.stop() == 0 and "Traceback" not in second.logs()


def test_the_standby_takes_over_when_the_engine_dies(pair: tuple[Service, Service]) -> None:
    first, second = pair
    client = Client(second.ws_url)
    client.next()
    conversation_id = first.force()["conversation"]["id"]
    client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
    first.kill()  # the OS drops its file lock
    second.wait_for_log("took over the engine")
    client.until(is_state("complete"), timeout=30)
    client.close()
    assert [m["seq"] for m in client.messages() if m["conversation_id"] == conversation_id] == list(range(1, 17))
    assert count(first.database, "SELECT count(*) FROM messages") == 16
    _, status = second.get("/api/status")
    assert status["role"] == "engine" and status["instance"].endswith(f":{second.process.pid}")  # type: ignore[union-attr]


def test_the_embedding_api_refuses_a_second_engine_naming_the_holder(tmp_path: Path) -> None:
    from actors.system import create_system
    from settings import Settings
    from storage.leader import EngineLockHeld, FileLock

    database = tmp_path / "roundtable.db"
    holder = FileLock(Path(f"{database}.lock"))
    assert holder.try_acquire()  # as another process running the engine
    try:
        settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{database}"})
        with pytest.raises(EngineLockHeld) as raised:
            create_system(settings, start_ticker=False)
        message = str(raised.value)
        assert "roundtable.db.lock" in message and f"pid={os.getpid()}" in message and "since=" in message
        assert "\n" not in message
    finally:
        holder.release()


def test_two_spellings_of_one_sqlite_file_share_one_lock(tmp_path: Path) -> None:
    from storage.leader import engine_lock

    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    first = engine_lock(f"sqlite:///{tmp_path / 'real' / 'roundtable.db'}")
    assert first.try_acquire()
    try:
        assert not engine_lock(f"sqlite:///{tmp_path / 'alias' / 'roundtable.db'}").try_acquire()
    finally:
        first.release()
