"""Memory with the four providers configured, against two floors measured in the same run.

    .venv/bin/python bench/memory.py [--starts 3] [--rounds 3]

Each start, taking turns so that all four share the machine's moods:

- ``minimal Quart``: a minimal Quart app on Hypercorn (``bench/_ref_servers.py
  quart-nodeflate``), RSS at its first HTTP answer;
- ``Quart + the SDKs``: the same having imported openai, anthropic, google-genai and
  httpx2 first (``quart-sdks``): what any service on this stack that calls the four
  providers holds before a line of its own code;
- ``Quart + the SDKs, one call each``: a process that imports the same, then calls each
  provider once through its SDK (openai's chat completions, anthropic's messages,
  google-genai's generate_content; httpx2 for Perplexity's Agent API) at the fake servers:
  the SDKs build their response models on first use, so this is the floor once they work;
- Roundtable: ``python run.py`` with the four keys, each provider's base URL at its fake
  server (``tests/fakes``: the real SDKs speak to them), on SQLite, fast timings. RSS at
  ``/readyz`` (the SDKs loaded), once the model checks ran, and after each of ``--rounds``
  forced rounds (16 replies from the four providers through their SDKs, each moderated
  by OpenAI's check at the fake (``MODERATION=openai``), priced and stored, fanned out to
  one WebSocket visitor), read once the engine is back in its countdown.

Prints medians (min-max) and each figure against the SDK floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _common import (
    machine_line,
    progress,
    reference_start,
    rss_kib,
    running_service,
    table,
    wait_model_checks,
)

from tests.web.test_provider_round import Fakes, play_round


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="starts of each (median reported)")
    parser.add_argument("--rounds", type=int, default=3, help="forced rounds per Roundtable start")
    return parser.parse_args(argv)


FLOOR_IN_USE = """
import json, sys
import hypercorn.asyncio, quart  # the web stack, as quart-sdks has it
import anthropic, httpx2, openai
from google import genai
from google.genai import types
env = json.loads(sys.argv[1])
ask = [{"role": "user", "content": "Night trains: one sentence."}]
tls = httpx2.create_ssl_context()  # one for all, as Roundtable has it (each holds ~1.6 MiB)
with openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=env["OPENAI_BASE_URL"],
                   http_client=openai.DefaultHttpxClient(verify=tls)) as client:
    client.chat.completions.create(model="gpt-6.1-terra", messages=ask, max_tokens=200)
with anthropic.Anthropic(api_key=env["ANTHROPIC_API_KEY"], base_url=env["ANTHROPIC_BASE_URL"],
                         http_client=anthropic.DefaultHttpxClient(verify=tls)) as client:
    client.messages.create(model="claude-sonnet-5-5", messages=ask, max_tokens=200)
options = types.HttpOptions(base_url=env["GEMINI_BASE_URL"], api_version="v1beta",
                            client_args={"verify": tls}, async_client_args={"ssl": tls})
gemini = genai.Client(api_key=env["GEMINI_API_KEY"], http_options=options)  # kept: it closes when freed
gemini.models.generate_content(model="gemini-3.8-flash", contents="Night trains: one sentence.")
with httpx2.Client(verify=tls) as client:
    client.post(env["PERPLEXITY_BASE_URL"] + "/v1/agent", json={"model": "perplexity/sonar", "input": ask},
                headers={"Authorization": "Bearer " + env["PERPLEXITY_API_KEY"]}).raise_for_status()
print(int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]))
"""


def floor_in_use(fakes: Fakes) -> float:
    """RSS (MiB) of a process that imported the web stack and the SDKs and made one call
    through each (``FLOOR_IN_USE``)."""
    result = subprocess.run([sys.executable, "-c", FLOOR_IN_USE, json.dumps(fakes.env())],
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the floor process failed: {result.stderr[-3000:]}")
    return int(result.stdout.split()[-1]) / 1024


def roundtable(fakes: Fakes, rounds: int) -> list[float]:
    """RSS (MiB) at /readyz, after the model checks, then after each round."""
    # MODERATION=openai: the fake is not OpenAI's API, and auto would use the word list only.
    with running_service({**fakes.env(), "MODERATION": "openai"}, timeout=120) as service:
        assert service.process is not None
        pid = service.process.pid
        figures = [rss_kib(pid) / 1024]
        wait_model_checks(service)
        figures.append(rss_kib(pid) / 1024)
        for _ in range(rounds):
            got = [m["seq"] for m in play_round(service)]
            if sorted(got) != list(range(1, 17)):
                raise RuntimeError(f"the visitor got {got}, not seq 1..16")
            service.wait_for_state("countdown", timeout=30)
            figures.append(rss_kib(pid) / 1024)
        return figures


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} MiB ({min(values):.1f}-{max(values):.1f})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quart: list[float] = []
    floor: list[float] = []
    in_use: list[float] = []
    ours: list[list[float]] = []
    fakes = Fakes()
    for server in fakes.all.values():
        server.start()
    try:
        for i in range(args.starts):
            quart.append(reference_start("quart-nodeflate")[1])
            floor.append(reference_start("quart-sdks")[1])
            in_use.append(floor_in_use(fakes))
            ours.append(roundtable(fakes, args.rounds))
            progress(f"start {i + 1}: minimal Quart {quart[-1]:.1f} MiB, Quart + SDKs {floor[-1]:.1f} / "
                     f"{in_use[-1]:.1f} MiB, Roundtable " + " / ".join(f"{x:.1f}" for x in ours[-1]) + " MiB")
    finally:
        for server in fakes.all.values():
            server.stop()
    sdk_floor = statistics.median(floor)
    labels = ["Roundtable at /readyz (SDKs loaded)", "Roundtable, model checks done"]
    labels += [f"Roundtable after round {r + 1}" for r in range(args.rounds)]
    rows = [("minimal Quart app", spread(quart), f"{statistics.median(quart) / sdk_floor:.2f}x"),
            ("Quart + openai, anthropic, google-genai, httpx2 (the floor)", spread(floor), "1.00x"),
            ("the same, one call through each", spread(in_use), f"{statistics.median(in_use) / sdk_floor:.2f}x")]
    for column, label in enumerate(labels):
        values = [run[column] for run in ours]
        rows.append((label, spread(values), f"{statistics.median(values) / sdk_floor:.2f}x"))
    print(f"\nmemory: {args.starts} starts each, taking turns, medians (min-max); {machine_line()}")
    print(table(("process", "RSS", "vs the SDK floor"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
