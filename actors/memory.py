"""Memory across rounds: a short digest of the last few finished rounds.

Each round's prompts carry it (``GenerationRequest.earlier``), so the agents can build on
or contrast with earlier discussions. The digest is a pure function of stored rounds: the
Supervisor builds it once when a round starts (or resumes) from ``Persistence.recent_rounds``.
Stored messages are untrusted model output; the digest only quotes their opening sentence,
cut to ``MAX_LINE_CHARS``, so an earlier reply can add little to a prompt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from actors.providers.base import EarlierRound
from actors.view import RoundView

__all__ = ["DIGEST_ROUNDS", "MAX_LINE_CHARS", "digest"]

#: How many earlier rounds each prompt recalls: enough to avoid repeating the last few
#: discussions, few enough to keep every prompt's input bill small (~150 tokens).
DIGEST_ROUNDS: Final = 3
MAX_LINE_CHARS: Final = 160
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def digest(rounds: Iterable[RoundView], limit: int = DIGEST_ROUNDS) -> tuple[EarlierRound, ...]:
    """The newest ``limit`` rounds (with their messages, newest first) as digests: the
    topic, the opening line and the closing line. Rounds without messages are left out."""
    kept: list[EarlierRound] = []
    for rnd in rounds:
        messages = [m for m in rnd.messages if m.content.strip()]
        if not messages or len(kept) >= limit:
            continue
        ends = [messages[0], messages[-1]] if len(messages) > 1 else [messages[0]]
        lines = tuple(f"{m.persona or m.agent}: {first_sentence(m.content)}" for m in ends)
        kept.append(EarlierRound(rnd.topic, lines))
    return tuple(kept)


def first_sentence(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """The first sentence of ``text`` on one line, cut at a word to ``limit`` characters."""
    flat = " ".join(text.split())
    sentence = _SENTENCE_END.split(flat, maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1].rsplit(" ", 1)[0]
    return f"{cut}\u2026"
