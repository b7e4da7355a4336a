"""A fake Anthropic Messages server on 127.0.0.1, in Anthropic's wire format.

``FakeAnthropic`` answers ``POST /v1/messages`` with a message whose text is ``reply``
(a string, or a function of the request so a test can echo what was sent). Point the
anthropic SDK at ``fake.url`` (no ``/v1``: the SDK appends ``/v1/messages``). Queue
failures with ``enqueue(error(529, "overloaded_error"))`` and assert on ``fake.requests``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from tests.fakes.server import FakeServer, Received, Script

__all__ = ["FakeAnthropic", "error", "error_body", "message", "received_key"]

MESSAGES_PATH = "/v1/messages"

ReplyText = str | Callable[[Received], str]

_ids = itertools.count(1)


def message(
    *texts: str,
    model: str = "claude-fake",
    input_tokens: int = 150,
    output_tokens: int = 70,
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    """A ``message`` object with one ``text`` content block per item of ``texts``."""
    return {
        "id": f"msg_fake{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text} for text in texts],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def error_body(
    type: str, message: str = "", *, error_code: str | None = None
) -> dict[str, Any]:
    """Anthropic's error envelope; ``error_code`` lands in ``error.details.error_code``."""
    error: dict[str, Any] = {"type": type, "message": message or f"fake {type}"}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error}


def error(
    status: int,
    type: str,
    message: str = "",
    *,
    error_code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Script:
    """A scripted error answer, e.g. ``error(529, "overloaded_error")``."""
    body = error_body(type, message, error_code=error_code)
    return Script(status, body, headers=dict(headers or {}))


def received_key(received: Received) -> str | None:
    """The key a request carried, as ``x-api-key`` or ``Authorization: Bearer``."""
    bearer = received.header("authorization") or ""
    if bearer.startswith("Bearer "):
        return bearer.removeprefix("Bearer ")
    return received.header("x-api-key")


class FakeAnthropic(FakeServer):
    LISTING_PATHS = ("/v1/models",)

    def models_script(self, received: Received) -> Script:
        """``GET /v1/models``: one page ``{"data": [ModelInfo, ...], "has_more": false, ...}``;
        a model may carry ``lifecycle`` (active/deprecated/retired) and ``retires_at``."""
        if self.api_key is not None and received_key(received) != self.api_key:
            return error(401, "authentication_error", "invalid x-api-key")
        data = [{"type": "model", "display_name": m["id"], "created_at": "2026-01-01T00:00:00Z",
                 "lifecycle": "active", "deprecated_at": None, "retires_at": None, **m}
                for m in self.offered]
        ids = [m["id"] for m in data]
        return Script(200, {"data": data, "has_more": False,
                            "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None})

    """Answers Messages; every other path is a 404 in Anthropic's error format.

    ``reply`` and ``model`` may be changed between requests; ``reset`` lets one server be
    shared by many tests (stopping a server waits out ``serve_forever``'s 0.5 s poll).
    When ``api_key`` is set, a request carrying another key (or none) gets a 401
    ``authentication_error``.
    """

    def __init__(
        self,
        *,
        reply: ReplyText = "Clio: A fake but well-formed reply about the topic.",
        model: str = "claude-fake",
        api_key: str | None = None,
    ) -> None:
        super().__init__()
        self._defaults = (reply, model, api_key)
        self.reply: ReplyText = reply
        self.model = model
        self.api_key = api_key

    def reset(self) -> None:
        """Forget requests and queued scripts, restore ``reply``/``model``/``api_key``."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
        self.reply, self.model, self.api_key = self._defaults

    @property
    def base_url(self) -> str:
        """The SDK's ``base_url`` for this fake (Anthropic's convention: no ``/v1``)."""
        return self.url

    def reply_script(self, text: str) -> Script:
        """A success holding ``text`` (for the trickle and oversize modes)."""
        return Script(200, message(text, model=self.model))

    def answer(self, received: Received) -> Script:
        if received.method != "POST" or received.path != MESSAGES_PATH:
            return error(404, "not_found_error", f"no route {received.path}")
        if self.api_key is not None and received_key(received) != self.api_key:
            return error(401, "authentication_error", "invalid x-api-key")
        text = self.reply(received) if callable(self.reply) else self.reply
        return Script(200, message(text, model=self.model))
