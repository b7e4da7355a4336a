"""History at scale: the read queries and the start-up path on 100,000 rounds, SQLite and
PostgreSQL.

For each backend, a fresh database (a temp SQLite file; a scratch database on the shared
PostgreSQL at 127.0.0.1:5432, created here and DROPPED at the end) gets the real schema
(``storage.db.setup_database``), then ``--rounds`` complete rounds, one every 30 minutes
back from now, each with 16 messages and 16 ``api_calls`` rows, inserted in bulk with one
SQL statement per table (a recursive CTE on SQLite, ``generate_series`` on PostgreSQL).
Then, with ``storage.queries`` through ``storage.db.connect`` as the service uses them,
``--samples`` timings each, or as many as fit in 10 s (p50 / p99, ms):

- the pages: ``list_conversations`` (first page, and a page deep in the past),
  ``get_conversation`` (newest, random);
- the start-up path (what ``create_system`` and the supervisor read before the first
  round): ``last_completed_conversation``, ``active_conversation``, ``load_topic_deck``,
  ``spend_since(midnight)``, ``calls_since(midnight)``;

once as inserted (no statistics gathered: the state a database is in after a migration or
an import) and once after the service's own start-up path has run on it
(``setup_database``: migrations, then the bounded statistics refresh; its time is printed,
since it is itself a start-up query). The same timings on a database of ``--small``
rounds show whether a query's cost grows with history. Finally the real service
(``python run.py``) starts on each database and its start-up to ``/readyz`` is timed.

    .venv/bin/python bench/history.py [--rounds 100000] [--small 1000] [--samples 200]
                                      [--backends sqlite,postgres] [--starts 3]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import peewee
from _common import Service, machine_line, percentile, progress, table

from actors.clock import utc_day_start
from storage import queries
from storage.db import connect, setup_database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
HALF_HOUR_MS = 1_800_000
CONTENT = ("A measured sentence about the round's topic, as long as a short reply. " * 3)[:200]

SQLITE_FILL = """
INSERT INTO conversations (id, topic, status, scheduled_at, started_at, ended_at, forced, skip_reason)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rounds)
SELECT i, 'topic ' || i, 'complete', :t0 + i * 1800000, :t0 + i * 1800000, :t0 + i * 1800000 + 900000, 0, NULL
FROM n;
INSERT INTO messages (conversation_id, seq, agent, persona, provider, model, source, content, citations,
                      planned_at, revealed_at, latency_ms, prompt_tokens, completion_tokens, cost_usd,
                      fallback_reason, cost_estimated)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rounds),
     s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 16)
SELECT i, k, 'agent' || (k % 4), 'Persona', 'openai', 'model-x', 'api', :content, '[]',
       :t0 + i * 1800000 + k * 60000, :t0 + i * 1800000 + k * 60000, 900, 500, 120, 0.0004, NULL, 0
FROM n, s;
INSERT INTO api_calls (provider, model, ok, error_class, status_code, latency_ms, prompt_tokens,
                       completion_tokens, cost_usd, at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rounds),
     s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 16)
SELECT CASE k % 4 WHEN 0 THEN 'openai' WHEN 1 THEN 'anthropic' WHEN 2 THEN 'google' ELSE 'perplexity' END,
       'model-x', 1, NULL, 200, 900, 500, 120, 0.0004, :t0 + i * 1800000 + k * 60000
FROM n, s;
"""

PG_FILL = """
INSERT INTO conversations (id, topic, status, scheduled_at, started_at, ended_at, forced, skip_reason)
SELECT i, 'topic ' || i, 'complete', %(t0)s + i * 1800000, %(t0)s + i * 1800000, %(t0)s + i * 1800000 + 900000,
       false, NULL
FROM generate_series(1, %(rounds)s::bigint) AS i;
SELECT setval(pg_get_serial_sequence('conversations', 'id'), %(rounds)s);
INSERT INTO messages (conversation_id, seq, agent, persona, provider, model, source, content, citations,
                      planned_at, revealed_at, latency_ms, prompt_tokens, completion_tokens, cost_usd,
                      fallback_reason, cost_estimated)
SELECT i, k, 'agent' || mod(k, 4), 'Persona', 'openai', 'model-x', 'api', %(content)s, '[]',
       %(t0)s + i * 1800000 + k * 60000, %(t0)s + i * 1800000 + k * 60000, 900, 500, 120, 0.0004, NULL,
       false
FROM generate_series(1, %(rounds)s::bigint) AS i, generate_series(1, 16) AS k;
INSERT INTO api_calls (provider, model, ok, error_class, status_code, latency_ms, prompt_tokens,
                       completion_tokens, cost_usd, at)
SELECT (ARRAY['openai', 'anthropic', 'google', 'perplexity'])[mod(k, 4) + 1], 'model-x', true, NULL, 200, 900,
       500, 120, 0.0004, %(t0)s + i * 1800000 + k * 60000
FROM generate_series(1, %(rounds)s::bigint) AS i, generate_series(1, 16) AS k;
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1000, help="the small history to compare with")
    parser.add_argument("--samples", type=int, default=200, help="timings per query")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--starts", type=int, default=3, help="service start-ups timed per database (0: none)")
    return parser.parse_args(argv)


def fill(db: peewee.Database, rounds: int) -> float:
    """Insert ``rounds`` complete rounds ending now; returns the seconds it took."""
    t0 = int(time.time() * 1000) - (rounds + 1) * HALF_HOUR_MS
    started = time.perf_counter()
    if isinstance(db, peewee.PostgresqlDatabase):
        with db.atomic():
            cursor = db.connection().cursor()  # psycopg2 itself: named parameters
            for statement in PG_FILL.split(";\n"):
                if statement.strip():
                    cursor.execute(statement, {"t0": t0, "rounds": rounds, "content": CONTENT})
    else:
        raw = db.connection()
        with raw:
            for statement in SQLITE_FILL.split(";\n"):
                if statement.strip():
                    raw.execute(statement, {"t0": t0, "rounds": rounds, "content": CONTENT})
    return time.perf_counter() - started


