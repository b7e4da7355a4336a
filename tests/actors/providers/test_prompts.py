"""Prompting shared by the providers: history budgets, trimming and reply cleaning."""

from __future__ import annotations

import time

from actors.providers import registry
from actors.providers.base import GenerationRequest, Turn
from actors.providers.prompts import (
    HISTORY_CHAR_BUDGET,
    MAX_REPLY_CHARS,
    chat_turns,
    clean_reply,
    history_budget,
)
from actors.providers.registry import persona_for
from tests.actors.providers.history import (
    NEWEST_FOUR,
    SMALL_BUDGET,
    TURN_COST,
    TURNS,
    long_history,
    sent_markers,
)


def _request(history: tuple[Turn, ...]) -> GenerationRequest:
    return GenerationRequest(
        persona_for("openai"), "Congestion pricing", history, len(history) + 1, 16, time.time() + 30
    )


def test_every_provider_has_its_own_history_budget() -> None:
    budgets = {name: history_budget(name) for name in registry.names()}
    assert set(budgets) == {"openai", "anthropic", "perplexity", "gemini"}
    # Perplexity's web search adds its results to the context, so it gets less history.
    assert budgets["perplexity"] < min(b for name, b in budgets.items() if name != "perplexity")
    assert history_budget("some-new-provider") == HISTORY_CHAR_BUDGET


def test_a_long_history_is_trimmed_to_the_providers_budget_keeping_the_newest() -> None:
    request = _request(long_history())
    for name in registry.names():
        turns = chat_turns(request, char_budget=history_budget(name))
        kept = sent_markers([t.content for t in turns])
        assert kept == list(range(TURNS - len(kept), TURNS)), name  # the newest, in order
        # Each turn costs TURN_COST of the budget: as many as fit, and not one more.
        assert len(kept) * TURN_COST <= history_budget(name) < (len(kept) + 1) * TURN_COST, name
    assert sent_markers([t.content for t in chat_turns(request, char_budget=SMALL_BUDGET)]) == NEWEST_FOUR


def test_the_latest_turn_is_kept_even_when_it_alone_is_over_budget() -> None:
    latest = Turn("anthropic", "Clio", "x" * 500)
    turns = chat_turns(_request((Turn("gemini", "Lyra", "earlier"), latest)), char_budget=100)
    assert [t.role for t in turns] == ["user"]
    assert "earlier" not in turns[0].content
    assert turns[0].content.endswith("Clio: " + "x" * 500)


def test_clean_reply_strips_the_label_and_headings_and_collapses_whitespace() -> None:
    raw = "Orion:   Clio, sensors   never sleep.\n\n## That is the point."
    assert clean_reply(raw) == "Clio, sensors never sleep. That is the point."


def test_clean_reply_never_cuts_an_over_long_reply() -> None:
    # Cutting would hide a runaway reply from the quality gate; it must arrive whole.
    long = "Clio, the pilot data says more than either of us admits. " * 40
    cleaned = clean_reply(long)
    assert len(cleaned) > MAX_REPLY_CHARS
    assert cleaned == long.strip()
    assert not cleaned.endswith("\u2026")
