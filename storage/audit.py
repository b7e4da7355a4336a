"""The admins' audit trail (table ``audit_log``): record and read back.

Every admin request, accepted or refused, is one row: when, which action, the result and
HTTP status, a short detail (the refusal's reason), the client address and a fingerprint
of the token sent (``web.admin.fingerprint``; never the token itself).

Unlike the engine's tables, this one is written by the web layer (on a worker thread,
``asyncio.to_thread``): every instance, a standby included, records the requests it
answers, and nothing else ever updates a row. Retention (``storage.retention``, run by
``run.py prune`` and ``RETENTION_DAYS``) deletes old rows by ``at``. The table holds epoch
milliseconds; ``AuditRecord.at`` is epoch seconds like the rest of the Python API, and
``actors.wire.audit_entry`` shapes a record for ``/api/admin/audit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import peewee

from storage.db import retrying, using
from storage.models import AuditEntry, to_ms, to_seconds

__all__ = ["MAX_RECENT", "AuditRecord", "recent", "record"]

#: The most rows ``recent`` returns.
MAX_RECENT: Final = 200
#: Longest stored texts: a hostile client chooses the action and the address headers.
_LIMITS: Final = {"action": 40, "detail": 240, "client": 64}


@dataclass(frozen=True)
class AuditRecord:
    """One admin request as it is stored. ``result`` is ``accepted`` or ``refused``."""

    at: float
    action: str
    result: str
    status: int
    detail: str = ""
    client: str = ""
    token_fingerprint: str | None = None
    #: The row's id, once stored (as ``recent`` reads it back).
    id: int | None = None


def record(db: peewee.Database, entry: AuditRecord) -> int:
    """Store ``entry`` (texts cut to their limits); return its id. Calling thread.

    Raises ``StorageError`` when the database fails after a short retry.
    """
    row = {
        "at": to_ms(entry.at),
        "action": _cut(entry.action, "action"),
        "result": entry.result,
        "status": entry.status,
        "detail": _cut(entry.detail, "detail"),
        "client": _cut(entry.client, "client"),
        "token_fingerprint": entry.token_fingerprint,
    }
    return int(retrying(db, "record audit entry", lambda: AuditEntry.insert(**row).execute()))


def recent(db: peewee.Database, limit: int = 50) -> list[AuditRecord]:
    """The newest ``limit`` entries (at most ``MAX_RECENT``), newest first, with their ids."""
    limit = max(0, min(limit, MAX_RECENT))
    with using(db, "read audit entries"):
        query = AuditEntry.select().order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        return [_record(row) for row in query]


def _record(row: AuditEntry) -> AuditRecord:
    return AuditRecord(
        at=to_seconds(row.at), action=row.action, result=row.result, status=row.status,
        detail=row.detail, client=row.client, token_fingerprint=row.token_fingerprint, id=row.id,
    )


def _cut(text: str, name: str) -> str:
    limit = _LIMITS[name]
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