def timings(samples: int, call: Callable[[], Any], budget: float = 10.0) -> list[float]:
    """Up to ``samples`` timings of ``call`` in ms; fewer (at least 5) past ``budget`` seconds."""
    out: list[float] = []
    deadline = time.monotonic() + budget
    for _ in range(samples):
        if len(out) >= 5 and time.monotonic() > deadline:
            break
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def query_set(db: peewee.Database, rounds: int) -> dict[str, Callable[[], Any]]:
    midnight = utc_day_start(time.time())
    rng = random.Random(13)
    return {
        "list_conversations (first page)": lambda: queries.list_conversations(db, 20),
        "list_conversations (deep page)": lambda: queries.list_conversations(db, 20, rounds // 10),
        "get_conversation (newest)": lambda: queries.get_conversation(db, rounds),
        "get_conversation (random)": lambda: queries.get_conversation(db, rng.randint(1, rounds)),
        "start-up: last_completed_conversation": lambda: queries.last_completed_conversation(db),
        "start-up: active_conversation": lambda: queries.active_conversation(db),
        "start-up: load_topic_deck": lambda: queries.load_topic_deck(db),
        "start-up: spend_since(midnight)": lambda: queries.spend_since(db, midnight),
        "start-up: calls_since(midnight)": lambda: queries.calls_since(db, midnight),
    }


def measure(db: peewee.Database, rounds: int, samples: int) -> dict[str, list[float]]:
    return {name: timings(samples, call) for name, call in query_set(db, rounds).items()}


def refresh(db: peewee.Database) -> float:
    """The service's start-up path on ``db`` (``setup_database``: migrations, then the
    statistics refresh); the seconds it took."""
    started = time.perf_counter()
    setup_database(db)
    return time.perf_counter() - started


def startup_seconds(url: str, times: int = 3) -> str:
    """The real service's start-up on ``url``, spawn to /readyz answering 200: the median of
    ``times`` starts (the machine is shared) and the spread."""
    seconds = []
    for _ in range(times):
        with tempfile.TemporaryDirectory(prefix="roundtable-history-") as tmp:
            service = Service(Path(tmp), {"DATABASE_URL": url})
            started = time.perf_counter()
            service.start(120)
            seconds.append(time.perf_counter() - started)
            service.stop()
    return f"median {statistics.median(seconds):.2f} s (of {', '.join(f'{s:.2f}' for s in seconds)})"


@contextlib.contextmanager
def database(backend: str, name: str) -> Iterator[str]:
    """A scratch database URL: a temp SQLite file, or a PostgreSQL database dropped on exit."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="roundtable-history-") as tmp:
            yield f"sqlite:///{tmp}/{name}.db"
        return
    admin = connect(PG_ADMIN)
    admin.connect()
    db_name = f"roundtable_bench_{name}_{int(time.time())}"
    admin.execute_sql(f'CREATE DATABASE "{db_name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    finally:
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.close()


def run_backend(backend: str, args: argparse.Namespace) -> tuple[list[tuple[str, ...]], list[str]]:
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    results: dict[str, dict[str, list[float]]] = {}
    for label, rounds in (("small", args.small), ("large", args.rounds)):
        with database(backend, label) as url:
            db = connect(url)
            setup_database(db)
            seconds = fill(db, rounds)
            notes.append(f"{backend}: {rounds:,} rounds ({rounds * 16:,} messages, {rounds * 16:,} api_calls) "
                         f"inserted in {seconds:.1f} s")
            progress(notes[-1])
            results[f"{label} as inserted"] = measure(db, rounds, args.samples)
            notes.append(f"{backend}: start-up's setup_database (statistics refresh) on {rounds:,} rounds: "
                         f"{refresh(db) * 1000:.0f} ms, then {refresh(db) * 1000:.0f} ms")
            progress(notes[-1])
            results[f"{label} after ANALYZE"] = measure(db, rounds, args.samples)
            db.close()
            if args.starts:  # the start-up path end to end, on the analyzed database
                notes.append(f"{backend}: real service start-up to /readyz on {rounds:,} rounds: "
                             f"{startup_seconds(url, args.starts)}")
                progress(notes[-1])
    for name in results["large as inserted"]:
        cells = []
        for key in ("small after ANALYZE", "large as inserted", "large after ANALYZE"):  # ANALYZE: start-up's
            values = results[key][name]
            cells.append(f"{percentile(values, 50):.2f} / {percentile(values, 99):.2f}")
        small = percentile(results["small after ANALYZE"][name], 50)
        large = percentile(results["large after ANALYZE"][name], 50)
        raw = percentile(results["large as inserted"][name], 50)
        rows.append((backend, name, *cells, f"{large / small:.1f}x" if small else "-",
                     f"{raw / small:.1f}x" if small else "-"))
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for backend in args.backends.split(","):
        progress(f"measuring {backend}")
        backend_rows, backend_notes = run_backend(backend, args)
        rows += backend_rows
        notes += backend_notes
    print(f"\nhistory: {args.small:,} vs {args.rounds:,} rounds, {args.samples} timings per query; {machine_line()}")
    for note in notes:
        print(f"- {note}")
    print(table(("backend", "query", f"{args.small:,} rounds p50/p99 ms", f"{args.rounds:,} as inserted p50/p99",
                 f"{args.rounds:,} after start-up's ANALYZE p50/p99", "large/small p50 (analyzed)",
                 "large unanalyzed/small p50"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
