"""Start-up never imports a provider SDK (seconds and tens of MiB each), with or without keys.

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

import pytest

from actors.providers import registry
from tests.service import ROOT, free_port

PROBE = """
import json, os, sys
from actors.system import create_system
from settings import Settings
from web.app import create_app
env = {"DATABASE_URL": sys.argv[1], **json.loads(sys.argv[2])}
system = create_system(Settings.from_env(env), start_ticker=False)
system.start_ticker()  # as actors.cluster does before serving
create_app(system, system.settings)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("openai", "anthropic")
                or name.startswith("google.genai"))
system.stop()
print(json.dumps(loaded))
"""


def keys_env() -> dict[str, str]:
    """All four keys, every base URL at a local port where nothing listens."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {}
    for name in registry.names():
        env[f"{name.upper()}_API_KEY"] = f"sk-{name}-startup-probe"
        env[f"{name.upper()}_BASE_URL"] = dead + ("/v1" if name == "openai" else "")
    return env


@pytest.mark.parametrize("keys", [False, True], ids=["without keys", "with all four keys"])
def test_starting_imports_no_provider_sdk(tmp_path: Path, keys: bool) -> None:
    env = keys_env() if keys else {}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'r.db'}", json.dumps(env)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"imported at start-up: {loaded[:5]}"
