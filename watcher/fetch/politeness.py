"""Per-host politeness behind one small interface.

The fetcher only ever calls ``async with politeness.slot(host): ...`` around one
request. Today :class:`LocalPoliteness` keeps the limits in this process; a
multi-worker deployment can swap in an implementation backed by a shared store
(PostgreSQL advisory locks, Redis, ...) without touching the fetcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from watcher.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["HostSlots", "LocalPoliteness", "Politeness", "SharedPoliteness"]


class Politeness(Protocol):
    """Decides when a request to ``host`` may start, and how many may run at once."""

    def slot(self, host: str) -> AbstractAsyncContextManager[None]:
        """Wait for permission to send one request to ``host``; hold it while the request runs."""
        ...


@dataclass
class _Host:
    semaphore: asyncio.Semaphore
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float = float("-inf")
    users: int = 0


class LocalPoliteness:
    """In-process limits: global concurrency, concurrency per host, spacing per host.

    Order of waiting matters so that one slow host never starves the others: a
    request first waits for its host (per-host semaphore, then its turn after
    ``host_delay``), and only then takes one of the global slots. So a host can
    occupy at most ``per_host`` global slots, and never while merely waiting.

    Spacing is measured and waited for on ``clock`` (its monotonic time and its sleep).
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
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one global and one per-host slot; starts to one host are ``host_delay`` apart."""
        state = self._enter(host.lower())
        try:
            async with state.semaphore:
                await self._take_turn(state)
                try:
                    yield
                finally:
                    self._global.release()
        finally:
            self._leave(host.lower(), state)

    async def _take_turn(self, state: _Host) -> None:
        """Wait until ``host_delay`` after the previous start, then take a global slot.

        The host's turn lock is held while waiting for the global slot: the next
        request to the same host must start after this one anyway.
        """
        async with state.turn:
            wait = state.last_start + self.host_delay - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            await self._global.acquire()
            state.last_start = self._clock.monotonic()

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

    def slot(self, host: str) -> AbstractAsyncContextManager[None]: ...


class SharedPoliteness:
    """``per_host`` and ``host_delay`` across every worker (``hosts``), the global
    ``concurrency`` in this process. A request waits for its host first, as in
    :class:`LocalPoliteness`, so a slow host never holds global slots while waiting."""

    def __init__(self, hosts: HostSlots, concurrency: int = 16) -> None:
        if concurrency < 1:
            raise ValueError("need concurrency >= 1")
        self._hosts = hosts
        self._global = asyncio.Semaphore(concurrency)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        async with self._hosts.slot(host), self._global:
            yield
