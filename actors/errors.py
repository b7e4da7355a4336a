"""The project's error tree: every error that reaches a client, with its HTTP status and a
stable code (``snake_case``; clients and scripts may branch on it, so it never changes).

::

    RoundtableError              500 internal_error      a bug (never raised on purpose)
      BadRequest                 400 bad_request
        BadPayload               400 bad_payload         a body or frame that is not a JSON object we take
        UnknownAction            400 unknown_action      /control with an action nobody declared
        InvalidTopic             400 invalid_topic       queue_topic: empty, too long, too many queued
        InvalidHost              400 invalid_host        a Host that is not a host name (web.edge)
      MissingToken               401 missing_token       /control without a bearer token (WWW-Authenticate)
      Forbidden                  403 forbidden
        AdminDisabled            403 admin_disabled      no ADMIN_TOKEN is set
        WrongToken               403 wrong_token
      CommandRefused             409 command_refused     illegal in the engine's current state
      HeadersTooLarge            431 headers_too_large   request headers over 16 KiB (web.edge)
      TooManyRequests            429 too_many_requests   (Retry-After)
        TooManyAttempts          429 too_many_attempts   the wrong-token throttle of /control
        RateLimited              429 rate_limited        requests to /api/* over the per-address rate
      Unavailable                503 unavailable
        EngineTimeout            503 engine_timeout      the engine did not answer in time
        EngineStopped            503 engine_stopped      the engine stopped under the request
        NoEngine                 503 no_engine           a relayed command no engine took (not applied)
        storage.errors.StorageError
                                 503 storage_unavailable the database failed (Retry-After: 5)
          storage.leader.EngineLockHeld
                                 503 engine_lock_held    another process runs the engine (embedders)

``str(error)`` is written for the client (no internals); a class whose message may carry
internals sets ``public_message`` and the client gets that instead. ``web.errors`` turns
every one into ``{"error": message, "code": code}`` with its status and headers, in one
place. A refusal crosses the actor boundary as a value (an instance returned, never
raised in an actor: pykka would log a traceback), and crosses instances as (status,
body) in the ``commands`` table, rebuilt here by ``from_answer`` with the same class.

This module imports nothing of the project, so ``storage`` can subclass it too.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

__all__ = [
    "AdminDisabled",
    "BadPayload",
    "BadRequest",
    "CommandRefused",
    "EngineStopped",
    "EngineTimeout",
    "Forbidden",
    "HeadersTooLarge",
    "InvalidHost",
    "InvalidTopic",
    "MAY_STILL_APPLY",
    "MissingToken",
    "NoEngine",
    "RateLimited",
    "RoundtableError",
    "TooManyAttempts",
    "TooManyRequests",
    "Unavailable",
    "UnknownAction",
    "body_of",
    "error_classes",
    "from_answer",
]


class RoundtableError(Exception):
    """An error with an HTTP ``status`` and a stable ``code``; ``str()`` is for the client."""

    status: int = 500
    code: str = "internal_error"
    #: Told to the client instead of ``str(error)`` when set (the message may hold internals).
    public_message: ClassVar[str | None] = None
    #: Seconds for ``Retry-After``; None: no such header.
    retry_after: int | None = None

    def __init__(self, message: str = "", *, retry_after: int | None = None) -> None:
        super().__init__(message or self.code.replace("_", " "))
        if retry_after is not None:
            self.retry_after = retry_after

    @property
    def message(self) -> str:
        """What the client is told."""
        return self.public_message or str(self)

    def headers(self) -> dict[str, str]:
        """The response headers this error needs besides its JSON body."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class BadRequest(RoundtableError):
    status = 400
    code = "bad_request"


class BadPayload(BadRequest):
    """The payload is not a JSON object we accept; ``str()`` says why."""

    code = "bad_payload"


class UnknownAction(BadRequest):
    code = "unknown_action"


class InvalidTopic(BadRequest):
    code = "invalid_topic"


class InvalidHost(BadRequest):
    code = "invalid_host"


class HeadersTooLarge(RoundtableError):
    status = 431
    code = "headers_too_large"


class MissingToken(RoundtableError):
    status = 401
    code = "missing_token"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": 'Bearer realm="roundtable-control"'}


class Forbidden(RoundtableError):
    status = 403
    code = "forbidden"


class AdminDisabled(Forbidden):
    code = "admin_disabled"


class WrongToken(Forbidden):
    code = "wrong_token"


class CommandRefused(RoundtableError):
    """An admin command that is not legal in the engine's current state."""

    status = 409
    code = "command_refused"


class TooManyRequests(RoundtableError):
    status = 429
    code = "too_many_requests"


class TooManyAttempts(TooManyRequests):
    code = "too_many_attempts"


class RateLimited(TooManyRequests):
    code = "rate_limited"


class Unavailable(RoundtableError):
    status = 503
    code = "unavailable"


class EngineTimeout(Unavailable):
    """The engine (an actor ask, a database read, a relayed command) did not answer in
    time. The call may still complete after the request has given up on it."""

    code = "engine_timeout"


#: What a command that timed out is answered: it may run after the answer.
MAY_STILL_APPLY: Final = "the engine did not answer in time; the command may still be applied — check /api/status"


class EngineStopped(Unavailable):
    """The engine stopped while the request waited (a lost engine lock, a shutdown)."""

    code = "engine_stopped"


class NoEngine(Unavailable):
    """A relayed command that no engine claimed in time: it was withdrawn, never runs."""

    code = "no_engine"


def error_classes() -> list[type[RoundtableError]]:
    """Every class of the tree loaded so far (``storage.errors.StorageError`` included
    once ``storage`` is imported), base first."""
    found: list[type[RoundtableError]] = [RoundtableError]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__() if sub not in found)
    return found


def body_of(error: RoundtableError) -> dict[str, str]:
    """The JSON body every client gets for ``error``."""
    return {"error": error.message, "code": error.code}


_FALLBACK: Final[dict[int, type[RoundtableError]]] = {
    400: BadRequest, 401: MissingToken, 403: Forbidden, 409: CommandRefused,
    429: TooManyRequests, 503: Unavailable,
}


def from_answer(status: int, body: dict[str, Any]) -> RoundtableError:
    """The error an answer ``(status, body_of(error))`` stands for, as the same class when
    it is known here (an answer from another instance keeps its code and status); else
    the closest class for its status."""
    code, message = str(body.get("code", "")), str(body.get("error", ""))
    for cls in error_classes():
        if cls.code == code and cls.status == status:
            return cls(message)
    return _FALLBACK.get(status, RoundtableError)(message)
