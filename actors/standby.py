"""What a standby instance serves while another instance runs the engine.

``StandbySystem`` implements ``actors.engine.Engine`` (the surface the web layer uses),
built from what the engine has stored: ``system_status``, the active round and its
messages, the last completed round. Admin commands are relayed to the engine's instance through the database
(``actors.relay.RemoteEngine``). Live events reach the standby's visitors through
``actors.follow.Follower``. Its methods read the database on the calling thread (the web
layer's worker threads).
"""

from __future__ import annotations

import math
from typing import Any

import peewee

from actors.clock import Clock
from actors.machine import parse_command
from actors.providers import registry
from actors.providers.budget import DailyBudget
from actors.relay import RemoteEngine
from actors.round import countdown_view, status_view
from actors.topics import next_topic_of, queued_topics_of
from settings import Settings
from storage import queries
from storage.db import close_database
from storage.leader import instance_id

__all__ = ["StandbySystem"]


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


class StandbySystem:
    """A read-only view of the engine that runs elsewhere. Any thread."""

    def __init__(self, settings: Settings, db: peewee.Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self._remote = RemoteEngine(db)

    def snapshot(self, include_messages: bool = True) -> dict[str, Any]:
        """The ``hello`` body, as the engine would give it, from the database."""
        status = queries.load_status(self.db)
        active = queries.active_conversation(self.db)
        next_round_at = status["next_round_at"]
        deck = queries.load_topic_deck(self.db)
        conversation = None
        if active is not None:
            conversation = {k: v for k, v in active.items() if k != "messages"}
        view: dict[str, Any] = {
            "server_time": _ms(self.clock.now()),
            "state": status["state"],
            "next_round_at": _ms(next_round_at),
            "next_topic": next_topic_of(deck),
            "queued_topics": queued_topics_of(deck),
            "conversation": conversation,
            "last_conversation": queries.last_completed_conversation(self.db),
            "messages_per_round": self.settings.messages_per_round,
            # The plan lives in the engine: a standby's visitors learn who speaks next
            # from the next message or state event (which carry ``next``).
            "next": None,
            "agents": registry.agents_view(tuple(self.settings.providers)),
        }
        if include_messages:
            view["messages"] = list(active["messages"]) if active is not None else []
        return view

    def countdown(self) -> dict[str, Any]:
        return countdown_view(self.snapshot(include_messages=False))

    def providers_ready(self) -> bool:
        return True  # the engine's instance calls the providers

    def status(self) -> dict[str, Any]:
        """As the engine's, but with no provider health (the engine's instance has it)."""
        view = self.snapshot(include_messages=False)
        calls = self._calls_today()
        today = {
            "calls": sum(c["calls"] for c in calls.values()),
            "prompt_tokens": sum(c["prompt_tokens"] for c in calls.values()),
            "completion_tokens": sum(c["completion_tokens"] for c in calls.values()),
            "cost_usd": round(sum(c["cost_usd"] for c in calls.values()), 6),
        }
        return {
            **status_view(view, {}, today), "budget": self._budget(calls),
            "role": "standby", "instance": instance_id(),
        }

    def command(self, action: str, **arguments: object) -> dict[str, Any]:
        """Relayed to the engine (a bad request is answered here): its view, or its
        refusal raised with the same class, code and status, as a local engine would."""
        command, taken = parse_command(action, arguments)
        return dict(self._remote.ask({"action": str(command), **taken}))

    def _calls_today(self) -> dict[str, dict[str, Any]]:
        """Per provider, calls, tokens and cost since UTC midnight (the engine's ``api_calls``)."""
        midnight = math.floor(self.clock.now() / 86400) * 86400
        return queries.calls_since(self.db, midnight * 1000)

    def _budget(self, calls: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The engine's ``budget`` view, from the same rows and settings."""
        settings = self.settings
        budget = DailyBudget(
            settings.daily_budget_usd, self.clock,
            spent_today=sum(c["cost_usd"] for c in calls.values()),
            provider_limits={name: p.daily_budget_usd for name, p in settings.providers.items()},
            provider_spent={name: c["cost_usd"] for name, c in calls.items()},
        )
        return budget.view(tuple(settings.providers))

    def close(self) -> None:
        close_database(self.db)
