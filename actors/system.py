"""Wiring: start and stop the actor system, and the embedding API.

``start_system(settings)`` starts Persistence, Broadcaster, the four Agents and the
Supervisor (in that order), plus the Ticker and, a moment later, the SDK loading and the
model watch (``actors.background``); ``RoundtableSystem.stop()`` stops them in
reverse order and closes the database. ``run.py`` uses it, and so can an existing Python
app that embeds Roundtable (see the aliases at the bottom, named after the old guide).
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import peewee
import pykka

from actors import wire
from actors.agent import Agent
from actors.background import start_background
from actors.broadcaster import Broadcaster, Hub
from actors.clock import DAY_SECONDS, Clock, SystemClock
from actors.errors import RoundtableError
from actors.machine import parse_command
from actors.observe import alerts, events, metrics
from actors.persistence import Persistence
from actors.providers import registry
from actors.providers.templates import TemplateWriter
from actors.retention import RetentionJob, StatisticsJob
from actors.supervisor import Supervisor
from actors.ticker import Alarm, Ticker
from actors.topics import load_topics
from actors.view import EngineView, StatusView, Today
from settings import Settings
from storage import queries
from storage.db import close_database, connect
from storage.db import setup_database as _create_tables
from storage.leader import Lock, instance_id, take_engine_lock
from storage.schema import Upgrade

if TYPE_CHECKING:  # imported when the engine starts: start-up without keys stays light
    from actors.providers.budget import DailyBudget
    from actors.providers.gateway import Gateways

__all__ = [
    "RoundtableSystem",
    "configured_settings",
    "create_system",
    "get_countdown_info",
    "get_enhanced_status",
    "get_status",
    "setup_database",
    "start_enhanced_system",
    "start_system",
    "stop_system",
]

log = logging.getLogger("roundtable.system")

ASK_TIMEOUT: Final = 10.0
#: How long shutdown waits for an agent busy in a provider call (after aborting it).
AGENT_STOP_TIMEOUT: Final = 2.0


@dataclass
class RoundtableSystem:
    """A running engine. Methods may be called from any thread (they ask the actors)."""

    settings: Settings
    clock: Clock
    db: peewee.Database
    supervisor: pykka.ActorProxy[Supervisor]
    broadcaster: pykka.ActorProxy[Broadcaster]
    persistence: pykka.ActorProxy[Persistence]
    gateways: Gateways
    actors: list[pykka.ActorRef[Any]] = field(default_factory=list)
    ticker: Ticker | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    budget: DailyBudget | None = None
    #: The engine lock this system took itself (released by ``stop``); None when the
    #: caller (``actors.cluster``) holds it.
    own_lock: Lock | None = None
    #: Set by ``halt_engine``: Persistence stops waiting for an unanswering database.
    abandon: threading.Event = field(default_factory=threading.Event)
    #: Rung by the Supervisor when something may fall due before the Ticker's next look.
    alarm: Alarm = field(default_factory=Alarm)
    #: Set once the configured providers' SDKs are imported (``/readyz`` waits for it).
    sdks_loaded: threading.Event = field(default_factory=threading.Event)
    #: Freeze the heap once the SDKs are loaded (``create_system(tune_gc=True)``).
    tune_gc: bool = False

    def view(self) -> EngineView:
        """State, next round, the current round and its messages (seconds)."""
        view: EngineView = self.supervisor.view().get(timeout=ASK_TIMEOUT)
        return view

    def command(self, action: str, **arguments: object) -> dict[str, Any]:
        """Carry out an admin command (``actors.machine.Command``; ``queue_topic`` takes
        ``topic=``): the ``/control`` answer (``actors.wire.snapshot``). Raises the
        refusal (an ``actors.errors.RoundtableError``:
        ``UnknownAction``, ``BadPayload``, ``CommandRefused``, ``InvalidTopic``,
        ``StorageError``) on the calling thread; the Supervisor returns it as a value."""
        command, taken = parse_command(action, arguments)
        answer = self.supervisor.command(command, taken).get(timeout=ASK_TIMEOUT)
        if isinstance(answer, RoundtableError):
            raise answer
        return wire.snapshot(answer)

    def status(self) -> StatusView:
        """The view, per-provider health and today's spend (no keys)."""
        health = self.gateways.health()
        budget = self.budget.view(tuple(self.settings.providers)) if self.budget is not None else {}
        return StatusView(self.view(), "engine", instance_id(), health, Today.of(health), budget,
                          self.gateways.moderation_view())

    def providers_ready(self) -> bool:
        """Whether the configured providers' SDKs are loaded (after start-up, in the
        background: ``actors.background``)."""
        return self.sdks_loaded.is_set()

    def start_ticker(self) -> None:
        """Start deciding (a ``Ticker`` calling ``Supervisor.tick``) if not started yet, and
        the thread that loads the SDKs after start-up, then runs the model watch.
        ``create_system`` calls it, unless told not to (tests that tick by hand)."""
        if self.ticker is None:
            self.ticker = Ticker(self.supervisor, self.settings.tick_seconds, self.clock, self.alarm)
            self.ticker.start()
            start_background(self)

    def halt_engine(self) -> None:
        """Stop deciding at once (the ticker and the Supervisor): no more reveals, saves or
        broadcasts. For a lost engine lock; ``stop`` still has to follow. Any thread."""
        self.abandon.set()
        if self.ticker is not None:
            self.ticker.stop()
        supervisor = self.actors[-1]  # started last
        if supervisor.is_alive():
            supervisor.stop(block=False)

    def stop(self) -> None:
        """Stop in order: the ticker and the Supervisor first (so nothing written during
        shutdown can be revealed), then wake retry waits and close the provider clients,
        then the agents together under one deadline, the other actors, the database.

        An agent blocked in an SDK call cannot be interrupted (closing a client does not
        abort a request in flight); its thread is a daemon, so after ``AGENT_STOP_TIMEOUT``
        it is left behind and cannot keep the process alive.
        """
        self.halt_engine()
        supervisor, *others = reversed(self.actors)
        _stop(supervisor, ASK_TIMEOUT)
        for closer in self.closers:
            closer()
        self.gateways.close()
        agents = [ref for ref in others if ref.actor_class is Agent]
        stopping = [(ref, ref.stop(block=False)) for ref in agents if ref.is_alive()]
        deadline = time.monotonic() + AGENT_STOP_TIMEOUT
        for ref, future in stopping:
            try:
                future.get(timeout=max(deadline - time.monotonic(), 0.0))
            except pykka.Timeout:
                log.warning("%s is still in a provider call; leaving its thread behind", ref)
        for ref in others:
            if ref.actor_class is not Agent:
                _stop(ref, ASK_TIMEOUT)
        close_database(self.db)
        if self.own_lock is not None:
            self.own_lock.release()
        log.info("engine stopped")


