"""WebSocket compression (permessage-deflate) as a setting, in the one place Hypercorn
decides it.

Hypercorn 0.18 has no option for it: ``hypercorn.protocol.ws_stream.Handshake.accept``
always offers ``PerMessageDeflate`` and accepts it whenever the browser asks, and browsers
always ask. Measured here (docs/benchmarks.md) it costs about 3x the memory per connection
and about 1.5x the CPU per frame, while Roundtable's frames are small chat text. With
``WS_COMPRESSION`` off (the default) the handshake forgets the client's extension offer,
so the connection is plain WebSocket. ``tests/web/test_ws_compression.py`` pins this
against the installed Hypercorn, so an upgrade that moves the handshake fails loudly.

It also holds the one other change Roundtable needs in Hypercorn's WebSocket stream: a
message over ``websocket_max_message_size`` that arrives in many reads (1 MB of text)
made Hypercorn send its 1009 close and then raise again on every following read, each
time leaving the rest of the events unprocessed, so the client's close was never seen
and the socket hung (``tests/web/test_live_round.py``). ``_handle_events`` below is
Hypercorn 0.18's own, except that after a too-big message the rest of it is dropped and
the other events (the client's close) are still handled.
"""

from __future__ import annotations

from typing import Any

from hypercorn.protocol import ws_stream
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason

__all__ = ["ORIGINAL_HANDLE_EVENTS", "apply_stream_fixes", "set_websocket_compression"]

_ORIGINAL = ws_stream.Handshake
#: Hypercorn's own, kept so a test can tell when an upgrade changed what we replaced.
ORIGINAL_HANDLE_EVENTS = ws_stream.WSStream._handle_events


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


async def _handle_events(self: Any) -> None:
    """Hypercorn 0.18's ``WSStream._handle_events``, with too-big messages dropped whole."""
    for event in self.connection.events():
        if isinstance(event, Message):
            if getattr(self, "_roundtable_too_big", False):
                if event.message_finished:  # the oversized message is over; be strict again
                    self._roundtable_too_big = False
                continue
            try:
                self.buffer.extend(event)
            except ws_stream.FrameTooLargeError:
                self.buffer.clear()
                self._roundtable_too_big = not event.message_finished
                await self._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                continue
            if event.message_finished:
                await self.app_put(self.buffer.to_message())
                self.buffer.clear()
        elif isinstance(event, Ping):
            await self._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if self.connection.state == ConnectionState.REMOTE_CLOSING:
                await self._send_wsproto_event(event.response())
            await self.send(ws_stream.StreamClosed(stream_id=self.stream_id))


def apply_stream_fixes() -> None:
    """Install the oversized-message fix in Hypercorn's WebSocket stream (idempotent)."""
    ws_stream.WSStream._handle_events = _handle_events  # type: ignore[method-assign]
