"""Virtual time for tests: a ``Clock`` (watcher.core.clock) whose time moves only when
the test says so, so that what a test sees does not depend on how busy the machine is.

A sleeper waits on a future kept in a heap ordered by deadline (ties: first come, first
woken). The test moves time::

    clock = FakeClock()
    task = asyncio.create_task(fetcher.fetch(url, options))   # a retry waits 1 s
    await clock.sleeping()          # wait (in real time, event-driven) for the sleeper
    assert clock.waits() == [1.0]
    await clock.advance(1.0)        # wake it; the loop runs until nothing else is ready

or lets ``autojump()`` move it: whenever the event loop has nothing else ready to run,
time jumps to the next deadline (the loop may still be waiting on sockets or threads).
Use it where every sleeper may as well end at once; with a periodic sleeper (a service
loop) time would run away, so advance by hand there.

Waiting for something in the real world (a server thread, a subprocess) is done with
``eventually`` / ``eventually_sync``: a condition polled up to a generous deadline, never
a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["EPOCH", "FakeClock", "eventually", "eventually_sync", "settle"]

EPOCH = datetime(2024, 5, 10, 10, 0, tzinfo=UTC)  # a FakeClock's default start
PATIENCE = 30.0  # real seconds a test waits for the real world before it fails


@dataclass(order=True)
class _Sleeper:
    deadline: float
    order: int
    future: asyncio.Future[None] = field(compare=False)


class FakeClock:
    """Deterministic virtual time: ``now()``, ``monotonic()`` and ``sleep()`` of one clock."""

    def __init__(self, start: datetime = EPOCH, monotonic: float = 1000.0) -> None:
        if start.tzinfo is None or start.utcoffset() != timedelta(0):
            raise ValueError("start must be an aware UTC datetime")
        self._start = start
        self._origin = monotonic
        self._now = monotonic
        self._heap: list[_Sleeper] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()  # set whenever a sleeper comes or goes
        self.slept: list[float] = []  # every sleep asked for, in order (seconds)

    # -- the Clock protocol -----------------------------------------------------------------

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now - self._origin)

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)  # as asyncio.sleep: a turn of the loop, no wait
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, _Sleeper(self._now + seconds, next(self._order), future))
        self._changed.set()
        try:
            await future
        finally:
            future.cancel()  # no-op when woken; forgets a cancelled sleeper
            self._changed.set()

    # -- for the test -------------------------------------------------------------------------

    def waits(self) -> list[float]:
        """Seconds from now until each sleeper is due, soonest first."""
        return sorted(s.deadline - self._now for s in self._heap if not s.future.done())

    async def sleeping(self, count: int = 1, timeout: float = PATIENCE) -> None:
        """Return once at least ``count`` sleepers wait (fail after ``timeout`` real s)."""
        deadline = time.monotonic() + timeout
        while len(self.waits()) < count:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.waits())} sleepers after {timeout} s, not {count}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` on. Sleepers wake in deadline order, each at its own
        deadline, and the loop runs until it has nothing else ready before time moves
        again: a task woken on the way that sleeps again within the span wakes too."""
        if seconds < 0:
            raise ValueError("time does not go back")
        until = self._now + seconds
        await settle()
        while (due := self._next()) is not None and due <= until:
            self._wake(due)
            await settle()
        self._now = until

    @contextlib.asynccontextmanager
    async def autojump(self) -> AsyncIterator[FakeClock]:
        """While inside: when the loop has nothing else ready, jump to the next deadline."""
        jumper = asyncio.create_task(self._jump())
        try:
            yield self
        finally:
            jumper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await jumper

    async def _jump(self) -> None:
        while True:
            if self._next() is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            await settle()
            due = self._next()
            if due is not None:
                self._wake(due)

    def _next(self) -> float | None:
        """The earliest deadline of a sleeper still waiting (None: nobody sleeps)."""
        while self._heap and self._heap[0].future.done():
            heapq.heappop(self._heap)  # cancelled meanwhile
        return self._heap[0].deadline if self._heap else None

    def _wake(self, deadline: float) -> None:
        """Set the time to ``deadline`` and wake every sleeper due by then, in order."""
        self._now = max(self._now, deadline)
        while self._heap and self._heap[0].deadline <= self._now:
            sleeper = heapq.heappop(self._heap)
            if not sleeper.future.done():
                sleeper.future.set_result(None)
        self._changed.set()


async def settle(limit: int = 100_000) -> None:
    """Let the event loop run until nothing else is ready to run.

    asyncio has no public "is the loop idle" question; CPython's loop keeps its ready
    callbacks in ``_ready``. A loop that never goes idle (a task spinning on
    ``sleep(0)``) is reported instead of hanging the test.
    """
    loop = asyncio.get_running_loop()
    for _ in range(limit):
        await asyncio.sleep(0)
        if not loop._ready:  # type: ignore[attr-defined]
            return
    raise AssertionError(f"the event loop still had work after {limit} turns")


async def eventually(condition: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    """Wait (in real time) until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


def eventually_sync(condition: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    """``eventually`` for tests without an event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)
