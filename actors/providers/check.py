"""``run.py check-keys``: one tiny request per configured key, printed as a table, then
whether each configured model is still offered (``catalog.check_model``, asked with the
provider's first key), with a warning line for a retiring, retired or unknown model.

Runs on the caller's thread (start-up or a CLI command, never an actor). The calls go out
in parallel, each bounded by ``timeout`` seconds, so the whole check takes about as long
as the slowest provider. The table never shows a key: a key is named by its position
("1/2") and error messages are redacted before printing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TextIO

from actors.clock import Clock, SystemClock
from actors.providers.base import GenerationRequest, Provider, ProviderError
from actors.providers.catalog import ModelCheck, check_model
from actors.providers.gateway import build_providers, close_providers, describe_error
from actors.providers.registry import persona_for
from actors.providers.resilience import KeyRing
from settings import ProviderSettings, Settings

__all__ = ["CHECK_TIMEOUT_SECONDS", "check_keys"]

CHECK_TIMEOUT_SECONDS: Final = 15.0
_HEADER: Final = ("provider", "model", "key", "result", "latency")


@dataclass(frozen=True)
class _Row:
    provider: str
    model: str
    key: str
    result: str
    latency: str
    failed: bool = False


def check_keys(
    settings: Settings,
    out: TextIO = sys.stdout,
    providers: Mapping[str, Provider] | None = None,
    *,
    clock: Clock | None = None,
    timeout: float = CHECK_TIMEOUT_SECONDS,
) -> int:
    """Check every key of every configured provider; print the table to ``out``.

    Returns 1 if any configured provider's check failed, else 0 (also when none is
    configured: templates still work). ``providers`` replaces the real ones (tests).
    """
    clock = clock or SystemClock()
    if providers is not None:
        return _check_all(settings, out, providers, clock, timeout)
    built = build_providers(settings)
    try:
        return _check_all(settings, out, built, clock, timeout)
    finally:
        close_providers(built.values())


def _check_all(
    settings: Settings, out: TextIO, providers: Mapping[str, Provider], clock: Clock, timeout: float
) -> int:
    jobs = [(ps, index, key) for ps in settings.providers.values() for index, key in enumerate(ps.api_keys)]
    configured = [ps for ps in settings.providers.values() if ps.configured]
    with ThreadPoolExecutor(max_workers=max(1, len(jobs) + len(configured))) as pool:
        futures = [
            pool.submit(_check_one, ps, providers.get(ps.name), index, key, clock, timeout)
            for ps, index, key in jobs
        ]
        model_futures = [
            pool.submit(check_model, ps, ps.api_keys[0], timeout=timeout, now=clock.now())
            for ps in configured
        ]
        rows = [future.result() for future in futures]  # in settings order, not finish order
        checks = [(ps, future.result()) for ps, future in zip(configured, model_futures, strict=True)]
    rows += [
        _Row(ps.name, ps.model, "-", "not configured", "-")
        for ps in settings.providers.values()
        if not ps.configured
    ]
    _print_table(rows, out)
    if checks:
        print(file=out)
        _print_models(checks, out)
    failed = any(row.failed for row in rows) or any(c.status in ("retired", "unknown") for _, c in checks)
    return 1 if failed else 0


def _print_models(checks: list[tuple[ProviderSettings, ModelCheck]], out: TextIO) -> None:
    """The models table, then one warning line per model that will not (or soon not) work."""
    cells = [("provider", "model", "offered")] + [
        (ps.name, ps.model, c.status + (f": {c.detail}" if c.detail else "")) for ps, c in checks
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
    for ps, check in checks:
        if check.warns:
            print(f"warning: {ps.name} model {ps.model} is {check.status} ({check.detail}); "
                  f"set {ps.name.upper()}_MODEL to a current model", file=out)


def _check_one(
    settings: ProviderSettings,
    provider: Provider | None,
    index: int,
    key: str,
    clock: Clock,
    timeout: float,
) -> _Row:
    """One call with one key; runs on a pool thread."""
    position = f"{index + 1}/{len(settings.api_keys)}"
    if provider is None:
        return _Row(settings.name, settings.model, position, "no provider class", "-", failed=True)
    started = clock.now()
    request = GenerationRequest(
        persona=persona_for(settings.name),
        topic="a connection check (answer with one short sentence)",
        history=(),
        seq=1,
        messages_per_round=1,
        deadline=started + timeout,
    )
    try:
        reply = provider.generate(request, api_key=key, timeout=timeout)
    except ProviderError as error:
        result, failed = describe_error(settings.name, error, KeyRing(settings.api_keys, clock).redact), True
    else:
        result, failed = f"ok ({reply.model})", False
    latency = f"{round((clock.now() - started) * 1000)} ms"
    return _Row(settings.name, settings.model, position, result, latency, failed)


def _print_table(rows: list[_Row], out: TextIO) -> None:
    cells = [_HEADER] + [(r.provider, r.model, r.key, r.result, r.latency) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_HEADER))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
