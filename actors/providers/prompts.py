"""Prompting shared by every provider: the system prompt, the transcript mapping, cleaning.

The transcript mapping works on all four APIs: this agent's own earlier turns become
``assistant`` turns, everyone else's become ``user`` turns prefixed with the speaker's
name, consecutive same-role turns are merged, and the list always ends on a ``user`` turn.
Gemini calls the assistant role ``model``; its module renames it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from actors.providers import registry
from actors.providers.base import GenerationRequest, Turn

__all__ = [
    "MAX_REPLY_CHARS",
    "MAX_REPLY_WORDS",
    "ChatTurn",
    "chat_turns",
    "clean_reply",
    "history_budget",
    "system_prompt",
]

MIN_REPLY_WORDS: Final = 40
MAX_REPLY_WORDS: Final = 120
#: Longest acceptable reply after cleaning. clean_reply() never cuts: a longer reply is
#: refused by the quality gate (a failed attempt), not shown truncated. The gate's real
#: limit is 1.5 x MAX_REPLY_WORDS (180 words); at up to ~9 characters a word in dense
#: prose that is ~1,600 characters, so this cap only catches what the word count cannot.
MAX_REPLY_CHARS: Final = 1600
#: Tokens asked of each API; 120 words is about 160 tokens, with room to finish a sentence.
MAX_OUTPUT_TOKENS: Final = 400
#: For APIs whose cap also counts hidden reasoning tokens (OpenAI's gpt-5 family): with
#: 400, a reasoning model can spend the whole budget thinking and return no text.
MAX_OUTPUT_TOKENS_REASONING: Final = 2000
#: History budgets in characters (~4 per token in English); the oldest turns go first.
#: Each provider's own is ``ProviderSpec.history_chars`` (16,000 chars, ~4,000 tokens,
#: keeps about a round: enough context, a small input bill); this one is for a name the
#: registry does not know.
HISTORY_CHAR_BUDGET: Final = registry.DEFAULT_HISTORY_CHARS

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    content: str


def system_prompt(request: GenerationRequest) -> str:
    """The persona, the topic and the house rules, as one system prompt."""
    persona = request.persona
    others = ", ".join(p.name for p in registry.personas() if p.agent != persona.agent)
    return (
        f"You are {persona.name}, {persona.role}, in a live roundtable discussion with "
        f"{others}. Your style: {persona.style}.\n"
        f"Today's topic: {request.topic}\n"
        "House rules:\n"
        "- Respond to the previous speakers by name and add something new: an argument, "
        "an example, a question or a disagreement.\n"
        "- Stay on the topic.\n"
        f"- Write {MIN_REPLY_WORDS}-{MAX_REPLY_WORDS} words of plain prose: no headings, "
        "no lists, no markdown, and do not start with your own name or a speaker label.\n"
        "- You are an AI taking part in a discussion; never claim to be human.\n"
        f"{earlier_rounds(request)}"
        f"This is message {request.seq} of {request.messages_per_round}."
    )


def earlier_rounds(request: GenerationRequest) -> str:
    """The digest of recent rounds, as lines of the system prompt ("" when there is none)."""
    if not request.earlier:
        return ""
    lines = [
        "Earlier rounds of this roundtable (build on them or contrast with them where it "
        "helps; do not repeat them):"
    ]
    for rnd in request.earlier:
        lines.append(f"- \u201c{rnd.topic}\u201d: " + " / ".join(rnd.lines))
    return "\n".join(lines) + "\n"


def opening_prompt(request: GenerationRequest) -> str:
    """The user turn that opens a round, when nobody has spoken yet."""
    return (
        f"The roundtable on \u201c{request.topic}\u201d begins now. "
        "Open the discussion with your view."
    )


def history_budget(provider: str) -> int:
    """How many characters of history ``provider`` is sent (``ProviderSpec.history_chars``)."""
    try:
        return registry.get(provider).history_chars
    except KeyError:
        return HISTORY_CHAR_BUDGET


def chat_turns(
    request: GenerationRequest, *, char_budget: int = HISTORY_CHAR_BUDGET
) -> list[ChatTurn]:
    """The conversation so far, mapped for this agent; never empty, always ends on ``user``.

    Only the newest turns that fit ``char_budget`` characters are kept, and always the last
    one; pass ``history_budget(provider)``.
    """
    history = _trim(request.history, char_budget)
    turns: list[ChatTurn] = [ChatTurn("user", opening_prompt(request))]
    for turn in history:
        if turn.agent == request.persona.agent:
            turns.append(ChatTurn("assistant", turn.content))
        else:
            turns.append(ChatTurn("user", f"{turn.persona}: {turn.content}"))
    if turns[-1].role == "assistant":
        turns.append(ChatTurn("user", "Continue the discussion."))
    return _merge(turns)


def _trim(history: tuple[Turn, ...], char_budget: int) -> tuple[Turn, ...]:
    """Keep the newest turns that fit the budget (always at least the last one)."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        used += len(turn.content) + len(turn.persona) + 2
        if kept and used > char_budget:
            break
        kept.append(turn)
    return tuple(reversed(kept))


def _merge(turns: list[ChatTurn]) -> list[ChatTurn]:
    merged: list[ChatTurn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            merged[-1] = ChatTurn(turn.role, f"{merged[-1].content}\n\n{turn.content}")
        else:
            merged.append(turn)
    return merged


_SPEAKER_PREFIX = re.compile(r"^\s*(?:\*\*)?[A-Z][\w .'-]{0,30}?(?:\*\*)?\s*:\s+")
_MARKDOWN_HEADING = re.compile(r"^\s*#+\s*", re.MULTILINE)
_WHITESPACE = re.compile(r"\s+")


def clean_reply(text: str, *, speaker_names: tuple[str, ...] = ()) -> str:
    """Strip a leading "Name:" label and headings, collapse whitespace.

    Never shortens the reply otherwise: an over-long reply must reach the quality gate
    whole, so it counts as a failed attempt instead of being shown cut off.
    """
    names = speaker_names or tuple(p.name for p in registry.personas())
    cleaned = _MARKDOWN_HEADING.sub("", text).strip()
    match = _SPEAKER_PREFIX.match(cleaned)
    if match and match.group(0).strip(" *:").strip() in names:
        cleaned = cleaned[match.end():]
    return _WHITESPACE.sub(" ", cleaned).strip().strip('"').strip()
