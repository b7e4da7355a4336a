"""Resilience parts for provider calls: backoff, circuit breaker, rate limiter, key ring.

Each part is a small, thread-safe object. One ``ProviderGateway`` owns one of each per
provider and is shared by all four agent actors, so these objects are called from several
agent threads at once; every method takes the object's lock and never blocks under it.

The retry loop itself lives in ``ProviderChain`` and is written out by hand rather than
with ``tenacity``: every wait must fit the message's deadline, ``Retry-After`` is obeyed
only when it fits, an auth error switches keys instead of retrying, and the sleeps must be
interruptible at shutdown. Expressing that as tenacity stop/wait/retry callbacks would
spread one 30-line loop over five callbacks and hide the deadline arithmetic.
"""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Callable, Sequence

from actors.clock import Clock

__all__ = ["Backoff", "CircuitBreaker", "CircuitState", "KeyRing", "RateLimiter"]


class Backoff:
    """Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**retry))``.

    Full jitter spreads the retries of the four agents that share one provider, so a
    recovering API does not get them all back at the same instant.
    """

    def __init__(
        self, base: float = 0.5, cap: float = 8.0, rand: Callable[[], float] = random.random
    ) -> None:
        self.base = base
        self.cap = cap
        self._rand = rand

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        return self._rand() * min(self.cap, self.base * 2 ** max(retry, 0))


class CircuitState(enum.StrEnum):
    CLOSED = "closed"  # calls flow
    OPEN = "open"  # calls are refused until the cooldown has passed
    HALF_OPEN = "half_open"  # one probe call may go; its result decides


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures -> half-open after
    ``cooldown`` seconds, letting exactly one probe through -> closed on its success, open
    again (for another cooldown) on its failure.

    Callers ask ``allow()`` right before a call and then report ``record_success()`` or
    ``record_failure()``. Thread-safe; called from any agent thread.
    """

    def __init__(self, threshold: int, cooldown: float, clock: Clock) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None  # None while closed
        self._probe_at: float | None = None  # when the half-open probe was handed out

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state(self._clock.now())

    def allow(self) -> bool:
        """True if a call may go now. In half-open, True for exactly one caller (the probe)."""
        with self._lock:
            now = self._clock.now()
            state = self._state(now)
            if state is CircuitState.CLOSED:
                return True
            if state is CircuitState.OPEN:
                return False
            # A probe whose result never came back (its caller died) is given up on after
            # one more cooldown, so the circuit cannot stay wedged half-open.
            if self._probe_at is None or now - self._probe_at >= self.cooldown:
                self._probe_at = now
                return True
            return False

    def record_success(self) -> bool:
        """Count a success; True when it closed an open (or half-open) circuit."""
        with self._lock:
            was_open = self._opened_at is not None
            self._failures = 0
            self._opened_at = None
            self._probe_at = None
            return was_open

    def record_failure(self) -> bool:
        """Count a failure; True when it opened the circuit (from closed or half-open)."""
        with self._lock:
            now = self._clock.now()
            self._failures += 1
            state = self._state(now)
            if state is CircuitState.HALF_OPEN or self._failures >= self.threshold:
                self._opened_at = now
                self._probe_at = None
                return state is not CircuitState.OPEN  # already open: only extended
            return False

    def _state(self, now: float) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if now - self._opened_at < self.cooldown:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN


class RateLimiter:
    """A token bucket holding up to one minute of requests, refilled continuously.

    Thread-safe. ``acquire`` may wait, but never past the deadline it is given, and its
    ``sleep`` is the caller's (an interruptible ``Event.wait``), so shutdown is prompt.
    """

    def __init__(self, requests_per_minute: int, clock: Clock) -> None:
        if requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be at least 1, got {requests_per_minute}")
        self.requests_per_minute = requests_per_minute
        self._clock = clock
        self._capacity = float(requests_per_minute)
        self._rate = requests_per_minute / 60.0  # tokens per second
        self._tokens = self._capacity
        self._updated = clock.now()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take one token if there is one; never waits."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def wait_time(self) -> float:
        """Seconds until a token will be available (0.0 if one is available now)."""
        with self._lock:
            self._refill()
            return max(0.0, (1.0 - self._tokens) / self._rate)

    def acquire(self, deadline: float, sleep: Callable[[float], object]) -> bool:
        """Take a token, waiting with ``sleep(seconds)`` if needed; False (without
        waiting) when no token can be had by ``deadline`` (epoch seconds).

        ``sleep`` returning True means "interrupted" (``Event.wait`` semantics): give up.
        """
        while not self.try_acquire():
            wait = self.wait_time()
            if self._clock.now() + wait > deadline:
                return False
            if sleep(wait) is True:
                return False
        return True

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._updated = now


class KeyRing:
    """Several API keys for one provider, handed out round-robin.

    ``rest(key)`` (after a 401/403) takes a key out for ``rest_seconds``; ``next_key()``
    skips rested keys and returns None when every key rests or there are none.
    Thread-safe. ``repr`` never shows a key.
    """

    def __init__(self, keys: Sequence[str], clock: Clock, rest_seconds: float = 300.0) -> None:
        self._keys = tuple(dict.fromkeys(k for k in keys if k))  # drop blanks and repeats
        self._clock = clock
        self.rest_seconds = rest_seconds
        self._rested_until: dict[str, float] = {}
        self._next = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._keys)} keys, {self.available()} available)"

    def next_key(self) -> str | None:
        with self._lock:
            now = self._clock.now()
            for offset in range(len(self._keys)):
                index = (self._next + offset) % len(self._keys)
                key = self._keys[index]
                if self._rested_until.get(key, 0.0) <= now:
                    self._next = index + 1
                    return key
            return None

    def rest(self, key: str) -> None:
        with self._lock:
            if key in self._keys:
                self._rested_until[key] = self._clock.now() + self.rest_seconds

    def available(self) -> int:
        """How many keys are usable right now."""
        with self._lock:
            now = self._clock.now()
            return sum(1 for k in self._keys if self._rested_until.get(k, 0.0) <= now)

    def redact(self, text: str) -> str:
        """``text`` with every key replaced by ``***`` (belt and braces for log lines)."""
        for key in self._keys:
            text = text.replace(key, "***")
        return text
