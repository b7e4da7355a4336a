"""A fake OpenAI Chat Completions server on 127.0.0.1, in OpenAI's wire format.

``FakeOpenAI`` answers ``POST /v1/chat/completions`` with a completion whose text is
``reply`` (a string, or a function of the request so a test can echo what was sent).
Point the openai SDK at ``fake.base_url`` (it includes ``/v1``, the SDK's convention).
Queue failures with ``enqueue(error(429, ...))`` and assert on ``fake.requests``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from tests.fakes.server import FakeServer, Received, Script

__all__ = ["FakeOpenAI", "completion", "error", "error_body"]

CHAT_PATH = "/v1/chat/completions"

ReplyText = str | Callable[[Received], str]

_ids = itertools.count(1)


def completion(
    text: str | None,
    *,
    model: str = "gpt-fake",
    prompt_tokens: int = 120,
    completion_tokens: int = 60,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice holding ``text`` (``None``: no content)."""
    return {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error(
    status: int,
    *,
    code: str | None = None,
    type: str = "invalid_request_error",
    message: str = "",
    headers: dict[str, str] | None = None,
) -> Script:
    """A scripted error answer, e.g. ``error(429, code="rate_limit_exceeded")``."""
    body = error_body(message or f"fake error {status}", type=type, code=code)
    return Script(status, body, headers=dict(headers or {}))


class FakeOpenAI(FakeServer):
    """Answers Chat Completions; every other path is a 404 in OpenAI's error format.

    ``reply`` and ``model`` may be changed between requests; ``reset`` lets one server be
    shared by many tests (stopping a server waits out ``serve_forever``'s 0.5 s poll).
    When ``api_key`` is set, a request without ``Authorization: Bearer <api_key>`` gets a
    401 ``invalid_api_key``.
    """

    def __init__(
        self,
        *,
        reply: ReplyText = "Orion: A fake but well-formed reply about the topic.",
        model: str = "gpt-fake",
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
        """The SDK's ``base_url`` for this fake (OpenAI's convention includes ``/v1``)."""
        return f"{self.url}/v1"

    def reply_script(self, text: str) -> Script:
        """A success holding ``text`` (for the trickle and oversize modes)."""
        return Script(200, completion(text, model=self.model))

    def answer(self, received: Received) -> Script:
        if received.method != "POST" or received.path != CHAT_PATH:
            return error(404, code="unknown_url", message=f"no route {received.path}")
        key = received.header("authorization")
        if self.api_key is not None and key != f"Bearer {self.api_key}":
            return error(401, code="invalid_api_key", message="Incorrect API key provided.")
        text = self.reply(received) if callable(self.reply) else self.reply
        return Script(200, completion(text, model=self.model))
