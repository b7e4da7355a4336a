"""What pricing replies adds to the service's RSS, with the four SDKs loaded.

Each run is a fresh interpreter that imports what the service has once its SDKs are loaded
(quart, openai, anthropic, google.genai, genai_prices), then does what ``lazy.load_sdks``
does for prices (``pricing.load_dataset()``, where the checkout has it), reading its RSS
before and after, prices one reply of each built-in provider's default model with ``PriceTable``, and reads
its RSS again (a full collection before each reading). The median of ``--runs`` runs is
printed, and whether ``genai_prices.data`` (the whole dataset) ended up imported.

The code measured is ``--checkout``'s (this one by default): the probe runs in that folder,
so its ``actors`` is imported, with this interpreter and its packages. To compare with
another commit: ``git worktree add /tmp/before COMMIT`` and ``--checkout /tmp/before``.

    .venv/bin/python bench/prices.py [--runs 5] [--checkout PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import ROOT, machine_line, progress, table

PROBE = """
import gc, json, sys
def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
import quart, openai, anthropic, google.genai, genai_prices  # the service, SDKs loaded
from actors.providers import pricing, registry
from actors.providers.base import Reply
gc.collect()
sdks = rss_kib()
if hasattr(pricing, "load_dataset"):  # lazy.load_sdks does this in the background
    pricing.load_dataset()
gc.collect()
before = rss_kib()
table = pricing.PriceTable.load()
costs = [table.reply_cost(spec.name, Reply("hi", spec.model, 1200, 400)).usd for spec in registry.BUILT_IN]
gc.collect()
print(json.dumps({"sdks": sdks, "before": before, "after": rss_kib(), "usd": costs, "code": pricing.__file__,
                  "whole_dataset": "genai_prices.data" in sys.modules}))
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters (median reported)")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose code is measured")
    return parser.parse_args(argv)


def probe(checkout: Path) -> dict[str, Any]:
    # python -c puts its working folder first on sys.path, ahead of the editable install.
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=checkout, capture_output=True,
                          text=True, timeout=120, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    runs = []
    for i in range(args.runs):
        progress(f"run {i + 1}/{args.runs}")
        runs.append(probe(args.checkout))
    sdks, before, after = (statistics.median(r[k] for r in runs) / 1024 for k in ("sdks", "before", "after"))
    print(machine_line())
    print(f"code: {runs[0]['code']}")
    print(table(
        ["RSS MiB, median", "SDKs imported", "+ load_sdks' price step", "after pricing 4 replies",
         "added by prices", "whole dataset imported"],
        [["", f"{sdks:.1f}", f"{before:.1f}", f"{after:.1f}", f"{after - sdks:+.1f}", runs[0]["whole_dataset"]]],
    ))
    print(f"USD of the four replies: {runs[0]['usd']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
