"""POST /control: the admin commands (``actors.machine.Command``: force, skip, pause,
resume, queue_topic), behind the admin bearer token. Refusals are answers
(``actors.errors``, answered by ``web.errors``) and go to the audit trail like the rest.

``{"action": "queue_topic", "topic": "..."}`` queues an admin's topic for the next free
round (control characters stripped, 3-200 characters; anything else is a 400).

Wrong or missing tokens are throttled per client address (the real one, behind
``TRUSTED_PROXIES``; an IPv6 /64 counts as one): after ``MAX_REFUSALS`` in
``REFUSAL_WINDOW`` seconds the address gets 429 with ``Retry-After`` until the oldest
refusal ages out, and the throttle is checked before the token is even looked at, so a
guess that happens to be right still gets 429: a dictionary gets five words a minute.
Only the guessing address is slowed; admins elsewhere are not locked out. Refusals are
logged coalesced, at most once per ``LOG_EVERY`` seconds per address.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from quart import Blueprint, Quart, Response, current_app, jsonify, request

from actors import wire
from actors.errors import (
    MAY_STILL_APPLY,
    AdminDisabled,
    BadPayload,
    EngineTimeout,
    MissingToken,
    RoundtableError,
    TooManyAttempts,
    WrongToken,
)
from actors.machine import parse_command
from web import audit, errors
from web.context import Context
from web.limits import address_key
from web.payloads import parse_object

__all__ = ["AdminThrottle", "authorize", "bp", "install"]

bp = Blueprint("control", __name__)
log = logging.getLogger("roundtable.control")

MAX_REFUSALS: Final = 5
REFUSAL_WINDOW: Final = 60.0
LOG_EVERY: Final = 10.0
#: Addresses remembered at most; past it, those with no recent refusal are forgotten.
MAX_ADDRESSES: Final = 4096
_EXTENSION: Final = "roundtable.admin_throttle"

NO_TOKEN = (
    "admin actions are disabled: set ADMIN_TOKEN in the environment (or .env) and restart, "
    "then send it as 'Authorization: Bearer <token>'"
)


@dataclass
class _Refusals:
    times: deque[float] = field(default_factory=deque)
    unlogged: int = 0
    logged_at: float = -math.inf


class AdminThrottle:
    """Refused /control attempts per client address. On the event loop only."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._now = monotonic
        self._by_address: dict[str, _Refusals] = {}

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not throttled."""
        refusals = self._by_address.get(address)
        if refusals is None:
            return None
        now = self._now()
        self._expire(refusals, now)
        if len(refusals.times) < MAX_REFUSALS:
            return None
        return max(1, math.ceil(refusals.times[0] + REFUSAL_WINDOW - now))

    def refused(self, address: str) -> None:
        """Count a wrong or missing token from ``address``; log now and then."""
        now = self._now()
        if address not in self._by_address and len(self._by_address) >= MAX_ADDRESSES:
            self._forget_idle(now)
        refusals = self._by_address.setdefault(address, _Refusals())
        self._expire(refusals, now)
        refusals.times.append(now)
        refusals.unlogged += 1
        if now - refusals.logged_at >= LOG_EVERY:
            log.warning("refused %d /control attempts from %s", refusals.unlogged, address)
            refusals.unlogged, refusals.logged_at = 0, now

    @staticmethod
    def _expire(refusals: _Refusals, now: float) -> None:
        while refusals.times and refusals.times[0] <= now - REFUSAL_WINDOW:
            refusals.times.popleft()

    def _forget_idle(self, now: float) -> None:
        for address, refusals in list(self._by_address.items()):
            if not refusals.times or refusals.times[-1] <= now - REFUSAL_WINDOW:
                del self._by_address[address]
        if len(self._by_address) >= MAX_ADDRESSES:  # all recent: forget the oldest one
            oldest = min(self._by_address, key=lambda a: self._by_address[a].times[-1])
            del self._by_address[oldest]


def install(app: Quart, monotonic: Callable[[], float]) -> None:
    """Give ``app`` its throttle, on the clock ``monotonic``."""
    app.extensions[_EXTENSION] = AdminThrottle(monotonic)


def _authorize(expected: str | None) -> None:
    """Return when the request carries the admin token; else raise the refusal
    (``AdminDisabled``, ``TooManyAttempts``, ``MissingToken``, ``WrongToken``)."""
    if not expected:
        raise AdminDisabled(NO_TOKEN)
    throttle: AdminThrottle = current_app.extensions[_EXTENSION]
    address = address_key(request.remote_addr or "unknown")
    wait = throttle.retry_after(address)
    if wait is not None:  # before any comparison: a late right guess is refused too
        raise TooManyAttempts("too many failed admin attempts; wait a minute", retry_after=wait)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode()):
        return
    throttle.refused(address)
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("missing bearer token: send 'Authorization: Bearer <ADMIN_TOKEN>'")
    raise WrongToken("wrong admin token")


#: The admin API (``web.admin``) shares the token check and its throttle.
authorize = _authorize


@bp.post("/control")
async def control() -> tuple[Response, int]:
    """Run an admin command; every answer, accepted or refused, goes to the audit trail
    (a bug is not an answer: it leaves as a 500, logged with its traceback)."""
    try:
        answer = jsonify(await _control()), 200
    except RoundtableError as error:
        answer = errors.answer(error)
    action, topic = await _requested_action()
    await audit.record(action, answer, note=f"queued {topic!r}" if topic else "")
    return answer


async def _requested_action() -> tuple[str, str]:
    """The body's ``action`` and, for queue_topic, its topic, for the audit trail (a body
    that is not a JSON object, however broken, has none)."""
    try:
        body = parse_object(await request.get_data(as_text=False))
    except BadPayload:
        return "(no action)", ""
    action = body.get("action")
    if not isinstance(action, str):
        return "(no action)", ""
    topic = body.get("topic") if action == "queue_topic" else None
    return action, topic if isinstance(topic, str) else ""


async def _control() -> dict[str, Any]:
    """The accepted command's answer; raises its refusal."""
    context = Context.current()
    _authorize(context.settings.admin_token)
    try:
        body = parse_object(await request.get_data(as_text=False))
    except BadPayload as exc:
        raise BadPayload(f'{exc}: send JSON like {{"action": "force"}}') from None
    command, arguments = parse_command(body.get("action"), body)  # refused here, not relayed
    try:
        view = await context.call(context.system.command, command, **arguments)
    except EngineTimeout as exc:
        raise EngineTimeout(MAY_STILL_APPLY) from exc
    return wire.control_answer(command, view)
