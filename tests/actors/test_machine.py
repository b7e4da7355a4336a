"""Every transition of the Supervisor's state machine, legal and illegal."""

from __future__ import annotations

import pytest

from actors.errors import CommandRefused
from actors.machine import Command, RoundMachine, State

LEGAL = [
    (State.COUNTDOWN, "begin_round", State.ACTIVE),
    (State.COMPLETE, "begin_round", State.ACTIVE),
    (State.ACTIVE, "finish_round", State.COMPLETE),
    (State.COMPLETE, "end_hold", State.COUNTDOWN),
    (State.ACTIVE, "abandon_round", State.COUNTDOWN),
    (State.COUNTDOWN, "pause", State.PAUSED),
    (State.ACTIVE, "pause", State.PAUSED),
    (State.COMPLETE, "pause", State.PAUSED),
    (State.PAUSED, "resume_round", State.ACTIVE),
    (State.PAUSED, "resume_countdown", State.COUNTDOWN),
]


@pytest.mark.parametrize(("start", "trigger", "end"), LEGAL)
def test_legal_transitions(start: State, trigger: str, end: State) -> None:
    machine = RoundMachine(start)
    machine.move(trigger)
    assert machine.state is end


@pytest.mark.parametrize(
    ("start", "trigger"),
    [(State.ACTIVE, "begin_round"), (State.PAUSED, "begin_round"), (State.COUNTDOWN, "finish_round"),
     (State.PAUSED, "pause"), (State.COUNTDOWN, "resume_round"), (State.ACTIVE, "end_hold")],
)
def test_illegal_transitions_fail_loudly_and_change_nothing(start: State, trigger: str) -> None:
    machine = RoundMachine(start)
    with pytest.raises(RuntimeError, match=f"illegal transition '{trigger}' from {start}"):
        machine.move(trigger)
    assert machine.state is start


@pytest.mark.parametrize(
    ("state", "command", "hint"),
    [
        (State.ACTIVE, Command.FORCE, "already active"),
        (State.PAUSED, Command.FORCE, "resume first"),
        (State.PAUSED, Command.SKIP, "resume first"),
        (State.PAUSED, Command.PAUSE, "already paused"),
        (State.COUNTDOWN, Command.RESUME, "not paused"),
        (State.ACTIVE, Command.RESUME, "not paused"),
    ],
)
def test_commands_refused_with_a_reason(state: State, command: Command, hint: str) -> None:
    refused = RoundMachine(state).refusal(command)
    assert isinstance(refused, CommandRefused) and (refused.status, refused.code) == (409, "command_refused")
    assert str(refused).startswith(f"cannot {command} while {state}:") and hint in str(refused)


@pytest.mark.parametrize(
    ("state", "command"),
    [(State.COUNTDOWN, Command.FORCE), (State.COMPLETE, Command.FORCE), (State.COUNTDOWN, Command.SKIP),
     (State.ACTIVE, Command.SKIP), (State.ACTIVE, Command.PAUSE), (State.PAUSED, Command.RESUME)],
)
def test_commands_allowed(state: State, command: Command) -> None:
    assert RoundMachine(state).refusal(command) is None
