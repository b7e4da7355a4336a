"""The engine lock's libpq URL: pool parameters dropped, safety defaults added."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from storage.leader import libpq_url


def test_libpq_url_drops_peewee_pool_parameters_and_adds_keepalives() -> None:
    url = libpq_url("postgresql+pool://u:p@db.example:5433/rt?max_connections=20&stale_timeout=300")
    parts = urlsplit(url)
    assert parts.scheme == "postgresql" and parts.netloc == "u:p@db.example:5433" and parts.path == "/rt"
    query = parse_qs(parts.query)
    assert "max_connections" not in query and "stale_timeout" not in query
    assert query["keepalives"] == ["1"] and query["connect_timeout"] == ["5"]
    assert "%20" in parts.query and "+" not in parts.query  # libpq does not decode "+"


def test_libpq_url_keeps_what_the_operator_set() -> None:
    query = parse_qs(urlsplit(libpq_url("postgresql://h/rt?connect_timeout=30")).query)
    assert query["connect_timeout"] == ["30"]


@pytest.mark.postgres
def test_the_server_side_keepalives_are_accepted_by_postgresql(postgres_server_url: str) -> None:
    import psycopg2

    from storage.leader import EngineLock

    lock = EngineLock(postgres_server_url, key=4242)
    try:
        assert lock.try_acquire() and lock.still_held()
        with psycopg2.connect(libpq_url(postgres_server_url)) as conn, conn.cursor() as cursor:
            cursor.execute("SHOW tcp_keepalives_idle")
            assert cursor.fetchone()[0] == "10"
            cursor.execute("SELECT pg_try_advisory_lock(4242)")
            assert cursor.fetchone()[0] is False  # held by the other session
        conn.close()
    finally:
        lock.release()
