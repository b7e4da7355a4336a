"""The price table: built-in prices, PRICES_FILE overrides, reported costs."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from actors.providers.base import Reply
from actors.providers.pricing import PriceFileError, PriceTable
from settings import DEFAULT_MODELS


def test_every_default_model_has_its_own_built_in_price() -> None:
    built_in = json.loads(resources.files("actors.providers").joinpath("prices.json").read_text())
    table = PriceTable.load()
    for provider, model in DEFAULT_MODELS.items():
        assert model in built_in[provider], f"prices.json has no entry for {provider}/{model}"
        price = table.price(provider, model)
        assert price is not None and price.output_per_million > 0, (provider, model)


def test_cost_is_per_million_tokens() -> None:
    table = PriceTable.load()
    # gpt-5-mini: 0.25 in, 2.00 out per million tokens
    assert table.cost("openai", "gpt-5-mini", 1_000_000, 0) == pytest.approx(0.25)
    assert table.cost("openai", "gpt-5-mini", 2_000, 500) == pytest.approx(0.0005 + 0.001)


def test_dated_snapshot_names_match_their_model() -> None:
    table = PriceTable.load()
    assert table.price("anthropic", "claude-sonnet-4-5-20250929") == table.price(
        "anthropic", "claude-sonnet-4-5"
    )
    assert table.price("openai", "gpt-5-mini-2025-08-07") == table.price("openai", "gpt-5-mini")
    assert table.price("gemini", "models/gemini-2.5-pro") == table.price("gemini", "gemini-2.5-pro")


def test_unknown_model_uses_the_provider_default_then_zero() -> None:
    table = PriceTable.load()
    assert table.price("openai", "some-new-model") == table.price("openai", "*")
    assert table.cost("nobody", "whatever", 1000, 1000) == 0.0


def test_override_file_wins_and_extends(tmp_path: Path) -> None:
    override = tmp_path / "prices.json"
    override.write_text(
        json.dumps({"openai": {"gpt-5-mini": [1.0, 4.0]}, "local": {"*": [0.0, 0.0], "llama": [0.1, 0.2]}})
    )
    table = PriceTable.load(override)
    assert table.cost("openai", "gpt-5-mini", 1_000_000, 1_000_000) == pytest.approx(5.0)
    assert table.cost("local", "llama", 1_000_000, 0) == pytest.approx(0.1)
    # untouched entries are still the built-in ones
    assert table.price("anthropic", "claude-sonnet-4-5") == PriceTable.load().price(
        "anthropic", "claude-sonnet-4-5"
    )


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"openai": [1, 2]}', '{"openai": {"m": [1]}}', '{"openai": {"m": [-1, 2]}}']
)
def test_bad_override_file_fails_with_one_line_naming_it(tmp_path: Path, content: str) -> None:
    override = tmp_path / "bad.json"
    override.write_text(content)
    with pytest.raises(PriceFileError) as info:
        PriceTable.load(override)
    assert str(override) in str(info.value) and "\n" not in str(info.value)


def test_reported_cost_wins_over_the_table() -> None:
    table = PriceTable.load()
    reported = Reply("hi", "perplexity/sonar", 1000, 1000, cost_usd=0.0123)
    assert table.reply_cost("perplexity", reported) == 0.0123
    unreported = Reply("hi", "perplexity/sonar", 1_000_000, 0)
    assert table.reply_cost("perplexity", unreported) == pytest.approx(1.0)
