from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import peewee
import pytest
from playhouse.pool import PooledPostgresqlDatabase

from storage import StorageError, connect, retrying, setup_database, using
from storage.db import close_database
from storage.models import MODELS, Conversation, ConversationStatus, Message, SchemaVersion


def table_indexes(db: peewee.Database, table: str) -> set[tuple[tuple[str, ...], bool]]:
    with using(db):
        return {(tuple(index.columns), index.unique) for index in db.get_indexes(table)}


def test_sqlite_gets_its_directory_and_pragmas(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'nested' / 'data' / 'r.db'}")
    assert (tmp_path / "nested" / "data").is_dir()
    with using(db):
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000
    # SQLite keeps the thread's connection: opening one re-reads the schema every time.
    assert not db.is_closed()
    close_database(db)
    assert db.is_closed()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("postgres://u@127.0.0.1:1/x", PooledPostgresqlDatabase),
        ("postgresql://u@127.0.0.1:1/x", PooledPostgresqlDatabase),
        ("postgres+pool://u@127.0.0.1:1/x", PooledPostgresqlDatabase),
        ("postgresql+pool://u@127.0.0.1:1/x?max_connections=5", PooledPostgresqlDatabase),
    ],
)
def test_postgres_urls_are_accepted_without_connecting(url: str, kind: type) -> None:
    db = connect(url)
    assert isinstance(db, kind)
    assert db.is_closed()


@pytest.mark.parametrize("url", ["postgres://u@127.0.0.1:1/x", "postgresql://u@127.0.0.1:1/x"])
def test_postgres_is_pooled_by_default_and_the_urls_pool_options_win(url: str) -> None:
    db = connect(url)
    assert isinstance(db, PooledPostgresqlDatabase)
    assert db._max_connections == 32
    custom = connect(url.replace("+pool", "") + "?max_connections=5")
    assert isinstance(custom, PooledPostgresqlDatabase) and custom._max_connections == 5


@pytest.mark.parametrize("url", ["mysql://u@h/x", "data/roundtable.db", "postgresql://h"])
def test_unusable_urls_raise_storage_error(url: str) -> None:
    with pytest.raises(StorageError):
        connect(url)


def test_unreachable_postgres_is_a_transient_storage_error() -> None:
    db = connect("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(StorageError) as caught:
        with using(db):
            pass
    assert caught.value.transient
    assert isinstance(caught.value.__cause__, peewee.OperationalError)


def test_setup_creates_tables_and_indexes(db: peewee.Database) -> None:
    setup_database(db)
    with using(db):
        assert set(db.get_tables()) >= {"conversations", "messages", "system_status", "api_calls"}
    assert (("conversation_id", "seq"), True) in table_indexes(db, "messages")
    assert {(("started_at",), False), (("status",), False)} <= table_indexes(db, "conversations")
    assert {(("at",), False), (("provider", "at"), False)} <= table_indexes(db, "api_calls")


def test_setup_is_idempotent_across_calls_and_database_objects(database_url: str) -> None:
    first, second = connect(database_url), connect(database_url)
    setup_database(first)
    with using(first):
        Conversation.create(topic="kept", status=ConversationStatus.ACTIVE.value)
    setup_database(first)
    setup_database(second)
    with using(second):
        assert [c.topic for c in Conversation.select()] == ["kept"]


@pytest.mark.postgres
def test_parallel_setup_on_postgres_does_not_fail(postgres_server_url: str) -> None:
    cleanup = connect(postgres_server_url)
    with using(cleanup):
        cleanup.drop_tables([*MODELS, SchemaVersion], safe=True, cascade=True)
    cleanup.close()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def race() -> None:
        db = connect(postgres_server_url)
        try:
            barrier.wait(timeout=10)
            setup_database(db)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=race) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    db = connect(postgres_server_url)
    with using(db):
        assert set(db.get_tables()) >= {"conversations", "messages", "system_status", "api_calls"}
    db.close()


