"""Export and import at two database sizes: time, rate and the peak memory of the process.

Builds SQLite databases of N rounds x 16 messages (plus 20 API calls a round), then runs
the real commands as a user would (``python run.py export`` / ``import``), each in its own
process; peak RSS comes from ``getrusage(RUSAGE_CHILDREN)``. Bounded memory shows as the
same peak for the small and the large database.

    .venv/bin/python bench/archive.py [--rounds 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, progress, table

from storage import connect, setup_database, using
from storage.models import ApiCallRecord, Conversation, Message


def build(path: Path, rounds: int) -> None:
    db = connect(f"sqlite:///{path}")
    setup_database(db)
    text = "We should weigh pricing, adoption and budgets before anyone decides. " * 6
    with using(db), db.atomic():
        for first in range(1, rounds + 1, 500):
            ids = range(first, min(first + 500, rounds + 1))
            Conversation.insert_many([{"id": i, "topic": f"Topic {i}", "status": "complete",
                                       "started_at": i * 1_800_000, "ended_at": i * 1_800_000 + 900_000}
                                      for i in ids]).execute()
            messages = [{"conversation": i, "seq": s, "agent": "openai", "persona": "Orion",
                         "provider": "openai", "model": "gpt", "source": "api", "content": text,
                         "planned_at": i * 1_800_000 + s, "revealed_at": i * 1_800_000 + s}
                        for i in ids for s in range(1, 17)]
            for start in range(0, len(messages), 2000):
                Message.insert_many(messages[start:start + 2000]).execute()
            ApiCallRecord.insert_many([{"provider": "openai", "model": "gpt", "ok": True,
                                        "at": i * 1_800_000 + k} for i in ids for k in range(20)]).execute()
    db.close()


def command(*args: str, database: Path) -> tuple[float, int]:
    """Seconds taken and the peak RSS (KiB) of all children so far."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": f"sqlite:///{database}",
           "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "run.py", "--env-file", "/nonexistent", *args], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rounds in sorted(args.rounds):  # ascending: the RSS peak so far is this size's
            source, target, dump = (Path(tmp) / f"{name}-{rounds}" for name in ("src.db", "dst.db", "out.jsonl"))
            progress(f"building {rounds} rounds")
            build(source, rounds)
            seconds, export_rss = command("export", "--out", str(dump), database=source)
            import_seconds, import_rss = command("import", str(dump), database=target)
            messages = rounds * 16
            rows.append([f"{rounds:,}", f"{messages:,}", f"{dump.stat().st_size / 2**20:.0f} MiB",
                         f"{seconds:.1f} s ({messages / seconds:,.0f} msg/s)", f"{export_rss / 1024:.0f} MiB",
                         f"{import_seconds:.1f} s ({messages / import_seconds:,.0f} msg/s)",
                         f"{import_rss / 1024:.0f} MiB"])
    print(table(["rounds", "messages", "file", "export", "peak RSS so far", "import", "peak RSS so far"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
