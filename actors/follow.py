"""A standby's feed of the engine that runs elsewhere: what its visitors are sent, and when.

``Delivered`` remembers the last message and state this instance's visitors were sent,
whichever role it had then (the engine notes what it publishes through a Broadcaster
sink). ``Follower`` feeds a standby's Hub:

- on PostgreSQL, from the engine's NOTIFY stream (``storage.notify.EventListener``), with a
  catch-up from the database each time the listener (re)connects, before a state change
  and whenever a message arrives after a gap (an engine that died between storing a
  message and publishing it, or a NOTIFY lost while the listener was away);
- on SQLite (no NOTIFY), by polling the database every ``POLL_SECONDS``.

Either way a visitor sees every stored message once, in order, across a takeover: the
new engine resumes after the last stored seq, and the catch-up fills in the rest.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

from actors import wire
from actors.broadcaster import encode
from actors.standby import StandbySystem
from actors.view import MessageView, Upcoming
from storage import queries
from storage.errors import StorageError

__all__ = ["Delivered", "Follower"]

log = logging.getLogger("roundtable.follow")

#: How often a SQLite standby reads the database for the engine's progress.
POLL_SECONDS: Final = 0.25


class Delivered:
    """The last message (conversation, seq) and state sent to this instance's visitors.
    Any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.conversation_id: int | None = None
        self.seq = 0
        self.state: tuple[str, int | None] | None = None
        #: The latest ``next`` the engine announced, and the round it belongs to.
        self._next: tuple[int | None, dict[str, Any] | None] = (None, None)

    def note(self, data: str) -> None:
        """Record an encoded event the engine published (a Broadcaster sink)."""
        self.admit(json.loads(data))

    def admit(self, event: dict[str, Any]) -> bool:
        """Record ``event``; False for a message already sent (drop it)."""
        with self._lock:
            kind = event.get("type")
            if kind == "state":
                self.state = (str(event["state"]), event.get("conversation_id"))
            if kind in ("state", "typing"):
                self._next = (event.get("conversation_id"), event if kind == "typing" else event.get("next"))
            if kind != "message":
                return True
            conversation_id, seq = int(event["conversation_id"]), int(event["seq"])
            if conversation_id == self.conversation_id and seq <= self.seq:
                return False
            if conversation_id != self.conversation_id and self.conversation_id is not None \
                    and conversation_id < self.conversation_id:
                return False  # an older round's message
            self.conversation_id, self.seq = conversation_id, seq
            self._next = (conversation_id, event.get("next"))
            return True

    def upcoming(self, conversation_id: int) -> Upcoming | None:
        """Who speaks next in round ``conversation_id``, as the engine last announced it
        to this instance's visitors (None if it did not, or not for that round)."""
        with self._lock:
            announced_for, announced = self._next
        if announced_for != conversation_id or not announced:
            return None
        return wire.upcoming_of(announced)

    def follows(self, event: dict[str, Any]) -> bool:
        """Whether message ``event`` comes right after the last one sent."""
        with self._lock:
            if event["conversation_id"] == self.conversation_id:
                return int(event["seq"]) == self.seq + 1
            return int(event["seq"]) == 1


class Follower:
    """Hands a standby's Hub the engine's events: ``deliver`` takes encoded events (any
    thread; ``Hub.deliver_threadsafe`` fits). ``on_event`` and ``catch_up`` run on the
    listener's or the poller's thread, one at a time."""

    def __init__(self, standby: StandbySystem, delivered: Delivered, deliver: Callable[[str], None]) -> None:
        self._standby = standby
        self._delivered = delivered
        self._deliver = deliver
        self._serial = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the stream (PostgreSQL) -------------------------------------------------------
    def on_event(self, data: str) -> None:
        """An event from the engine's stream: fill any gap first, drop repeats."""
        with self._serial:
            event = json.loads(data)
            kind = event.get("type")
            if kind == "state":  # the rest of the round being left, before the change
                self._catch_up_quietly(include_state=False, include_current=False)
            elif kind == "message" and not self._delivered.follows(event):
                self._catch_up_quietly(include_state=False, include_current=True)
            if self._delivered.admit(event):
                self._deliver(data)

    # -- polling (SQLite) --------------------------------------------------------------
    def start_polling(self) -> None:
        """Catch up every ``POLL_SECONDS`` on a daemon thread, until ``stop``."""
        self._thread = threading.Thread(target=self._poll, name="roundtable-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stopped.wait(POLL_SECONDS):
            self.catch_up_quietly()

    # -- catching up from the database -------------------------------------------------
    def catch_up_quietly(self) -> None:
        """``catch_up``, logging a database error (once) instead of raising."""
        with self._serial:
            self._catch_up_quietly(include_state=True, include_current=True)

    def _catch_up_quietly(self, *, include_state: bool, include_current: bool) -> None:
        try:
            self._catch_up(include_state, include_current)
        except StorageError as exc:
            log.warning("could not read the engine's progress from the database: %s", exc)

    def _catch_up(self, include_state: bool, include_current: bool) -> None:
        """Send what the database has and the visitors were not sent: the rest of the
        round they were watching, the state if it changed, the current round's messages."""
        view = self._standby.view()
        current = view.conversation
        tracked = self._delivered.conversation_id
        if tracked is not None and (current is None or current.id != tracked):
            finished = queries.get_conversation(self._standby.db, tracked)
            self._send_messages(finished.messages if finished is not None else ())
        if include_state:
            event = wire.state(view)
            if self._delivered.state != (event["state"], event["conversation_id"]):
                self._send(event)
        if include_current and current is not None:
            self._send_messages(current.messages)

    def _send_messages(self, messages: Sequence[MessageView]) -> None:
        for message in sorted(messages, key=lambda m: m.seq):
            self._send(wire.message_event(message, None))

    def _send(self, event: dict[str, Any]) -> None:
        if self._delivered.admit(event):
            self._deliver(encode(event))
