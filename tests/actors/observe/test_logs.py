"""Logs: readable lines by default, JSON lines with LOG_FORMAT=json, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.observe import logs
from settings import Settings
from tests.service import ADMIN_TOKEN, Service

SECRETS = {
    "OPENAI_API_KEY": "sk-proj-LEAKME-0123456789",
    "GEMINI_API_KEY": "AIzaLEAKME9876543210",
    "ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T000/B000/LEAKMEtoken",
    "DATABASE_URL": "postgresql://app:LEAKMEpassword@db.example.com/roundtable",
}


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def capture(env: dict[str, str]) -> tuple[io.StringIO, logging.Logger]:
    stream = io.StringIO()
    logs.configure(Settings.from_env(env), stream)
    return stream, logging.getLogger("roundtable.test")


def test_configured_secrets_and_bearer_tokens_are_redacted(restore_root: None) -> None:
    stream, log = capture({**SECRETS, "ADMIN_TOKEN": "admin-token-LEAKME-42-long-enough"})
    log.warning("calling with %s", SECRETS["OPENAI_API_KEY"])
    log.warning("request headers: {'Authorization': 'Bearer some.jwt.LEAKME', 'x-goog-api-key': 'AIzaOTHERLEAKME'}")
    log.warning("GET /v1beta/models?key=AIzaQUERYLEAKME&pageSize=5")
    log.warning("posting to %s failed", SECRETS["ALERT_WEBHOOK_URL"])
    log.warning("admin sent %s; database %s", "admin-token-LEAKME-42-long-enough", SECRETS["DATABASE_URL"])
    try:
        raise RuntimeError(f"boom with {SECRETS['GEMINI_API_KEY']}")
    except RuntimeError:
        log.exception("a traceback")
    text = stream.getvalue()
    assert "LEAKME" not in text, text
    assert text.count("***") >= 7
    assert "Bearer ***" in text and "key=***&pageSize=5" in text


def test_text_lines_by_default(restore_root: None) -> None:
    stream, log = capture({})
    log.info("round %d complete", 7)
    line = stream.getvalue().strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO    roundtable\.test: round 7 complete", line), line


def test_json_lines_with_log_format_json(restore_root: None) -> None:
    stream, log = capture({"LOG_FORMAT": "json", "OPENAI_API_KEY": SECRETS["OPENAI_API_KEY"]})
    log.warning("key %s refused", SECRETS["OPENAI_API_KEY"])
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
    assert first["level"] == "WARNING" and first["logger"] == "roundtable.test"
    assert first["message"] == "key *** refused" and first["time"].endswith("Z")
    assert "ValueError: bad" in second["exception"]


def test_the_service_logs_json_lines(tmp_path: Path) -> None:
    env = {"LOG_FORMAT": "json", "OPENAI_API_KEY": SECRETS["OPENAI_API_KEY"],
           "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    with Service(tmp_path, env) as service:
        service.force()
        service.wait_for_log("fell back")
    lines = [line for line in service.logs().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any("engine started" in e["message"] for e in entries)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert "LEAKME" not in service.logs() and ADMIN_TOKEN not in service.logs()
