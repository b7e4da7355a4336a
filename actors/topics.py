"""Round topics: the built-in list, a topics file, and the topic of each scheduled slot.

``topic_for_slot`` is a pure function of the slot time, so every instance and the
countdown page agree on the next round's topic without talking to each other. Slots are
numbered on the round grid (``slot_number = slot / interval``); the numbers are cut into
cycles of ``len(topics)`` and each cycle visits every topic once, in an order shuffled by a
stable hash (SHA-256, the same on every platform and Python version). Where a cycle meets the
next one, the new cycle's first two topics are swapped if needed, so two consecutive slots
never share a topic (when there are at least two).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

__all__ = ["BUILT_IN_TOPICS_FILE", "load_topics", "topic_for_slot"]

BUILT_IN_TOPICS_FILE: Final = Path(__file__).with_name("topics.txt")
#: A slot time within this many seconds of the grid counts as on the grid (float drift).
_GRID_TOLERANCE_SECONDS: Final = 1e-3


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


def topic_for_slot(topics: Sequence[str], slot_epoch_seconds: float, interval_seconds: float) -> str:
    """The topic of the round scheduled at ``slot_epoch_seconds`` on a grid of
    ``interval_seconds``: deterministic, and never the topic of the slot just before or
    after when ``topics`` holds two or more (distinct) topics.

    A time off the grid (a forced round) gets a topic that differs from both neighbouring
    slots when there are three or more topics. Raises ``ValueError`` for an empty list or
    a non-positive interval.
    """
    if not topics:
        raise ValueError("topic_for_slot needs at least one topic")
    if not interval_seconds > 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds!r}")
    position = slot_epoch_seconds / interval_seconds
    nearest = round(position)
    if abs(slot_epoch_seconds - nearest * interval_seconds) <= _GRID_TOLERANCE_SECONDS:
        return topics[_index(nearest, len(topics))]
    return topics[_between_index(math.floor(position), slot_epoch_seconds, len(topics))]


def _index(slot_number: int, count: int) -> int:
    """The topic index of a grid slot; consecutive slot numbers get different indexes."""
    if count <= 2:
        return slot_number % count
    cycle, offset = divmod(slot_number, count)
    order = _cycle_order(cycle, count)
    if order[0] == _cycle_order(cycle - 1, count)[-1]:
        order[0], order[1] = order[1], order[0]
    return order[offset]


def _cycle_order(cycle: int, count: int) -> list[int]:
    """A stable pseudo-random permutation of ``range(count)`` for one cycle.

    The swap in ``_index`` only ever touches positions 0 and 1, so the last position of
    this raw order is also the last of the adjusted one (``count >= 3``).
    """
    return sorted(range(count), key=lambda i: _hash(f"roundtable-topics:{cycle}:{i}"))


def _between_index(slot_number: int, at: float, count: int) -> int:
    """A topic for a time between grid slots ``slot_number`` and ``slot_number + 1``."""
    neighbours = {_index(slot_number, count), _index(slot_number + 1, count)}
    choices = [i for i in range(count) if i not in neighbours] or [_index(slot_number + 1, count)]
    return choices[_hash(f"roundtable-forced:{math.floor(at * 1000)}") % len(choices)]


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
