"""Run every benchmark with modest defaults and print all the figures (``make bench``).

Each script starts its own service and stops it; they run one after the other (the
machine has 2 cores, and the clients share them with the server), each in its own
process with a time limit. About 2 minutes in all.

    .venv/bin/python bench/run_all.py [--clients 500] [--no-compare]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from _common import ROOT, machine_line

BENCH = Path(__file__).resolve().parent
#: No single script should get near this; past it, it is stopped and reported.
SCRIPT_TIMEOUT = 180.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500, help="WebSocket clients for ws_fanout")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the second ws_fanout run without permessage-deflate")
    return parser.parse_args(argv)


def header() -> str:
    versions = []
    for name in ("hypercorn", "quart", "wsproto", "h11", "websockets", "peewee", "pykka"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} ?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip() or "none (not a git checkout)"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Roundtable benchmarks, {now}, {ROOT}, commit {commit}\n{machine_line()}\n{', '.join(versions)}"


def run(script: str, *args: str) -> bool:
    print(f"\n=== {script} {' '.join(args)}".rstrip(), flush=True)
    started = time.perf_counter()
    try:
        code = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT,
                              timeout=SCRIPT_TIMEOUT, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"!!! {script} did not finish in {SCRIPT_TIMEOUT:.0f} s and was stopped", flush=True)
        return False
    print(f"=== {script}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
    return code == 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print(header(), flush=True)
    started = time.perf_counter()
    plan: list[tuple[str, ...]] = [("ws_fanout.py", "--clients", str(args.clients))]
    if not args.no_compare:
        plan.append(("ws_fanout.py", "--clients", str(args.clients), "--no-deflate"))
    plan += [("http_api.py", "--concurrency", "16", "--seconds", "4", "--plain"), ("round_cpu.py", "--rounds", "5")]
    results = [run(*step) for step in plan]
    print(f"\nall benchmarks: {sum(results)}/{len(results)} finished cleanly in "
          f"{time.perf_counter() - started:.0f} s")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
