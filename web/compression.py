"""WebSocket compression (permessage-deflate) as a setting, in the one place Hypercorn
decides it.

Hypercorn 0.18 has no option for it: ``hypercorn.protocol.ws_stream.Handshake.accept``
always offers ``PerMessageDeflate`` and accepts it whenever the browser asks, and browsers
always ask. Measured here (docs/benchmarks.md) it costs about 3x the memory per connection
and about 1.5x the CPU per frame, while Roundtable's frames are small chat text. With
``WS_COMPRESSION`` off (the default) the handshake forgets the client's extension offer,
so the connection is plain WebSocket. ``tests/web/test_ws_compression.py`` pins this
against the installed Hypercorn, so an upgrade that moves the handshake fails loudly.
"""

from __future__ import annotations

from typing import Any

from hypercorn.protocol import ws_stream

__all__ = ["set_websocket_compression"]

_ORIGINAL = ws_stream.Handshake


class _PlainHandshake(_ORIGINAL):  # type: ignore[misc, valid-type]
    """Hypercorn's handshake, but deaf to ``Sec-WebSocket-Extensions``: no deflate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extensions = None


def set_websocket_compression(enabled: bool) -> None:
    """Let Hypercorn negotiate permessage-deflate (``enabled``) or never (the default).

    Process-wide: call it before serving. Idempotent either way.
    """
    ws_stream.Handshake = _ORIGINAL if enabled else _PlainHandshake  # type: ignore[misc]
