"""Several instances on one PostgreSQL database: exactly one runs the engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.db_fixtures import postgres_server_url, truncate_all  # noqa: F401
from tests.service import ADMIN_TOKEN, Service
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


@pytest.fixture
def pair(tmp_path: Path, pg_url: str) -> Iterator[tuple[Service, Service]]:
    """Two instances on one database: the first leads, the second is a ready standby."""
    env = {"DATABASE_URL": pg_url, **STEADY}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    leader = Service(tmp_path / "a", env).start()
    standby = Service(tmp_path / "b", env)
    try:
        standby.start()  # ready at once: a standby serves visitors
        assert "as a standby" in standby.logs()
        yield leader, standby
        assert standby.stop() == 0 and leader.stop() == 0  # SIGTERM: a clean exit on both
        assert "Traceback" not in standby.logs() + leader.logs()
    finally:
        standby.stop()
        leader.stop()


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events if e["type"] == "message"]


def test_a_standby_shows_a_round_played_on_the_leader(pair: tuple[Service, Service]) -> None:
    leader, standby = pair
    client = Client(standby.ws_url)
    hello = client.next()
    assert hello["type"] == "hello" and hello["state"] == "countdown" and hello["messages"] == []
    conversation_id = leader.force()["conversation"]["id"]
    active = client.until(is_state("active"))
    assert active["conversation_id"] == conversation_id
    client.until(is_state("complete"), timeout=30)
    client.close()
    assert seqs(client.events) == list(range(1, 17))
    kinds = [e["type"] if e["type"] != "state" else e["state"] for e in client.events]
    assert kinds.index("active") < kinds.index("message") and kinds[-1] == "complete"
    _, status = standby.get("/api/status")
    assert status["role"] == "standby" and status["providers"]["openai"]["circuit"] is None  # the engine knows
    assert status["last_conversation"]["id"] == conversation_id
    _, engine = leader.get("/api/status")
    assert engine["role"] == "engine" and engine["instance"] != status["instance"]
    assert leader.process is not None and engine["instance"].endswith(f":{leader.process.pid}")


def test_a_visitor_joining_a_standby_mid_round_gets_the_earlier_messages(
    pair: tuple[Service, Service],
) -> None:
    leader, standby = pair
    watcher = Client(leader.ws_url)
    watcher.next()
    conversation_id = leader.force()["conversation"]["id"]
    watcher.until(lambda e: e["type"] == "message" and e["seq"] == 5)
    watcher.close()
    client = Client(standby.ws_url)
    hello = client.next()
    assert hello["state"] == "active" and hello["conversation"]["id"] == conversation_id
    earlier = [m["seq"] for m in hello["messages"]]
    assert earlier[:5] == [1, 2, 3, 4, 5] and earlier == sorted(earlier)
    client.until(is_state("complete"), timeout=30)
    client.close()
    streamed = seqs(client.events[1:])
    # An event may reach both the hello and the stream (as on the leader); nothing is missed.
    assert sorted(set(earlier) | set(streamed)) == list(range(1, 17))
    assert streamed == sorted(streamed) and set(streamed) >= set(range(earlier[-1] + 1, 17))


def test_control_on_a_standby_is_relayed_to_the_engine(pair: tuple[Service, Service]) -> None:
    leader, standby = pair
    status, body = standby.control("pause")
    assert status == 200 and body["ok"] is True and body["state"] == "paused"
    assert leader.get("/api/countdown")[1]["state"] == "paused"  # applied by the engine
    assert standby.control("pause") == leader.control("pause")  # the engine's 409, word for word
    assert standby.control("pause")[0] == 409
    assert standby.control("resume")[0] == 200


def test_every_instance_records_the_admin_requests_it_answers_once(pair: tuple[Service, Service]) -> None:
    leader, standby = pair
    assert standby.control("pause", token="a-wrong-token-sent-to-the-standby")[0] == 403
    assert standby.control("pause")[0] == 200  # relayed: the engine does not record it again
    assert leader.control("resume")[0] == 200
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    trail = standby.get("/api/admin/audit", headers=headers)[1]["entries"]
    assert [(e["action"], e["status"]) for e in trail] == [("resume", 200), ("pause", 200), ("pause", 403)]
    assert leader.get("/api/admin/audit", headers=headers)[1]["entries"] == trail  # one table


def test_a_standby_takes_over_mid_round_and_its_visitors_see_the_rest(tmp_path: Path, pg_url: str) -> None:
    env = {"DATABASE_URL": pg_url, **STEADY}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    leader = Service(tmp_path / "a", env).start()
    standby = Service(tmp_path / "b", env)
    try:
        standby.start()  # ready at once, as a standby
        assert standby.process is not None
        client = Client(standby.ws_url)  # connected to the standby the whole time
        client.next()
        conversation_id = leader.force()["conversation"]["id"]
        client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
        leader.kill()  # the engine's instance dies mid-round

        client.until(is_state("complete"), timeout=40)  # the standby took over and finished it
        client.close()
        assert "this instance holds the engine lock" in standby.logs()
        assert "took over the engine" in standby.logs()
        assert seqs(client.events) == list(range(1, 17))  # in order, none twice, none missed
        assert stored_seqs(pg_url, conversation_id) == list(range(1, 17))
        _, status = standby.get("/api/status")
        assert status["role"] == "engine"  # the engine's own status now
        assert standby.stop() == 0
        assert "Traceback" not in standby.logs()
    finally:
        standby.stop()
        leader.kill()


def test_an_instance_that_loses_the_engine_lock_serves_on_and_takes_it_back(tmp_path: Path, pg_url: str) -> None:
    from storage.leader import ENGINE_LOCK_KEY

    service = Service(tmp_path, {"DATABASE_URL": pg_url}).start()
    try:
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
            # As if the database restarted under it: the session holding the lock is gone.
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND objid = %s "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (ENGINE_LOCK_KEY,),
            )
            assert cursor.fetchall() == [(True,)]
        conn.close()
        service.wait_for_log("lost the engine lock")
        service.wait_for_log("took over the engine")  # nobody else took it: a lone instance recovers
        assert service.process is not None and service.process.poll() is None
        _, status = service.get("/api/status")
        assert status["role"] == "engine"
        service.force()
        service.wait_for_state("complete")
        assert service.stop() == 0
        assert "Traceback" not in service.logs()
    finally:
        service.stop()


def test_events_missed_while_a_standby_listener_reconnects_are_caught_up(
    pair: tuple[Service, Service], pg_url: str,
) -> None:
    leader, standby = pair
    client = Client(standby.ws_url)
    client.next()
    conversation_id = leader.force()["conversation"]["id"]
    client.until(lambda e: e["type"] == "message" and e["seq"] == 3)
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        # The standby's LISTEN session dies (a proxy restart, an idle timeout): the NOTIFYs
        # sent until it reconnects are lost by PostgreSQL.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN roundtable_events%%'"
        )
        assert cursor.fetchall() == [(True,)]
    conn.close()
    client.until(is_state("complete"), timeout=30)
    client.close()
    assert "lost the engine's events" in standby.logs()
    seen = [m["seq"] for m in client.messages() if m["conversation_id"] == conversation_id]
    assert seen == list(range(1, 17))  # caught up from the database: none missed, none twice


def test_a_standbys_listing_follows_the_leaders_round(pair: tuple[Service, Service]) -> None:
    """A standby keeps its listing between the events it follows: the end must show."""
    leader, standby = pair
    client = Client(standby.ws_url)
    client.next()
    conversation_id = leader.force()["conversation"]["id"]
    client.until(lambda e: e["type"] == "message")
    newest = standby.get("/api/conversations")[1]["conversations"][0]
    assert (newest["id"], newest["status"]) == (conversation_id, "active")
    client.until(is_state("complete"), timeout=30)
    client.close()
    newest = standby.get("/api/conversations")[1]["conversations"][0]
    assert (newest["id"], newest["status"]) == (conversation_id, "complete")
