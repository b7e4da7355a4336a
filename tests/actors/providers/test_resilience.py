"""Backoff, circuit breaker, rate limiter and key ring, on an injected clock."""

from __future__ import annotations

import threading

import pytest

from actors.providers.resilience import Backoff, CircuitBreaker, CircuitState, KeyRing, RateLimiter


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# -- Backoff -------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rand=lambda: 1.0)
    assert [backoff.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_full_jitter_scales_the_ceiling() -> None:
    assert Backoff(rand=lambda: 0.0).delay(3) == 0.0
    assert Backoff(rand=lambda: 0.25).delay(2) == pytest.approx(0.5)


# -- CircuitBreaker --------------------------------------------------------------------


def test_circuit_opens_after_threshold_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=60.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the count: failures must be consecutive
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()


def test_half_open_allows_exactly_one_probe_then_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=60.0, clock=clock)
    breaker.record_failure()
    clock.advance(59.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # the probe is in flight
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_failed_probe_opens_the_circuit_for_another_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=10.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(10.0)
    assert breaker.allow()
    breaker.record_failure()  # one failure in half-open is enough
    assert breaker.state is CircuitState.OPEN
    clock.advance(9.0)
    assert not breaker.allow()
    clock.advance(1.0)
    assert breaker.allow()


def test_lost_probe_is_given_up_after_a_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=10.0, clock=clock)
    breaker.record_failure()
    clock.advance(10.0)
    assert breaker.allow()
    clock.advance(10.0)  # its caller never reported back
    assert breaker.allow()


def test_half_open_probe_is_granted_once_across_threads() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=1.0, clock=clock)
    breaker.record_failure()
    clock.advance(1.0)
    start = threading.Barrier(8)
    granted: list[bool] = []
    lock = threading.Lock()

    def probe() -> None:
        start.wait()
        allowed = breaker.allow()
        with lock:
            granted.append(allowed)

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(granted) == [False] * 7 + [True]


def test_circuit_state_is_a_str_enum() -> None:
    assert str(CircuitState.HALF_OPEN) == "half_open"


# -- RateLimiter -------------------------------------------------------------------------


def test_rate_limiter_blocks_beyond_rpm_and_refills() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=2, clock=clock)
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire()
    assert limiter.wait_time() == pytest.approx(30.0)
    clock.advance(29.0)
    assert not limiter.try_acquire()
    clock.advance(1.0)
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_rate_limiter_never_waits_past_the_deadline() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=1, clock=clock)
    assert limiter.try_acquire()
    slept: list[float] = []

    def sleep(seconds: float) -> bool:
        slept.append(seconds)
        clock.advance(seconds)
        return False

    assert not limiter.acquire(clock.now() + 59.0, sleep)
    assert slept == []  # refused at once: the token comes after the deadline
    assert limiter.acquire(clock.now() + 61.0, sleep)
    assert slept == [pytest.approx(60.0)]


def test_rate_limiter_acquire_stops_when_the_wait_is_interrupted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=1, clock=clock)
    limiter.try_acquire()
    assert not limiter.acquire(clock.now() + 120.0, lambda seconds: True)


# -- KeyRing -----------------------------------------------------------------------------


def test_key_ring_rotates_round_robin() -> None:
    ring = KeyRing(["k1", "k2", "k3"], FakeClock())
    assert [ring.next_key() for _ in range(4)] == ["k1", "k2", "k3", "k1"]


def test_rested_key_is_skipped_until_its_rest_is_over() -> None:
    clock = FakeClock()
    ring = KeyRing(["k1", "k2"], clock, rest_seconds=300.0)
    ring.rest("k1")
    assert [ring.next_key() for _ in range(3)] == ["k2", "k2", "k2"]
    ring.rest("k2")
    assert ring.next_key() is None and ring.available() == 0
    clock.advance(300.0)
    assert ring.available() == 2
    assert ring.next_key() in {"k1", "k2"}


def test_key_ring_without_keys_gives_none_and_never_shows_a_key() -> None:
    assert KeyRing([], FakeClock()).next_key() is None
    ring = KeyRing(["sk-secret-1", "", "sk-secret-1"], FakeClock())
    assert len(ring) == 1
    assert "sk-secret" not in repr(ring)
    assert ring.redact("bad key sk-secret-1") == "bad key ***"
