"""Token prices: what one API call cost, in US dollars.

``prices.json`` (next to this module) holds list prices in USD per million tokens as
``[input, output]`` per provider and model, with a ``"*"`` entry per provider for models
it does not list. ``PRICES_FILE`` may override or extend it; the override wins entry by
entry. A cost the provider reports itself (Perplexity's ``usage.cost``) wins over the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from actors.providers.base import Reply

__all__ = ["Price", "PriceFileError", "PriceTable"]

_BUILT_IN: Final = "prices.json"
_PER_TOKENS: Final = 1_000_000


class PriceFileError(ValueError):
    """A prices file could not be read; the message is one line naming the file."""


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float


class PriceTable:
    """Immutable after construction, so any thread may read it."""

    def __init__(self, prices: Mapping[str, Mapping[str, Price]]) -> None:
        self._prices = {provider: dict(models) for provider, models in prices.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The built-in table, merged with ``path`` (``Settings.prices_file``) when given."""
        text = resources.files(__package__).joinpath(_BUILT_IN).read_text("utf-8")
        prices = _parse(text, _BUILT_IN)
        if path is not None:
            try:
                override = _parse(path.read_text("utf-8"), str(path))
            except OSError as exc:
                raise PriceFileError(f"cannot read prices file {path}: {exc.strerror}") from exc
            for provider, models in override.items():
                prices.setdefault(provider, {}).update(models)
        return cls(prices)

    def price(self, provider: str, model: str) -> Price | None:
        """The model's price, else the provider's ``"*"`` price, else None."""
        models = self._prices.get(provider, {})
        return _lookup(models, model) or models.get("*")

    def cost(self, provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for one call; 0.0 when neither the model nor a ``"*"`` default is priced."""
        price = self.price(provider, model)
        if price is None:
            return 0.0
        return (
            prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
        ) / _PER_TOKENS

    def reply_cost(self, provider: str, reply: Reply) -> float:
        """The cost the provider reported for ``reply`` if any, else the table's."""
        if reply.cost_usd is not None:
            return reply.cost_usd
        return self.cost(provider, reply.model, reply.prompt_tokens, reply.completion_tokens)


def _lookup(models: Mapping[str, Price], model: str) -> Price | None:
    """Exact name first; then the longest listed name that the reported one extends.

    APIs report dated snapshots ("claude-sonnet-4-5-20250929", "gpt-5-mini-2025-08-07")
    and Gemini may prefix "models/", so an exact match alone would miss most replies.
    """
    name = model.removeprefix("models/")
    if name in models:
        return models[name]
    candidates = [m for m in models if m != "*" and name.startswith(m + "-")]
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
            continue  # "_comment", "_as_of": notes for people
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
