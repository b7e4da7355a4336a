"""The Supervisor's state machine: states, the transition table, the admin commands
(each declared once here: its name, its arguments, when it is refused), and refusals.

A plain ``transitions.Machine`` guards every move (an illegal move is a bug, and raises).
An admin command that is not legal now gets a ``CommandRefused`` (409) naming the command,
the state and what to do, as a value the Supervisor returns. The machine only says what
is legal; the Supervisor does the work.

Adding an admin command: a ``Command`` member (plus its ``ARGUMENTS`` and ``REFUSALS``
rows, and transitions if it moves the state), and its handler in ``Supervisor.command``.
``/control``, the relay from a standby and the embedding API take it from there.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from transitions import Machine, MachineError

from actors.errors import BadPayload, CommandRefused, UnknownAction

__all__ = ["ARGUMENTS", "Command", "RoundMachine", "State", "parse_command"]


class State(enum.StrEnum):
    COUNTDOWN = "countdown"
    ACTIVE = "active"
    COMPLETE = "complete"
    PAUSED = "paused"


class Command(enum.StrEnum):
    FORCE = "force"
    SKIP = "skip"
    PAUSE = "pause"
    RESUME = "resume"
    QUEUE_TOPIC = "queue_topic"


#: The text arguments a command takes (all required), besides its ``action``.
ARGUMENTS: Final[Mapping[Command, tuple[str, ...]]] = {Command.QUEUE_TOPIC: ("topic",)}
EXAMPLE: Final = '{"action": "force"}'


def parse_command(action: object, arguments: Mapping[str, object]) -> tuple[Command, dict[str, str]]:
    """The command named by ``action`` and the arguments it takes, from a request (a
    ``/control`` body, a relayed request); ``UnknownAction`` or ``BadPayload`` otherwise.
    Arguments a command does not take are ignored."""
    names = ", ".join(Command)
    if not isinstance(action, str):
        raise BadPayload(f"body must be JSON like {EXAMPLE} ({names})")
    try:
        command = Command(action)
    except ValueError:
        raise UnknownAction(f"unknown action {action[:40]!r}; use one of {names}") from None
    taken: dict[str, str] = {}
    for name in ARGUMENTS.get(command, ()):
        value = arguments.get(name)
        if not isinstance(value, str):
            raise BadPayload(f'{command} needs a "{name}" string, e.g. {{"action": "{command}", "{name}": "..."}}')
        taken[name] = value
    return command, taken


S = State
TRANSITIONS: Final[list[dict[str, Any]]] = [
    {"trigger": "begin_round", "source": [S.COUNTDOWN, S.COMPLETE], "dest": S.ACTIVE},
    {"trigger": "finish_round", "source": S.ACTIVE, "dest": S.COMPLETE},
    {"trigger": "end_hold", "source": S.COMPLETE, "dest": S.COUNTDOWN},
    {"trigger": "abandon_round", "source": S.ACTIVE, "dest": S.COUNTDOWN},
    {"trigger": "pause", "source": [S.COUNTDOWN, S.ACTIVE, S.COMPLETE], "dest": S.PAUSED},
    {"trigger": "resume_round", "source": S.PAUSED, "dest": S.ACTIVE},
    {"trigger": "resume_countdown", "source": S.PAUSED, "dest": S.COUNTDOWN},
]

#: Why a command is refused, per state (the commands not listed are legal there).
REFUSALS: Final = {
    (Command.FORCE, S.ACTIVE): "a round is already active; skip it first",
    (Command.FORCE, S.PAUSED): "the engine is paused; resume first",
    (Command.SKIP, S.PAUSED): "the engine is paused; resume first",
    (Command.PAUSE, S.PAUSED): "already paused",
    (Command.RESUME, S.COUNTDOWN): "not paused",
    (Command.RESUME, S.ACTIVE): "not paused",
    (Command.RESUME, S.COMPLETE): "not paused",
}


class RoundMachine:
    """Holds the current ``state``; trigger methods are added by ``transitions``."""

    state: State

    def __init__(self, initial: State = State.COUNTDOWN) -> None:
        self._machine = Machine(
            model=self,
            states=State,
            transitions=TRANSITIONS,  # type: ignore[arg-type]  # its stubs reject dict rows
            initial=initial,
            auto_transitions=False,
        )

    def move(self, trigger: str) -> None:
        """Fire ``trigger``; a move the table does not allow is a bug, and says so."""
        try:
            getattr(self, trigger)()
        except MachineError as exc:
            raise RuntimeError(f"illegal transition {trigger!r} from {self.state}") from exc

    def refusal(self, command: Command) -> CommandRefused | None:
        """Why ``command`` is not legal in the current state, or None when it is."""
        hint = REFUSALS.get((command, self.state))
        if hint is None:
            return None
        return CommandRefused(f"cannot {command} while {self.state}: {hint}")
