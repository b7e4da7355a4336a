"""What an HTTP error answer means, the same for every provider.

``classify_status`` holds the ``http`` and ``auth`` rows of the table in
``actors.providers.base``; ``parse_retry_after`` reads how long the server asks us to
wait. Each provider module applies these first and then its own exceptions (a spend-limit
429, Gemini's 400 for a bad key, Gemini's ``retryDelay`` in the body) on top.
Pure functions: safe on any thread.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["AUTH_STATUSES", "RETRYABLE_STATUSES", "classify_status", "parse_retry_after", "safe_label"]

#: The key is wrong or not allowed: rest it, asking again will not help.
AUTH_STATUSES: Final = frozenset({401, 403})
#: Timeout, conflict, rate limit: a later try may pass. Every 5xx is retryable too.
RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})


_SAFE_CODE: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def safe_label(code: str, api_key: str) -> str:
    """An API's error code, fit for a log line: "" when it looks odd or holds the key."""
    return code if _SAFE_CODE.match(code) and api_key not in code else ""


def classify_status(status: int | None) -> tuple[str, bool]:
    """``(kind, retryable)`` for an HTTP error status.

    401/403 give ``("auth", False)``; 408, 409, 429 and every 5xx (Anthropic's 529 too)
    give ``("http", True)``; any other status (400, 404, 413, 422, ...) or none at all
    gives ``("http", False)``. A 429 that means "out of money" is the caller's to mark
    not retryable: only the provider knows how its body says so.
    """
    if status in AUTH_STATUSES:
        return "auth", False
    if status is None:
        return "http", False
    return "http", status in RETRYABLE_STATUSES or status >= 500


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait before the next try, as the answer's headers ask; ``None`` if they don't.

    ``retry-after-ms`` (sent by OpenAI and Anthropic) wins over ``Retry-After``, which is
    delta-seconds or an HTTP date counted from ``now`` (epoch seconds; the wall clock when
    omitted). Never negative; a value that is unparseable or not finite counts as absent.
    ``headers`` must find names case-insensitively (``httpx2.Headers`` does) or hold them in
    lower case.
    """
    raw = headers.get("retry-after")
    for value, scale in ((headers.get("retry-after-ms"), 0.001), (raw, 1.0)):
        seconds = _finite(value)
        if seconds is not None:
            return max(0.0, seconds * scale)
    return _seconds_until(raw, time.time() if now is None else now)


def _finite(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _seconds_until(http_date: str | None, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(http_date or "")
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, though the date does not say so
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
