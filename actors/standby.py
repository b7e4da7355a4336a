"""What a standby instance serves while another instance runs the engine.

``StandbySystem`` implements ``actors.engine.Engine`` (the surface the web layer uses),
built from what the engine has stored: ``system_status``, the topic deck, the active
round and its messages, the last completed round, today's ``api_calls``. It builds its
view the same way as the engine (``actors.view.engine_view``, in seconds), so ``hello``
and ``/api/status`` have the engine's keys, with ``"role": "standby"``. Admin commands
are relayed to the engine's instance through the database (``actors.relay.
RemoteEngine``). Live events reach the standby's visitors through ``actors.follow.
Follower``, which ``actors.cluster`` starts. Its methods read the database on the
calling thread (the web layer's worker threads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee

from actors.clock import Clock, utc_day_start
from actors.machine import parse_command
from actors.providers.budget import DailyBudget
from actors.providers.moderation import Verdict, failure_mode
from actors.relay import RemoteEngine
from actors.view import (
    EngineView,
    ModerationView,
    ProviderHealth,
    StatusView,
    Today,
    Upcoming,
    engine_view,
)
from settings import Settings
from storage import queries
from storage.db import close_database
from storage.leader import instance_id

__all__ = ["StandbySystem"]


class StandbySystem:
    """A read-only view of the engine that runs elsewhere. Any thread."""

    def __init__(
        self, settings: Settings, db: peewee.Database, clock: Clock,
        upcoming: Callable[[int], Upcoming | None] | None = None,
    ) -> None:
        """``upcoming`` (``Delivered.upcoming``) says who speaks next in a round, as the
        engine's events said (the plan lives in the engine)."""
        self.settings = settings
        self.db = db
        self.clock = clock
        self._remote = RemoteEngine(db)
        self._upcoming = upcoming

    def view(self) -> EngineView:
        """The engine's view, built as the engine builds it, from what it stored."""
        status = queries.load_status(self.db)
        current = queries.active_conversation(self.db)
        upcoming = self._upcoming(current.id) if self._upcoming and current else None
        return engine_view(
            now=self.clock.now(), state=status["state"], next_round_at=status["next_round_at"],
            deck=queries.load_topic_deck(self.db), conversation=current,
            last_conversation=queries.last_completed_conversation(self.db),
            messages_per_round=self.settings.messages_per_round,
            agents=tuple(self.settings.providers), upcoming=upcoming,
        )

    def providers_ready(self) -> bool:
        return True  # the engine's instance calls the providers

    def status(self) -> StatusView:
        """As the engine's: provider health has what the database and settings say (today's
        calls, tokens and cost from ``api_calls``); what only the engine's memory holds
        (circuits, latency, errors, model checks, moderation counts, the moderation checks in
        effect) is None."""
        calls = self._calls_today()
        providers = {name: _health(ps.configured, ps.model, len(ps.api_keys), calls.get(name, {}))
                     for name, ps in self.settings.providers.items()}
        return StatusView(self.view(), "standby", instance_id(), providers, Today.of(providers),
                          self._budget(calls), self._moderation())

    def command(self, action: str, **arguments: object) -> dict[str, Any]:
        """Relayed to the engine (a bad request is answered here): its view, or its
        refusal raised with the same class, code and status, as a local engine would."""
        command, taken = parse_command(action, arguments)
        return dict(self._remote.ask({"action": str(command), **taken}))

    def _calls_today(self) -> dict[str, dict[str, Any]]:
        """Per provider, calls, tokens and cost since UTC midnight (the engine's ``api_calls``)."""
        return queries.calls_since(self.db, utc_day_start(self.clock.now()))

    def _moderation(self) -> ModerationView:
        """``MODERATION`` and ``MODERATION_FAIL`` as set; the checks in effect are the
        engine's to know (its gate may have found OpenAI's endpoint missing)."""
        mode = self.settings.moderation
        return ModerationView(mode, fails=failure_mode(mode, self.settings.moderation_fail_open))

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


def _health(configured: bool, model: str, keys: int, today: dict[str, Any]) -> ProviderHealth:
    return ProviderHealth(
        configured=configured, model=model, keys=keys, calls_today=int(today.get("calls", 0)),
        prompt_tokens_today=int(today.get("prompt_tokens", 0)),
        completion_tokens_today=int(today.get("completion_tokens", 0)),
        cost_today_usd=float(today.get("cost_usd", 0.0)),
        moderation=dict.fromkeys(map(str, Verdict)),
    )
