"""The engine lock's libpq URL: pool parameters dropped, safety defaults added."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

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
