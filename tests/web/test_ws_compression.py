"""WS_COMPRESSION: Hypercorn's handshake declines permessage-deflate unless it is on.

Pinned twice: against the installed Hypercorn's ``Handshake`` directly (an upgrade that
moves or renames it fails here first), and end to end with a client that offers deflate
as every browser does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypercorn.protocol import ws_stream

from tests.service import Service
from tests.web.conftest import Client
from web.compression import set_websocket_compression

BROWSER_OFFER = b"permessage-deflate; client_max_window_bits"


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
