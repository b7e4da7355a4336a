"""A long conversation for the history-budget tests, and a way to see which turns were sent."""

from __future__ import annotations

import json
import re
from typing import Any

from actors.providers.base import Turn

TURNS = 40
#: Each turn is exactly this long; with the speaker's name it costs TURN_COST of the budget.
TURN_CHARS = 400
TURN_COST = TURN_CHARS + len("Clio") + 2
#: A budget that holds exactly the newest four turns (4 x 406 <= 1700 < 5 x 406).
SMALL_BUDGET = 1700
NEWEST_FOUR = [36, 37, 38, 39]

_FILLER = ("the commuters in the pilot district changed their routes " * 8)[: TURN_CHARS - 10]
_MARKER = re.compile(r"marker-(\d\d)\b")


def long_history() -> tuple[Turn, ...]:
    """``TURNS`` turns by Clio, each opening with ``marker-NN`` (the oldest is 00)."""
    return tuple(Turn("anthropic", "Clio", f"marker-{i:02d} {_FILLER}") for i in range(TURNS))


def sent_markers(body: Any) -> list[int]:
    """The turn numbers that appear anywhere in a request body, in order."""
    return [int(n) for n in _MARKER.findall(json.dumps(body))]
