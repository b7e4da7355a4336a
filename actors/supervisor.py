"""The Supervisor actor: owns the schedule, the state machine and the round loop.

It is the only place that decides what happens next. It never blocks on an agent: it
asks an agent to write message k+1 as soon as message k is revealed, and the reply comes
back as a ``generation_done`` message. A ``Ticker`` thread calls ``tick``, which takes
every decision that fell due (a slot arriving, a reveal falling due, a deadline passing,
the complete hold ending), against the injected clock, and says when the next one falls
due; the Ticker sleeps until then (or until ``wake`` is called: a reply or a command may
bring something due sooner). Admin commands are messages too, so they are handled
between ticks while generation runs elsewhere.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, Final

import pykka

from actors import wire
from actors.agent import template_outcome
from actors.clock import Clock
from actors.errors import InvalidTopic, RoundtableError
from actors.machine import Command, RoundMachine, State
from actors.memory import DIGEST_ROUNDS, digest
from actors.observe import events
from actors.persistence import CALL_FAILED, await_write
from actors.personas import Persona
from actors.providers import registry
from actors.providers.base import EarlierRound, GenerationRequest, Outcome, Turn
from actors.round import ActiveRound, iso
from actors.schedule import (
    RoundPlan,
    next_slot,
    plan_round,
    reflow_after,
    replan_remaining,
    round_must_end_by,
)
from actors.topics import TopicDeck, clean_topic
from actors.view import EngineView, MessageView, RoundView, Upcoming, engine_view
from settings import Settings
from storage.errors import StorageError
from storage.leader import instance_id

__all__ = ["Supervisor"]

log = logging.getLogger("roundtable.supervisor")

#: How long the Supervisor waits on a database write before logging it as failed.
STORAGE_TIMEOUT: Final = 10.0
#: How often the engine writes its heartbeat to ``system_status`` (with its leader id).
HEARTBEAT_SECONDS: Final = 15.0
#: Past a message's deadline, how long to wait for a hung agent before writing a
#: template here instead (the chain itself gives up at the deadline).
AGENT_MARGIN_SECONDS: Final = 2.0
#: After a message could not be stored at all (not a busy database: that is retried by
#: Persistence until it answers), how long before trying again.
STORE_AGAIN_SECONDS: Final = 1.0


class Supervisor(pykka.ThreadingActor):
    """Every public method runs on the Supervisor's own thread, one message at a time."""

    #: A daemon thread: an embedding host that returns (or asks to stop) must exit even
    #: if it never called ``stop_system`` (which also runs at interpreter exit).
    use_daemon_thread = True

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        agents: Mapping[str, Any],
        persistence: Any,
        broadcaster: Any,
        templates: Any,
        topics: tuple[str, ...],
        last_conversation: RoundView | None = None,
        rng: random.Random | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._wake = wake or (lambda: None)
        self.settings = settings
        self._clock = clock
        self._agents = agents
        #: Speaking order: the registry's order of the providers in settings.
        self._personas = tuple(registry.persona_for(name) for name in settings.providers)
        self._persistence = persistence
        self._broadcaster = broadcaster
        self._templates = templates
        self._rng = rng or random.Random()
        self._topics = topics
        self._deck = TopicDeck(topics, self._rng)
        self._earlier: tuple[EarlierRound, ...] = ()
        self._machine = RoundMachine()
        self._round: ActiveRound | None = None
        self._next_slot = next_slot(clock.now(), settings.round_interval_seconds)
        self._complete_until = 0.0
        self._last_conversation = last_conversation
        self._self: Any = None
        self._leader_id = instance_id()
        self._last_heartbeat = 0.0

    # -- lifecycle -------------------------------------------------------------------
    def on_start(self) -> None:
        self._self = self.actor_ref.proxy()
        self._recover()

    def _recover(self) -> None:
        """Restore pause and any active round from the database (restart or crash)."""
        status = self._persistence.load_status().get(timeout=STORAGE_TIMEOUT)
        saved_deck = self._persistence.load_topic_deck().get(timeout=STORAGE_TIMEOUT)
        self._deck = TopicDeck.restore(self._topics, saved_deck, self._rng)
        self._save_deck()
        active = self._persistence.load_active_conversation().get(timeout=STORAGE_TIMEOUT)
        now = self._clock.now()
        # Slots an admin skipped before the restart stay skipped: the grid moves past
        # every upcoming slot that is already recorded as skipped (whatever the interval
        # was then, only slots on this grid can match).
        skipped = self._persistence.skipped_slots_from(self._next_slot).get(timeout=STORAGE_TIMEOUT)
        for slot in skipped:
            if abs(slot - self._next_slot) < 0.001:
                self._next_slot += self.settings.round_interval_seconds
        if active is not None:
            self._earlier = self._recall()
            self._round = self._resumed_round(active, now)
            self._machine = RoundMachine(State.ACTIVE)
            log.info(
                "resuming round %d (%s) at message %d of %d",
                self._round.conversation_id, self._round.topic,
                self._round.next_seq, self.settings.messages_per_round,
            )
        if status["paused"]:
            self._machine.move("pause")
            log.info("engine is paused (restored); resume at /control")
        self._save_status()

    def _resumed_round(self, active: RoundView, now: float) -> ActiveRound:
        started_at = active.started_at if active.started_at is not None else now
        return ActiveRound.resumed(active, started_at, lambda seq: self._plan_from(now, seq, started_at))

    # -- the clock -------------------------------------------------------------------
    def tick(self) -> float:
        """Take every decision that has fallen due; when the next one falls due (epoch
        seconds: the Ticker sleeps until then). Called by the Ticker."""
        now = self._clock.now()
        self._handle_slots(now)
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._save_status()
        state = self._machine.state
        if state is State.ACTIVE:
            self._advance_round(now)
        elif state is State.COMPLETE and now >= self._complete_until:
            self._machine.move("end_hold")
            self._announce_state()
        return self._next_due()

    def _next_due(self) -> float:
        """The earliest instant ``tick`` has something to do: the next slot, the heartbeat,
        the end of the complete hold, the next message's reveal (when it is ready; when
        it is being stored, ``message_saved`` comes first) or rescue deadline, or the
        round's end once every message is out."""
        due = min(self._next_slot, self._last_heartbeat + HEARTBEAT_SECONDS)
        state, rnd = self._machine.state, self._round
        if state is State.COMPLETE:
            return min(due, self._complete_until)
        if state is not State.ACTIVE or rnd is None:
            return due
        if rnd.next_seq > self.settings.messages_per_round:
            return min(due, self._finish_at(rnd))
        seq = rnd.next_seq
        planned = rnd.plan.reveal_time(seq)
        if seq not in rnd.ready:
            return min(due, planned + self.settings.generation_grace_seconds + AGENT_MARGIN_SECONDS)
        if rnd.storing == seq:
            return due
        return min(due, max(planned, rnd.store_again_at))

    def _handle_slots(self, now: float) -> None:
        while now >= self._next_slot:
            slot = self._next_slot
            self._next_slot = slot + self.settings.round_interval_seconds
            state = self._machine.state
            if state in (State.COUNTDOWN, State.COMPLETE):
                self._start_round(now, scheduled_at=slot, forced=False)
            else:
                reason = "paused" if state is State.PAUSED else "a round was still active"
                self._record_skip(slot, reason)
            self._save_status()

    # -- rounds ------------------------------------------------------------------------
    def _start_round(self, now: float, *, scheduled_at: float | None, forced: bool) -> None:
        topic = self._deck.draw()
        # Saved before the round exists: a crash in between loses a topic's turn in this
        # cycle, never repeats one.
        self._save_deck()
        self._earlier = self._recall()
        try:
            conversation_id = self._persistence.create_conversation(
                topic, now, scheduled_at, forced
            ).get(timeout=STORAGE_TIMEOUT)
        except CALL_FAILED as exc:
            log.error("could not start a round: the database did not record it (%s)", exc)
            return
        except Exception:  # a bug: said with its traceback; the engine goes on
            log.exception("could not start a round")
            return
        plan = self._plan_from(now, 1, now)
        self._round = ActiveRound(conversation_id, topic, now, scheduled_at, forced, plan)
        self._machine.move("begin_round")
        log.info(
            "round %d started (%s): %s; last message planned in %.0f s",
            conversation_id, "forced" if forced else "scheduled", topic, plan.ends_at - now,
        )
        self._announce_state()
        self._advance_round(now)

    def _plan_from(self, now: float, first_seq: int, started_at: float) -> RoundPlan:
        """The plan for messages ``first_seq`` on, the first of them ``TYPING_LEAD_SECONDS``
        from ``now``: visitors see the round start (or resume) and then its speaker typing,
        as before every other message, and the state event's fan-out is not in the same
        instant as the message's (at 10,000 visitors each takes a noticeable while)."""
        s = self.settings
        end_by = round_must_end_by(now, s.round_interval_seconds, s.min_countdown_seconds)
        first_at = min(now + s.typing_lead_seconds, end_by)  # a long lead never pushes it past
        base = RoundPlan(started_at, (started_at,) * s.messages_per_round, end_by)
        return replan_remaining(
            base, first_seq, first_at, s.message_gap_min_seconds, s.message_gap_max_seconds, end_by, self._rng
        ) if first_seq > 1 else plan_round(
            first_at, s.messages_per_round, s.message_gap_min_seconds, s.message_gap_max_seconds, end_by,
            self._rng, started_at=now,
        )

    def _advance_round(self, now: float) -> None:
        """Request, rescue, announce and reveal whatever is due for the next message."""
        rnd = self._round
        assert rnd is not None
        while rnd.next_seq <= self.settings.messages_per_round:
            seq = rnd.next_seq
            planned = rnd.plan.reveal_time(seq)
            self._request(rnd, seq, planned)
            if seq not in rnd.ready and now > planned + self.settings.generation_grace_seconds + AGENT_MARGIN_SECONDS:
                self._rescue(rnd, seq, planned)
            if rnd.announced.get(seq) != planned:  # visitors were not told this plan
                self._publish_typing(rnd)
            if seq not in rnd.ready or now < planned:
                return
            self._store(rnd, seq, planned, now)
            return  # revealed when stored: ``message_saved``
        if now >= self._finish_at(rnd):
            self._finish_round(now)

    def _finish_at(self, rnd: ActiveRound) -> float:
        """When a round whose messages are all revealed is complete: ``TYPING_LEAD_SECONDS``
        after the last, as the first comes that long after the start. Visitors read the
        last message before the round is marked complete, and at 10,000 visitors the
        message's fan-out and the ``complete`` state's are not in one instant (each took
        ~190 ms to reach the last of them; together 370 ms for the message). Never later
        than the plan's end (a long lead would hold the next slot's countdown)."""
        last = rnd.revealed[-1].revealed_at
        return min(last + self.settings.typing_lead_seconds, max(last, rnd.plan.must_end_by))

    def _request(self, rnd: ActiveRound, seq: int, planned: float) -> None:
        if seq in rnd.requested or seq in rnd.ready:
            return
        rnd.requested.add(seq)
        request = self._request_for(rnd, seq, planned)
        agent = self._agents[request.persona.agent]
        agent.write((rnd.conversation_id, seq), request, self._self)

    def _request_for(self, rnd: ActiveRound, seq: int, planned: float) -> GenerationRequest:
        persona = self._speaker(seq)
        history = tuple(Turn(m.agent, m.persona, m.content) for m in rnd.revealed)
        return GenerationRequest(
            persona=persona,
            topic=rnd.topic,
            history=history,
            seq=seq,
            messages_per_round=self.settings.messages_per_round,
            deadline=planned + self.settings.generation_grace_seconds,
            earlier=self._earlier,
        )

    def _speaker(self, seq: int) -> Persona:
        return self._personas[(seq - 1) % len(self._personas)]

    def _rescue(self, rnd: ActiveRound, seq: int, planned: float) -> None:
        """The agent is stuck past its deadline: write this one from templates here."""
        request = self._request_for(rnd, seq, planned)
        log.warning("agent %s did not answer seq %d in time; using a template", request.persona.agent, seq)
        rnd.ready[seq] = template_outcome(self._templates, request, f"{request.persona.agent}: agent did not answer in time")

    def generation_done(self, token: tuple[int, int], outcome: Outcome) -> None:
        """An agent's reply. Stale replies (another round, already rescued) are dropped."""
        rnd = self._round
        conversation_id, seq = token
        if rnd is None or rnd.conversation_id != conversation_id or seq in rnd.ready or seq < rnd.next_seq:
            log.info("ignoring a late reply for round %d seq %d", conversation_id, seq)
            return
        rnd.ready[seq] = outcome
        if self._machine.state is State.ACTIVE:
            self._advance_round(self._clock.now())
        self._wake()  # its reveal may fall due before the Ticker's next look

    def _store(self, rnd: ActiveRound, seq: int, planned: float, now: float) -> None:
        """Have message ``seq`` stored; it is revealed when Persistence says it is stored
        (``message_saved``), however long the database takes: a message shown to
        visitors is always stored, and a late one re-flows the rest of the plan."""
        if rnd.storing == seq or now < rnd.store_again_at:
            return
        rnd.storing = seq
        persona = self._speaker(seq)
        self._persistence.store_message(
            self._self, (rnd.conversation_id, seq), rnd.conversation_id, seq, persona.agent,
            persona.name, rnd.ready[seq], planned, now,
        )

    def message_saved(self, token: tuple[int, int], message: MessageView | None) -> None:
        """Persistence stored message ``token`` (or could not: ``message`` is None)."""
        rnd = self._round
        conversation_id, seq = token
        if rnd is None or rnd.conversation_id != conversation_id or rnd.storing != seq:
            log.info("message %d of round %d was stored after its round ended", seq, conversation_id)
            return
        rnd.storing = None
        now = self._clock.now()
        if message is None:  # already logged by Persistence; try again shortly
            rnd.store_again_at = now + STORE_AGAIN_SECONDS
            return
        self._reveal(rnd, seq, message, now)
        if self._machine.state is State.ACTIVE:
            self._advance_round(now)
        self._wake()

    def _reveal(self, rnd: ActiveRound, seq: int, message: MessageView, now: float) -> None:
        outcome = rnd.ready.pop(seq)
        persona = self._speaker(seq)
        rnd.revealed.append(message)
        planned = rnd.plan.reveal_time(seq)
        if now > planned:  # behind the plan: give the next messages their gaps and time
            s = self.settings
            rnd.plan = reflow_after(rnd.plan, seq, now, s.message_gap_min_seconds, s.message_gap_max_seconds, self._rng)
        self._broadcaster.publish(wire.message_event(message, self._upcoming(rnd)))
        events.message_revealed(persona.agent, outcome.provider, str(outcome.source), outcome.fallback_reason, now - planned)
        # The reason for a fallback was logged where it happened (the chain, or _rescue).
        log.info(
            "round %d message %d/%d by %s revealed: %s from %s/%s",
            rnd.conversation_id, seq, self.settings.messages_per_round, persona.name,
            outcome.source, outcome.provider, outcome.model,
        )

    def _publish_typing(self, rnd: ActiveRound) -> None:
        """A ``typing`` frame: only when the plan moved since visitors were last told."""
        upcoming = self._upcoming(rnd)
        if upcoming is not None:
            self._broadcaster.publish(wire.typing(rnd.conversation_id, upcoming))

    def _upcoming(self, rnd: ActiveRound | None) -> Upcoming | None:
        """Who speaks next and when (``at``; ``typing_at`` is when the widget shows them
        typing, on its own clock), remembered as announced. None when nothing is due."""
        if rnd is None or self._machine.state is not State.ACTIVE:
            return None
        seq = rnd.next_seq
        if seq > self.settings.messages_per_round:
            return None
        planned = rnd.plan.reveal_time(seq)
        rnd.announced[seq] = planned
        persona = self._speaker(seq)
        return Upcoming(seq, persona.agent, persona.name, planned, planned - self.settings.typing_lead_seconds)

    def _finish_round(self, now: float) -> None:
        self._end_round(now, "complete", None)
        self._machine.move("finish_round")
        self._complete_until = now + self.settings.complete_hold_seconds
        self._announce_state()

    def _end_round(self, now: float, status: str, reason: str | None) -> None:
        rnd = self._round
        assert rnd is not None
        self._write("end round", self._persistence.end_conversation(rnd.conversation_id, status, now, reason))
        if status == "complete":  # the same rule as storage's last_completed_conversation
            self._last_conversation = rnd.view(status, ended_at=now)
        log.info("round %d %s with %d messages", rnd.conversation_id, status, len(rnd.revealed))
        events.round_ended(rnd.conversation_id, status, rnd.topic, [m.source for m in rnd.revealed])
        self._round = None

    def _record_skip(self, slot: float, reason: str) -> None:
        log.info("slot at %s skipped: %s", iso(slot), reason)
        events.round_ended(None, "skipped", "", ())
        # A skipped slot does not use up its topic: the next round gets it.
        self._write("record a skipped slot", self._persistence.record_skipped_slot(slot, reason, self._deck.peek()))

    def _save_deck(self) -> None:
        self._write("save the topic deck", self._persistence.save_topic_deck(self._deck.state()))

    def _recall(self) -> tuple[EarlierRound, ...]:
        """The digest of the latest finished rounds; empty (and logged) if storage fails."""
        try:
            rounds = self._persistence.recent_rounds(DIGEST_ROUNDS).get(timeout=STORAGE_TIMEOUT)
        except CALL_FAILED as exc:
            log.warning("could not read earlier rounds (%s); this round starts without them", exc)
            return ()
        except Exception:  # a bug: said with its traceback; the round goes on
            log.exception("could not read earlier rounds; this round starts without them")
            return ()
        return digest(rounds)

    def _write(self, what: str, future: Any) -> None:
        """Wait for a write: what admins and the API see next includes it; a failure is
        logged and the engine goes on (the round matters more)."""
        await_write(what, future, STORAGE_TIMEOUT, log)

    # -- admin commands --------------------------------------------------------------
    def command(self, command: Command, arguments: Mapping[str, str]) -> EngineView | RoundtableError:
        """Carry out an admin command (parsed by ``actors.machine.parse_command``): the
        view, or the refusal as a value (``CommandRefused`` when illegal now,
        ``InvalidTopic``, ``StorageError`` when the database did not record a forced
        round), never raised across the actor boundary: pykka would log its traceback.
        The web layer logs the one line a refusal gets."""
        refused = self._machine.refusal(command)
        if refused is not None:
            return refused
        before = self._machine.state
        handlers: dict[Command, Callable[[float, Mapping[str, str]], None]] = {
            Command.FORCE: self._force, Command.SKIP: self._skip, Command.PAUSE: self._pause,
            Command.RESUME: self._resume, Command.QUEUE_TOPIC: self._queue_topic,
        }
        try:
            handlers[command](self._clock.now(), arguments)
        except RoundtableError as refusal:
            return refusal
        log.info("admin command: %s (state %s -> %s)", command, before, self._machine.state)
        self._save_status()
        self._wake()
        return self.view()

    def _queue_topic(self, now: float, arguments: Mapping[str, str]) -> None:
        """Queue an admin's topic for the next free round (after topics queued before);
        ``InvalidTopic`` when it is empty, too long, or too many are queued."""
        try:
            topic = clean_topic(arguments["topic"])
            self._deck.queue(topic)
        except ValueError as exc:
            raise InvalidTopic(str(exc)) from None
        self._save_deck()
        log.info("admin queued a topic (%d waiting): %s", len(self._deck.queued), topic)
        self._announce_state()

    def _force(self, now: float, arguments: Mapping[str, str]) -> None:
        self._start_round(now, scheduled_at=None, forced=True)
        if self._machine.state is not State.ACTIVE:
            raise StorageError("the round could not be started: the database did not record it")

    def _skip(self, now: float, arguments: Mapping[str, str]) -> None:
        if self._machine.state is State.ACTIVE:
            self._end_round(now, "skipped", "skipped by admin")
            self._machine.move("abandon_round")
        else:
            slot = self._next_slot
            self._next_slot = slot + self.settings.round_interval_seconds
            self._record_skip(slot, "skipped by admin")
            if self._machine.state is State.COMPLETE:
                self._machine.move("end_hold")
        self._announce_state()

    def _pause(self, now: float, arguments: Mapping[str, str]) -> None:
        self._machine.move("pause")
        self._announce_state()

    def _resume(self, now: float, arguments: Mapping[str, str]) -> None:
        rnd = self._round
        if rnd is None:
            self._machine.move("resume_countdown")
        else:
            rnd.plan = self._plan_from(now, rnd.next_seq, rnd.started_at)
            self._machine.move("resume_round")
        self._announce_state()
        if rnd is not None:
            self._advance_round(now)

    # -- views -----------------------------------------------------------------------
    def view(self) -> EngineView:
        """The engine's state, the next round, the current round and its messages so far
        (``hello``, ``/api/countdown``, ``/api/status`` and the ``/control`` answer)."""
        rnd = self._round
        return engine_view(
            now=self._clock.now(), state=str(self._machine.state), next_round_at=self._next_slot,
            deck=self._deck.state(), conversation=rnd.view() if rnd else None,
            last_conversation=self._last_conversation,
            messages_per_round=self.settings.messages_per_round,
            agents=tuple(p.agent for p in self._personas), upcoming=self._upcoming(rnd),
        )

    def _announce_state(self) -> None:
        self._broadcaster.publish(wire.state(self.view()))
        self._save_status()

    def _save_status(self) -> None:
        """Tell Persistence the engine's state, with this instance's id and a heartbeat."""
        self._last_heartbeat = self._clock.now()
        self._persistence.save_status(
            state=str(self._machine.state),
            paused=self._machine.state is State.PAUSED,
            next_round_at=self._next_slot,
            leader_id=self._leader_id,
            heartbeat_at=self._last_heartbeat,
        )
