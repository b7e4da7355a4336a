"""Several instances on one PostgreSQL database: exactly one runs the engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.db_fixtures import postgres_server_url, truncate_all  # noqa: F401
from tests.service import Service
from tests.web.conftest import Client, is_state

pytestmark = pytest.mark.postgres

STEADY = {"MESSAGE_GAP_MIN_SECONDS": "0.2", "MESSAGE_GAP_MAX_SECONDS": "0.25"}


@pytest.fixture
def pg_url(postgres_server_url: str) -> Iterator[str]:  # noqa: F811
    truncate_all(postgres_server_url)
    yield postgres_server_url


def stored_seqs(url: str, conversation_id: int) -> list[int]:
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT seq FROM messages WHERE conversation_id = %s ORDER BY seq", (conversation_id,))
        seqs = [row[0] for row in cursor.fetchall()]
    conn.close()
    return seqs


def test_a_round_plays_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    with Service(tmp_path, {"DATABASE_URL": pg_url}) as service:
        client = Client(service.ws_url)
        client.next()
        conversation_id = service.force()["conversation"]["id"]
        client.until(is_state("complete"))
        client.close()
        status, body = service.get(f"/api/conversations/{conversation_id}")
    assert status == 200 and [m["seq"] for m in body["messages"]] == list(range(1, 17))


def test_a_second_instance_waits_then_takes_over_mid_round(tmp_path: Path, pg_url: str) -> None:
    env = {"DATABASE_URL": pg_url, **STEADY}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    leader = Service(tmp_path / "a", env).start()
    standby = Service(tmp_path / "b", env)
    try:
        standby.start(wait_ready=False)
        standby.wait_for_log("waiting to take over")
        assert standby.process is not None and standby.process.poll() is None

        client = Client(leader.ws_url)
        client.next()
        conversation_id = leader.force()["conversation"]["id"]
        client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
        client.close()
        leader.kill()  # the engine's instance dies mid-round

        standby.wait_ready(timeout=30)  # it took the lock, resumed the round and serves
        assert "this instance holds the engine lock" in standby.logs()
        client = Client(standby.ws_url)
        hello = client.next()
        assert hello["conversation"] is not None and hello["conversation"]["id"] == conversation_id
        client.until(is_state("complete"))
        client.close()
        assert stored_seqs(pg_url, conversation_id) == list(range(1, 17))
    finally:
        standby.stop()
        leader.kill()


def test_an_instance_that_loses_the_engine_lock_stops(tmp_path: Path, pg_url: str) -> None:
    from storage.leader import ENGINE_LOCK_KEY

    service = Service(tmp_path, {"DATABASE_URL": pg_url}).start()
    try:
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
            # As if the database restarted under it: the session holding the lock is gone.
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND objid = %s",
                (ENGINE_LOCK_KEY,),
            )
            assert cursor.fetchall() == [(True,)]
        conn.close()
        assert service.process is not None
        assert service.process.wait(timeout=30) == 1
        assert "lost the engine lock" in service.logs()
    finally:
        service.stop()
