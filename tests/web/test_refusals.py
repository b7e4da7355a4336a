"""Refusals are answers, not tracebacks: the real service (``python run.py``, SQLite,
template agents, tiny timings) is sent refused, unknown and malformed commands around a
whole round, on the engine's instance and through a standby that relays them, and a
``--demo`` instance is restarted mid-round. Every refusal is a JSON ``{"error", "code"}``
with its status, logged in one line naming the action and why; no log has a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service import ADMIN_TOKEN, Service, engine_and_standby
from tests.web.conftest import Client, is_state

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STEADY = {"MESSAGE_GAP_MIN_SECONDS": "0.1", "MESSAGE_GAP_MAX_SECONDS": "0.15"}


def post(service: Service, body: Any = None, *, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return service.request("POST", "/control", body, AUTH if headers is None else headers, raw=raw)


def refused(service: Service, answer: tuple[int, Any], status: int, code: str, fragment: str) -> str:
    """Check a refusal's answer; the one log line it must have, as ``web.errors`` writes it."""
    got_status, body = answer
    assert (got_status, body["code"]) == (status, code), answer
    assert fragment in body["error"] and set(body) == {"error", "code"}
    return f"{status} {code} on POST /control: {body['error']}"


def planned_seconds(logs: str) -> int:
    """How long the latest round was planned to last, from its "round N started" line."""
    return int(re.findall(r"last message planned in (\d+) s", logs)[-1])


def lines_with(logs: str, text: str) -> int:
    return sum(text in line for line in logs.splitlines())


def test_refused_unknown_and_malformed_commands_around_a_round_are_one_line_each(tmp_path: Path) -> None:
    paced = {"MESSAGE_GAP_MIN_SECONDS": "0.3", "MESSAGE_GAP_MAX_SECONDS": "0.4"}  # active until paused
    with Service(tmp_path, paced) as service:
        client = Client(service.ws_url)
        client.next()
        expected = [
            refused(service, post(service, {"action": "resume"}), 409, "command_refused", "cannot resume while countdown"),
            refused(service, post(service, {"action": "bogus"}), 400, "unknown_action", "unknown action 'bogus'"),
            refused(service, post(service, raw=b'{"action": "force"'), 400, "bad_payload", "not valid JSON"),
            refused(service, post(service, raw=b"[1, 2]"), 400, "bad_payload", "must be a JSON object"),
            refused(service, post(service, {"verb": "force"}), 400, "bad_payload", "body must be JSON like"),
            refused(service, post(service, {"action": "queue_topic"}), 400, "bad_payload", 'needs a "topic" string'),
            refused(service, post(service, {"action": "queue_topic", "topic": "x"}), 400, "invalid_topic", "topic"),
        ]
        assert post(service, {"action": "force"})[0] == 200
        expected.append(refused(service, post(service, {"action": "force"}), 409, "command_refused",
                                "cannot force while active"))
        assert post(service, {"action": "pause"})[0] == 200
        expected += [
            refused(service, post(service, {"action": "skip"}), 409, "command_refused", "cannot skip while paused"),
            refused(service, post(service, {"action": "pause"}), 409, "command_refused", "already paused"),
        ]
        assert post(service, {"action": "resume"})[0] == 200
        client.until(is_state("complete"), timeout=30)
        client.close()
        assert len(client.messages()) == 16
        missing = post(service, {"action": "force"}, headers={})
        wrong = post(service, {"action": "force"}, headers={"Authorization": "Bearer not-the-token-at-all"})
        assert (missing[0], missing[1]["code"]) == (401, "missing_token")
        assert (wrong[0], wrong[1]["code"]) == (403, "wrong_token")
        assert service.stop() == 0
    logs = service.logs()
    assert "Traceback" not in logs
    for line in expected:
        assert lines_with(logs, line) == 1, (line, logs)
    assert lines_with(logs, "admin command:") == 3  # force, pause, resume: accepted, and said once
    assert lines_with(logs, "/control attempts") == 1  # the token guesses: counted, a line per 10 s
    assert lines_with(logs, "refused 1 /control attempts from 127.0.0.1") == 1


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """Two ``python run.py`` on one SQLite file: the first runs the engine."""
    with engine_and_standby(tmp_path, tmp_path, STEADY) as both:
        yield both


def test_a_standby_relays_a_refusal_with_its_code_and_status(pair: tuple[Service, Service]) -> None:
    engine, standby = pair
    assert "as a standby" in standby.logs()
    relayed = post(standby, {"action": "resume"})
    assert relayed == post(engine, {"action": "resume"})  # the engine's 409, word for word
    line = refused(standby, relayed, 409, "command_refused", "cannot resume while countdown")
    # Refused by the standby itself, before any relay: it knows the commands too.
    unknown = refused(standby, post(standby, {"action": "bogus"}), 400, "unknown_action", "unknown action")
    assert standby.stop() == 0 and engine.stop() == 0
    assert lines_with(standby.logs(), line) == 1 and lines_with(standby.logs(), unknown) == 1
    answered = "answered a relayed admin command resume: 409 command_refused: cannot resume while countdown"
    assert lines_with(engine.logs(), answered) == 1
    assert "bogus" not in engine.logs()  # never relayed
    assert "Traceback" not in standby.logs() + engine.logs()


def test_a_demo_instance_restarted_mid_round_resumes_it_without_a_traceback(tmp_path: Path) -> None:
    service = Service(tmp_path, args=("--demo",)).start()
    try:
        client = Client(service.ws_url)
        client.until(lambda e: e["type"] == "message")  # --demo forced a round at once
        if planned_seconds(service.logs()) < 20:  # forced just before a slot: a short round
            client.until(is_state("countdown"), timeout=60)
            service.force()  # now it aims at the slot after: a minute or more
            client.until(lambda e: e["type"] == "message")
        client.close()
        service.restart()  # killed mid-round: the restart resumes it, and --demo cannot force
        service.wait_for_log("demo: not starting a round")
        assert service.get("/api/countdown")[1]["state"] == "active"
        assert service.stop() == 0
    finally:
        service.stop()
    logs = service.logs()
    assert "Traceback" not in logs
    assert lines_with(logs, "demo: not starting a round (cannot force while active") == 1
