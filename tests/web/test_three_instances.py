"""Three instances on one PostgreSQL database: /control through any of them answers as the
engine would, and when the engine dies another instance leads within 10 s while every
connected visitor sees each message once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.leader import EngineLock
from tests.db_fixtures import postgres_server_url, truncate_all  # noqa: F401
from tests.service import Service
from tests.web.conftest import Client, is_state

pytestmark = pytest.mark.postgres

STEADY = {"MESSAGE_GAP_MIN_SECONDS": "0.25", "MESSAGE_GAP_MAX_SECONDS": "0.3"}
TAKEOVER_LIMIT_SECONDS = 10.0


@pytest.fixture
def pg_url(postgres_server_url: str) -> Iterator[str]:  # noqa: F811
    truncate_all(postgres_server_url)
    yield postgres_server_url


@pytest.fixture
def trio(tmp_path: Path, pg_url: str) -> Iterator[list[Service]]:
    services = []
    try:
        for name in ("a", "b", "c"):
            (tmp_path / name).mkdir()
            services.append(Service(tmp_path / name, {"DATABASE_URL": pg_url, **STEADY}).start())
        yield services
    finally:
        for service in services:
            service.stop()


def role(service: Service) -> str | None:
    try:
        _, status = service.get("/api/status", timeout=2)
    except OSError:
        return None
    return status.get("role") if isinstance(status, dict) else None


def test_control_through_any_instance_and_a_takeover_within_10_s(trio: list[Service]) -> None:
    engine, *standbys = trio
    assert [role(s) for s in trio] == ["engine", "standby", "standby"]
    visitors = [Client(s.ws_url) for s in standbys]
    for visitor in visitors:
        visitor.next()

    # Commands through each standby answer exactly as the engine does.
    status, forced = standbys[0].control("force")
    assert status == 200 and forced["ok"] is True and forced["action"] == "force"
    assert forced["state"] == "active" and forced["conversation"]["id"] >= 1
    conversation_id = forced["conversation"]["id"]
    for service in standbys:
        assert service.control("force") == engine.control("force")  # 409, the engine's reason
        assert service.control("dance") == engine.control("dance")  # 400
    assert engine.control("force")[0] == 409

    # The engine dies mid-round; another instance leads within 10 s.
    for visitor in visitors:
        visitor.until(lambda e: e["type"] == "message" and e["seq"] == 3)
    engine.kill()
    killed_at = time.monotonic()
    while not any(role(s) == "engine" for s in standbys):
        assert time.monotonic() - killed_at < TAKEOVER_LIMIT_SECONDS, "no instance took over in time"
        time.sleep(0.05)  # polling the instances' status, bounded by the limit
    took_over = time.monotonic() - killed_at
    assert sorted(role(s) for s in standbys) == ["engine", "standby"]

    for visitor in visitors:
        visitor.until(is_state("complete"), timeout=40)
        visitor.close()
        seqs = [m["seq"] for m in visitor.messages() if m["conversation_id"] == conversation_id]
        assert seqs == list(range(1, 17)), seqs  # each once, in order, on every instance
    new_engine = next(s for s in standbys if role(s) == "engine")
    remaining = next(s for s in standbys if s is not new_engine)
    assert remaining.control("pause")[0] == 200  # relayed to the new engine
    assert remaining.control("resume")[0] == 200
    print(f"takeover after SIGKILL: {took_over:.2f} s")
    for service in standbys:
        assert service.stop() == 0
        assert "Traceback" not in service.logs()


def test_control_through_a_standby_with_no_engine_answers_503_and_is_never_applied(
    tmp_path: Path, pg_url: str,
) -> None:
    squatter = EngineLock(pg_url)  # holds the engine lock, runs no engine
    assert squatter.try_acquire()
    service = Service(tmp_path, {"DATABASE_URL": pg_url})
    try:
        service.start()
        status, body = service.control("force")
        assert status == 503 and "no engine answered in time" in body["error"]
        assert "not applied" in body["error"]
        squatter.release()
        service.wait_for_log("took over the engine")
        assert service.get("/api/countdown")[1]["state"] == "countdown"  # the force never ran
        _, conversations = service.get("/api/conversations")
        assert conversations["conversations"] == []
    finally:
        squatter.release()
        service.stop()
