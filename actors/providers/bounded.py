"""A whole-call deadline and a size cap for provider HTTP calls, however the bytes arrive.

The SDKs' timeouts bound each socket operation, not the call: a server that sends its
headers and then one byte a second never trips a read timeout, and a server that answers
30 MB is read whole into memory. ``BoundedTransport`` (an ``httpx2`` transport that every
provider's client is built with) closes both holes at the socket: while a call runs inside
``call_limits(timeout, max_bytes)`` on the calling thread,

- every connect, read and write waits at most until the call's deadline, so the call as a
  whole ends by then (the read that crosses it raises a read timeout, which each SDK
  reports as its own timeout error), and
- every byte received counts against ``max_bytes`` (after decoding: a gzip body is
  decoded here, bounded, never by the client); past it the read fails and
  ``CallLimits.cut`` says ``"too_large"``.

A failed read leaves the connection unusable, so the connection pool closes its socket:
nothing is abandoned, and no extra thread is ever started. The limits live in a
thread-local because the sync SDKs do all their I/O on the calling (agent) thread, and the
connection pool is shared by all agents. Outside ``call_limits`` the transport behaves like
``httpx2.HTTPTransport`` (used by ``check-keys``, which sets its own timeouts).

A client given a transport ignores ``HTTP(S)_PROXY`` (httpx2 reads them only for its
default transport), so this transport honours them itself, with ``NO_PROXY``: an egress
proxy keeps working, and proxied calls are bounded the same way.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpcore2
import httpx2

__all__ = ["MAX_REPLY_BYTES", "BoundedTransport", "CallLimits", "call_limits", "tls_context"]

#: The largest answer we read. The longest acceptable reply is 1,600 characters (the
#: quality gate), at most about 10 KB as escaped JSON; Perplexity adds its search results.
#: 128 KiB leaves several times that and still bounds what one call can hold in memory.
MAX_REPLY_BYTES: Final = 128 * 1024

_local = threading.local()
_tls: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """The one TLS client context of the process, built on first use:
    ``httpx2.create_ssl_context()`` (the system's CA store, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``), as each client would otherwise build for itself.

    Each context holds its own parsed copy of the CA store, about 1.6 MiB of RSS: one per
    connection pool was one per provider, per model check, per alert and per SDK's spare
    async client. A context is safe to share across threads once built, and nothing here
    changes it after.
    """
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx2.create_ssl_context()
        return _tls


@dataclass
class CallLimits:
    """The bounds of the call running on this thread, and what cut it (if anything)."""

    deadline: float  # time.monotonic() seconds
    max_bytes: int
    received: int = 0  # body and header bytes, after decoding
    cut: str | None = None  # "too_large" once the cap was crossed

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def count(self, size: int) -> None:
        """Add ``size`` received bytes; raises a read error past the cap."""
        self.received += size
        if self.received > self.max_bytes:
            self.cut = "too_large"
            raise httpcore2.ReadError(f"reply larger than {self.max_bytes} bytes: cut off")


@contextlib.contextmanager
def call_limits(timeout: float, max_bytes: int = MAX_REPLY_BYTES) -> Iterator[CallLimits]:
    """Bound every ``BoundedTransport`` call made on this thread inside the block."""
    limits = CallLimits(time.monotonic() + timeout, max_bytes)
    previous = getattr(_local, "limits", None)
    _local.limits = limits
    try:
        yield limits
    finally:
        _local.limits = previous


def _current() -> CallLimits | None:
    limits: CallLimits | None = getattr(_local, "limits", None)
    return limits


def _clamp(timeout: float | None, limits: CallLimits | None) -> float | None:
    """``timeout`` shortened to the call's deadline; raises a timeout once it has passed."""
    if limits is None:
        return timeout
    remaining = limits.remaining()
    if remaining <= 0:
        raise httpcore2.ReadTimeout("the call's deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _BoundedStream(httpcore2.NetworkStream):
    """A socket stream whose every operation respects the thread's ``CallLimits``."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limits = _current()
        data = self._stream.read(max_bytes, _clamp(timeout, limits))
        if limits is not None:
            limits.count(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, _current()))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, _clamp(timeout, _current()))
        return _BoundedStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore2.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        timeout = _clamp(timeout, _current())
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _BoundedStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class BoundedTransport(httpx2.BaseTransport):
    """``httpx2.HTTPTransport`` for one provider, with its sockets bounded as above.

    Thread-safe (one connection pool shared by every agent thread). It asks for
    ``Accept-Encoding: identity`` (replies are small) and decodes a gzip/deflate body
    itself, bounded, if a server compresses anyway; other encodings are refused.
    """

    def __init__(self) -> None:
        self._proxies = {
            scheme: url for scheme, url in urllib.request.getproxies().items()
            if scheme in ("http", "https")
        }
        self._direct = _pool()
        self._proxied: dict[str, httpcore2.HTTPProxy] = {}
        self._lock = threading.Lock()

    def _pool_for(self, url: httpx2.URL) -> httpcore2.ConnectionPool | httpcore2.HTTPProxy:
        proxy = self._proxies.get(url.scheme)
        if proxy is None or urllib.request.proxy_bypass(url.host):
            return self._direct
        with self._lock:
            pool = self._proxied.get(proxy)
            if pool is None:
                pool = self._proxied[proxy] = _proxy_pool(proxy)
            return pool

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        assert isinstance(request.stream, Iterable)
        request.headers["Accept-Encoding"] = "identity"
        core_request = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped_errors():
            response = self._pool_for(request.url).handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        encoding = _header(response.headers, b"content-encoding").lower()
        headers = response.headers
        if encoding not in (b"", b"identity"):
            # The body is decoded here (bounded); the client must not decode it again.
            skip = (b"content-encoding", b"content-length")
            headers = [(k, v) for k, v in headers if k.lower() not in skip]
        return httpx2.Response(
            status_code=response.status,
            headers=headers,
            stream=_ResponseStream(response.stream, encoding),
            extensions=response.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools, self._proxied = list(self._proxied.values()), {}
        for pool in [self._direct, *pools]:
            pool.close()


def _pool() -> httpcore2.ConnectionPool:
    return httpcore2.ConnectionPool(
        ssl_context=tls_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_BoundedBackend(),
    )


def _proxy_pool(proxy: str) -> httpcore2.HTTPProxy:
    """A pool through the forward proxy ``proxy`` (``http://[user:pass@]host:port``)."""
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")) if parts.username else None
    netloc = parts.hostname or ""
    netloc = f"[{netloc}]" if ":" in netloc else netloc
    url = f"{parts.scheme}://{netloc}" + (f":{parts.port}" if parts.port else "")
    return httpcore2.HTTPProxy(
        proxy_url=url,
        proxy_auth=auth,
        ssl_context=tls_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_BoundedBackend(),
    )


class _ResponseStream(httpx2.SyncByteStream):
    """The body as the pool reads it, mapped to ``httpx2`` errors and decoded if needed."""

    def __init__(self, stream: Iterable[bytes], encoding: bytes) -> None:
        self._stream = stream
        self._encoding = encoding

    def __iter__(self) -> Iterator[bytes]:
        with _mapped_errors():
            if self._encoding in (b"", b"identity"):
                yield from self._stream
            else:
                yield from _decoded(self._stream, self._encoding)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if callable(close):
            close()


def _decoded(chunks: Iterable[bytes], encoding: bytes) -> Iterator[bytes]:
    """gzip or zlib-deflate, decoded no further than the cap (a compression bomb stops)."""
    if encoding not in (b"gzip", b"x-gzip", b"deflate"):
        raise httpcore2.ReadError(f"unsupported content-encoding {encoding.decode(errors='replace')}")
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: accept a gzip or zlib header
    limits = _current() or CallLimits(float("inf"), MAX_REPLY_BYTES)
    for chunk in chunks:
        room = max(limits.max_bytes - limits.received, 0)
        try:
            data = decoder.decompress(chunk, room + 1)
        except zlib.error as exc:
            raise httpcore2.ReadError("undecodable compressed body") from exc
        limits.count(len(data))
        yield data


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    return next((v for k, v in headers if k.lower() == name), b"")


#: httpcore2 errors and the httpx2 errors the SDKs expect, most specific first.
_ERRORS: Final[tuple[tuple[type[Exception], type[httpx2.HTTPError]], ...]] = (
    (httpcore2.ConnectTimeout, httpx2.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx2.ReadTimeout),
    (httpcore2.WriteTimeout, httpx2.WriteTimeout),
    (httpcore2.PoolTimeout, httpx2.PoolTimeout),
    (httpcore2.TimeoutException, httpx2.TimeoutException),
    (httpcore2.ConnectError, httpx2.ConnectError),
    (httpcore2.ReadError, httpx2.ReadError),
    (httpcore2.WriteError, httpx2.WriteError),
    (httpcore2.NetworkError, httpx2.NetworkError),
    (httpcore2.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpcore2.LocalProtocolError, httpx2.LocalProtocolError),
    (httpcore2.UnsupportedProtocol, httpx2.UnsupportedProtocol),
    (httpcore2.ProtocolError, httpx2.ProtocolError),
)


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise
