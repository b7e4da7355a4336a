"""Who takes part, as the pages say it: names, labels and colours from the provider registry.

The pages never name an agent themselves: the text ("Four AI agents", "OpenAI, Anthropic,
Perplexity and Gemini take turns") and the agents' colours (``/agents.css``, for pages
rendered on the server; the widget sets the same colours from ``hello.agents``) are made
here from ``actors.providers.registry``. Pure functions: safe on any thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from actors.providers import registry
from actors.providers.registry import ProviderSpec

__all__ = ["agent_count", "count_word", "labels_text", "page_values", "stylesheet"]

_WORDS: Final = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve")


def count_word(n: int) -> str:
    """``4`` -> ``"four"``; past twelve, digits."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def agent_count() -> str:
    """How many agents are registered, in words ("four")."""
    return count_word(len(registry.names()))


def _specs(names: Iterable[str] | None) -> list[ProviderSpec]:
    known = registry.names()
    return [registry.get(n) for n in (known if names is None else names) if n in known]


def labels_text(names: Iterable[str] | None = None) -> str:
    """"OpenAI, Anthropic, Perplexity and Gemini" (the registered agents by default)."""
    labels = [spec.label for spec in _specs(names)]
    if len(labels) < 2:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def page_values(names: Iterable[str] | None = None) -> dict[str, str]:
    """What every page template may say about the agents: ``agent_count`` ("four") and
    ``agent_labels`` (see ``labels_text``)."""
    specs = _specs(names)
    return {"agent_count": count_word(len(specs)), "agent_labels": labels_text(s.name for s in specs)}


def stylesheet(names: Iterable[str] | None = None) -> str:
    """``/agents.css``: each agent's colours on its message cards and typing line, as the
    widget sets them (``--rt-color-<id>`` on an ancestor still overrides them)."""
    lines = ["/* The agents' colours, from actors/providers/registry.py (generated). */"]
    for spec in _specs(names):
        selector = f'.rt-msg[data-agent="{spec.name}"], .rt-typing[data-agent="{spec.name}"]'
        lines.append(
            f"{selector} {{ --rt-agent-light: var(--rt-color-{spec.name}, {spec.colour}); "
            f"--rt-agent-dark: var(--rt-color-{spec.name}-dark, {spec.colour_dark}); }}"
        )
    return "\n".join(lines) + "\n"
