"""What a failed provider call means, the same for every provider.

``ErrorKind`` names what happened and carries whether another try may help
(``kind.retryable``) and whether it says the provider is unwell (``kind.unhealthy``,
which counts against its circuit). Its values are stored: ``api_calls.error_class`` holds
the kind's value, or the HTTP status for the three HTTP kinds (``ProviderError.error_class``),
so a kind's value never changes.

``classify_status`` maps an HTTP error status to its kind; ``parse_retry_after`` reads how
long the server asks us to wait. Each provider module applies these first and then its
own exceptions (a spend-limit 429, Gemini's 400 for a bad key, Gemini's ``retryDelay`` in
the body) on top. Pure functions: safe on any thread.
"""

from __future__ import annotations

import enum
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = [
    "AUTH_STATUSES", "HTTP_KINDS", "RETRYABLE_STATUSES", "ErrorKind", "classify_status",
    "parse_retry_after", "safe_label",
]

#: The key is wrong or not allowed: rest it, asking again will not help.
AUTH_STATUSES: Final = frozenset({401, 403})
#: Timeout, conflict, rate limit: a later try may pass. Every 5xx is retryable too.
RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})


class ErrorKind(enum.StrEnum):
    """What went wrong in one call; ``retryable`` and ``unhealthy`` follow from it."""

    HTTP = "http"  # an HTTP error status a retry will not fix (400, 404, 413, 422, none)
    UNAVAILABLE = "unavailable"  # 408, 409, 429 or any 5xx (529 too): busy or unwell
    SPEND_LIMIT = "spend_limit"  # a 429 (or 402) that means out of credit
    AUTH = "auth"  # 401/403 or no key: the key is rested
    TIMEOUT = "timeout"  # no (whole) answer in time
    TOO_LARGE = "too_large"  # the answer passed the size cap and was cut off
    CONNECTION = "connection"  # could not connect
    MALFORMED = "malformed"  # the answer could not be parsed
    EMPTY = "empty"  # the answer held no text
    FAILED = "failed"  # the API reported a failed run
    BLOCKED = "blocked"  # the model refused (safety)
    QUALITY = "quality"  # our quality gate refused the reply
    MODERATION = "moderation"  # our moderation gate flagged the reply
    MODERATION_UNAVAILABLE = "moderation_unavailable"  # it could not review it in time
    INTERNAL = "internal"  # a provider module raised something else (a bug)

    @property
    def retryable(self) -> bool:
        """Whether the same provider may be asked again for this message."""
        return self in _RETRYABLE

    @property
    def unhealthy(self) -> bool:
        """Whether it counts against the provider's circuit (a 400, an auth error or a
        refusal came from a working API: a sign of life)."""
        return self in _RETRYABLE or self in _REFUSED_REPLIES

    @property
    def outcome(self) -> str:
        """The ``outcome`` label of ``roundtable_provider_calls_total``: the three HTTP
        kinds stay one ``http`` there, as before they were told apart."""
        return "http" if self in HTTP_KINDS else self.value


_RETRYABLE: Final = frozenset({
    ErrorKind.UNAVAILABLE, ErrorKind.TIMEOUT, ErrorKind.TOO_LARGE, ErrorKind.CONNECTION,
    ErrorKind.MALFORMED, ErrorKind.EMPTY, ErrorKind.FAILED, ErrorKind.QUALITY,
})
#: Replies we refuse say the provider is unwell even if they are not retried.
_REFUSED_REPLIES: Final = frozenset({ErrorKind.QUALITY, ErrorKind.TOO_LARGE, ErrorKind.MODERATION})
#: Kinds whose ``error_class`` is the HTTP status (when there is one), else "http".
HTTP_KINDS: Final = frozenset({ErrorKind.HTTP, ErrorKind.UNAVAILABLE, ErrorKind.SPEND_LIMIT})


_SAFE_CODE: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def safe_label(code: str, api_key: str) -> str:
    """An API's error code, fit for a log line: "" when it looks odd or holds the key."""
    return code if _SAFE_CODE.match(code) and api_key not in code else ""


def classify_status(status: int | None) -> ErrorKind:
    """The kind of an HTTP error status.

    401/403 give ``AUTH``; 408, 409, 429 and every 5xx (Anthropic's 529 too) give
    ``UNAVAILABLE``; any other status (400, 404, 413, 422, ...) or none at all gives
    ``HTTP``. A 429 that means "out of money" is the caller's to make ``SPEND_LIMIT``:
    only the provider knows how its body says so.
    """
    if status in AUTH_STATUSES:
        return ErrorKind.AUTH
    if status is not None and (status in RETRYABLE_STATUSES or status >= 500):
        return ErrorKind.UNAVAILABLE
    return ErrorKind.HTTP


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
