"""watcher's transport under httpx: its own network backend, the laned transport, and
the check that the private parts of httpx and httpcore they reach into exist.

Those private parts are used here and nowhere else (but for ``Fetcher`` putting the
lanes in as its client's ``_transport``, which ``check_internals`` covers too), so a
release that moves one breaks this module alone, and the check says so in one sentence
when a Fetcher starts instead of the fetcher failing, or silently slowing down, mid
cycle. pyproject.toml caps httpx and httpcore below the next releases not verified.

The network backend. httpcore talks to the network through a small public interface
(``AsyncNetworkBackend`` / ``AsyncNetworkStream``); on asyncio it defaults to
anyio's, which wraps every read and write in cancel scopes. Measured on 1,000
conditional requests that adapter layer was a third of the client's CPU, so
watcher plugs asyncio's own streams in instead. Errors are mapped to
httpcore's exceptions, which httpx turns into its usual ones.

The lanes: an httpx transport with one small connection pool per request in flight.

httpcore's pool scans all its connections, and for each idle one all of them
again, every time it places a request and every time a response is closed.
One pool of 16 keep-alive connections made that a sixth of an unchanged
cycle's CPU. Here each request in flight has a lane of its own (a pool that
keeps one connection), so every pool operation touches one connection. The
fetcher's politeness slots bound how many requests run at once, and so the
number of lanes in use.

A request goes to a free lane whose kept connection is to the same origin when
there is one, else to a new lane while there are fewer than ``keep`` lanes, else
to the free lane idle longest; so up to ``keep`` connections stay open for
reuse. The fetcher keeps twice its concurrency: with every slot busy, the next
request is usually for another host than the one just answered, and needs an
idle lane of its own host to find (12 hosts, 64 at once: 72 connections for
1,000 requests, against 678 when lanes were only as many as the slots).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from watcher.fetch.addresses import Reach

__all__ = [
    "HTTPCORE_SUPPORTED",
    "HTTPX_SUPPORTED",
    "AsyncioBackend",
    "IncompatibleHttpx",
    "LanedTransport",
    "Trust",
    "Unreachable",
    "check_internals",
    "reaching",
    "use_asyncio_backend",
    "without_client_jar",
]

# The releases verified with the private parts below; pyproject.toml states the same
# bounds (a test compares them).
HTTPX_SUPPORTED = ">=0.27,<0.29"
HTTPCORE_SUPPORTED = ">=1.0.9,<1.1"


class IncompatibleHttpx(RuntimeError):
    """The installed httpx/httpcore lacks a private part that this module relies on."""


def check_internals(client: object) -> None:
    """Raise ``IncompatibleHttpx`` unless ``client`` (an ``httpx.AsyncClient``) and its
    transports have the private attributes used here.

    Assigning to a renamed attribute would not fail: it would add one that httpx
    ignores, and the fetcher would silently fall back to httpx's own pools and anyio,
    so this is checked once, when the Fetcher builds its client.
    """
    missing = _missing_internal(client)
    if missing is not None:
        from importlib.metadata import version

        raise IncompatibleHttpx(
            f"httpx {version('httpx')} with httpcore {version('httpcore')} is not"
            f" supported: watcher relies on their private {missing}, which these releases"
            f" lack; install httpx{HTTPX_SUPPORTED} and httpcore{HTTPCORE_SUPPORTED}."
        )


def _missing_internal(client: Any) -> str | None:
    """The first private attribute that ``use_asyncio_backend`` and the lanes need but
    ``client`` lacks, or None."""
    if not hasattr(client, "_transport"):
        return "AsyncClient._transport"
    mounts = getattr(client, "_mounts", None)
    if not isinstance(mounts, Mapping):
        return "AsyncClient._mounts"
    if not isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        return "AsyncClient._cookies"
    for transport in [client._transport, *mounts.values()]:
        if not isinstance(transport, httpx.AsyncHTTPTransport):
            continue  # a caller's own transport: nothing of it is touched
        pool = getattr(transport, "_pool", None)
        if not isinstance(pool, httpcore.AsyncConnectionPool):
            return "AsyncHTTPTransport._pool"
        if not hasattr(pool, "_network_backend"):
            return "AsyncConnectionPool._network_backend"
    return None


# --- where a connection may go -----------------------------------------------------------

# The reach of the request being sent, and its URL. httpcore connects inside the task
# that sends the request, and its backend interface has no room for a request's
# context, so the fetcher sets this around each send.
_REACHING: ContextVar[tuple[Reach, str] | None] = ContextVar("watcher_reaching", default=None)


class Unreachable(httpcore.ConnectError):
    """A connection was made to an address the request may not reach; it was closed
    before a byte was sent. ``refusal`` says which address and how to allow it."""

    def __init__(self, refusal: str) -> None:
        super().__init__(refusal)
        self.refusal = refusal


@contextmanager
def reaching(reach: Reach, url: str) -> Iterator[None]:
    """Connections made while sending the request for ``url`` must be within ``reach``."""
    token = _REACHING.set((reach, url))
    try:
        yield
    finally:
        _REACHING.reset(token)


def _refuse_unreachable(writer: asyncio.StreamWriter) -> None:
    """Close the connection and raise Unreachable if its peer is out of reach."""
    current = _REACHING.get()
    if current is None:
        return
    reach, url = current
    peer = writer.get_extra_info("peername")
    refusal = reach.refusal(str(peer[0]), url) if peer else None
    if refusal is not None:
        writer.close()
        raise Unreachable(refusal)


# --- TLS ----------------------------------------------------------------------------------


class Trust:
    """The TLS context of every connection, its CA bundle loaded at the first handshake.

    Loading the bundle costs about 20 ms of CPU, which a one-off check of plain-HTTP
    pages paid at every start and never needed. httpx and httpcore are given
    ``placeholder``, a context without CAs that is cheap to make and never used: the
    backend below swaps it for the loaded one when a connection starts TLS.
    """

    def __init__(self) -> None:
        self.placeholder = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._loaded: ssl.SSLContext | None = None

    def context(self, given: ssl.SSLContext) -> ssl.SSLContext:
        """The context to start TLS with when httpcore asks for ``given``."""
        if given is not self.placeholder:
            return given
        if self._loaded is None:
            loaded = httpx.create_ssl_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
            loaded.set_alpn_protocols(["http/1.1"])  # what httpcore set on the placeholder
            self._loaded = loaded
        return self._loaded


# --- the network backend ------------------------------------------------------------------


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trust: Trust | None
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._trust = trust

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        reader = self._reader
        try:
            # bytes already received: read without waiting, so without a timer to set
            # (StreamReader has no public accessor for its buffer)
            if getattr(reader, "_buffer", None):
                return await reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        writer = self._writer
        try:
            writer.write(buffer)
            if not writer.is_closing() and not writer.transport.get_write_buffer_size():
                return  # all of it went to the socket at once: nothing to wait for
            async with asyncio.timeout(timeout):
                await writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.WriteError(exc) from exc

    def _idle_readable(self) -> bool:
        """Whether an idle connection has been closed or sent unasked-for bytes.

        httpcore asks this of every pooled connection each time it places a
        request; answering with a poll() per connection was a fifth of an
        unchanged cycle's CPU. The event loop already reads every socket, so
        the stream's own state gives the same answer without a system call.
        """
        reader = self._reader
        if self._writer.is_closing() or reader.at_eof() or reader.exception() is not None:
            return True
        # StreamReader has no public "bytes buffered" accessor
        return bool(getattr(reader, "_buffer", b""))

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._trust is not None:
            ssl_context = self._trust.context(ssl_context)
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(exc) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            return self._idle_readable()
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """``police``: refuse connections out of the current request's reach (the
    address connected to is checked). A proxy's backend does not police: the proxy
    is the operator's choice, and it resolves the target's name itself. ``trust``: the
    CA bundle loaded for the first TLS connection made with its placeholder context."""

    def __init__(self, *, police: bool = True, trust: Trust | None = None) -> None:
        self._police = police
        self._trust = trust

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                # Happy Eyeballs, as anyio does: a dead IPv6 address must not eat the
                # whole connect timeout while a working IPv4 one waits
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=local, happy_eyeballs_delay=0.25, interleave=1
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ConnectError(exc) from exc
        if self._police:
            _refuse_unreachable(writer)
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return AsyncioStream(reader, writer, self._trust)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ConnectError(exc) from exc
        return AsyncioStream(reader, writer, self._trust)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def use_asyncio_backend(client: Any, trust: Trust | None = None) -> None:
    """Point every connection pool of an ``httpx.AsyncClient`` at ``AsyncioBackend``.

    httpx builds its pools without a way to pass a backend, so this sets the
    pools' backend attribute; a client whose transports are not httpcore pools
    (tests' mock transports) is left as it is. The mounts are proxies from the
    environment: their connections go to the proxy, so they are not policed.
    """
    direct, proxied = AsyncioBackend(trust=trust), AsyncioBackend(police=False, trust=trust)
    transports = [(client._transport, direct), *((t, proxied) for t in client._mounts.values())]
    for transport, backend in transports:
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore.AsyncConnectionPool):
            pool._network_backend = backend


# --- the client's own cookie jar ----------------------------------------------------------


class _NoJar(httpx.Cookies):
    """A client jar that keeps nothing, and does not try to.

    The fetcher keeps cookies per attempt (``client.py``) and gives its client a jar
    whose policy accepts none; httpx still offered that jar every response, building
    urllib's request and response wrappers each time: a tenth of a 304's CPU.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return


def without_client_jar(client: Any) -> None:
    """Give an ``httpx.AsyncClient`` the jar that keeps nothing (its setter would copy
    the jar into a plain ``Cookies``, so the private attribute is set)."""
    client._cookies = _NoJar()


# --- the lanes ---------------------------------------------------------------------------


# scheme, host, port, and the reach the connection was checked against: a connection
# one target may use is not handed to a target that may not reach its address
_Origin = tuple[bytes, bytes, int | None, Reach | None]


class _Lane:
    __slots__ = ("origin", "transport")

    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.origin: _Origin | None = None  # of the kept connection


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives its lane back when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release, release = None, self._release
                release()


class LanedTransport(httpx.AsyncBaseTransport):
    """Plain HTTP/1.1 over ``AsyncioBackend``'s streams, one lane per request in flight."""

    def __init__(self, trust: Trust, keep: int, keepalive_expiry: float = 5.0) -> None:
        self._keep = keep
        self._expiry = keepalive_expiry
        self._backend = AsyncioBackend(trust=trust)
        self._ssl = trust.placeholder  # one for all lanes, its CA bundle loaded once
        self._lanes: list[_Lane] = []
        self._free: list[_Lane] = []  # in the order they were released

    @property
    def lanes(self) -> int:
        """Lanes made so far: at most ``keep``, unless more requests were in flight at once."""
        return len(self._lanes)

    def _new_lane(self) -> _Lane:
        limits = httpx.Limits(
            max_connections=None, max_keepalive_connections=1, keepalive_expiry=self._expiry
        )
        transport = httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits, trust_env=False)
        transport._pool._network_backend = self._backend  # httpx offers no parameter for it
        lane = _Lane(transport)
        self._lanes.append(lane)
        return lane

    def _take(self, origin: _Origin) -> _Lane:
        free = self._free
        for index in range(len(free) - 1, -1, -1):
            if free[index].origin == origin:
                return free.pop(index)
        if len(self._lanes) >= self._keep:
            # not a lane whose connection httpcore would reuse under another reach
            for index, lane in enumerate(free):
                if lane.origin is None or lane.origin[:3] != origin[:3]:
                    return free.pop(index)
        return self._new_lane()  # more than keep only if more than keep are in flight

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        current = _REACHING.get()
        origin = (url.raw_scheme, url.raw_host, url.port, current[0] if current else None)
        lane = self._take(origin)

        def release() -> None:
            lane.origin = origin
            self._free.append(lane)

        try:
            response = await lane.transport.handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, release)
        return response

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.transport.aclose()
        self._lanes.clear()
        self._free.clear()
