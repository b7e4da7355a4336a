"""Another process holds SQLite's write lock in the middle of a round: writes wait in
order, nothing is shown unstored, and the round completes with every message stored."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.service import Service
from tests.web.conftest import Client, is_state
from tests.web.test_provider_round import Fakes, fakes  # noqa: F401

PACED = {"MESSAGE_GAP_MIN_SECONDS": "0.3", "MESSAGE_GAP_MAX_SECONDS": "0.4"}


def hold_write_lock(database: Path, seconds: float, taken: threading.Event,
                    released: list[float] | None = None) -> None:
    """As another writer would: an exclusive transaction held for ``seconds``; the epoch
    time it ended is appended to ``released``."""
    conn = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        taken.set()
        threading.Event().wait(seconds)  # the fault's duration, not a synchronisation
        conn.execute("COMMIT")
        if released is not None:
            released.append(time.time())
    finally:
        conn.close()


def stored_seqs(database: Path, conversation_id: int) -> list[int]:
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute(
            "SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
        ).fetchall()
    finally:
        conn.close()
    return [row[0] for row in rows]


@pytest.mark.parametrize("seconds", [5, 25])
def test_a_long_sqlite_lock_mid_round_loses_no_message(tmp_path: Path, seconds: float) -> None:
    with Service(tmp_path, PACED) as service:
        client = Client(service.ws_url)
        client.next()
        conversation_id = service.force()["conversation"]["id"]
        client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
        taken, released = threading.Event(), []
        holder = threading.Thread(target=hold_write_lock, args=(service.database, seconds, taken, released))
        holder.start()
        try:
            assert taken.wait(10)
            locked_at = time.time()
            status, _ = service.get("/api/status")  # visitors are still served meanwhile
            assert status == 200
            client.until(is_state("complete"), timeout=seconds + 40)
        finally:
            holder.join()
        client.close()
        messages = [m for m in client.messages() if m["conversation_id"] == conversation_id]
        assert [m["seq"] for m in messages] == list(range(1, 17))  # each once, in order
        # None was shown while the lock held, and each says when it was: the one that
        # waited for the lock is stamped when it was stored, not when it fell due.
        assert not [m["seq"] for m in messages if locked_at < m["revealed_at"] / 1000 < released[0] - 0.5]
        assert stored_seqs(service.database, conversation_id) == list(range(1, 17))
        if seconds > 20:  # past SQLite's busy timeout and the quick retries
            assert "waiting for the database" in service.logs()
        assert "Traceback" not in service.logs()


def test_a_10_s_lock_mid_round_turns_no_message_into_a_template(tmp_path: Path, fakes: Fakes) -> None:  # noqa: F811
    with Service(tmp_path, {**fakes.env(), **PACED}) as service:
        client = Client(service.ws_url)
        client.next()
        conversation_id = service.force()["conversation"]["id"]
        client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
        taken = threading.Event()
        holder = threading.Thread(target=hold_write_lock, args=(service.database, 10, taken))
        holder.start()
        try:
            assert taken.wait(10)
            client.until(is_state("complete"), timeout=60)
        finally:
            holder.join()
        client.close()
        messages = [m for m in client.messages() if m["conversation_id"] == conversation_id]
        assert [m["seq"] for m in messages] == list(range(1, 17))
        assert {m["source"] for m in messages} == {"api"}  # the lock cost no model's words
        assert stored_seqs(service.database, conversation_id) == list(range(1, 17))
        assert "Traceback" not in service.logs()
