"""Politeness shared by workers (watcher.store.hosts) on a real PostgreSQL: two
fetchers, each with its gate and pool as two workers have, sending to one host.

The turns are taken on the database's clock, which no test can move; so these tests
wait on it (a few ``host_delay`` of 0.2 s), while the gates' own sleeps between looks
at the database run on a FakeClock that jumps.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from clock import PATIENCE, FakeClock, eventually
from httpserver import HTTPServer, Request, Response, free_port

from watcher.fetch.client import Fetcher, FetchError, FetchOptions, FetchSettings
from watcher.fetch.politeness import SharedPoliteness
from watcher.store.hosts import HOLD, HostGate

DELAY = 0.2  # host_delay, in the database's (real) seconds
ONCE = FetchOptions(retries=0)


@asynccontextmanager
async def workers(
    url: str, clock: FakeClock, n: int = 2, hold: float = HOLD
) -> AsyncIterator[list[Fetcher]]:
    """``n`` fetchers with a gate each (``per_host`` 2), as ``n`` workers have."""
    async with AsyncExitStack() as stack:
        fetchers = []
        for _ in range(n):
            gate = HostGate(url, 2, DELAY, connections=2, hold=hold, clock=clock)
            await gate.open()
            stack.push_async_callback(gate.close)
            politeness = SharedPoliteness(gate)
            settings = FetchSettings(per_host=2, host_delay=DELAY)
            fetchers.append(
                await stack.enter_async_context(Fetcher(settings, politeness=politeness))
            )
        yield fetchers


def noting(seen: dict[str, float]) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        seen[request.path] = time.monotonic()  # when the site had the request's head
        return Response(200, b"ok")

    return handler


async def test_a_workers_host_delay_counts_from_when_its_request_went_out(
    pg_url: str, tls_site: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    """Worker A's turn comes, but its new connection waits in its TLS handshake past
    ``host_delay``; worker B, with a connection to the host kept alive, must not send
    before A's request has reached the site, and then only ``host_delay`` after it."""
    caplog.set_level(logging.DEBUG, logger="watcher.store.hosts")
    clock = FakeClock()
    seen: dict[str, float] = {}

    def turns() -> int:  # turns given, as the gates log them
        return sum(hasattr(record, "turn") for record in caplog.records)

    with HTTPServer(tls=tls_site) as site:
        for path in ("/warm", "/a", "/b"):
            site.route(path, handler=noting(seen))
        async with clock.autojump(), workers(pg_url, clock) as (a, b):
            await asyncio.wait_for(b.fetch(site.url("/warm"), ONCE), PATIENCE)  # kept alive
            site.accepting.clear()  # a new connection now waits in its TLS handshake
            fetch_a = asyncio.create_task(a.fetch(site.url("/a"), ONCE))
            await eventually(lambda: turns() == 2, "A's turn")
            a_turn = time.monotonic()
            fetch_b = asyncio.create_task(b.fetch(site.url("/b"), ONCE))
            await eventually(
                lambda: "/b" in seen or time.monotonic() > a_turn + 3 * DELAY,
                "B's turn, had it counted from A's",
            )
            assert "/b" not in seen  # B did not go while A's request had not gone out
            site.accepting.set()
            await asyncio.wait_for(asyncio.gather(fetch_a, fetch_b), PATIENCE)
    assert sorted(seen, key=seen.__getitem__) == ["/warm", "/a", "/b"]
    assert seen["/b"] - seen["/a"] >= DELAY / 2  # the site's stamps lag a little


async def test_a_request_that_never_went_out_passes_the_turn_on(
    pg_url: str, http_server: HTTPServer
) -> None:
    """A refused connection sends nothing: the host's next turn is ``host_delay`` after
    the failure, not held until the hold runs out (here longer than the test waits)."""
    clock = FakeClock()
    seen: dict[str, float] = {}
    http_server.route("/b", handler=noting(seen))
    async with clock.autojump(), workers(pg_url, clock, hold=10 * PATIENCE) as (a, b):
        refused = f"http://127.0.0.1:{free_port()}/a"
        with pytest.raises(FetchError):
            await asyncio.wait_for(a.fetch(refused, ONCE), PATIENCE)
        failed = time.monotonic()
        await asyncio.wait_for(b.fetch(http_server.url("/b"), ONCE), PATIENCE)
    assert DELAY / 2 <= seen["/b"] - failed < PATIENCE


async def test_workers_starting_at_once_make_the_turns_table_once(pg_url: str) -> None:
    """CREATE TABLE IF NOT EXISTS is not safe against itself: four gates opened at once
    on an empty database, as four workers starting, all open."""
    gates = [HostGate(pg_url, 2, DELAY, connections=1) for _ in range(4)]
    try:
        results = await asyncio.gather(*(g.open() for g in gates), return_exceptions=True)
    finally:
        await asyncio.gather(*(g.close() for g in gates))
    assert results == [None] * 4


async def test_a_turn_held_by_a_worker_that_went_quiet_ends_with_its_hold(pg_url: str) -> None:
    """A worker that took its turn and then never sent nor ended (it died, or hangs)
    keeps its host waiting for ``hold``, not for ever."""
    clock, hold = FakeClock(), 1.0
    gates = [HostGate(pg_url, 2, DELAY, connections=2, hold=hold, clock=clock) for _ in "ab"]
    async with clock.autojump(), AsyncExitStack() as stack:
        for gate in gates:
            await gate.open()
            stack.push_async_callback(gate.close)
        await stack.enter_async_context(gates[0].slot("site.example"))  # its turn, kept
        taken = time.monotonic()
        async with asyncio.timeout(PATIENCE), gates[1].slot("site.example") as started:
            waited = time.monotonic() - taken
            started()
    assert hold * 0.9 <= waited < PATIENCE
