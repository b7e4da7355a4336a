"""The headers every answer carries: security headers, and CORS for embedding sites.

One builder for both ways an answer leaves: Quart's ``after_request`` hook (``web.app``)
and the answers sent from memory before Quart (``web.fastpath``), so they cannot drift.
"""

from __future__ import annotations

from typing import Final

from web.context import Context
from web.tls import HSTS

__all__ = ["ADMIN_PATHS", "cors_headers", "security_headers"]

#: Never shared with embedding sites: the admin page and its API.
ADMIN_PATHS: Final = ("/control", "/api/admin")


def security_headers(context: Context, *, html: bool, host: str, scheme: str) -> list[tuple[str, str]]:
    """What every answer carries; an HTML page also its CSP (for ``scheme://host``) and
    may not be framed by other sites."""
    headers = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "strict-origin-when-cross-origin")]
    if context.settings.tls:  # only over https: browsers ignore HSTS on plain http anyway
        headers.append(("Strict-Transport-Security", HSTS))
    if html:
        headers.append(("Content-Security-Policy", context.content_security_policy(host, scheme)))
        headers.append(("X-Frame-Options", "SAMEORIGIN"))
    return headers


def cors_headers(context: Context, origin: str | None, path: str) -> list[tuple[str, str]]:
    """An allowed embedding site may read the answer (never the admin's)."""
    if origin and context.embedding_allowed(origin) and not path.startswith(ADMIN_PATHS):
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    return []
