"""The Supervisor's state machine: states, the transition table, and admin refusals.

A plain ``transitions.Machine`` guards every move; an illegal one raises
``CommandRejected`` naming the expected and actual states, which ``/control`` answers
with 409. The machine only says what is legal; the Supervisor does the work.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from transitions import Machine, MachineError

__all__ = ["Command", "CommandRejected", "RoundMachine", "State"]


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


class CommandRejected(Exception):
    """An admin command that is not legal in the current state (HTTP 409)."""

    def __init__(self, command: str, state: State, hint: str) -> None:
        super().__init__(f"cannot {command} while {state}: {hint}")
        self.command = command
        self.state = state

    @classmethod
    def from_message(cls, message: str) -> CommandRejected:
        """The refusal rebuilt from its text, where it crossed the actor boundary or the
        database as an answer (``command`` and ``state`` are then unknown)."""
        error = cls.__new__(cls)
        Exception.__init__(error, message)
        error.command, error.state = "", State.COUNTDOWN
        return error


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

    def check(self, command: Command) -> None:
        """Raise ``CommandRejected`` if ``command`` is not legal in the current state."""
        hint = REFUSALS.get((command, self.state))
        if hint is not None:
            raise CommandRejected(command, self.state, hint)
