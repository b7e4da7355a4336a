"""``actors.cluster.Cluster`` on a SQLite file: a takeover that fails keeps the instance a
standby, and says why in one line for a database failure, with a traceback otherwise."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import pytest

from actors.broadcaster import Hub
from actors.cluster import Cluster, Role
from settings import Settings
from storage import connect, setup_database
from storage.leader import engine_lock


def test_a_takeover_that_fails_for_another_reason_than_the_database_shows_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"sqlite:///{tmp_path / 'roundtable.db'}"
    db = connect(url)
    setup_database(db)
    db.close()
    topics = tmp_path / "topics.txt"
    topics.write_text("Tides\nBridges\n")
    settings = Settings.from_env({"DATABASE_URL": url, "TOPICS_FILE": str(topics)})
    other = engine_lock(url)  # another instance runs the engine
    assert other.try_acquire()

    async def scenario() -> Role:
        cluster = Cluster(settings, Hub(asyncio.get_running_loop()))
        await cluster.start()
        try:
            topics.write_text("")  # the engine cannot start here now: not a database failure
            other.release()
            while "could not start the engine" not in caplog.text:
                await asyncio.sleep(0.05)  # polling the log for a condition, bounded below
            return cluster.role
        finally:
            await cluster.stop()

    caplog.set_level(logging.INFO, logger="roundtable")
    role = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert role is Role.STANDBY  # it still serves visitors
    (failed,) = [r for r in caplog.records if "could not start the engine" in r.getMessage()]
    assert failed.exc_info is not None and "has no topics" in caplog.text


def test_the_instance_runs_full_collections_itself_until_it_stops(tmp_path: Path) -> None:
    """``actors.collector``: no automatic full garbage collection in the service's process
    while the cluster runs (engine or standby); the thresholds come back at ``stop``."""
    url = f"sqlite:///{tmp_path / 'roundtable.db'}"
    settings = Settings.from_env({"DATABASE_URL": url})
    before = gc.get_threshold()

    async def scenario() -> tuple[int, int, int]:
        cluster = Cluster(settings, Hub(asyncio.get_running_loop()))
        await cluster.start()
        try:
            return gc.get_threshold()
        finally:
            await cluster.stop()

    running = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert running[:2] == before[:2] and running[2] > 10**8
    assert gc.get_threshold() == before
