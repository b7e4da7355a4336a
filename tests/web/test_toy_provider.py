"""Adding a provider is a module plus one registry entry: a toy provider plays a whole round.

The real service runs with ``tests/toy_provider.py`` registered (``tests/toy_run.py``) and
only the toy's key set: the toy agent speaks from its own provider, the four others fall
back to it, and every surface (hello, /api/status, the database, the page) says so.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.service import ROOT, Service
from tests.toy_provider import SPEC
from tests.web.conftest import Client, is_state

TOY_RUN = ROOT / "tests" / "toy_run.py"
ROTATION = ["openai", "anthropic", "perplexity", "gemini", "toy"]
TOY_ENV = {
    "TOY_API_KEY": "toy-key-SECRET-5555",
    "MESSAGES_PER_ROUND": "10",  # a multiple of the five agents
    "MESSAGE_GAP_MIN_SECONDS": "0.02",
    "MESSAGE_GAP_MAX_SECONDS": "0.04",
}
TOY_AGENT = {"id": "toy", "persona": "Pip", "label": "Toy", "colour": "#aa3377", "colour_dark": "#ff88cc"}


def stored(database: Path, conversation_id: int) -> list[tuple[str, str, str, str, str]]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT agent, persona, provider, model, source FROM messages"
            " WHERE conversation_id = ? ORDER BY seq", (conversation_id,),
        ).fetchall()


def test_a_registered_toy_provider_plays_a_whole_round(tmp_path: Path) -> None:
    with Service(tmp_path, TOY_ENV, script=TOY_RUN) as service:
        client = Client(service.ws_url)
        hello = client.next()
        assert [a["id"] for a in hello["agents"]] == ROTATION
        assert hello["agents"][-1] == TOY_AGENT
        _, status = service.get("/api/status")
        assert status["agents"] == hello["agents"]
        assert status["providers"]["toy"]["configured"] is True

        conversation_id = service.force()["conversation"]["id"]
        client.until(is_state("complete"))
        _, css = service.get("/agents.css")
        _, page = service.get(f"/c/{conversation_id}")
        logs = service.logs()

    messages = client.messages()
    assert [m["agent"] for m in messages] == ROTATION * 2
    for m in messages:
        if m["agent"] == "toy":  # its own provider answered
            assert (m["persona"], m["provider"], m["model"], m["source"]) == ("Pip", "toy", "toy-1", "api")
        else:  # nobody else has a key: the toy stood in, and says so
            assert (m["provider"], m["source"]) == ("toy", "fallback")
            assert m["persona"] != "Pip" and m["fallback_reason"]
    assert stored(service.database, conversation_id) == [
        (m["agent"], m["persona"], m["provider"], m["model"], m["source"]) for m in messages
    ]
    assert '.rt-msg[data-agent="toy"]' in css and SPEC.colour in css
    assert 'data-agent="toy"' in page and ">Pip<" in page and "Toy take turns" in page
    assert "Five AI agents" in page
    assert "SECRET" not in logs and "Traceback" not in logs
