"""Start-up never imports a provider SDK (seconds and tens of MiB each), nor the price
dataset (pydantic), with or without keys.

A fresh interpreter builds the whole engine and the web app on a temp SQLite file, as
``run.py`` does (the ticker and the model watch started), and lists the SDK modules it
loaded. With all four keys set, the providers and the moderation check load their SDKs on
first use, and the model watch after a delay (``catalog.FIRST_CHECK_DELAY_SECONDS``): none
of it on the start-up path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.service import ROOT, Service, unreachable_providers_env

PROBE = """
import gc, json, os, sys
from actors.system import create_system
from settings import Settings
from web.app import create_app
env = {"DATABASE_URL": sys.argv[1], **json.loads(sys.argv[2])}
system = create_system(Settings.from_env(env), start_ticker=False, tune_gc=True)
system.start_ticker()  # as actors.cluster does before serving
create_app(system, system.settings)
HEAVY = ("openai", "anthropic", "genai_prices", "pydantic")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in HEAVY or name.startswith("google.genai"))
if sys.argv[3] == "wait":  # then the background thread loads them
    assert system.sdks_loaded.wait(120), "the SDKs never loaded"
    loaded = sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in HEAVY}
                    | {"google.genai" for name in sys.modules if name.startswith("google.genai")})
system.stop()
print(json.dumps({"loaded": loaded, "frozen": gc.get_freeze_count()}))
"""



def probe(tmp_path: Path, env: dict[str, str], wait: bool = False) -> dict[str, Any]:
    """The SDK modules loaded after start-up (with ``wait``: once ``sdks_loaded`` is set),
    and how many objects ``gc.freeze`` moved out of the collector's reach."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'r.db'}", json.dumps(env),
         "wait" if wait else "now"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("keys", [False, True], ids=["without keys", "with all four keys"])
def test_starting_imports_no_provider_sdk(tmp_path: Path, keys: bool) -> None:
    loaded = probe(tmp_path, unreachable_providers_env() if keys else {})["loaded"]
    assert loaded == [], f"imported at start-up: {loaded[:5]}"


def test_the_sdks_load_in_the_background_after_start_up(tmp_path: Path) -> None:
    """So that the first round's calls find them loaded (``/readyz`` waits for it); then
    the heap is frozen, so that full collections stop scanning the SDKs' 200,000 objects."""
    found = probe(tmp_path, unreachable_providers_env(), wait=True)
    assert found["loaded"] == ["anthropic", "genai_prices", "google.genai", "openai", "pydantic"]
    assert found["frozen"] > 200_000


def test_the_service_on_sqlite_never_loads_the_postgres_driver(tmp_path: Path) -> None:
    """peewee imports psycopg2 whenever it is installed, and psycopg2-binary maps its own
    libpq, libssl, libcrypto and Kerberos: about 6 MiB of RSS for a process on SQLite,
    which never talks to PostgreSQL (``run.keep_postgres_driver_out``, ``storage.pg``)."""
    with Service(tmp_path, unreachable_providers_env()) as service:  # ready: the SDKs are in
        assert service.process is not None
        status, _ = service.get("/api/status")
        maps = Path(f"/proc/{service.process.pid}/maps").read_text()
    assert status == 200
    assert "psycopg2" not in maps and "libpq" not in maps
