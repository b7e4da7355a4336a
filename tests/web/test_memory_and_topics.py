"""Memory across rounds and the topic deck, against the real service.

A round's prompts (as the fake OpenAI server receives them) carry the previous round's
topic; a list of 12 topics gives 12 different rounds before any repeats, across a
restart; an admin's queued topic is the next round's.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.service import Service

TOPICS = [f"Topic number {n}: should firms adopt practice {n}?" for n in range(1, 13)]


def play_round(service: Service, timeout: float = 20.0) -> dict[str, Any]:
    """Force a round and wait until it is stored as complete; return it."""
    conversation_id = service.force()["conversation"]["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, found = service.get(f"/api/conversations/{conversation_id}")
        if found["status"] == "complete":
            return dict(found)
        time.sleep(0.02)  # polling the API for a condition, bounded by the timeout
    raise TimeoutError(f"round {conversation_id} did not complete")


@pytest.fixture
def topics_file(tmp_path: Path) -> Path:
    path = tmp_path / "topics.txt"
    path.write_text("\n".join(TOPICS) + "\n", encoding="utf-8")
    return path


_replies = itertools.count(1)
WORDS = ("river", "market", "lantern", "orbit", "harvest", "canvas", "signal", "meadow",
         "copper", "tide", "atlas", "ember", "quarry", "violet", "summit", "harbor")


def distinct_reply(request: Any) -> str:
    """A different sentence for every turn: the quality gate refuses near-duplicates, and
    refused replies count against the provider's circuit."""
    n = next(_replies)
    picked = [WORDS[(n * k + k) % len(WORDS)] for k in range(1, 6)]
    return f"Reply {n} weighs the {' and the '.join(picked)} in a way nobody said before."


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=distinct_reply) as fake:
        yield fake  # type: ignore[misc]


def test_prompts_carry_the_previous_rounds_topic(tmp_path: Path, topics_file: Path, openai_fake: FakeOpenAI) -> None:
    env = {"TOPICS_FILE": str(topics_file), "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai_fake.base_url}
    with Service(tmp_path, env) as service:
        first = play_round(service)
        assert first["messages"][0]["source"] == "api"
        openai_fake.reset()
        second = play_round(service)
    assert second["topic"] != first["topic"]
    systems = [r.body["messages"][0]["content"] for r in openai_fake.requests]
    assert systems, "the second round sent no request to the fake"
    assert all(second["topic"] in s for s in systems)
    assert all(first["topic"] in s for s in systems), systems[0]
    # One or two lines of the earlier round come along, not its whole transcript.
    opening = first["messages"][0]["content"]
    assert all(opening.split(".")[0] in s for s in systems)
    assert all(first["messages"][5]["content"] not in s for s in systems)


def test_twelve_topics_give_twelve_rounds_before_a_repeat_across_a_restart(
    tmp_path: Path, topics_file: Path
) -> None:
    service = Service(tmp_path, {"TOPICS_FILE": str(topics_file)}).start()
    try:
        topics = [play_round(service)["topic"] for _ in range(5)]
        service.restart()
        topics += [play_round(service)["topic"] for _ in range(7)]
        assert sorted(topics) == sorted(TOPICS)
        _, countdown = service.get("/api/countdown")
        thirteenth = play_round(service)["topic"]
        assert thirteenth == countdown["next_topic"]  # what the countdown announced
        assert thirteenth in TOPICS and thirteenth != topics[-1]
    finally:
        service.stop()


def test_an_admins_queued_topic_is_the_next_rounds(tmp_path: Path, topics_file: Path) -> None:
    with Service(tmp_path, {"TOPICS_FILE": str(topics_file)}) as service:
        headers = {"Authorization": f"Bearer {service.env['ADMIN_TOKEN']}"}
        queued = "Should\u202e a bakery\n\tsell bread by subscription?\x00"
        status, body = service.request("POST", "/control", {"action": "queue_topic", "topic": queued}, headers)
        assert status == 200, body
        clean = "Should a bakery sell bread by subscription?"
        assert body["queued_topics"] == [clean] and body["next_topic"] == clean
        assert service.get("/api/countdown")[1]["next_topic"] == clean
        assert service.get("/api/status")[1]["queued_topics"] == [clean]
        assert play_round(service)["topic"] == clean
        assert play_round(service)["topic"] in TOPICS
        for bad in ("", "  \x07 ", "x" * 201, None, 42):
            status, body = service.request("POST", "/control", {"action": "queue_topic", "topic": bad}, headers)
            assert status == 400 and "topic" in body["error"], (bad, status, body)
        status, _ = service.request("POST", "/control", {"action": "queue_topic", "topic": "A fine topic"})
        assert status == 401
    assert "Traceback" not in service.logs()