def _stop(ref: pykka.ActorRef[Any], timeout: float) -> None:
    try:
        ref.stop(timeout=timeout)
    except pykka.ActorDeadError:
        pass
    except pykka.Timeout:
        log.warning("%s did not stop within %g s", ref, timeout)


def create_system(
    settings: Settings,
    *,
    hub: Hub | None = None,
    clock: Clock | None = None,
    providers: Mapping[str, Any] | None = None,
    start_ticker: bool = True,
    lock: Lock | None = None,
    sinks: Sequence[Callable[[str], None]] = (),
    tune_gc: bool = False,
) -> RoundtableSystem:
    """Start the engine. ``providers`` overrides the real API clients (tests, embedders).
    ``sinks`` get every event the engine publishes, from the first (``actors.cluster``:
    the standbys' feed); ``start_ticker=False`` leaves the ticks to the caller (tests).
    ``tune_gc`` (the service's own process: ``actors.cluster``) freezes the heap once the
    SDKs are loaded (``actors.background.freeze_start_up_heap``); it is process-wide, so an embedding host
    (and a test process) decides for itself.

    ``lock`` is the engine lock the caller already holds; without it this takes the
    database's engine lock itself (held until ``stop``) and raises ``EngineLockHeld``,
    naming the holder, when another process runs the engine: no path runs two engines on
    one database.
    """
    own_lock = None if lock is not None else take_engine_lock(settings.database_url)
    try:
        system = _create_system(settings, hub, clock, providers, sinks)
    except BaseException:
        if own_lock is not None:
            own_lock.release()
        raise
    system.own_lock, system.tune_gc = own_lock, tune_gc
    _start_retention(system)
    if start_ticker:
        system.start_ticker()
    providers_text = ", ".join(settings.configured_providers) or "none (templates only)"
    log.info("engine started: state %s, providers configured: %s", system.view().state, providers_text)
    return system


