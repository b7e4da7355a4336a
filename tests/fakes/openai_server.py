"""A fake OpenAI Chat Completions server on 127.0.0.1, in OpenAI's wire format.

``FakeOpenAI`` answers ``POST /v1/chat/completions`` with a completion whose text is
``reply`` (a string, or a function of the request so a test can echo what was sent).
Point the openai SDK at ``fake.base_url`` (it includes ``/v1``, the SDK's convention).
Queue failures with ``enqueue(error(429, ...))`` and assert on ``fake.requests``.

It also answers ``POST /v1/moderations`` in the real format (one result per input, every
category named), flagging any input that contains ``marker`` (default ``ZORBLAX``) for
``marker_category``. Moderation requests are kept apart, in ``fake.moderations``, and never
consume queued chat scripts; set ``moderation_script`` (e.g. ``error(500)``) to answer
every moderation request with it instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from tests.fakes.server import FakeServer, Received, Script

__all__ = ["FakeOpenAI", "MARKER", "completion", "error", "error_body", "moderation"]

CHAT_PATH = "/v1/chat/completions"
MODERATIONS_PATH = "/v1/moderations"
MARKER = "ZORBLAX"
CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)

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


def moderation(inputs: list[str], flagged: set[str] | None = None,
               *, marker: str = MARKER, category: str = "harassment") -> dict[str, Any]:
    """A ``/v1/moderations`` answer: one result per input; ``marker`` flags ``category``."""
    results = []
    for text in inputs:
        hit = marker.lower() in text.lower()
        on = ({category} if hit else set()) | (flagged or set())
        results.append({
            "flagged": bool(on),
            "categories": {name: name in on for name in CATEGORIES},
            "category_scores": {name: 0.97 if name in on else 0.0001 for name in CATEGORIES},
            "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
        })
    return {"id": f"modr-fake{next(_ids)}", "model": "omni-moderation-latest", "results": results}


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
    LISTING_PATHS = ("/v1/models",)

    def models_script(self, received: Received) -> Script:
        """``GET /v1/models``: ``{"object": "list", "data": [model, ...]}``; a model may carry
        ``shutdown_date`` (as the SDK's ``Model`` does)."""
        if self.api_key is not None and received.header("authorization") != f"Bearer {self.api_key}":
            return error(401, code="invalid_api_key", message="Incorrect API key provided.")
        data = [{"object": "model", "created": 1_790_000_000, "owned_by": "openai", "shutdown_date": None,
                 **m} for m in self.offered]
        return Script(200, {"object": "list", "data": data})

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
        self.moderations: list[Received] = []
        self.moderation_script: Script | None = None
        self.marker = MARKER
        self.marker_category = "harassment"

    def reset(self) -> None:
        """Forget requests and queued scripts, restore ``reply``/``model``/``api_key``."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.moderations.clear()
        self.reply, self.model, self.api_key = self._defaults
        self.moderation_script = None

    @property
    def base_url(self) -> str:
        """The SDK's ``base_url`` for this fake (OpenAI's convention includes ``/v1``)."""
        return f"{self.url}/v1"

    def _next_script(self, received: Received) -> Script:
        if received.path != MODERATIONS_PATH:
            return super()._next_script(received)
        with self._lock:
            self.moderations.append(received)
        return self.moderation_script or self._moderation_answer(received)

    def _moderation_answer(self, received: Received) -> Script:
        if received.method != "POST":
            return error(405, code="method_not_allowed")
        if self.api_key is not None and received.header("authorization") != f"Bearer {self.api_key}":
            return error(401, code="invalid_api_key", message="Incorrect API key provided.")
        body = received.body if isinstance(received.body, dict) else {}
        given = body.get("input")
        inputs = [given] if isinstance(given, str) else given
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return error(400, code="invalid_input", message="input must be a string or strings")
        return Script(200, moderation(inputs, marker=self.marker, category=self.marker_category))

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
