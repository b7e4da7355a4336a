"""The HTTP error rules every provider shares: status classes and Retry-After."""

from __future__ import annotations

import httpx2
import pytest

from actors.providers.errors import ErrorKind, classify_status, parse_retry_after

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
IN_30_S = "Thu, 01 Jan 2026 00:00:30 GMT"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_statuses_rest_the_key(status: int) -> None:
    assert classify_status(status) is ErrorKind.AUTH and not ErrorKind.AUTH.retryable


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retryable(status: int) -> None:
    assert classify_status(status) is ErrorKind.UNAVAILABLE and ErrorKind.UNAVAILABLE.retryable


@pytest.mark.parametrize("status", [400, 404, 405, 413, 422, None])
def test_request_errors_and_no_status_are_not_retryable(status: int | None) -> None:
    assert classify_status(status) is ErrorKind.HTTP and not ErrorKind.HTTP.retryable


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "7"}) == 0.25


def test_unreadable_retry_after_ms_falls_back_to_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "7"}) == 7.0


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    assert parse_retry_after({"retry-after": IN_30_S}, now=NOW) == 30.0


def test_an_http_date_without_a_zone_is_utc() -> None:
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 00:00:30 -0000"}, now=NOW) == 30.0


def test_an_http_date_uses_the_wall_clock_by_default() -> None:
    wait = parse_retry_after({"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert wait is not None and wait > 0


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "-3"}, {"retry-after-ms": "-3"}, {"retry-after": "Thu, 01 Jan 2015 00:00:00 GMT"}],
)
def test_a_wait_is_never_negative(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers, now=NOW) == 0.0


@pytest.mark.parametrize(
    "headers",
    [{}, {"retry-after": ""}, {"retry-after": "soon"}, {"retry-after": "nan"},
     {"retry-after": "inf"}, {"retry-after-ms": "inf"}],
)
def test_absent_or_unreadable_is_none(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers, now=NOW) is None


def test_header_names_are_found_whatever_their_case_in_httpx_headers() -> None:
    headers = httpx2.Headers({"Retry-After-Ms": "1500", "Retry-After": "9"})
    assert parse_retry_after(headers) == 1.5
