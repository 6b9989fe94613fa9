"""tests/clock.py: the virtual clock other tests take their time from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from clock import EPOCH, FakeClock, settle

from watcher.core.clock import SYSTEM_CLOCK, Clock


def test_time_stands_still_until_advanced() -> None:
    clock: Clock = FakeClock(monotonic=50.0)
    assert clock.now() == EPOCH and clock.monotonic() == 50.0
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.now() == EPOCH  # no real time leaks in


async def test_advance_moves_now_and_monotonic_together() -> None:
    clock = FakeClock(start=datetime(2025, 1, 1, tzinfo=UTC), monotonic=0.0)
    await clock.advance(90.5)
    assert clock.monotonic() == 90.5
    assert clock.now() == datetime(2025, 1, 1, 0, 1, 30, 500_000, tzinfo=UTC)
    with pytest.raises(ValueError):
        await clock.advance(-1)
    with pytest.raises(ValueError):
        FakeClock(start=datetime(2025, 1, 1))  # naive


async def test_sleepers_wake_in_deadline_order_each_at_its_deadline() -> None:
    clock = FakeClock(monotonic=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 3), ("a", 1), ("b", 2)]]
    await clock.sleeping(3)
    assert clock.waits() == [1, 2, 3] and woke == []
    await clock.advance(1.5)
    assert woke == [("a", 1.0)] and clock.waits() == [0.5, 1.5]
    await clock.advance(10)
    assert woke == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.monotonic() == 11.5 and clock.slept == [3, 1, 2]
    await asyncio.gather(*tasks)


async def test_a_task_that_sleeps_again_wakes_again_within_one_advance() -> None:
    clock = FakeClock(monotonic=0.0)
    ticks: list[float] = []

    async def every_second() -> None:
        while True:
            await clock.sleep(1)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(every_second())
    await clock.sleeping()
    await clock.advance(3.5)
    assert ticks == [1, 2, 3] and clock.waits() == [0.5]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.waits() == []  # a cancelled sleeper is forgotten


async def test_sleep_of_zero_or_less_does_not_wait() -> None:
    clock = FakeClock()
    await asyncio.wait_for(clock.sleep(0), 5)
    await asyncio.wait_for(clock.sleep(-3), 5)
    assert clock.waits() == [] and clock.monotonic() == 1000.0


async def test_sleeping_gives_up_after_its_timeout() -> None:
    with pytest.raises(AssertionError, match="0 sleepers"):
        await FakeClock().sleeping(timeout=0.05)


async def test_autojump_waits_until_the_loop_has_nothing_else_ready() -> None:
    """A task still busy when another one sleeps 10 s goes to sleep for 1 s: time must
    jump to its deadline first, not to the 10 s one that was asked for earlier."""
    clock = FakeClock(monotonic=0.0)
    woke: list[tuple[str, float]] = []

    async def long() -> None:
        await clock.sleep(10)
        woke.append(("long", clock.monotonic()))

    async def busy_then_short() -> None:
        for _ in range(200):
            await asyncio.sleep(0)  # ready work: no jump meanwhile
        await clock.sleep(1)
        woke.append(("short", clock.monotonic()))

    async with clock.autojump():
        await asyncio.wait_for(asyncio.gather(long(), busy_then_short()), 5)
    assert woke == [("short", 1.0), ("long", 10.0)]


async def test_settle_returns_once_every_ready_task_has_run() -> None:
    steps: list[int] = []

    async def chain(n: int) -> None:
        for i in range(n):
            steps.append(i)
            await asyncio.sleep(0)

    task = asyncio.create_task(chain(50))
    await settle()
    assert steps == list(range(50)) and task.done()


async def test_the_system_clock_is_aware_utc_and_monotonic() -> None:
    before = SYSTEM_CLOCK.monotonic()
    await SYSTEM_CLOCK.sleep(0)
    assert SYSTEM_CLOCK.monotonic() >= before
    assert SYSTEM_CLOCK.now().utcoffset() == timedelta(0)
