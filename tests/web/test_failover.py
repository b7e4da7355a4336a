"""A database hiccup under a lone instance: it keeps serving, comes back as the engine by
itself, and every revealed message is stored and seen once (a private PostgreSQL server
that the test restarts; never the shared one)."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from tests.private_postgres import PrivatePostgres, private_postgres  # noqa: F401
from tests.service import Service
from tests.web.conftest import Client, is_state

pytestmark = pytest.mark.postgres

#: Slow enough that the hiccup lands in the middle of the round.
PACED = {"MESSAGE_GAP_MIN_SECONDS": "0.4", "MESSAGE_GAP_MAX_SECONDS": "0.5"}


def stored_seqs(url: str, conversation_id: int) -> list[int]:
    conn = psycopg2.connect(url)
    with conn.cursor() as cursor:
        cursor.execute("SELECT seq FROM messages WHERE conversation_id = %s ORDER BY seq", (conversation_id,))
        seqs = [row[0] for row in cursor.fetchall()]
    conn.close()
    return seqs


def message_seqs(client: Client, conversation_id: int) -> list[int]:
    return [e["seq"] for e in client.messages() if e["conversation_id"] == conversation_id]


def test_a_lone_instance_survives_a_postgresql_restart_and_killed_connections(
    tmp_path: Path, private_postgres: PrivatePostgres,  # noqa: F811
) -> None:
    server = private_postgres
    service = Service(tmp_path, {"DATABASE_URL": server.url, **PACED}).start()
    try:
        client = Client(service.ws_url)
        client.next()

        # 1. The server restarts in the middle of a round.
        first = service.force()["conversation"]["id"]
        client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
        server.stop()
        service.wait_for_log("lost the engine lock")
        server.start()
        service.wait_for_log("took over the engine", timeout=30)
        client.until(is_state("complete"), timeout=60)
        assert service.process is not None and service.process.poll() is None  # never exited
        assert message_seqs(client, first) == list(range(1, 17))  # each once, in order
        assert stored_seqs(server.url, first) == list(range(1, 17))
        _, status = service.get("/api/status")
        assert status["role"] == "engine"

        # 2. Every connection of the service is killed (the lock's too) mid-round.
        client.until(is_state("countdown"))
        second = service.force()["conversation"]["id"]
        client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
        assert server.terminate_backends() >= 2
        client.until(is_state("complete"), timeout=60)
        client.close()
        assert service.logs().count("took over the engine") == 2
        assert message_seqs(client, second) == list(range(1, 17))
        assert stored_seqs(server.url, second) == list(range(1, 17))
        assert service.stop() == 0
        assert "Traceback" not in service.logs()
    finally:
        service.stop()
