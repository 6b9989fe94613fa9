"""An httpx transport with one small connection pool per request in flight.

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

import ssl
from collections.abc import AsyncIterator, Callable

import httpx

from watcher.fetch.transport import AsyncioBackend

__all__ = ["LanedTransport"]


class _Lane:
    __slots__ = ("origin", "transport")

    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.origin: tuple[bytes, bytes, int | None] | None = None  # of the kept connection


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
    """Plain HTTP/1.1 over asyncio streams (``transport``), one lane per request in flight."""

    def __init__(
        self, ssl_context: ssl.SSLContext, keep: int, keepalive_expiry: float = 5.0
    ) -> None:
        self._keep = keep
        self._expiry = keepalive_expiry
        self._backend = AsyncioBackend()
        self._ssl = ssl_context  # one for all lanes: loading the CA bundle takes ~20 ms
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

    def _take(self, origin: tuple[bytes, bytes, int | None]) -> _Lane:
        free = self._free
        for index in range(len(free) - 1, -1, -1):
            if free[index].origin == origin:
                return free.pop(index)
        if free and len(self._lanes) >= self._keep:
            return free.pop(0)
        return self._new_lane()  # more than keep only if more than keep are in flight

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
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