def _upgraded_database(database_url: str) -> peewee.Database:
    """The engine's database, its schema created or upgraded (and the connection closed
    again: Persistence opens its own). Fails fast, here, with a ``StorageError`` that
    says why, not with a dead actor later."""
    db = connect(database_url)
    try:
        _create_tables(db)
    finally:
        db.close()
    return db


def _create_system(
    settings: Settings, hub: Hub | None, clock: Clock | None, providers: Mapping[str, Any] | None,
    sinks: Sequence[Callable[[str], None]],
) -> RoundtableSystem:
    clock = clock or SystemClock()
    abandon = threading.Event()
    alarm = Alarm()
    db = _upgraded_database(settings.database_url)
    refs: list[pykka.ActorRef[Any]] = []
    try:
        persistence_ref = Persistence.start(db, abandon, clock=clock)
        refs.append(persistence_ref)
        persistence = persistence_ref.proxy()
        broadcaster_ref = Broadcaster.start(hub, sinks)
        refs.append(broadcaster_ref)
        templates = TemplateWriter()
        gateways, chains, closers, budget = _build_chains(
            settings, clock, templates, persistence, providers
        )
        agents = {}
        for persona in (registry.persona_for(name) for name in settings.providers):
            ref = Agent.start(persona, chains[persona.agent], templates, persistence)
            refs.append(ref)
            agents[persona.agent] = ref.proxy()
        topics = load_topics(settings.topics_file)
        supervisor_ref = Supervisor.start(
            settings,
            clock=clock,
            agents=agents,
            persistence=persistence,
            broadcaster=broadcaster_ref.proxy(),
            templates=templates,
            topics=topics,
            last_conversation=queries.last_completed_conversation(db),
            rng=random.Random(),
            wake=alarm.ring,
        )
        refs.append(supervisor_ref)
    except BaseException:
        for ref in reversed(refs):
            ref.stop()
        raise
    return RoundtableSystem(
        settings=settings, clock=clock, db=db, supervisor=supervisor_ref.proxy(),
        broadcaster=broadcaster_ref.proxy(), persistence=persistence, gateways=gateways,
        actors=refs, closers=closers, budget=budget, abandon=abandon, alarm=alarm,
    )


def _start_retention(system: RoundtableSystem) -> None:
    """The daily statistics refresh and, with ``RETENTION_DAYS``, the daily prune; stopped
    with the engine's closers."""
    days = system.settings.retention_days
    jobs: list[RetentionJob | StatisticsJob] = [StatisticsJob(system.persistence)]
    if days is not None:
        jobs.append(RetentionJob(system.persistence, system.clock, days * DAY_SECONDS))
    for job in jobs:
        job.start()
        system.closers.insert(0, job.stop)


def _flagged_alert(text: str) -> None:
    """The moderation gate's alert ("provider X: N flagged replies in a row ...")."""
    events.alert("replies_flagged", text, key=text.split(":", 1)[0])


