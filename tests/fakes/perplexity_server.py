"""A fake Perplexity Agent API (``POST /v1/agent``, alias ``/v1/responses``) on 127.0.0.1.

It speaks the Responses format and, like the real API, is strict: the default answer
refuses a body with any field it does not know (400), a missing bearer key (401) and
a wrong path (404), so a passing success test proves what the client sent. Scripted
answers (``enqueue``) are returned as they are, after the request is recorded.
"""

from __future__ import annotations

from typing import Any, Final

from tests.fakes.server import FakeServer, Received, Script

__all__ = ["ALLOWED_FIELDS", "FakePerplexity"]

PATHS: Final = ("/v1/agent", "/v1/responses")
#: Request fields this fake accepts; the real API knows more, but we send only these.
ALLOWED_FIELDS: Final = frozenset({"model", "input", "instructions", "max_output_tokens", "tools"})
DEFAULT_TEXT: Final = (
    "Scout here with data: a 2024 survey of 1,200 firms found remote teams shipped "
    "slightly faster [1], though Clio is right that onboarding suffers [2]."
)
DEFAULT_RESULTS: Final = (
    {"url": "https://example.org/survey", "title": "Remote work survey", "date": "2024-05-01"},
    {"url": "https://example.org/onboarding", "title": "Onboarding study", "date": "2023-11-02"},
)


class FakePerplexity(FakeServer):
    """Answers every valid request with ``completed(...)`` unless a script is queued."""

    LISTING_PATHS = ("/v1/models",)

    def models_script(self, received: Received) -> Script:
        """``GET /v1/models`` (OpenAI's list format): ``{"object": "list", "data": [...]}``."""
        if not (received.header("authorization") or "").startswith("Bearer "):
            return self.error(401, "Missing API key", "authentication_error", "invalid_api_key")
        data = [{"object": "model", "created": 0, "owned_by": "perplexity", **m} for m in self.offered]
        return Script(200, {"object": "list", "data": data})

    def __init__(self, *, model: str = "perplexity/sonar") -> None:
        super().__init__()
        self.model = model

    def reset(self) -> None:
        """Forget received requests and queued scripts (one server shared by many tests)."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()

    def reply_script(self, text: str) -> Script:
        """A success holding ``text`` (for the trickle and oversize modes)."""
        return self.completed(text)

    def answer(self, received: Received) -> Script:
        refusal = self._refusal(received)
        return refusal or self.completed()

    def _refusal(self, received: Received) -> Script | None:
        if received.method != "POST" or received.path not in PATHS:
            return self.error(404, "Not found", "not_found_error", "not_found")
        if not (received.header("authorization") or "").startswith("Bearer "):
            return self.error(401, "Missing API key", "authentication_error", "invalid_api_key")
        body = received.body
        if not isinstance(body, dict):
            return self.error(400, "Body must be a JSON object", "invalid_request_error", "invalid_json")
        unknown = sorted(set(body) - ALLOWED_FIELDS)
        if unknown:
            return self.error(400, f"Unknown field(s): {', '.join(unknown)}",
                              "invalid_request_error", "unknown_field")
        if not body.get("model") or not body.get("input"):
            return self.error(400, "model and input are required",
                              "invalid_request_error", "missing_field")
        return None

    # -- answers -------------------------------------------------------------------------
    def response_body(
        self,
        text: str = DEFAULT_TEXT,
        *,
        results: tuple[dict[str, Any], ...] | list[dict[str, Any]] = DEFAULT_RESULTS,
        status: str = "completed",
        input_tokens: int = 812,
        output_tokens: int = 96,
        cost: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A Responses-format body: a ``search_results`` item, then the ``message``."""
        output: list[dict[str, Any]] = []
        if results:
            output.append({"type": "search_results", "results": list(results)})
        output.append({
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        })
        return {
            "id": "resp_fake_1",
            "object": "response",
            "created_at": 1_767_225_600,
            "status": status,
            "model": self.model,
            "output": output,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
                "cost": cost if cost is not None else {
                    "currency": "USD",
                    "input_cost": 0.000812,
                    "output_cost": 0.000096,
                    "tool_calls_cost": 0.005,
                    "total_cost": 0.005908,
                },
            },
        }

    def completed(self, text: str = DEFAULT_TEXT, **fields: Any) -> Script:
        return Script(200, self.response_body(text, **fields))

    def failed_run(self, message: str = "Upstream model error", code: str = "server_error") -> Script:
        """A run that failed on the server: HTTP 200 with ``status: "failed"``."""
        body = self.response_body("", results=())
        body.update(status="failed", output=[], error={"code": code, "message": message})
        return Script(200, body)

    @staticmethod
    def error(
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Script:
        body = {"error": {"message": message, "type": type_, "code": code}}
        return Script(status, body, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: str = "7") -> Script:
        return cls.error(429, "Rate limit exceeded", "rate_limit_error",
                         "request_rate_limit_exceeded", {"Retry-After": retry_after})