def test_two_databases_in_two_threads_stay_apart(database_url: str, tmp_path: Path) -> None:
    """The thread-bound proxy: each thread's models use the database it bound."""
    databases = {"one": connect(database_url), "two": connect(f"sqlite:///{tmp_path}/two.db")}
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def work(name: str) -> None:
        db = databases[name]
        setup_database(db)
        with using(db):
            barrier.wait(timeout=10)  # both threads are bound at the same time
            for i in range(20):
                Conversation.create(topic=f"{name}-{i}", status="active")
            barrier.wait(timeout=10)
            seen[name] = sorted({c.topic.split("-")[0] for c in Conversation.select()})

    threads = [threading.Thread(target=work, args=(name,)) for name in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert seen == {"one": ["one"], "two": ["two"]}


def test_constraint_violations_become_storage_errors(db: peewee.Database) -> None:
    setup_database(db)
    with pytest.raises(StorageError) as caught:
        with using(db, "insert orphan"):
            Message.insert(
                conversation=999, seq=1, agent="a", persona="p", provider="a", model="m",
                source="api", content="x", planned_at=0, revealed_at=0,
            ).execute()  # fmt: skip
    assert "insert orphan failed" in str(caught.value)
    assert isinstance(caught.value.__cause__, peewee.IntegrityError)
    assert not caught.value.transient
    with pytest.raises(StorageError):
        with using(db):
            Conversation.create(topic="t", status="bogus")  # CHECK constraint


def test_retrying_repeats_transient_failures_only(db: peewee.Database) -> None:
    attempts: list[int] = []

    def locked_once() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise peewee.OperationalError(sqlite3.OperationalError("database is locked"))
        return "done"

    assert retrying(db, "locked", locked_once, delay=0.001) == "done"
    assert len(attempts) == 2

    def broken() -> None:
        attempts.append(1)
        raise peewee.ProgrammingError(sqlite3.ProgrammingError("no such table: nope"))

    attempts.clear()
    with pytest.raises(StorageError):
        retrying(db, "broken", broken, delay=0.001)
    assert len(attempts) == 1


@pytest.mark.postgres
def test_pooled_postgres_serves_several_threads(scratch_postgres_url: str) -> None:
    # A database of its own: the session's may hold other tests' rounds.
    db = connect(scratch_postgres_url.replace("postgresql://", "postgresql+pool://", 1))
    assert isinstance(db, PooledPostgresqlDatabase)
    setup_database(db)
    counts: list[int] = []

    def read() -> None:
        with using(db):
            counts.append(Conversation.select().count())

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert counts == [0, 0, 0, 0]
    db.close_all()


def test_setup_refreshes_sqlites_planner_statistics(tmp_path: Path) -> None:
    # Without statistics SQLite scanned every api_calls row for today's totals at each
    # start (65 ms at 1.6 million rows); setup_database runs a sampled ANALYZE.
    db = connect(f"sqlite:///{tmp_path / 'r.db'}")
    setup_database(db)
    with using(db):
        db.execute_sql(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000) "
            "INSERT INTO api_calls (provider, model, ok, latency_ms, prompt_tokens, completion_tokens, "
            "cost_usd, at) SELECT 'openai', 'm', 1, 1, 1, 1, 0.0, i * 1000 FROM c"
        )
        db.execute_sql("DROP TABLE IF EXISTS sqlite_stat1")
    setup_database(db)
    with using(db):
        tables = {row[0] for row in db.execute_sql("SELECT tbl FROM sqlite_stat1").fetchall()}
    close_database(db)
    assert "api_calls" in tables


def test_a_start_on_an_up_to_date_sqlite_database_checks_no_foreign_keys(tmp_path: Path) -> None:
    # PRAGMA foreign_key_check reads the whole database: 225 ms at 100,000 rounds, at
    # every start (bench/history.py). It guards migrations, so it runs only after one.
    db = connect(f"sqlite:///{tmp_path / 'r.db'}")
    setup_database(db)
    statements: list[str] = []
    with using(db):
        db.connection().set_trace_callback(statements.append)
    setup_database(db)
    with using(db):
        db.connection().set_trace_callback(None)
    close_database(db)
    assert statements and not [s for s in statements if "foreign_key_check" in s]


def analyzed_rows(db: peewee.Database, table: str) -> int:
    """The row count the planner's statistics hold for ``table`` (from its last ANALYZE)."""
    with using(db):
        if isinstance(db, peewee.SqliteDatabase):
            stats = db.execute_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = ?", (table,)).fetchall()
            return int(stats[0][0].split()[0]) if stats else 0
        return int(db.execute_sql("SELECT reltuples FROM pg_class WHERE relname = %s", (table,)).fetchone()[0])


def add_calls(db: peewee.Database, count: int) -> None:
    columns = "provider, model, ok, latency_ms, prompt_tokens, completion_tokens, cost_usd, at"
    with using(db):
        if isinstance(db, peewee.SqliteDatabase):
            db.execute_sql(
                f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {count}) "
                f"INSERT INTO api_calls ({columns}) SELECT 'openai', 'm', 1, 1, 1, 1, 0.0, i * 1000 FROM c"
            )
        else:
            db.execute_sql(
                f"INSERT INTO api_calls ({columns}) SELECT 'openai', 'm', true, 1, 1, 1, 0.0, i * 1000 "
                f"FROM generate_series(1, {count}) AS i"
            )


def test_start_up_analyzes_what_outgrew_its_statistics_only(db: peewee.Database) -> None:
    # PostgreSQL's ANALYZE took 2-3 s at 100,000 rounds at every start (bench/history.py);
    # it now runs only on tables grown by a fifth since their last one. SQLite's sampled
    # ANALYZE is cheap (1-20 ms) and runs at every start.
    setup_database(db)
    add_calls(db, 2000)  # a bulk import
    setup_database(db)
    if isinstance(db, peewee.SqliteDatabase):  # sampled: an estimate
        assert analyzed_rows(db, "api_calls") > 1000
        return
    assert analyzed_rows(db, "api_calls") == 2000
    add_calls(db, 10)  # a few rounds since: the statistics are still good
    setup_database(db)
    assert analyzed_rows(db, "api_calls") == 2000  # not analyzed again
