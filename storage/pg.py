"""psycopg2, imported on first use.

The engine lock, the event NOTIFY/LISTEN and the command relay's wake-ups talk to
PostgreSQL directly; they say ``pg.connect``, ``pg.Error``, ``pg.errors.QueryCanceled``,
and nothing imports the driver until one of them is used. A service on SQLite therefore
never needs it, and ``run.py`` keeps it out of that process altogether (peewee imports it
whenever it is installed; psycopg2-binary brings its own libpq, libssl, libcrypto and
Kerberos, about 6 MiB of RSS): see ``run.keep_postgres_driver_out``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__: list[str] = []

_DRIVER = "psycopg2"


def __getattr__(name: str) -> Any:
    driver = importlib.import_module(_DRIVER)
    importlib.import_module(f"{_DRIVER}.errors")
    importlib.import_module(f"{_DRIVER}.extensions")
    return getattr(driver, name)
