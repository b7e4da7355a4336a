"""/readyz waits for the provider SDKs, which load in the background after start-up.

The real engine with all four keys (every base URL at a local port where nothing
listens), served as run.py serves it (through ``actors.engine.Switched``), in-process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from quart import Quart

from actors.engine import Switched
from actors.system import create_system
from settings import Settings
from tests.service import unreachable_providers_env
from web.app import create_app


def readyz(app: Quart) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        response = await app.test_client().get("/readyz")
        return response.status_code, await response.get_json()

    return asyncio.run(go())


def test_readyz_answers_once_the_sdks_are_loaded(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", **unreachable_providers_env()})
    system = create_system(settings)
    try:
        served = Switched(settings)
        served.switch(system)
        app = create_app(served, settings)
        status, body = readyz(app)  # well within SDK_LOAD_DELAY_SECONDS of the start
        assert (status, body["providers"]) == (503, "loading")
        assert body["database"] is True and body["engine"] == "countdown"

        assert system.sdks_loaded.wait(120)

        status, body = readyz(app)
        assert (status, body["providers"], body["ready"]) == (200, "loaded", True)
    finally:
        system.stop()
