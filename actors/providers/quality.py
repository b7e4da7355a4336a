"""The quality gate: a reply that fails it counts as a failed attempt of kind ``quality``.

``accept(text, history_texts)`` returns None for an acceptable reply, else a short reason
("too short: 3 words"). It is a pure function, safe on any thread. The limits are loose on
purpose: the gate catches broken answers (empty, runaway, a parroted earlier message, a
persona that claims to be a person), not style; style is the prompt's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from actors.providers.prompts import MAX_REPLY_CHARS, MAX_REPLY_WORDS

__all__ = ["MAX_WORDS", "MIN_WORDS", "accept"]

MIN_WORDS: Final = 5
#: Replies are asked for in MAX_REPLY_WORDS words; models overshoot a little, so 1.5x.
MAX_WORDS: Final = int(MAX_REPLY_WORDS * 1.5)
DUPLICATE_JACCARD: Final = 0.8
SHINGLE: Final = 3  # words per shingle

_WORD = re.compile(r"[\w'\u2019-]+")

# First-person claims of being human. "As humans, we ..." alone is left alone: an AI may
# speak of people in general; these phrases put the speaker among them.
_HUMAN_CLAIM = re.compile(
    r"\b(?:i\s+am|i'm|i\u2019m)\s+(?:a\s+|just\s+a\s+)?(?:real\s+|fellow\s+)?(?:human|person)\b"
    r"|\b(?:i\s+am|i'm|i\u2019m)\s+not\s+(?:an?\s+)?(?:ai|bot|machine|language\s+model|robot)\b"
    r"|\bas\s+a\s+(?:fellow\s+|real\s+)?human(?:\s+being)?\b"
    r"|\b(?:we|us)\s+humans\b"
    r"|\bspeaking\s+as\s+a\s+(?:real\s+)?person\b",
    re.IGNORECASE,
)


def accept(text: str, history_texts: Iterable[str]) -> str | None:
    """None if ``text`` may be shown after ``history_texts`` (the round so far), else why not."""
    words = _words(text)
    if not words:
        return "empty"
    if len(words) < MIN_WORDS:
        return f"too short: {len(words)} words"
    # Over-long replies are refused whole, never trimmed: clean_reply() does not cut, so a
    # runaway answer becomes a retry or a fallback instead of a message cut mid-thought.
    if len(words) > MAX_WORDS:
        return f"too long: {len(words)} words"
    if len(text.strip()) > MAX_REPLY_CHARS:
        return f"too long: {len(text.strip())} characters"
    if _HUMAN_CLAIM.search(text):
        return "claims to be human"
    for earlier in history_texts:
        if _near_duplicate(words, _words(earlier)):
            return "near-duplicate of an earlier message"
    return None


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _near_duplicate(words: list[str], earlier: list[str]) -> bool:
    if len(earlier) < MIN_WORDS:
        return False  # too little to copy; containment would match by accident
    if _contains(words, earlier) or _contains(earlier, words):
        return True
    a, b = _shingles(words), _shingles(earlier)
    return len(a & b) / len(a | b) >= DUPLICATE_JACCARD


def _contains(outer: list[str], inner: list[str]) -> bool:
    """Whether ``inner`` occurs in ``outer`` as a run of whole words."""
    return f" {' '.join(inner)} " in f" {' '.join(outer)} "


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    if len(words) < SHINGLE:
        return {tuple(words)}
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}
