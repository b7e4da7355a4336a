"""A fake Gemini Developer API (``POST /v1beta/models/{model}:generateContent``) on 127.0.0.1.

The default answer checks what the real API checks: the path, an ``x-goog-api-key``
header, known top-level fields and ``user``/``model`` roles (400 ``INVALID_ARGUMENT``
otherwise, in Google's error format). Scripted answers (``enqueue``) are returned as
they are, after the request is recorded.
"""

from __future__ import annotations

import re
from typing import Any, Final

from tests.fakes.server import FakeServer, Received, Script

__all__ = ["FakeGemini"]

_PATH: Final = re.compile(r"^/v1beta/models/(?P<model>[^/:?]+):generateContent$")
_FIELDS: Final = frozenset({
    "contents", "systemInstruction", "generationConfig", "safetySettings", "tools",
    "toolConfig", "cachedContent", "labels",
})
_STATUS_NAMES: Final = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 408: "DEADLINE_EXCEEDED", 429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
DEFAULT_TEXT: Final = (
    "Lyra: Picture offices as festivals rather than factories, Clio: places we gather "
    "a few times a month for the work that needs a room."
)


class FakeGemini(FakeServer):
    """Answers every valid request with ``success(...)`` unless a script is queued."""

    LISTING_PATHS = ("/v1beta/models",)

    def models_script(self, received: Received) -> Script:
        """``GET /v1beta/models``: ``{"models": [{"name": "models/<id>", ...}]}``."""
        if not received.header("x-goog-api-key"):
            return self.error(403, "Method doesn't allow unregistered callers.")
        models = [{"name": f"models/{m['id']}", "displayName": m["id"], "version": "001",
                   "supportedGenerationMethods": ["generateContent", "countTokens"]}
                  for m in self.offered]
        return Script(200, {"models": models})

    def __init__(self, *, model_version: str = "gemini-2.5-flash-001") -> None:
        super().__init__()
        self.model_version = model_version

    def reset(self) -> None:
        """Forget received requests and queued scripts (one server shared by many tests)."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()

    def reply_script(self, text: str) -> Script:
        """A success holding ``text`` (for the trickle and oversize modes)."""
        return self.success(text)

    def answer(self, received: Received) -> Script:
        return self._refusal(received) or self.success()

    def _refusal(self, received: Received) -> Script | None:
        path = received.path.split("?", 1)[0]
        if received.method != "POST" or not _PATH.match(path):
            return self.error(404, f"Method not found: {path}")
        if not received.header("x-goog-api-key"):
            return self.error(403, "Method doesn't allow unregistered callers.")
        body = received.body
        if not isinstance(body, dict) or not body.get("contents"):
            return self.error(400, "* GenerateContentRequest.contents: contents is not specified")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            return self.error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}"')
        roles = {c.get("role") for c in body["contents"] if isinstance(c, dict)}
        if not roles <= {"user", "model"}:
            return self.error(400, "Please use a valid role: user, model.")
        return None

    # -- answers -------------------------------------------------------------------------
    def response_body(
        self,
        text: str = DEFAULT_TEXT,
        *,
        finish_reason: str = "STOP",
        prompt_tokens: int = 640,
        output_tokens: int = 88,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
        if text:
            candidate["content"] = {"role": "model", "parts": [{"text": text}]}
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
            "modelVersion": self.model_version,
            "responseId": "fake-response-1",
        }

    def success(self, text: str = DEFAULT_TEXT, **fields: Any) -> Script:
        return Script(200, self.response_body(text, **fields))

    def blocked_prompt(self, reason: str = "SAFETY") -> Script:
        """A refused prompt: HTTP 200, no candidates, ``promptFeedback.blockReason``."""
        return Script(200, {
            "promptFeedback": {"blockReason": reason},
            "usageMetadata": {"promptTokenCount": 640, "totalTokenCount": 640},
            "modelVersion": self.model_version,
        })

    def safety_stop(self) -> Script:
        """A candidate cut off by the safety filter before any text."""
        return self.success("", finish_reason="SAFETY", output_tokens=0)

    @staticmethod
    def error(
        code: int,
        message: str,
        status: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Script:
        """Google's error format: ``{"error": {"code", "message", "status"[, "details"]}}``."""
        error: dict[str, Any] = {
            "code": code, "message": message, "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
        }
        if details:
            error["details"] = details
        return Script(code, {"error": error}, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_delay: str = "37s") -> Script:
        """A 429 RESOURCE_EXHAUSTED carrying ``RetryInfo`` as the real API does."""
        return cls.error(429, "You exceeded your current quota.", details=[
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ])

    @classmethod
    def invalid_key(cls) -> Script:
        """How Google answers a wrong key: 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
        return cls.error(400, "API key not valid. Please pass a valid API key.", details=[
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com"},
        ])
