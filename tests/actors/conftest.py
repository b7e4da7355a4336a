"""Actor tests: the database fixtures (real SQLite file and real PostgreSQL)."""

from __future__ import annotations

from tests.db_fixtures import database_url, db, postgres_server_url  # noqa: F401
