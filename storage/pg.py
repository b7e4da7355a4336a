"""psycopg2, imported on first use.

The engine lock, the event NOTIFY/LISTEN and the command relay's wake-ups talk to
PostgreSQL directly; they say ``pg.connect``, ``pg.Error``, ``pg.errors.QueryCanceled``,
and nothing imports the driver until one of them is used. A service on SQLite therefore
never needs it, and ``run.py`` keeps it out of that process altogether (peewee imports it
whenever it is installed; psycopg2-binary brings its own libpq, libssl, libcrypto and
Kerberos, about 6 MiB of RSS): see ``run.keep_postgres_driver_out``.
"""

from __future__ import annotations

from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    import psycopg2  # first use only: this module's attributes are the driver's
    import psycopg2.errors  # noqa: F401  - pg.errors.QueryCanceled

    return getattr(psycopg2, name)
