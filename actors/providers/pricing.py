"""Token prices: what one API call cost, in US dollars, and how sure we are of it.

Where a price comes from, first match wins:

1. the provider's own report (Perplexity's ``usage.cost``, per-search fees included);
2. ``PRICES_FILE``: ``{provider: {model: [input, output]}}`` in USD per million tokens,
   for negotiated rates, gateways and local models;
3. the ``genai-prices`` dataset (maintained by the pydantic team; its ``calc_price``
   resolves dated names such as ``claude-sonnet-5-5-20261001`` and applies date-bound
   rates by the call's time). Only the snapshot bundled with the installed package is
   used: its auto-update would fetch from the internet at run time. The service keeps
   only the registry's providers of it resident (``actors.providers.price_data``: a child
   process trims it, once; ``load_dataset``), with the same figures;
4. the provider's fallback rate (``"*"`` in ``PRICES_FILE``, else its
   ``ProviderSpec.fallback_price`` in ``actors.providers.registry``) for a model no source knows, such as a local model behind
   ``OPENAI_BASE_URL``. Such a cost is an estimate (``Cost.estimated``) and says so on
   every surface that shows it.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from actors.providers import registry
from actors.providers.base import Reply
from actors.providers.price_data import TrimmedDataset

__all__ = ["Cost", "CostSource", "Price", "PriceFileError", "PriceTable", "load_dataset"]

_PER_TOKENS: Final = 1_000_000

#: The genai-prices entries of every registered provider with a price key, whatever is
#: configured (the four built-ins: +2.0 MiB of RSS once used, against +4.8 MiB for the
#: whole dataset: ``bench/prices.py``). A provider registered later is priced from the
#: whole dataset.
_DATASET: Final = TrimmedDataset(spec.price_key for spec in registry.specs() if spec.price_key)


def load_dataset() -> None:
    """Load the genai-prices entries that pricing uses now rather than at the first priced
    reply: runs a child process for about half a second (``actors.providers.price_data``).
    Blocks: call it on a thread of its own (``lazy.load_sdks``), never on the event loop."""
    _DATASET.load()


class PriceFileError(ValueError):
    """A prices file could not be read; the message is one line naming the file."""


class CostSource(enum.StrEnum):
    REPORTED = "reported"  # the provider reported the cost itself
    PRICES_FILE = "prices_file"  # PRICES_FILE lists the model
    GENAI_PRICES = "genai-prices"  # the maintained dataset prices the model
    ESTIMATE = "estimate"  # no source knows the model: the provider's fallback rate


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float

    def usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        ) / _PER_TOKENS


@dataclass(frozen=True)
class Cost:
    """What one call cost and where the figure came from."""

    usd: float
    source: CostSource

    @property
    def estimated(self) -> bool:
        """True when the model is unknown to every price source (a fallback rate)."""
        return self.source is CostSource.ESTIMATE


class PriceTable:
    """Immutable after construction, so any thread may read it."""

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, Price]],
        fallbacks: Mapping[str, Price],
    ) -> None:
        self._overrides = {provider: dict(models) for provider, models in overrides.items()}
        self._fallbacks = dict(fallbacks)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The registry's fallback rates, with ``path`` (``Settings.prices_file``) over them."""
        fallbacks = {
            spec.name: Price(*spec.fallback_price)
            for spec in registry.specs() if spec.fallback_price is not None
        }
        overrides: dict[str, dict[str, Price]] = {}
        if path is not None:
            try:
                overrides = _parse(path.read_text("utf-8"), str(path))
            except OSError as exc:
                raise PriceFileError(f"cannot read prices file {path}: {exc.strerror}") from exc
        return cls(overrides, fallbacks)

    def cost(
        self,
        provider: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        at: float | None = None,
        web_searches: int = 0,
    ) -> Cost:
        """USD for one call of ``model`` at epoch ``at`` (now when None); see the module
        docstring for the order of sources. A provider nobody prices costs 0.0 (estimated)."""
        name = model.removeprefix("models/")  # Gemini may report "models/gemini-..."
        listed = _lookup(self._overrides.get(provider, {}), name)
        if listed is not None:
            return Cost(listed.usd(prompt_tokens, completion_tokens), CostSource.PRICES_FILE)
        priced = _dataset_usd(provider, name, prompt_tokens, completion_tokens, at, web_searches)
        if priced is not None:
            return Cost(priced, CostSource.GENAI_PRICES)
        fallback = self._overrides.get(provider, {}).get("*") or self._fallbacks.get(provider)
        usd = fallback.usd(prompt_tokens, completion_tokens) if fallback is not None else 0.0
        return Cost(usd, CostSource.ESTIMATE)

    def reply_cost(self, provider: str, reply: Reply, *, at: float | None = None) -> Cost:
        """The cost the provider reported for ``reply`` if any, else the priced one.

        Perplexity's Agent API charges per web search on top of tokens; when a provider does
        not report its cost, a reply with sources (only a web search yields them) is
        counted as one search.
        """
        if reply.cost_usd is not None:
            return Cost(reply.cost_usd, CostSource.REPORTED)
        searches = 1 if reply.citations else 0
        return self.cost(
            provider, reply.model, reply.prompt_tokens, reply.completion_tokens,
            at=at, web_searches=searches,
        )

    def is_priced(self, provider: str, model: str) -> bool:
        """Whether ``model`` has a price of its own (not only the fallback estimate)."""
        return not self.cost(provider, model, 1, 1).estimated


