"""Hostile providers: what one round costs the real service when every provider streams a
huge answer, or trickles its answer a byte at a time (issue 7, findings 1 and 4).

The four fake providers run in this process (``tests/fakes``, in each wire format), the
service is the real ``python run.py`` with the real SDKs pointed at them. For each mode it
plays one forced round and reports the service's RSS (VmRSS before, VmHWM peak, VmRSS
after), the bytes each fake managed to send, how the 16 messages were written, the worst
lateness of a reveal against its plan, and the round's wall time. Not a test: it prints.

    .venv/bin/python bench/hostile_providers.py [--megabytes 30] [--grace 2]
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections import Counter
from pathlib import Path

from _common import machine_line, progress, rss_kib, running_service, table

from tests.fakes.server import Oversize, Trickle
from tests.web.conftest import Client, is_state
from tests.web.test_provider_round import Fakes


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def play(mode: Oversize | Trickle | None, grace: float) -> list[object]:
    fakes = Fakes()
    for fake in fakes.all.values():
        fake.mode = mode
        fake.start()
    try:
        with running_service({**fakes.env(), "GENERATION_GRACE_SECONDS": str(grace)}) as service:
            assert service.process is not None
            pid = service.process.pid
            before = rss_kib(pid)
            client = Client(service.ws_url)
            client.next()
            started = time.perf_counter()
            service.force()
            client.until(is_state("complete"), timeout=120)
            wall = time.perf_counter() - started
            client.close()
            peak, after = peak_kib(pid), rss_kib(pid)
            with sqlite3.connect(service.database) as db:
                late = db.execute("SELECT max(revealed_at - planned_at) FROM messages").fetchone()[0]
        sources = Counter(m["source"] for m in client.messages())
        sent = sum(f.bytes_sent for f in fakes.all.values())
    finally:
        for fake in fakes.all.values():
            fake.stop()
    label = "none" if mode is None else repr(mode)
    return [label, f"{before / 1024:.0f}", f"{peak / 1024:.0f}", f"{after / 1024:.0f}",
            f"{sent / 1e6:.2f}", dict(sources), f"{late / 1000:.2f}", f"{wall:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=30, help="size of each oversized answer")
    parser.add_argument("--grace", type=float, default=2.0, help="GENERATION_GRACE_SECONDS")
    args = parser.parse_args()
    print(machine_line())
    rows = []
    for mode in (None, Oversize(args.megabytes * 1024 * 1024), Trickle(0.05)):
        progress(f"mode {mode}")
        rows.append(play(mode, args.grace))
    print(table(["mode", "RSS before MiB", "peak MiB", "after MiB", "fakes sent MB",
                 "sources", "max late s", "round s"], rows))


if __name__ == "__main__":
    main()
