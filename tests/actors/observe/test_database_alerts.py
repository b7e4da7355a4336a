"""The Persistence actor alerts once when the database fails and once when it recovers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from actors.observe import alerts
from actors.persistence import Persistence
from actors.providers.base import Outcome, Source
from storage import StorageError, connect, setup_database
from tests.fakes.webhook_server import FakeWebhook

T0 = 1_767_312_000.0


@pytest.fixture
def receiver() -> Iterator[FakeWebhook]:
    server = FakeWebhook().start()
    alerts.configure(server.url)
    yield server
    alerts.shutdown()
    server.stop()


def test_failure_and_recovery_are_each_alerted_once(tmp_path: Path, receiver: FakeWebhook) -> None:
    path = tmp_path / "roundtable.db"
    db = connect(f"sqlite:///{path}")
    setup_database(db)
    persistence = Persistence.start(db).proxy()
    try:
        cid = persistence.create_conversation("Tides", T0, None, True).get(timeout=10)
        reply = Outcome(content="Hello.", provider="openai", model="m", source=Source.API)
        with sqlite3.connect(path) as other:  # the table goes away under the engine
            other.execute("ALTER TABLE messages RENAME TO messages_gone")
        for seq in (1, 2):
            with pytest.raises(StorageError):
                persistence.save_message(cid, seq, "openai", "Ada", reply, T0, T0).get(timeout=10)
        [failed] = receiver.wait_for("database_failed")
        assert "save" in failed["detail"]
        with sqlite3.connect(path) as other:
            other.execute("ALTER TABLE messages_gone RENAME TO messages")
        persistence.save_message(cid, 3, "openai", "Ada", reply, T0, T0).get(timeout=10)
        receiver.wait_for("database_recovered")
        persistence.save_message(cid, 4, "openai", "Ada", reply, T0, T0).get(timeout=10)
    finally:
        pykka.ActorRegistry.stop_all(block=True, timeout=10)
        db.close()
    assert len(receiver.alerts("database_failed")) == 1
    assert len(receiver.alerts("database_recovered")) == 1