def _dataset_usd(
    provider: str, model: str, prompt: int, completion: int, at: float | None, searches: int
) -> float | None:
    """The genai-prices total, or None when the dataset does not know the model."""
    provider_id = _price_key(provider)
    if provider_id is None:
        return None
    # Imported on the first priced reply: genai-prices and pydantic cost ~25 MiB and 0.3 s,
    # which a start-up (and an engine without keys) never needs.
    from genai_prices import Usage

    when = dt.datetime.fromtimestamp(at, dt.UTC) if at is not None else None
    usage = Usage(input_tokens=prompt, output_tokens=completion, web_searches=searches)
    try:
        calculation = _DATASET.calc(usage, model, provider_id, when)
    except LookupError:  # not in the dataset: the caller falls back to an estimate
        return None
    return float(calculation.total_price)


def _price_key(provider: str) -> str | None:
    """The genai-prices provider id of ``provider`` (``ProviderSpec.price_key``)."""
    try:
        return registry.get(provider).price_key
    except KeyError:
        return None


def _lookup(models: Mapping[str, Price], model: str) -> Price | None:
    """Exact name first; then the longest listed name that the reported one extends
    (APIs report dated snapshots: "my-model-2026-01-01" for "my-model")."""
    if model in models:
        return models[model]
    candidates = [m for m in models if m != "*" and model.startswith(m + "-")]
    return models[max(candidates, key=len)] if candidates else None


def _parse(text: str, source: str) -> dict[str, dict[str, Price]]:
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceFileError(f"prices file {source} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PriceFileError(f"prices file {source}: expected an object of providers")
    table: dict[str, dict[str, Price]] = {}
    for provider, models in raw.items():
        if provider.startswith("_"):
            continue  # "_comment": notes for people
        if not isinstance(models, dict):
            raise PriceFileError(f"prices file {source}: {provider!r} is not an object of models")
        table[provider] = {
            model: _price(value, source, provider, model)
            for model, value in models.items()
            if not model.startswith("_")  # "_note": for people
        }
    return table


def _price(value: Any, source: str, provider: str, model: str) -> Price:
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)
    )
    if not valid:
        raise PriceFileError(
            f"prices file {source}: {provider}/{model} must be [input, output] USD per million tokens"
        )
    return Price(float(value[0]), float(value[1]))
