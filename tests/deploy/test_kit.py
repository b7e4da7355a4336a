"""The deploy kit, validated statically where this machine cannot run it (no Docker engine):
compose.yaml parsed with PyYAML, the Dockerfile's required lines, the systemd unit checked
by ``systemd-analyze verify`` (or parsed when systemd is absent)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import Settings
from tests.service import ROOT

# -- Dockerfile ---------------------------------------------------------------------------


def dockerfile() -> list[str]:
    """Instructions, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def instructions(name: str) -> list[str]:
    return [line[len(name) + 1:] for line in dockerfile() if line.split()[0] == name]


def test_the_image_is_slim_python_and_runs_as_a_user_that_is_not_root() -> None:
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base)
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    run_lines = instructions("RUN")
    assert any("useradd --system --uid 10001 --gid roundtable" in line for line in run_lines)


def test_the_image_installs_the_lock_then_the_project_without_dependencies() -> None:
    assert "requirements.lock ./" in instructions("COPY")
    run_lines = instructions("RUN")
    lock = next(i for i, line in enumerate(run_lines) if "--require-hashes -r requirements.lock" in line)
    project = next(i for i, line in enumerate(run_lines) if "pip install --no-deps ." in line)
    assert lock < project and "pip check" in run_lines[project]
    copied = " ".join(instructions("COPY"))
    for needed in ("settings.py", "run.py", "pyproject.toml", "actors", "storage", "web"):
        assert needed in copied


def test_the_image_copies_every_module_and_package_the_project_ships() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = set(project["py-modules"]) | {p.rstrip("*") for p in project["packages"]["find"]["include"]}
    copied = {source.removesuffix(".py") for line in instructions("COPY") for source in line.split()[:-1]}
    assert shipped <= copied, f"the Dockerfile misses {shipped - copied}"


def test_the_image_checks_healthz_and_runs_python_run_py() -> None:
    (health,) = instructions("HEALTHCHECK")
    assert "/healthz" in health and health.startswith("--interval=")
    assert instructions("CMD") == ['["python", "run.py"]']
    assert "HOST=0.0.0.0" in " ".join(instructions("ENV"))


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "data"} <= set(ignored)


# -- compose.yaml -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_postgres_with_a_volume_two_instances_and_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "app1", "app2", "nginx"}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pgdata:/var/lib/postgresql/data" in postgres["volumes"] and "pgdata" in compose["volumes"]
    for name in ("app1", "app2"):
        app = services[name]
        assert app["build"] == "." and app["restart"] == "unless-stopped"
        assert app["environment"]["DATABASE_URL"].startswith("postgresql://roundtable:")
        assert "@postgres:5432/roundtable" in app["environment"]["DATABASE_URL"]
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    nginx = services["nginx"]
    assert nginx["image"].startswith("nginx:") and "80:80" in nginx["ports"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert {name: d["condition"] for name, d in nginx["depends_on"].items()} == {
        "app1": "service_healthy", "app2": "service_healthy"}


def test_compose_healthchecks_ask_postgres_and_healthz(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in ("app1", "app2"):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"])


def test_compose_trusts_forwarded_headers_from_nginx_only(compose: dict[str, Any]) -> None:
    nginx_address = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert nginx_address.rsplit(".", 1)[0] == subnet.rsplit(".", 1)[0]
    for name in ("app1", "app2"):
        assert compose["services"][name]["environment"]["TRUSTED_PROXIES"] == nginx_address


def test_compose_upstreams_are_the_ones_nginx_conf_names(compose: dict[str, Any]) -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server (\w+):8000\b", conf, flags=re.MULTILINE)
    assert sorted(upstreams) == ["app1", "app2"]
    assert all(compose["services"][u]["environment"]["PORT"] == "8000" for u in upstreams)


# -- deploy/nginx.conf (run for real in test_nginx.py; these are its promises) -------------


def test_nginx_conf_keeps_websockets_open_longer_than_the_ping_interval() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    ws = conf[conf.index("location = /ws"):]
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", ws[: ws.index("}")]).group(1))  # type: ignore[union-attr]
    assert timeout > 2 * Settings.from_env({}).ws_ping_seconds
    for header in ("Upgrade $http_upgrade", "Connection $connection_upgrade",
                   "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme",
                   "X-Forwarded-Host $http_host"):
        assert f"proxy_set_header {header};" in conf
    # A location that set its own header would silently drop all of these.
    server = conf[conf.index("    server {"):]
    assert "proxy_set_header" not in server


# -- deploy/roundtable.service ------------------------------------------------------------

UNIT = ROOT / "deploy" / "roundtable.service"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)  # systemd allows repeated keys
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_restarts_on_failure_and_reads_an_environment_file() -> None:
    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/roundtable/roundtable.env"
    assert service["ExecStart"].startswith("/opt/roundtable/.venv/bin/roundtable")
    assert service["RestartPreventExitStatus"] == "2"  # a bad setting: restarting won't help
    assert service["User"] == "roundtable" and service["KillSignal"] == "SIGTERM"


def test_the_unit_is_hardened() -> None:
    service = unit()["Service"]
    expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
                "RestrictNamespaces": "yes", "StateDirectory": "roundtable"}
    assert {key: service.get(key) for key in expected} == expected
    # ProtectSystem=strict leaves one writable place: the SQLite default must be in it.
    assert "DATABASE_URL=sqlite:////var/lib/roundtable/" in UNIT.read_text()


# systemd is in Debian's base image; a developer without it gets a skip with the reason,
# CI (which is meant to prove the unit) fails instead, like PostgreSQL and Chromium.
@pytest.mark.skipif(shutil.which("systemd-analyze") is None and os.environ.get("CI") != "true",
                    reason="no systemd-analyze here (Debian's systemd package)")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # The shipped paths and user, pointed at this checkout and an existing user.
    text = UNIT.read_text().replace("/opt/roundtable/.venv/bin/roundtable", f"{sys.prefix}/bin/roundtable")
    text = text.replace("/opt/roundtable", str(ROOT))
    text = re.sub(r"^(User|Group)=roundtable$", r"\1=root", text, flags=re.MULTILINE)
    copy = tmp_path / "roundtable.service"
    copy.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "roundtable.service" not in result.stderr, result.stderr
