"""Politeness shared by every worker: ``per_host`` and ``host_delay`` held in the
queue's PostgreSQL, so they hold across processes and machines, not per worker.

- A request holds one of its host's ``per_host`` advisory locks, on a connection of
  this process's pool, while it runs. A process that dies loses its connections, and
  with them its locks: nothing is left to clean up.
- A row per host keeps the earliest next start. A request takes its turn in one
  statement once it is due (the database's clock, the same for every machine), and
  sleeps until then otherwise, so nothing is locked while it waits.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["HostGate"]

log = logging.getLogger(__name__)

_TABLE = """
CREATE TABLE IF NOT EXISTS watcher_host_turns (
    host text PRIMARY KEY,
    next_start double precision NOT NULL
)
"""

# the host's turn, taken only when it is due: the next one ``delay`` after now
_TAKE = """
INSERT INTO watcher_host_turns AS t (host, next_start)
VALUES (%(host)s, extract(epoch FROM clock_timestamp())::float8 + %(delay)s::float8)
ON CONFLICT (host) DO UPDATE SET next_start = EXCLUDED.next_start
WHERE t.next_start <= extract(epoch FROM clock_timestamp())::float8
RETURNING next_start - %(delay)s::float8
"""

# how long until the host's next turn
_LEFT = """
SELECT next_start - extract(epoch FROM clock_timestamp())::float8
FROM watcher_host_turns WHERE host = %(host)s
"""


class HostGate:
    """Per-host slots and spacing across processes; ``slot(host)`` around one request."""

    def __init__(
        self, url: str, per_host: int, host_delay: float, *, connections: int, poll: float = 0.05
    ) -> None:
        self.url = url
        self.per_host = per_host
        self.host_delay = host_delay
        self.poll = poll
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=connections, open=False, kwargs={"autocommit": True}
        )
        self._opened = False

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30)
        async with self._pool.connection() as conn:
            await conn.execute(_TABLE)
        self._opened = True

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Wait for one of ``host``'s slots and for its turn; hold the slot meanwhile."""
        if not self._opened:
            await self.open()
        host = host.lower()
        key = _key(host)
        async with self._pool.connection() as conn:
            held = await self._take(conn, key)
            try:
                at = await self._turn(conn, host)
                log.debug("politeness: %s's turn at %.3f", host, at, extra={"turn": at})
                yield
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock(%s::int4, %s::int4)", (key, held))
                except psycopg.Error:  # the connection broke: the lock went with it
                    log.debug("politeness: %s's slot went with its connection", host)

    async def _turn(self, conn: psycopg.AsyncConnection[Any], host: str) -> float:
        """Take the host's turn once it is due (the database's time of it). Taken at the
        moment this process is ready, never reserved ahead: a process slowed down after
        asking (a busy loop, a starved core) cannot start late into another's turn."""
        turn = {"host": host, "delay": self.host_delay}
        while True:
            at = await _one(conn, _TAKE, turn)
            if at is not None:
                return float(at)
            left = await _one(conn, _LEFT, turn)
            await asyncio.sleep(max(float(left or 0.0), 0.005))

    async def _take(self, conn: psycopg.AsyncConnection[Any], key: int) -> int:
        """One of the host's slots (its number), polling until one is free."""
        while True:
            for slot in range(self.per_host):
                if await _one(conn, "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (key, slot)):
                    return slot
            await asyncio.sleep(self.poll)


def _key(host: str) -> int:
    """The host's advisory lock key: a signed 32-bit number from its name."""
    return int.from_bytes(hashlib.sha256(host.encode()).digest()[:4], "big", signed=True)


async def _one(conn: psycopg.AsyncConnection[Any], sql: str, params: Any) -> Any:
    row = await (await conn.execute(sql, params)).fetchone()
    return None if row is None else row[0]
