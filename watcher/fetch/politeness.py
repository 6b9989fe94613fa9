"""Per-host politeness behind one small interface.

The fetcher only ever calls ``async with politeness.slot(host) as started: ...`` around
one request, and ``started()`` once the request's head is on its way to the host.
:class:`LocalPoliteness` keeps the limits in this process; :class:`SharedPoliteness`
keeps the per-host part in a store shared by several workers.

Spacing counts from when the request went out, not from when its turn came: between
the two lie a new connection's TCP and TLS handshakes (a second or more to a far
site) and whatever else the event loop had to do. Counted from the turn, the next
request to the host, sent on a connection kept alive, could reach the site together
with the first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from watcher.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["HostSlots", "LocalPoliteness", "Politeness", "SharedPoliteness", "Started"]

Started = Callable[[], None]  # "the request's head is on its way"; later calls do nothing


class Politeness(Protocol):
    """Decides when a request to ``host`` may start, and how many may run at once."""

    def slot(self, host: str) -> AbstractAsyncContextManager[Started]:
        """Wait for permission to send one request to ``host``; hold it while the request
        runs, and call what it gives once the request has gone out."""
        ...


@dataclass
class _Host:
    semaphore: asyncio.Semaphore
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float = float("-inf")
    users: int = 0


class _Turn:
    """A host's turn, held from when it came until its request went out."""

    def __init__(self, state: _Host, clock: Clock) -> None:
        self._state = state
        self._clock = clock
        self._held = True

    def started(self) -> None:
        if self._held:
            self._held = False
            self._state.last_start = self._clock.monotonic()
            self._state.turn.release()


class LocalPoliteness:
    """In-process limits: global concurrency, concurrency per host, spacing per host.

    Order of waiting matters so that one slow host never starves the others: a
    request first waits for its host (per-host semaphore, then its turn after
    ``host_delay``), and only then takes one of the global slots. So a host can
    occupy at most ``per_host`` global slots, and never while merely waiting.

    A host's turn passes on when its request has gone out (``started()``), or when
    the slot ends without that (a connection that failed counts from its failure), and
    the next request waits ``host_delay`` from then. Spacing is measured and waited
    for on ``clock`` (its monotonic time and its sleep).
    """

    def __init__(
        self,
        concurrency: int = 16,
        per_host: int = 2,
        host_delay: float = 1.0,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if concurrency < 1 or per_host < 1 or host_delay < 0:
            raise ValueError("need concurrency >= 1, per_host >= 1 and host_delay >= 0")
        self.concurrency = concurrency
        self.per_host = per_host
        self.host_delay = host_delay
        self._global = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, _Host] = {}
        self._clock = clock

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[Started]:
        """Hold one global and one per-host slot; starts to one host are ``host_delay`` apart."""
        state = self._enter(host.lower())
        try:
            async with state.semaphore:
                turn = await self._take_turn(state)
                try:
                    yield turn.started
                finally:
                    turn.started()  # it never went out: the turn passes on from now
                    self._global.release()
        finally:
            self._leave(host.lower(), state)

    async def _take_turn(self, state: _Host) -> _Turn:
        """Take the host's turn, wait until ``host_delay`` after the previous start, then
        take a global slot; the turn stays held until this request starts.

        Waiting for the global slot within the turn costs nothing: the next request to
        the same host must start after this one anyway.
        """
        await state.turn.acquire()
        try:
            wait = state.last_start + self.host_delay - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            await self._global.acquire()
        except BaseException:
            state.turn.release()
            raise
        return _Turn(state, self._clock)

    def _enter(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(asyncio.Semaphore(self.per_host))
        state.users += 1
        return state

    def _leave(self, host: str, state: _Host) -> None:
        """Forget idle hosts whose spacing has passed, so the table stays small."""
        state.users -= 1
        idle = state.users == 0 and self._clock.monotonic() - state.last_start >= self.host_delay
        if idle and self._hosts.get(host) is state:
            del self._hosts[host]


class HostSlots(Protocol):
    """Per-host slots and spacing kept outside this process (``watcher.store.hosts``)."""

    def slot(self, host: str) -> AbstractAsyncContextManager[Started]:
        """One of the host's slots and its turn, held until ``started()`` is called."""
        ...


class SharedPoliteness:
    """``per_host`` and ``host_delay`` across every worker (``hosts``), the global
    ``concurrency`` in this process. A request waits for its host first, as in
    :class:`LocalPoliteness`, so a slow host never holds global slots while waiting;
    the host's spacing counts from its ``started()``, as there."""

    def __init__(self, hosts: HostSlots, concurrency: int = 16) -> None:
        if concurrency < 1:
            raise ValueError("need concurrency >= 1")
        self._hosts = hosts
        self._global = asyncio.Semaphore(concurrency)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[Started]:
        async with self._hosts.slot(host) as started, self._global:
            yield started
