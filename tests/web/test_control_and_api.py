"""/control, the JSON API's errors, settings errors at start-up, and a clean shutdown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.service import ADMIN_TOKEN, ROOT, Service
from tests.web.conftest import Client, is_state

#: Gaps long enough that a forced round is still active when the next command arrives.
SLOW = {"MESSAGE_GAP_MIN_SECONDS": "30", "MESSAGE_GAP_MAX_SECONDS": "30"}


def conversation_count(service: Service) -> int:
    _, body = service.get("/api/conversations")
    return len(body["conversations"])


def test_control_refuses_a_missing_or_wrong_token_and_changes_nothing(service: Service) -> None:
    status, body = service.control("force", token=None)
    assert status == 401 and "bearer token" in body["error"]
    status, body = service.control("force", token="not-the-token")
    assert status == 403 and body == {"error": "wrong admin token", "code": "wrong_token"}
    status, body = service.request("POST", "/control", {"action": "force"}, {"Authorization": "Basic abc"})
    assert status == 401
    assert service.get("/api/countdown")[1]["state"] == "countdown"
    assert conversation_count(service) == 0


def test_control_without_admin_token_refuses_everything_and_says_how(tmp_path: Path) -> None:
    with Service(tmp_path, {"ADMIN_TOKEN": ""}) as service:
        for action in ("force", "skip", "pause", "resume"):
            status, body = service.control(action)
            assert status == 403 and "set ADMIN_TOKEN" in body["error"]
        assert service.get("/api/countdown")[1]["state"] == "countdown"
        assert conversation_count(service) == 0


def test_illegal_commands_answer_409_and_change_nothing(tmp_path: Path) -> None:
    with Service(tmp_path, SLOW) as service:
        status, body = service.control("resume")
        assert status == 409 and "not paused" in body["error"]
        service.force()
        status, body = service.control("force")
        assert status == 409 and "already active" in body["error"]
        assert conversation_count(service) == 1
        status, body = service.control("skip")
        assert status == 200 and body["state"] == "countdown"
        _, conversations = service.get("/api/conversations")
        assert conversations["conversations"][0]["status"] == "skipped"
        assert conversations["conversations"][0]["skip_reason"] == "skipped by admin"


def test_pause_and_resume_are_announced_and_persisted(tmp_path: Path) -> None:
    with Service(tmp_path, SLOW) as service:
        client = Client(service.ws_url)
        client.next()
        assert service.control("pause")[0] == 200
        client.until(is_state("paused"))
        status, body = service.control("pause")
        assert status == 409 and "already paused" in body["error"]
        assert service.control("force")[0] == 409
        # A restart keeps the pause: admins paused it to stop spending.
        service.restart()
        assert service.get("/api/countdown")[1]["state"] == "paused"
        client.close()
        status, body = service.control("resume")
        assert status == 200 and body["state"] == "countdown"


def test_resume_returns_to_countdown(tmp_path: Path) -> None:
    with Service(tmp_path, SLOW) as service:
        assert service.control("pause")[0] == 200
        status, body = service.control("resume")
        assert status == 200 and body["state"] == "countdown"


def test_skip_in_countdown_records_the_slot_and_moves_the_countdown(service: Service) -> None:
    before = service.get("/api/countdown")[1]["next_round_at"]
    status, body = service.control("skip")
    assert status == 200 and body["state"] == "countdown"
    assert body["next_round_at"] == before + 86_400_000
    _, page = service.get("/api/conversations")
    skipped = page["conversations"][0]
    assert skipped["status"] == "skipped" and skipped["scheduled_at"] == before


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/api/conversations/999999", 404, "not found"),
        ("/api/conversations?limit=-1", 400, "limit"),
        ("/api/conversations?limit=abc", 400, "limit"),
        ("/api/conversations?before=0", 400, "before"),
        ("/api/conversations/1/export?format=pdf", 400, "format"),
        ("/no/such/page", 404, ""),
    ],
)
def test_bad_requests_get_json_errors(service: Service, path: str, status: int, fragment: str) -> None:
    got, body = service.get(path)
    assert got == status
    assert isinstance(body, dict) and fragment in body["error"]
    assert "Traceback" not in str(body)


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"action": 5}', b"{}"])
def test_malformed_control_body_is_400(service: Service, raw: bytes) -> None:
    status, body = service.request(
        "POST", "/control", raw=raw, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert status == 400 and "action" in body["error"]


def test_unknown_action_is_400(service: Service) -> None:
    status, body = service.control("explode")
    assert status == 400 and "unknown action" in body["error"]


def test_transcript_export_and_pagination(service: Service) -> None:
    service.force()
    service.wait_for_state("countdown")
    service.force()
    service.wait_for_state("countdown")
    _, page = service.get("/api/conversations?limit=1")
    assert len(page["conversations"]) == 1 and page["next_before"] == page["conversations"][0]["id"]
    newest = page["conversations"][0]["id"]
    _, older = service.get(f"/api/conversations?limit=1&before={newest}")
    assert older["conversations"][0]["id"] < newest
    status, markdown = service.get(f"/api/conversations/{newest}/export?format=md")
    assert status == 200 and markdown.startswith("# ") and "template" in markdown
    status, exported = service.get(f"/api/conversations/{newest}/export?format=json")
    assert status == 200 and len(exported["messages"]) == 16


def test_health_readiness_status_and_metrics(service: Service) -> None:
    assert service.get("/healthz") == (200, {"ok": True})
    status, ready = service.get("/readyz")
    assert status == 200 and ready["database"] is True
    _, status_body = service.get("/api/status")
    assert set(status_body["providers"]) == {"openai", "anthropic", "perplexity", "gemini"}
    assert all(p["configured"] is False for p in status_body["providers"].values())
    status, metrics = service.get("/metrics")
    assert status == 200 and 'roundtable_state{state="countdown"} 1.0' in metrics


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"ROUND_INTERVAL_SECONDS": "abc"}, "ROUND_INTERVAL_SECONDS"),
        ({"MESSAGES_PER_ROUND": "15"}, "MESSAGES_PER_ROUND"),
        ({"MESSAGE_GAP_MIN_SECONDS": "9", "MESSAGE_GAP_MAX_SECONDS": "3"}, "MESSAGE_GAP_MIN_SECONDS"),
        ({"DATABASE_URL": "mysql://user:secret@localhost/db"}, "DATABASE_URL"),
        ({"TRUSTED_PROXIES": "127.0.0.1, nginx.local"}, "TRUSTED_PROXIES"),
        ({"MAX_CONNECTIONS_PER_IP": "0"}, "MAX_CONNECTIONS_PER_IP"),
        ({"MAX_NEW_CONNECTIONS_PER_IP_PER_MINUTE": "many"}, "MAX_NEW_CONNECTIONS_PER_IP_PER_MINUTE"),
        ({"MAX_CONNECTIONS": "-5"}, "MAX_CONNECTIONS"),
        ({"API_REQUESTS_PER_IP_PER_SECOND": "0"}, "API_REQUESTS_PER_IP_PER_SECOND"),
        ({"WS_STALL_SECONDS": "nan"}, "WS_STALL_SECONDS"),
        ({"MAX_CONNECTIONS_PER_IP": "200", "MAX_TCP_CONNECTIONS_PER_IP": "150"}, "MAX_TCP_CONNECTIONS_PER_IP"),
        ({"HEADER_TIMEOUT_SECONDS": "0"}, "HEADER_TIMEOUT_SECONDS"),
        ({"ALLOWED_ORIGINS": "https://ok.example, ftp://x"}, "ALLOWED_ORIGINS"),
    ],
)
def test_invalid_settings_stop_start_up_with_one_line(env: dict[str, str], setting: str) -> None:
    result = subprocess.run(
        [sys.executable, "run.py", "--env-file", "/nonexistent"], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], result.stderr
    assert "secret" not in result.stderr


@pytest.mark.parametrize("token", ["hunter2", "hunter2-but-short-xyz12"])
def test_a_short_admin_token_stops_start_up_with_how_to_make_one(token: str) -> None:
    result = subprocess.run(
        [sys.executable, "run.py", "--env-file", "/nonexistent"], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ADMIN_TOKEN": token}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roundtable: invalid setting ADMIN_TOKEN:"), result.stderr
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in lines[0]
    assert token not in lines[0]  # the token itself is never echoed


def test_the_edge_settings_have_sane_defaults() -> None:
    from settings import Settings

    settings = Settings.from_env({})
    assert settings.trusted_proxies == ()
    assert (settings.max_connections_per_ip, settings.max_new_connections_per_ip_per_minute) == (50, 120)
    assert (settings.max_connections, settings.api_requests_per_ip_per_second) == (10_000, 20.0)
    assert settings.ws_stall_seconds == 30.0
    assert Settings.from_env({"ADMIN_TOKEN": "x" * 24}).admin_token == "x" * 24


def run_briefly(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", "--env-file", "/nonexistent"], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PORT": "0", **env}, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"TOPICS_FILE": "{empty}"}, "TOPICS_FILE"),
        ({"PRICES_FILE": "{bad_prices}"}, "PRICES_FILE"),
    ],
)
def test_unusable_data_files_stop_start_up_with_one_line(tmp_path: Path, env: dict[str, str], setting: str) -> None:
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    (tmp_path / "prices.json").write_text('{"openai": 5}')
    paths = {"{empty}": str(tmp_path / "empty.txt"), "{bad_prices}": str(tmp_path / "prices.json")}
    result = run_briefly({k: paths[v] for k, v in env.items()}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"invalid setting {setting}" in lines[0], result.stderr


def test_an_unusable_database_stops_start_up_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's folder should be")
    result = run_briefly({"DATABASE_URL": f"sqlite:///{blocker}/roundtable.db"}, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roundtable: cannot use DATABASE_URL"), result.stderr


def test_an_unreachable_postgresql_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = run_briefly({"DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/roundtable"}, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("roundtable: cannot use DATABASE_URL")
    assert "hunter2" not in result.stderr


def test_demo_mode_shows_a_round_at_once(tmp_path: Path) -> None:
    # --demo's own timings (gaps of 2-4 s), not the tests' tiny ones: only the clock's
    # settings from FAST_ENV are dropped, so this is what a new user runs.
    service = Service(tmp_path, args=("--demo",))
    for name in ("MESSAGE_GAP_MIN_SECONDS", "MESSAGE_GAP_MAX_SECONDS", "ROUND_INTERVAL_SECONDS",
                 "MIN_COUNTDOWN_SECONDS", "COMPLETE_HOLD_SECONDS", "GENERATION_GRACE_SECONDS"):
        service.env.pop(name)
    with service:
        client = Client(service.ws_url)
        hello = client.next()
        assert hello["state"] == "active" and len(hello["messages"]) <= 1
        first = client.until(lambda e: e["type"] == "message")
        second = client.until(lambda e: e["type"] == "message")
        gap = (second["revealed_at"] - first["revealed_at"]) / 1000
        assert gap <= 4.5
        # Gaps of 2-4 s, unless the round was forced so close to the next 2-minute slot
        # that they had to shrink to end 20 s before it (15 gaps of up to 4 s).
        room = (hello["next_round_at"] - first["revealed_at"]) / 1000 - 20
        if room >= 15 * 4:
            assert gap >= 1.5
        assert hello["next_round_at"] - hello["server_time"] <= 120_000
        client.close()


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    service = Service(tmp_path).start()
    service.force()
    visitor = Client(service.ws_url)
    visitor.next()
    assert service.stop() == 0
    with pytest.raises(ConnectionClosed) as closed:
        while True:  # the events sent before the close, then the close itself
            visitor.next(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    logs = service.logs()
    assert "Traceback" not in logs and "engine stopped" in logs


def test_raising_the_websocket_cap_alone_raises_the_tcp_cap_with_it() -> None:
    """An operator who raised MAX_CONNECTIONS_PER_IP before MAX_TCP_CONNECTIONS_PER_IP
    existed keeps starting after the upgrade: unset, the TCP cap leaves room for every
    WebSocket an address may hold plus plain connections."""
    from settings import Settings

    assert Settings.from_env({}).tcp_connections_per_ip == 100
    assert Settings.from_env({"MAX_CONNECTIONS_PER_IP": "200"}).tcp_connections_per_ip == 250
    assert Settings.from_env({"MAX_TCP_CONNECTIONS_PER_IP": "7", "MAX_CONNECTIONS_PER_IP": "5"}).tcp_connections_per_ip == 7
