"""The moderation gate in whole rounds: the real service, the four real SDKs and the fakes,
with the fake OpenAI's ``/v1/moderations`` flagging a marker word (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actors.providers.moderation import NOT_OPENAI_API
from tests.fakes.openai_server import MARKER, error
from tests.fakes.server import Received
from tests.fakes.webhook_server import FakeWebhook
from tests.service import Service
from tests.web.conftest import Client, is_state
from tests.web.test_provider_round import Fakes, fakes, fresh_text, rows

__all__ = ["fakes"]  # the fixture, shared with test_provider_round

#: The fakes are not OpenAI's API: in ``auto`` their /moderations would not be asked.
OPENAI_MODERATION = {"MODERATION": "openai"}


def marked(received: Received | None = None) -> str:
    """A reply that passes the quality gate but carries the marker moderation flags."""
    return fresh_text() + f" {MARKER} {MARKER}."


def _round(service: Service) -> tuple[list[dict[str, Any]], str]:
    """Play a round; the messages and everything a WebSocket client received, as text."""
    client = Client(service.ws_url)
    client.next()
    service.force()
    client.until(is_state("complete"), timeout=60)
    client.close()
    return client.messages(), json.dumps(client.events)


def _everything_public(service: Service, conversation_id: int) -> str:
    """The API's and both exports' view of the round, and the service's log."""
    parts = [json.dumps(service.get("/api/conversations")[1]),
             json.dumps(service.get(f"/api/conversations/{conversation_id}")[1]),
             str(service.get(f"/api/conversations/{conversation_id}/export?format=json")[1]),
             str(service.get(f"/api/conversations/{conversation_id}/export?format=md")[1]),
             service.logs()]
    return "\n".join(parts)


