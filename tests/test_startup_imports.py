"""Start-up without keys never imports a provider SDK (1-3 s and tens of MiB each).

A fresh interpreter builds the whole engine and the web app on a temp SQLite file, as
``run.py`` does for ``make run`` with no keys, and lists the SDK modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.service import ROOT

PROBE = """
import json, sys
from actors.system import create_system
from settings import Settings
from web.app import create_app
system = create_system(Settings.from_env({"DATABASE_URL": sys.argv[1]}), start_ticker=False)
create_app(system, system.settings)
system.stop()
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("openai", "anthropic")
                        or name.startswith("google.genai"))))
"""


def test_starting_without_keys_imports_no_provider_sdk(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'r.db'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"imported at start-up without any key: {loaded[:5]}"
