"""The provider registry: one entry makes a provider known to every part that reads it."""

from __future__ import annotations

import dataclasses
import time

import pytest

from actors.providers import prompts, registry
from actors.providers.base import GenerationRequest
from actors.providers.gateway import build_providers
from actors.providers.pricing import CostSource, PriceTable
from actors.providers.templates import voice_for
from actors.providers.templates_data import VOICES
from settings import Settings, SettingsError, describe
from tests.toy_provider import SPEC, ToyProvider
from web import roster


def test_the_built_in_providers_speak_in_their_order() -> None:
    assert registry.names() == ("openai", "anthropic", "perplexity", "gemini")
    assert [p.name for p in registry.personas()] == ["Orion", "Clio", "Scout", "Lyra"]
    assert all(spec.voice in VOICES for spec in registry.specs())


@pytest.mark.parametrize(("change", "problem"), [
    ({"name": "Toy"}, "lower-case"),
    ({"name": "openai", "persona": registry.persona_for("openai")}, "already registered"),
    ({"persona": registry.persona_for("openai")}, "persona belongs to 'openai'"),
    ({"colour": "red"}, "#rrggbb"),
    ({"colour_dark": "#FF88CC;}"}, "#rrggbb"),
    ({"provider_class": "tests.toy_provider.ToyProvider"}, "module:Class"),
])
def test_a_bad_entry_is_refused_with_its_reason(change: dict[str, object], problem: str) -> None:
    spec = dataclasses.replace(SPEC, **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=problem):
        registry.register(spec)
    assert registry.names() == tuple(s.name for s in registry.BUILT_IN)


def test_one_entry_gives_a_provider_its_settings() -> None:
    with registry.registered(SPEC):
        settings = Settings.from_env({"TOY_API_KEY": "k1,k2", "MESSAGES_PER_ROUND": "10"})
        documented = {entry.name: entry for entry in describe()}
    toy = settings.providers["toy"]
    assert list(settings.providers) == ["openai", "anthropic", "perplexity", "gemini", "toy"]
    assert (toy.api_keys, toy.base_url, toy.model) == (("k1", "k2"), SPEC.base_url, SPEC.model)
    assert toy.fallbacks == ("openai", "anthropic", "perplexity", "gemini")
    assert "toy" in settings.providers["openai"].fallbacks
    for suffix in ("_API_KEY", "_BASE_URL", "_MODEL", "_RPM", "_FALLBACKS", "_DAILY_BUDGET_USD"):
        assert "Toy" in documented["TOY" + suffix].doc or "toy" in documented["TOY" + suffix].doc
    assert documented["TOY_MODEL"].default == "toy-1"
    assert "TOY_API_KEY" not in {entry.name for entry in describe()}  # gone with the block


def test_the_round_length_must_fit_every_registered_agent() -> None:
    with registry.registered(SPEC):
        assert Settings.from_env({}).messages_per_round == 20  # four turns each by default
        with pytest.raises(SettingsError, match="multiple of the 5 agents"):
            Settings.from_env({"MESSAGES_PER_ROUND": "16"})


def test_prompts_templates_prices_and_pages_read_the_entry() -> None:
    request = GenerationRequest(registry.persona_for("openai"), "Kites", (), 1, 10, time.time() + 30)
    with registry.registered(SPEC):
        assert "Pip" in prompts.system_prompt(request)
        assert prompts.history_budget("toy") == registry.DEFAULT_HISTORY_CHARS
        assert voice_for("toy") is VOICES["lyra"]
        cost = PriceTable.load().cost("toy", "toy-1", 1_000_000, 1_000_000)
        assert (cost.usd, cost.source) == (2.0, CostSource.ESTIMATE)
        assert roster.page_values() == {
            "agent_count": "five", "agent_labels": "OpenAI, Anthropic, Perplexity, Gemini and Toy"}
        assert '.rt-msg[data-agent="toy"]' in roster.stylesheet()
        assert registry.agents_view(("toy",)) == [{
            "id": "toy", "persona": "Pip", "label": "Toy", "colour": "#aa3377", "colour_dark": "#ff88cc"}]
    assert "Pip" not in prompts.system_prompt(request)


def test_the_provider_class_is_imported_from_the_entry_on_first_use() -> None:
    with registry.registered(SPEC):
        settings = Settings.from_env({"TOY_API_KEY": "k", "MESSAGES_PER_ROUND": "10"})
        provider = build_providers(settings)["toy"]
        request = GenerationRequest(registry.persona_for("toy"), "Kites", (), 1, 10, time.time() + 30)
        reply = provider.generate(request, api_key="k", timeout=5)
    assert isinstance(provider.load(), ToyProvider)  # type: ignore[attr-defined]
    assert reply.model == "toy-1" and "Kites" in reply.text


def test_replacing_an_entry_keeps_its_place_and_is_undone() -> None:
    small = dataclasses.replace(registry.get("perplexity"), history_chars=100)
    with registry.registered(small):
        assert registry.names()[2] == "perplexity" and prompts.history_budget("perplexity") == 100
    assert prompts.history_budget("perplexity") == 8_000
