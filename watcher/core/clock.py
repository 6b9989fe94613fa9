"""Time as a collaborator: wall time for records, a monotonic clock for spacing
and durations, and sleeping.

Every stage that waits or stamps takes a ``Clock`` from the one wiring instead of
calling ``time`` and ``asyncio`` itself, so that tests drive time by hand (see
``tests/clock.py``) instead of sleeping and measuring the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC: what records and schedules carry."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back: for spacing and durations."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait this long by this clock."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