def _database_bytes(service: Service) -> bytes:
    files = [service.database, service.database.with_name(service.database.name + "-wal")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def test_a_flagged_provider_never_reaches_visitors_the_api_the_database_or_exports(
    tmp_path: Path, fakes: Fakes
) -> None:
    fakes.anthropic.reply = marked
    with FakeWebhook() as webhook, Service(tmp_path, {**fakes.env(), **OPENAI_MODERATION, "ALERT_WEBHOOK_URL": webhook.url}) as service:
        messages, seen = _round(service)
        conversation_id = messages[0]["conversation_id"]
        [alert] = webhook.wait_for("replies_flagged")  # type: ignore[attr-defined]
        public = _everything_public(service, conversation_id)
        status = service.get("/api/status")[1]
        metrics = service.get("/metrics")[1]
    assert [m["seq"] for m in messages] == list(range(1, 17))
    assert MARKER not in seen and MARKER not in public
    assert MARKER.encode() not in _database_bytes(service)
    clio = [m for m in messages if m["agent"] == "anthropic"]
    assert all(m["source"] in ("fallback", "template") and m["provider"] != "anthropic" for m in clio)
    stored = rows(service.database, "SELECT * FROM messages WHERE agent = 'anthropic' ORDER BY seq")
    assert stored[0]["fallback_reason"] == "anthropic: moderation flagged (harassment)"
    assert all("moderation flagged (harassment)" in m["fallback_reason"] or "circuit open" in m["fallback_reason"]
               for m in stored)
    flagged = rows(service.database, "SELECT * FROM api_calls WHERE error_class = 'moderation'")
    assert flagged and {c["provider"] for c in flagged} == {"anthropic"}
    assert status["providers"]["anthropic"]["moderation"]["flagged"] >= 1
    assert status["providers"]["openai"]["moderation"]["passed"] >= 4
    flagged_total = f'roundtable_moderation_reviews_total{{provider="anthropic",verdict="flagged"}} {len(flagged)}.0'
    assert flagged_total in metrics
    assert "alert: provider anthropic: 3 flagged replies in a row" in service.logs()
    assert alert["text"] == "Roundtable: provider anthropic: 3 flagged replies in a row (latest: harassment)"
    assert MARKER not in json.dumps(alert)


def test_with_moderation_down_every_reply_is_withheld_and_templates_stand_in(
    tmp_path: Path, fakes: Fakes
) -> None:
    fakes.anthropic.reply = marked
    fakes.openai.moderation_script = error(500, type="server_error")
    grace = 1.5
    env = {**fakes.env(), **OPENAI_MODERATION, "GENERATION_GRACE_SECONDS": str(grace)}
    with Service(tmp_path, env) as service:
        messages, seen = _round(service)
        public = _everything_public(service, messages[0]["conversation_id"])
    assert [m["seq"] for m in messages] == list(range(1, 17))
    assert MARKER not in seen and MARKER not in public
    assert MARKER.encode() not in _database_bytes(service)
    assert all(m["source"] == "template" for m in messages)
    stored = rows(service.database, "SELECT * FROM messages ORDER BY seq")
    assert all("moderation unavailable (HTTP 500): reply withheld" in m["fallback_reason"] for m in stored)
    assert all(m["revealed_at"] - m["planned_at"] <= grace * 1000 + 1500 for m in stored)


def test_with_moderation_off_the_marker_passes(tmp_path: Path, fakes: Fakes) -> None:
    fakes.anthropic.reply = marked
    with Service(tmp_path, {**fakes.env(), "MODERATION": "off"}) as service:
        messages, seen = _round(service)
    assert MARKER in seen  # the gate, and nothing else, is what stops it
    assert all(m["source"] == "api" for m in messages if m["agent"] == "anthropic")
    assert fakes.openai.moderations == []


def test_auto_with_a_compatible_server_without_moderations_shows_the_providers_replies(
    tmp_path: Path, fakes: Fakes
) -> None:
    """OPENAI_BASE_URL at a compatible server (a local model server, a gateway) whose
    /moderations answers 404, MODERATION unset: the word list reviews every reply, and the
    replies that were paid for are shown, not withheld for a check that is not there."""
    fakes.openai.moderation_script = error(404, code="unknown_url", message="no route /v1/moderations")
    fakes.anthropic.reply = lambda _: fresh_text() + " Frankly, that plan is bullshit."
    with Service(tmp_path, fakes.env()) as service:
        messages, _ = _round(service)
        status = service.get("/api/status")[1]
        logs = service.logs()
    others = [m for m in messages if m["agent"] != "anthropic"]
    assert len(others) == 12 and all(m["source"] == "api" and m["provider"] == m["agent"] for m in others)
    clio = rows(service.database, "SELECT * FROM messages WHERE agent = 'anthropic' ORDER BY seq")
    assert clio[0]["fallback_reason"] == "anthropic: moderation flagged (profanity)"  # the word list still runs
    assert fakes.openai.moderations == []
    assert ("moderation: wordlist only (OPENAI_BASE_URL is not OpenAI's API; set MODERATION=openai "
            "to use its /moderations)") in logs
    assert status["moderation"] == {"mode": "auto", "checks": "wordlist", "fails": "closed",
                                    "detail": NOT_OPENAI_API}


def test_explicit_openai_with_a_server_without_moderations_withholds_with_one_error_line(
    tmp_path: Path, fakes: Fakes
) -> None:
    """MODERATION=openai is "both; fail closed", asked for explicitly: every reply is withheld,
    and the log says why in one line (a minute at most), with no traceback."""
    fakes.openai.moderation_script = error(404, code="unknown_url", message="no route /v1/moderations")
    grace = 1.5
    env = {**fakes.env(), **OPENAI_MODERATION, "GENERATION_GRACE_SECONDS": str(grace)}
    with Service(tmp_path, env) as service:
        messages, _ = _round(service)
        status = service.get("/api/status")[1]
        logs = service.logs()
    assert [m["source"] for m in messages] == ["template"] * 16
    stored = rows(service.database, "SELECT * FROM messages ORDER BY seq")
    assert all("moderation unavailable (HTTP 404, no /moderations): reply withheld" in m["fallback_reason"]
               for m in stored)
    detail = "OPENAI_BASE_URL's /moderations answered HTTP 404 (not there): every reply is withheld"
    errors = [line for line in logs.splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors  # the round takes seconds: one line a minute at most
    assert errors[0].endswith(f"moderation: {detail} (MODERATION=openai); set MODERATION=auto or local "
                              "to use the word list only")
    assert "Traceback" not in logs
    assert status["moderation"] == {"mode": "openai", "checks": "wordlist+openai", "fails": "closed",
                                    "detail": detail}
