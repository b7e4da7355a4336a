"""Untrusted JSON from clients (/control bodies, WebSocket frames), parsed safely.

``json.loads`` recurses once per nesting level, so ``[`` x 3000 raises RecursionError
(and costs a deep C stack); invalid UTF-8 raises UnicodeDecodeError. Both are bad input,
not server errors: ``parse_object`` checks the nesting depth in one flat pass first and
turns every failure into ``BadPayload`` (``actors.errors``, 400 ``bad_payload``) with a
message fit for the client.
"""

from __future__ import annotations

import json
from typing import Any, Final

from actors.errors import BadPayload

__all__ = ["MAX_DEPTH", "BadPayload", "parse_object"]

#: Deeper than any message this service expects (they are flat objects).
MAX_DEPTH: Final = 16


def parse_object(data: bytes | str, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The JSON object in ``data`` (UTF-8 if bytes); ``BadPayload`` otherwise."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadPayload("body is not valid UTF-8") from None
    if nesting_depth(data) > max_depth:
        raise BadPayload(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise BadPayload("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadPayload("body must be a JSON object")
    return value


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting in ``text``, outside strings (one flat pass)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
