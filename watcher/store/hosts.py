"""Politeness shared by every worker: ``per_host`` and ``host_delay`` held in the
queue's PostgreSQL, so they hold across processes and machines, not per worker.

- A request holds one of its host's ``per_host`` advisory locks, on a connection of
  this process's pool, while it runs. A process that dies loses its connections, and
  with them its locks: nothing is left to clean up.
- A row per host keeps the earliest next start. A request takes its turn in one
  statement once it is due (the database's clock, the same for every machine), and
  sleeps until then otherwise, so nothing is locked while it waits.
- Spacing counts from when the request's head went out (``started()``), not from its
  turn: a new connection's handshakes can outlast ``host_delay``, and another worker's
  request on a kept connection would reach the site with it. So a turn, once given,
  holds the host's next start ``hold`` ahead; ``started()`` sets it ``host_delay``
  after now, and a request that ends without going out passes the turn on the same
  way (from its failure, as in one process). ``hold`` only bounds what a worker that
  died within its turn costs the host (see ``HOLD``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.store.queue import SCHEMA_LOCK

__all__ = ["HOLD", "HostGate"]

# how long a turn holds the host at most before its request goes out: an attempt goes
# out or fails within its total timeout (30 s by default), less than this even after a
# wait for one of the process's global slots; a worker that dies within its turn keeps
# its host waiting this long, once
HOLD = 60.0

log = logging.getLogger(__name__)

_TABLE = """
CREATE TABLE IF NOT EXISTS watcher_host_turns (
    host text PRIMARY KEY,
    next_start double precision NOT NULL
)
"""

# the host's turn, taken only when it is due, holding the next one ``hold`` ahead
_TAKE = """
INSERT INTO watcher_host_turns AS t (host, next_start)
VALUES (%(host)s, extract(epoch FROM clock_timestamp())::float8 + %(hold)s::float8)
ON CONFLICT (host) DO UPDATE SET next_start = EXCLUDED.next_start
WHERE t.next_start <= extract(epoch FROM clock_timestamp())::float8
RETURNING next_start
"""

# the request went out (or never will): the next turn ``delay`` after now; only this
# turn's hold is moved, never a later turn's, should the hold have run out
_PASS = """
UPDATE watcher_host_turns
SET next_start = extract(epoch FROM clock_timestamp())::float8 + %(delay)s::float8
WHERE host = %(host)s AND next_start = %(held)s::float8
RETURNING next_start - %(delay)s::float8
"""

# how long until the host's next turn
_LEFT = """
SELECT next_start - extract(epoch FROM clock_timestamp())::float8
FROM watcher_host_turns WHERE host = %(host)s
"""


class HostGate:
    """Per-host slots and spacing across processes; ``slot(host)`` around one request.

    ``clock``'s ``sleep`` is what waits between looks at the database (its time is the
    database's)."""

    def __init__(
        self,
        url: str,
        per_host: int,
        host_delay: float,
        *,
        connections: int,
        poll: float = 0.05,
        hold: float = HOLD,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.url = url
        self.per_host = per_host
        self.host_delay = host_delay
        self.poll = poll
        self.hold = hold
        self._clock = clock
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=connections, open=False, kwargs={"autocommit": True}
        )
        self._opened = False

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30)
        async with self._pool.connection() as conn:
            # workers starting at once would race to make it (CREATE TABLE IF NOT EXISTS
            # is not safe against itself): one at a time, under the queue's schema lock
            await conn.execute("SELECT pg_advisory_lock(%s::int8)", (SCHEMA_LOCK,))
            try:
                await conn.execute(_TABLE)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s::int8)", (SCHEMA_LOCK,))
        self._opened = True

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[Callable[[], None]]:
        """Wait for one of ``host``'s slots and for its turn; hold the slot meanwhile,
        and the turn until the request goes out (the callable given) or the slot ends."""
        if not self._opened:
            await self.open()
        host = host.lower()
        key = _key(host)
        async with self._pool.connection() as conn:
            held = await self._take(conn, key)
            try:
                turn = _Turn(conn, host, await self._turn(conn, host), self.host_delay)
                try:
                    yield turn.started
                finally:
                    await turn.passed()
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock(%s::int4, %s::int4)", (key, held))
                except psycopg.Error:  # the connection broke: the lock went with it
                    log.debug("politeness: %s's slot went with its connection", host)

    async def _turn(self, conn: psycopg.AsyncConnection[Any], host: str) -> float:
        """Take the host's turn once it is due; the next start it holds. Taken at the
        moment this process is ready, never reserved ahead: a process slowed down after
        asking (a busy loop, a starved core) cannot start late into another's turn."""
        turn = {"host": host, "hold": self.hold}
        while True:
            held = await _one(conn, _TAKE, turn)
            if held is not None:
                log.debug("politeness: %s's turn", host, extra={"turn": host})
                return float(held)
            left = float(await _one(conn, _LEFT, turn) or 0.0)
            # beyond host_delay: another's turn, held until its request goes out
            wait = left if left <= self.host_delay else self.poll
            await self._clock.sleep(max(wait, 0.005))

    async def _take(self, conn: psycopg.AsyncConnection[Any], key: int) -> int:
        """One of the host's slots (its number), polling until one is free."""
        while True:
            for slot in range(self.per_host):
                if await _one(conn, "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (key, slot)):
                    return slot
            await self._clock.sleep(self.poll)


class _Turn:
    """A host's turn, held in the database until its request went out."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], host: str, held: float, delay: float
    ) -> None:
        self._conn = conn
        self._params = {"host": host, "held": held, "delay": delay}
        self._passing: asyncio.Task[None] | None = None

    def started(self) -> None:
        """The request's head went out: the next turn ``host_delay`` from now (the
        database's now, a moment later: never sooner)."""
        if self._passing is None:
            self._passing = asyncio.ensure_future(self._pass("went out"))

    async def passed(self) -> None:
        """At the slot's end: passed on, from now if the request never went out."""
        if self._passing is None:
            self._passing = asyncio.ensure_future(self._pass("passed on, nothing sent"))
        await asyncio.shield(self._passing)

    async def _pass(self, what: str) -> None:
        host = self._params["host"]
        try:
            at = await _one(self._conn, _PASS, self._params)
        except psycopg.Error:  # the connection broke: the hold runs out by itself
            log.warning("politeness: %s's turn is left held until its hold runs out", host)
            return
        if at is not None:  # the database's time of it, the one all workers count on
            log.debug("politeness: %s's request %s at %.3f", host, what, at, extra={"out": at})


def _key(host: str) -> int:
    """The host's advisory lock key: a signed 32-bit number from its name."""
    return int.from_bytes(hashlib.sha256(host.encode()).digest()[:4], "big", signed=True)


async def _one(conn: psycopg.AsyncConnection[Any], sql: str, params: Any) -> Any:
    row = await (await conn.execute(sql, params)).fetchone()
    return None if row is None else row[0]
