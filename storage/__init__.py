"""Storage: peewee models, the connection (``DATABASE_URL``), schema setup, reads, export.

The write side lives in ``actors.persistence`` (the only writer); ``storage.queries`` is
the read side used by the web layer. Every error leaving the package is a ``StorageError``.
"""

from __future__ import annotations

from storage.db import connect, retrying, setup_database, using
from storage.errors import StorageError

__all__ = ["StorageError", "connect", "retrying", "setup_database", "using"]
