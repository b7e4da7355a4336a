"""Prices: the genai-prices dataset, PRICES_FILE overrides, fallback estimates, reported costs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from actors.providers import registry
from actors.providers.base import Citation, Reply
from actors.providers.pricing import CostSource, PriceFileError, PriceTable
from tests.registry_views import DEFAULT_MODELS

PROMPT, COMPLETION = 1234, 567
NOV_30 = 1_795_996_800.0  # 2026-11-30T00:00:00Z


@pytest.mark.parametrize("provider", sorted(DEFAULT_MODELS))
def test_every_default_model_is_priced_exactly_by_the_dataset(provider: str) -> None:
    model = DEFAULT_MODELS[provider]
    cost = PriceTable.load().cost(provider, model, PROMPT, COMPLETION, at=NOV_30)
    assert cost.source is CostSource.GENAI_PRICES, f"{provider}/{model} has no price of its own"
    assert not cost.estimated
    expected = calc_price(
        Usage(input_tokens=PROMPT, output_tokens=COMPLETION), model,
        provider_id=registry.get(provider).price_key,
        genai_request_timestamp=dt.datetime.fromtimestamp(NOV_30, dt.UTC),
    )
    assert cost.usd == float(expected.total_price)
    assert cost.usd > 0


def test_known_list_prices_of_the_defaults() -> None:
    """Figures from the issue, per million tokens: a wrong table fails loudly here."""
    table = PriceTable.load()
    million = 1_000_000
    assert table.cost("anthropic", "claude-sonnet-5-5", million, million).usd == pytest.approx(2 + 10)
    assert table.cost("openai", "gpt-5.4-mini", million, million).usd == pytest.approx(0.75 + 4.5)
    assert table.cost("perplexity", "perplexity/sonar", million, million).usd == pytest.approx(0.25 + 2.5)


def test_dated_and_prefixed_names_resolve_to_their_model() -> None:
    table = PriceTable.load()
    base = table.cost("anthropic", "claude-sonnet-5-5", PROMPT, COMPLETION)
    dated = table.cost("anthropic", "claude-sonnet-5-5-20261001", PROMPT, COMPLETION)
    assert dated == base
    assert table.cost("gemini", "models/gemini-3.8-flash", PROMPT, COMPLETION) == table.cost(
        "gemini", "gemini-3.8-flash", PROMPT, COMPLETION
    )


def test_date_bound_rates_follow_the_call_time() -> None:
    # Gemini 3.8 Flash has introductory rates until 2026-12-31, list rates after.
    table = PriceTable.load()
    now = table.cost("gemini", "gemini-3.8-flash", 1_000_000, 0, at=NOV_30).usd
    later = table.cost("gemini", "gemini-3.8-flash", 1_000_000, 0, at=NOV_30 + 90 * 86_400).usd
    assert now == pytest.approx(0.75) and later == pytest.approx(1.5)


def test_unknown_model_is_an_estimate_at_the_provider_fallback_rate() -> None:
    table = PriceTable.load()
    cost = table.cost("openai", "llama-3-local", 1_000_000, 1_000_000)
    assert cost.estimated and cost.source is CostSource.ESTIMATE
    assert cost.usd == pytest.approx(1.0 + 5.0)  # prices.json "*" for openai
    assert not table.is_priced("openai", "llama-3-local")
    assert table.is_priced("openai", DEFAULT_MODELS["openai"])
    nobody = table.cost("nobody", "whatever", 1000, 1000)
    assert nobody.usd == 0.0 and nobody.estimated


def test_prices_file_wins_and_its_star_replaces_the_fallback(tmp_path: Path) -> None:
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({
        "openai": {"gpt-6.1-terra": [1.0, 4.0], "*": [0.0, 0.0]},
        "local": {"llama": [0.1, 0.2]},
    }))
    table = PriceTable.load(override)
    listed = table.cost("openai", "gpt-6.1-terra-2026-10-01", 1_000_000, 1_000_000)
    assert listed.usd == pytest.approx(5.0) and listed.source is CostSource.PRICES_FILE
    assert table.cost("local", "llama", 1_000_000, 0).usd == pytest.approx(0.1)
    free = table.cost("openai", "my-local-model", 1_000_000, 1_000_000)
    assert free.usd == 0.0 and free.estimated
    # models the file does not list still come from the dataset
    assert table.cost("anthropic", "claude-sonnet-5-5", 10, 10) == PriceTable.load().cost(
        "anthropic", "claude-sonnet-5-5", 10, 10
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


def test_reported_cost_wins_over_every_table() -> None:
    table = PriceTable.load()
    reported = Reply("hi", "perplexity/sonar", 1000, 1000, cost_usd=0.0123)
    cost = table.reply_cost("perplexity", reported)
    assert cost.usd == 0.0123 and cost.source is CostSource.REPORTED and not cost.estimated


def test_perplexity_without_a_reported_cost_pays_tokens_plus_one_search() -> None:
    table = PriceTable.load()
    sources = (Citation("https://example.org/a"),)
    searched = table.reply_cost("perplexity", Reply("hi", "perplexity/sonar", 1_000_000, 0, citations=sources))
    plain = table.reply_cost("perplexity", Reply("hi", "perplexity/sonar", 1_000_000, 0))
    assert plain.usd == pytest.approx(0.25)
    assert searched.usd == pytest.approx(0.25 + 2.5 / 1000)  # $2.50 per thousand searches
