"""Per-address limits of the public edge: token buckets and WebSocket admission.

Everything here lives on the event loop (no locks) and takes its clock from the caller,
so tests drive it. Memory is bounded however many addresses come: a full bucket is the
same as no bucket, so idle ones are forgotten first, then the oldest.

Addresses are grouped by ``address_key``: an IPv6 client usually owns a whole /64, and
limits per single IPv6 address would be no limits at all.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from quart import current_app

from settings import Settings
from web.forwarded import parse_address

__all__ = ["Admission", "CoalescedLog", "EdgeLimits", "KeyedBuckets", "address_key", "retry_after"]

log = logging.getLogger("roundtable.edge")
_EXTENSION: Final = "roundtable.edge_limits"
#: A refused address is logged at most once per this many seconds.
LOG_EVERY: Final = 10.0

#: Addresses remembered at most per limit (a few dozen bytes each).
MAX_KEYS: Final = 65_536

TOO_MANY_OPEN: Final = "too many connections from your address"
TOO_MANY_NEW: Final = "too many new connections from your address; wait a minute"
SERVER_FULL: Final = "the server is full; try again later"


@functools.lru_cache(maxsize=4096)  # parsed on every request; a few thousand clients at a time
def address_key(address: str) -> str:
    """The key limits count ``address`` under: itself, or its /64 for IPv6."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address


@dataclass
class _Bucket:
    tokens: float
    at: float


class KeyedBuckets:
    """A token bucket per key: ``rate`` tokens a second, up to ``burst``."""

    def __init__(self, rate: float, burst: float, monotonic: Callable[[], float],
                 max_keys: int = MAX_KEYS) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._now = monotonic
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float | None:
        """Spend one token of ``key``: None when there was one, else the seconds until
        there will be (the caller refuses the request)."""
        now = self._now()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self._max_keys:
            return
        refill = self.burst / self.rate
        for key, bucket in list(self._buckets.items()):
            if now - bucket.at >= refill:  # full again: the same as forgotten
                del self._buckets[key]
        while len(self._buckets) >= self._max_keys:  # all busy: forget the oldest
            del self._buckets[next(iter(self._buckets))]


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


class Admission:
    """WebSocket admission: open connections per address and in total, and new
    connections per address per minute. On the event loop only."""

    def __init__(self, total: int, per_address: int, new_per_minute: int,
                 monotonic: Callable[[], float]) -> None:
        self.total = total
        self.per_address = per_address
        self._new = KeyedBuckets(new_per_minute / 60.0, new_per_minute, monotonic)
        self._open: dict[str, int] = {}
        self.open_total = 0

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address``; None when admitted (call ``release``
        when it ends), else why it is refused (then nothing is counted)."""
        key = address_key(address)
        if self.open_total >= self.total:
            return SERVER_FULL
        if self._open.get(key, 0) >= self.per_address:
            return TOO_MANY_OPEN
        if self._new.take(key) is not None:
            return TOO_MANY_NEW
        self._open[key] = self._open.get(key, 0) + 1
        self.open_total += 1
        return None

    def release(self, address: str) -> None:
        key = address_key(address)
        left = self._open.get(key, 0) - 1
        if left > 0:
            self._open[key] = left
        else:
            self._open.pop(key, None)
        self.open_total = max(0, self.open_total - 1)


class CoalescedLog:
    """At most one warning per ``every`` seconds per key, counting what it stood for, so
    a flood from one address costs a line now and then, not a line per attempt."""

    def __init__(self, logger: logging.Logger, every: float, monotonic: Callable[[], float]) -> None:
        self._log = logger
        self._every = every
        self._now = monotonic
        self._seen: dict[str, tuple[int, float]] = {}  # key -> (unlogged, logged at)

    def note(self, key: str, message: str) -> None:
        """Count one event of ``key``; log ``message`` when the last line for ``key`` is
        ``every`` seconds old, saying how many events it stands for."""
        now = self._now()
        if key not in self._seen and len(self._seen) >= MAX_KEYS:
            self._seen = {k: v for k, v in self._seen.items() if now - v[1] < self._every}
            if len(self._seen) >= MAX_KEYS:  # a flood from everywhere: stay bounded, stay quiet
                return
        unlogged, logged_at = self._seen.get(key, (0, -math.inf))
        unlogged += 1
        if now - logged_at >= self._every:
            times = f" (x{unlogged} since the last line)" if unlogged > 1 else ""
            self._log.warning("%s%s", message, times)
            unlogged, logged_at = 0, now
        self._seen[key] = (unlogged, logged_at)


class EdgeLimits:
    """The limits of one web server, from the settings; one per app (``install``)."""

    def __init__(self, settings: Settings, monotonic: Callable[[], float]) -> None:
        rate = settings.api_requests_per_ip_per_second
        self.admission = Admission(settings.max_connections, settings.max_connections_per_ip,
                                   settings.max_new_connections_per_ip_per_minute, monotonic)
        self.api = KeyedBuckets(rate, rate, monotonic)
        self.refusals = CoalescedLog(log, LOG_EVERY, monotonic)
        self.stall_seconds = settings.ws_stall_seconds

    def install(self, extensions: dict[str, Any]) -> None:
        extensions[_EXTENSION] = self

    @staticmethod
    def current() -> EdgeLimits:
        limits: EdgeLimits = current_app.extensions[_EXTENSION]
        return limits