def _build_chains(
    settings: Settings,
    clock: Clock,
    templates: TemplateWriter,
    persistence: Any,
    providers: Mapping[str, Any] | None,
) -> tuple[Any, dict[str, Any], list[Any], Any]:
    """One provider chain per agent, sharing the provider gateways and the daily budget;
    returns (gateways, chains, closers, budget)."""
    from actors.providers.budget import DailyBudget
    from actors.providers.chain import ProviderChain
    from actors.providers.gateway import build_gateways
    from actors.providers.pricing import PriceTable

    # A provider that keeps producing flagged replies is an operator's business.
    gateways = build_gateways(settings, clock, providers, alert=_flagged_alert)
    # Today's calls and cost survive restarts in /api/status, as the budget does.
    today = persistence.calls_today().get(timeout=ASK_TIMEOUT)
    gateways.seed_today(today)
    spent = persistence.spend_today().get(timeout=ASK_TIMEOUT)
    budget = DailyBudget(
        settings.daily_budget_usd, clock, spent_today=spent,
        provider_limits={name: ps.daily_budget_usd for name, ps in settings.providers.items()},
        provider_spent={name: float(t.get("cost_usd", 0.0)) for name, t in today.items()},
        on_reached=events.budget_reached,
    )
    metrics.prime(settings.providers)
    prices = PriceTable.load(settings.prices_file)
    chains = {}
    for persona in (registry.persona_for(name) for name in settings.providers):
        own = settings.providers[persona.agent]
        chains[persona.agent] = ProviderChain(
            agent=persona.agent,
            order=(persona.agent, *own.fallbacks),
            gateways=gateways,
            templates=templates,
            prices=prices,
            budget=budget,
            clock=clock,
            max_attempts=settings.provider_max_attempts,
        )
    closers = [chain.close for chain in chains.values()]
    return gateways, chains, closers, budget


# -- the embedding API, for an existing Python app ------------------------------------------
_current: RoundtableSystem | None = None
_current_lock = threading.Lock()
_atexit_registered = False


def configured_settings(env_file: str = ".env") -> Settings:
    """The settings as ``run.py`` reads them: ``env_file`` (if it exists; the process's
    environment wins), then the environment. The embedding API's one reader of the
    environment; raises ``SettingsError`` (one line naming the setting)."""
    import os

    from dotenv import load_dotenv

    if os.path.isfile(env_file):
        load_dotenv(env_file, override=False)
    return Settings.from_env(os.environ)


def start_system(settings: Settings | None = None, **kwargs: Any) -> RoundtableSystem:
    """Start the process-wide engine once; later calls return the same one.

    Without ``settings``, they are read like ``run.py`` does (``.env``, then the
    environment). Keyword arguments go to ``create_system`` (``hub``, ``clock``,
    ``providers``). Alerts go to ``ALERT_WEBHOOK_URL`` as they do under ``run.py``.
    ``stop_system`` runs at interpreter exit, and every engine thread is a daemon, so a
    host process ends on its own when it returns.
    """
    global _current, _atexit_registered
    with _current_lock:
        if _current is None:
            _current = create_system(settings or configured_settings(), **kwargs)
            alerts.configure(_current.settings.alert_webhook_url)
            if not _atexit_registered:
                atexit.register(stop_system)
                _atexit_registered = True
        return _current


def stop_system() -> None:
    """Stop the process-wide engine if one runs; idempotent, any thread. Registered with
    ``atexit`` by ``start_system``."""
    global _current
    with _current_lock:
        if _current is not None:
            _current.stop()
            _current = None
            alerts.shutdown()  # sends what is queued (briefly)


def get_status() -> dict[str, Any]:
    if _current is None:
        return {"state": "stopped"}
    return wire.status(_current.status())


def get_countdown_info() -> dict[str, Any]:
    if _current is None:
        return wire.stopped_countdown(SystemClock().now())
    return wire.countdown(_current.view())


def setup_database(database_url: str | None = None) -> Upgrade:
    """Create or upgrade the schema (idempotent) without starting the engine; without an
    argument, of the configured database (``DATABASE_URL`` from ``.env`` or the
    environment, as ``run.py`` reads it)."""
    db = connect(database_url or configured_settings().database_url)
    try:
        return _create_tables(db)
    finally:
        db.close()


# Names an integrator of the old guide looks for.
start_enhanced_system = start_system
get_enhanced_status = get_status
