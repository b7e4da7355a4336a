"""Recording admin requests in the audit trail (``storage.audit``), from the web layer.

``await record(action, answer)`` is called by every admin route after it has answered:
it stores the time, the action, accepted or refused, the status, the refusal's reason,
the client address and ``fingerprint(token)``. A 429 (the wrong-token throttle) is not
stored: it answers a flood, and one row per request would let a guessing script fill the
table at request speed; the refusals before it are stored, and the throttle logs counts.

Recording never changes the answer: a database that fails or is slow costs one log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Final

from quart import Response, request

from actors.errors import RoundtableError
from storage import audit
from web.context import Context

__all__ = ["FINGERPRINT_HEX", "bearer_token", "fingerprint", "record"]

log = logging.getLogger("roundtable.audit")

#: Hex digits of SHA-256 kept: enough to tell tokens apart, useless for guessing one.
FINGERPRINT_HEX: Final = 8
THROTTLED: Final = 429


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def fingerprint(token: str | None) -> str | None:
    """The first ``FINGERPRINT_HEX`` hex digits of the token's SHA-256; None for no token."""
    if token is None:
        return None
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:FINGERPRINT_HEX]


async def record(action: str, answer: tuple[Response, int], *, note: str = "") -> None:
    """Store the current request and its ``answer`` (response, status). Event loop.

    ``note`` replaces the detail of an accepted request (what a queue_topic queued).
    """
    response, status = answer
    if status == THROTTLED:
        return
    context = Context.current()
    entry = audit.AuditRecord(
        at=context.system.clock.now(),
        action=action,
        result="accepted" if status < 400 else "refused",
        status=status,
        detail=note if note and status < 400 else await _detail(response, status),
        client=request.remote_addr or "unknown",
        token_fingerprint=fingerprint(bearer_token(request.headers.get("Authorization", ""))),
    )
    try:
        await context.call(audit.record, context.system.db, entry)
    except RoundtableError as exc:  # the database or the wait for it failed
        log.warning("could not record the admin action %r from %s in the audit trail: %s",
                    entry.action, entry.client, exc)


async def _detail(response: Response, status: int) -> str:
    """The refusal's reason (the JSON ``error``), or the state after an accepted command."""
    try:
        body: Any = json.loads(await response.get_data(as_text=True))
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    if status >= 400:
        return str(body.get("error", ""))
    return f"state {body['state']}" if isinstance(body.get("state"), str) else ""
