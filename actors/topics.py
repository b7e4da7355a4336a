"""Round topics: the built-in list, a topics file, and the deck that draws them.

``TopicDeck`` draws topics without repetition: each cycle visits every topic of the list
once, in a shuffled order, and a new cycle never starts with the topic that ended the
last one. Topics an admin queued (``queue``) go first, in the order they were queued. The
deck is plain data: the Supervisor owns the only live one, saves its ``state()`` in the
``topic_deck`` table after every change, and restores it at start-up (``restore``), so a
restart neither repeats nor forgets a topic. A standby reads the saved state for the next
topic (``next_topic_of``).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = [
    "BUILT_IN_TOPICS_FILE",
    "MAX_QUEUED_TOPICS",
    "MAX_TOPIC_CHARS",
    "TopicDeck",
    "clean_topic",
    "load_topics",
    "next_topic_of",
    "queued_topics_of",
]

BUILT_IN_TOPICS_FILE: Final = Path(__file__).with_name("topics.txt")
#: Longest topic an admin may queue: a topic is a headline, and it goes in every prompt.
MAX_TOPIC_CHARS: Final = 200
MIN_TOPIC_CHARS: Final = 3
#: Queued topics waiting at most; one a round, so this is days of rounds.
MAX_QUEUED_TOPICS: Final = 50


def load_topics(path: Path | None = None) -> tuple[str, ...]:
    """The topics in ``path`` (the built-in list when ``None``), in file order.

    One topic per line; surrounding whitespace is stripped; blank lines and lines starting
    with ``#`` are ignored; a repeated topic is kept once. Raises ``ValueError`` naming the
    file when it cannot be read or holds no topic.
    """
    source = path if path is not None else BUILT_IN_TOPICS_FILE
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"topics file {source} cannot be read: {exc}") from exc
    lines = (line.strip() for line in text.splitlines())
    topics = tuple(dict.fromkeys(line for line in lines if line and not line.startswith("#")))
    if not topics:
        raise ValueError(
            f"topics file {source} has no topics "
            "(one per line; blank lines and lines starting with # are ignored)"
        )
    return topics


def clean_topic(text: str) -> str:
    """An admin's topic made safe to store and prompt with: control and format characters
    (newlines, bidi overrides, zero-width marks) removed, whitespace collapsed.

    Raises ``ValueError`` (a message for the admin) when the result is shorter than
    ``MIN_TOPIC_CHARS`` or longer than ``MAX_TOPIC_CHARS`` characters.
    """
    kept = "".join(" " if ch.isspace() else ch for ch in text if not _is_control(ch))
    topic = " ".join(kept.split())
    if len(topic) < MIN_TOPIC_CHARS:
        raise ValueError(f"topic must have at least {MIN_TOPIC_CHARS} visible characters")
    if len(topic) > MAX_TOPIC_CHARS:
        raise ValueError(f"topic must be at most {MAX_TOPIC_CHARS} characters, not {len(topic)}")
    return topic


def _is_control(ch: str) -> bool:
    # Whitespace controls (\n, \t) become spaces above; every other Cc/Cf/Cs/Co goes.
    return not ch.isspace() and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co")


@dataclass
class TopicDeck:
    """The draw order of one topics list. Not thread-safe: one owner (the Supervisor)."""

    topics: tuple[str, ...]
    rng: random.Random = field(default_factory=random.Random, repr=False)
    remaining: list[str] = field(default_factory=list)  # this cycle's undrawn, in order
    drawn: list[str] = field(default_factory=list)  # this cycle's drawn
    queued: list[str] = field(default_factory=list)  # an admin's, first first
    last: str | None = None  # the topic of the latest round

    def __post_init__(self) -> None:
        if not self.topics:
            raise ValueError("a topic deck needs at least one topic")
        if not self.remaining:
            self._new_cycle()

    @classmethod
    def restore(
        cls, topics: Sequence[str], saved: Mapping[str, Any] | None, rng: random.Random | None = None
    ) -> TopicDeck:
        """The deck as ``state()`` saved it, fitted to ``topics`` (the list may have changed
        since: a topic no longer listed is dropped, a new one joins this cycle's rest)."""
        listed = tuple(topics)
        saved = saved or {}
        drawn = [t for t in _strings(saved.get("drawn")) if t in listed]
        remaining = [t for t in _strings(saved.get("remaining")) if t in listed and t not in drawn]
        new = [t for t in listed if t not in remaining and t not in drawn]
        rng = rng or random.Random()
        rng.shuffle(new)
        last = saved.get("last")
        deck = cls(
            listed, rng, remaining + new if remaining else [], drawn if remaining else [],
            _strings(saved.get("queued"))[:MAX_QUEUED_TOPICS], last if isinstance(last, str) else None,
        )
        return deck

    def peek(self) -> str:
        """The topic the next round will get (``next_topic_of`` its state: one rule)."""
        topic = next_topic_of(self.state())
        assert topic is not None  # a deck always has a next topic
        return topic

    def draw(self) -> str:
        """Take the next round's topic (the same one ``peek`` named)."""
        topic = self.queued.pop(0) if self.queued else self.remaining[0]
        if topic in self.remaining:  # a queued topic from the list counts as its turn
            self.remaining.remove(topic)
            self.drawn.append(topic)
        self.last = topic
        if not self.remaining:
            self._new_cycle()
        return topic

    def queue(self, topic: str) -> None:
        """Put ``topic`` (already ``clean_topic``-ed) after any other queued topic.

        Raises ``ValueError`` when ``MAX_QUEUED_TOPICS`` are already waiting.
        """
        if len(self.queued) >= MAX_QUEUED_TOPICS:
            raise ValueError(f"{MAX_QUEUED_TOPICS} topics are already queued; wait for some to run")
        self.queued.append(topic)

    def state(self) -> dict[str, Any]:
        """A JSON-able record of the deck, for ``restore``."""
        return {
            "remaining": list(self.remaining), "drawn": list(self.drawn),
            "queued": list(self.queued), "last": self.last,
        }

    def _new_cycle(self) -> None:
        order = list(self.topics)
        self.rng.shuffle(order)
        if len(order) > 1 and order[0] == self.last:  # never the same topic twice in a row
            order.append(order.pop(0))
        self.remaining, self.drawn = order, []


def next_topic_of(saved: Mapping[str, Any] | None) -> str | None:
    """The next round's topic from a saved ``state()`` (what a standby shows), or None."""
    if not saved:
        return None
    for key in ("queued", "remaining"):
        values = _strings(saved.get(key))
        if values:
            return values[0]
    return None


def queued_topics_of(saved: Mapping[str, Any] | None) -> list[str]:
    """The topics an admin queued, first first, from a saved ``state()``."""
    return _strings(saved.get("queued")) if saved else []


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
