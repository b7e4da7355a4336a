"""web/hypercorn_patches.py: WS_COMPRESSION, and too-big messages.

WS_COMPRESSION: Hypercorn's handshake declines permessage-deflate unless it is on.

Pinned twice: against the installed Hypercorn's ``Handshake`` directly (an upgrade that
moves or renames it fails here first), and end to end with a client that offers deflate
as every browser does.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypercorn.protocol import ws_stream
from websockets.exceptions import ConnectionClosed

from tests.service import Service
from tests.web.conftest import Client
from web.hypercorn_patches import ORIGINAL_HANDLE_EVENTS, set_websocket_compression

BROWSER_OFFER = b"permessage-deflate; client_max_window_bits"
HYPERCORN_0_18_HANDLE_EVENTS = "b90f3f595ff9fd4722f15769e9c40d113838a1deb6f3ecc0f63dc8ffc1d7f8e8"


def handshake_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"example"),
        (b"connection", b"Upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-extensions", BROWSER_OFFER),
    ]


def negotiated(enabled: bool) -> bytes | None:
    set_websocket_compression(enabled)
    handshake = ws_stream.Handshake(handshake_headers(), "1.1")
    _, headers, _ = handshake.accept(None, [])
    return dict(headers).get(b"sec-websocket-extensions")


@pytest.fixture(autouse=True)
def restore_default() -> Iterator[None]:
    yield
    set_websocket_compression(False)


def test_the_installed_hypercorn_handshake_declines_deflate_unless_enabled() -> None:
    assert negotiated(False) is None
    accepted = negotiated(True)
    assert accepted is not None and accepted.startswith(b"permessage-deflate")
    assert negotiated(False) is None  # and it can be switched back


@pytest.mark.parametrize(("setting", "expected"), [(None, False), ("on", True)])
def test_the_service_negotiates_deflate_only_when_ws_compression_is_on(
    tmp_path: Path, setting: str | None, expected: bool
) -> None:
    env = {"WS_COMPRESSION": setting} if setting else {}
    with Service(tmp_path, env) as service:
        client = Client(service.ws_url, compression="deflate")  # offers it, like a browser
        try:
            assert client.next()["type"] == "hello"
            header = client.connection.response.headers.get("Sec-WebSocket-Extensions")
        finally:
            client.close()
    assert (header is not None and "permessage-deflate" in header) is expected


def test_the_replaced_stream_handler_is_still_the_one_the_fix_was_written_against() -> None:
    # web/hypercorn_patches.py carries a copy of Hypercorn 0.18's WSStream._handle_events.
    # If an upgrade changes the original, re-read it and port the fix (or drop it when
    # Hypercorn handles a too-big message arriving in many reads by itself).
    source = inspect.getsource(ORIGINAL_HANDLE_EVENTS).encode()
    assert hashlib.sha256(source).hexdigest() == HYPERCORN_0_18_HANDLE_EVENTS


def test_a_huge_message_in_many_reads_gets_1009_and_the_socket_closes(tmp_path: Path) -> None:
    with Service(tmp_path) as service:
        client = Client(service.ws_url, max_size=None)
        try:
            assert client.next()["type"] == "hello"
            client.send("x" * 1_000_000)  # far past websocket_max_message_size, many reads
            with pytest.raises(ConnectionClosed) as closed:
                client.next(timeout=10)
        finally:
            client.close()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert "Traceback" not in service.logs()
