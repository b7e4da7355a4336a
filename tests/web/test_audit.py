"""The audit trail against the real service: every admin request, accepted or refused,
is stored with time, action, result, client and a token fingerprint (never the token),
and ``GET /api/admin/audit`` serves it behind the bearer token."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from actors.clock import SystemClock
from settings import Settings
from storage import connect
from tests.service import ADMIN_TOKEN, Service
from web.app import create_app

#: Gaps long enough that a forced round is still active when the next command arrives.
SLOW = {"MESSAGE_GAP_MIN_SECONDS": "30", "MESSAGE_GAP_MAX_SECONDS": "30"}
WRONG = "a-wrong-token-of-decent-length"


def short_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def audit(service: Service, token: str | None = ADMIN_TOKEN, query: str = "") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return service.get("/api/admin/audit" + query, headers=headers)


def entries(service: Service) -> list[dict[str, Any]]:
    status, body = audit(service)
    assert status == 200, body
    return list(body["entries"])


def test_force_pause_resume_and_a_wrong_token_are_in_the_trail(tmp_path: Path) -> None:
    with Service(tmp_path, SLOW) as service:
        before = int(time.time() * 1000)
        service.force()
        assert service.control("pause")[0] == 200
        assert service.control("resume")[0] == 200
        assert service.control("force", token=WRONG)[0] == 403
        assert service.control("force")[0] == 409  # a round is active: refused by the engine
        after = int(time.time() * 1000)

        trail = entries(service)
    newest_first = [(e["action"], e["result"], e["status"]) for e in trail]
    assert newest_first == [
        ("force", "refused", 409),
        ("force", "refused", 403),
        ("resume", "accepted", 200),
        ("pause", "accepted", 200),
        ("force", "accepted", 200),
    ]
    right, wrong = short_hash(ADMIN_TOKEN), short_hash(WRONG)
    assert [e["token_fingerprint"] for e in trail] == [right, wrong, right, right, right]
    assert all(e["client"] == "127.0.0.1" for e in trail)
    assert all(before <= e["at"] <= after for e in trail)
    assert trail[1]["detail"] == "wrong admin token"
    assert "active" in trail[0]["detail"]  # the engine's reason for the refusal
    assert trail[3]["detail"] == "state paused"


def test_the_trail_needs_the_token_and_records_refused_reads(service: Service) -> None:
    status, body = audit(service, token=None)
    assert status == 401 and "bearer token" in body["error"]
    status, body = audit(service, token=WRONG)
    assert status == 403 and body == {"error": "wrong admin token", "code": "wrong_token"}
    assert service.control("pause", token=None)[0] == 401

    trail = entries(service)
    assert [(e["action"], e["status"], e["token_fingerprint"]) for e in trail] == [
        ("pause", 401, None),
        ("read audit", 403, short_hash(WRONG)),
        ("read audit", 401, None),
    ]
    assert entries(service) == trail  # an accepted read is not an admin action


def test_no_token_reaches_the_table_or_the_api(service: Service) -> None:
    service.control("pause", token=WRONG)
    service.control("pause")
    service.request("POST", "/control", raw=b"{not json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    body = service.get("/api/admin/audit", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})[1]
    assert ADMIN_TOKEN not in str(body) and WRONG not in str(body)
    assert body["entries"][0]["action"] == "(no action)" and body["entries"][0]["status"] == 400
    with sqlite3.connect(service.database) as db:
        rows = db.execute("SELECT * FROM audit_log").fetchall()
    assert len(rows) == 3
    assert not any(ADMIN_TOKEN in str(value) or WRONG in str(value) for row in rows for value in row)


def test_hostile_actions_are_stored_short_and_limits_are_checked(service: Service) -> None:
    status, _ = service.control("x" * 5000)
    assert status == 400
    trail = entries(service)
    assert len(trail[0]["action"]) == 40 and trail[0]["result"] == "refused"
    assert audit(service, query="?limit=0")[0] == 400
    assert audit(service, query="?limit=abc")[0] == 400
    assert audit(service, query="?limit=201")[0] == 400
    status, body = audit(service, query="?limit=1")
    assert status == 200 and len(body["entries"]) == 1


def test_the_last_provider_errors_need_the_token(service: Service) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    status, body = service.get("/api/admin/errors", headers=headers)
    assert status == 200 and body == {"errors": []}  # no keys: no provider was ever called
    assert service.get("/api/admin/errors")[0] == 401
    assert service.get("/api/admin/errors", headers={"Authorization": f"Bearer {WRONG}"})[0] == 403
    assert [e["action"] for e in entries(service)] == ["read errors", "read errors"]


class CountdownSystem:
    """The engine's surface for an in-process app: every command succeeds."""

    clock = SystemClock()

    def __init__(self, db: Any) -> None:
        self.db = db

    def command(self, action: str) -> dict[str, Any]:
        return {"state": "paused"}


def test_an_audit_table_that_fails_never_changes_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = connect(f"sqlite:///{tmp_path / 'no-tables.db'}")  # no audit_log table: every insert fails
    app = create_app(CountdownSystem(db), Settings(providers={}, admin_token=ADMIN_TOKEN))

    async def post() -> Any:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return await app.test_client().post("/control", json={"action": "pause"}, headers=headers)

    response = asyncio.run(post())
    db.close()
    assert response.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "roundtable.audit"]
    assert len(lines) == 1 and lines[0].startswith("could not record the admin action 'pause' from")
    assert not any(r.exc_info for r in caplog.records)


def test_a_queued_topic_is_in_the_trail_with_its_text(service: Service) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"action": "queue_topic", "topic": "Night trains across Europe"}
    assert service.request("POST", "/control", body, headers)[0] == 200
    assert service.request("POST", "/control", {"action": "queue_topic"}, headers)[0] == 400
    newest_first = [(e["action"], e["result"], e["detail"]) for e in entries(service)]
    assert newest_first[1] == ("queue_topic", "accepted", "queued 'Night trains across Europe'")
    assert newest_first[0][:2] == ("queue_topic", "refused") and "topic" in newest_first[0][2]
