"""``python tests/toy_run.py [run.py's arguments]``: the real service with the toy provider
registered, as an embedder would add a provider (``registry.register`` before the settings
are read). For tests only."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.providers import registry  # noqa: E402 - after the path is set
from tests.toy_provider import SPEC  # noqa: E402

registry.register(SPEC)
sys.argv[0] = str(ROOT / "run.py")
runpy.run_path(str(ROOT / "run.py"), run_name="__main__")
