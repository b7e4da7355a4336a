"""Storage tests run on a real SQLite file and on the real PostgreSQL server."""

from __future__ import annotations

from tests.db_fixtures import (  # noqa: F401
    database_url,
    db,
    postgres_server_url,
    scratch_postgres_url,
)
