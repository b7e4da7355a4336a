"""The storage error tree, and the one place where driver errors are translated.

::

    StorageError(message, transient=False, connection_lost=False)
                       an ``actors.errors.Unavailable``: 503 storage_unavailable
                       with ``Retry-After``; clients get a generic message, never the
                       driver's text
      transient        another attempt may succeed: SQLite "database is locked/busy",
                       PostgreSQL serialization failure (40001), deadlock (40P01),
                       lock timeout (55P03), or a lost connection
      connection_lost  the connection is unusable; close it before trying again

Every ``peewee.PeeweeException`` that leaves the ``storage`` package (or
``actors.persistence``) has become a ``StorageError`` with the original chained as
``__cause__`` (``raise StorageError(...) from exc``).
"""

from __future__ import annotations

from typing import ClassVar

import peewee

from actors.errors import Unavailable

__all__ = ["StorageError", "translate"]

#: PostgreSQL SQLSTATEs worth a retry: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_PGCODES = frozenset({"40001", "40P01", "55P03"})
_SQLITE_BUSY_WORDS = ("database is locked", "database is busy", "database table is locked")


class StorageError(Unavailable):
    """A database operation failed. ``str(error)`` never contains a password, but may
    name hosts and files: clients are told ``public_message`` only."""

    code = "storage_unavailable"
    public_message: ClassVar[str | None] = "the database is unavailable; try again shortly"
    retry_after: int | None = 5

    def __init__(self, message: str, *, transient: bool = False, connection_lost: bool = False):
        super().__init__(message)
        self.transient = transient or connection_lost
        self.connection_lost = connection_lost


def translate(exc: peewee.PeeweeException, action: str) -> StorageError:
    """Map a peewee (or wrapped driver) error to a ``StorageError``; the caller chains it."""
    original = _driver_error(exc)
    pgcode = getattr(original, "pgcode", None)
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
    lost = _connection_lost(exc, original)
    transient = lost or pgcode in _RETRYABLE_PGCODES or _sqlite_busy(exc, text)
    return StorageError(f"{action} failed: {text}", transient=transient, connection_lost=lost)


def _driver_error(exc: BaseException) -> BaseException:
    """peewee wraps a DB-API error as ``NewType(original, *original.args)`` and keeps the
    original as ``.orig``."""
    original = getattr(exc, "orig", None)
    if isinstance(original, BaseException):
        return original
    return exc.__context__ or exc


def _connection_lost(exc: peewee.PeeweeException, original: BaseException) -> bool:
    # psycopg2 raises InterfaceError ("connection already closed") or an OperationalError
    # without a SQLSTATE ("server closed the connection unexpectedly") when the link is gone.
    module = type(original).__module__
    if not module.startswith("psycopg2"):
        return False
    if isinstance(exc, peewee.InterfaceError):
        return True
    return isinstance(exc, peewee.OperationalError) and getattr(original, "pgcode", None) is None


def _sqlite_busy(exc: peewee.PeeweeException, text: str) -> bool:
    return isinstance(exc, peewee.OperationalError) and any(
        word in text.lower() for word in _SQLITE_BUSY_WORDS
    )
