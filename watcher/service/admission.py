"""How many scheduled checks are between fetch and store at once.

APScheduler starts each target's check on its own timer, so the first cycle of
10,000 new targets starts thousands of checks within a minute. Admitted in order,
a few at a time, the others wait in line holding nothing but their place; a stop
sends the waiting ones home at once, so that SIGTERM waits only for the few
checks under way, whatever the number of targets.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Admission:
    """A semaphore whose waiters a ``close()`` dismisses (``acquire`` says False)
    instead of cancelling them: a dismissed check simply does not run."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("need room for at least one check")
        self.size = size
        self.busy = 0  # admitted and not yet released
        self.closed = False
        self._line: deque[asyncio.Future[bool]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._line if not f.done())

    async def acquire(self) -> bool:
        """True once admitted (``release()`` after), False when closed first."""
        if self.closed:
            return False
        if self.busy < self.size:  # then nobody waits: ``busy`` drops only on an empty line
            self.busy += 1
            return True
        place: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._line.append(place)
        try:
            return await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled() and place.result():
                self.release()  # admitted just as it was cancelled: pass the slot on
            raise

    def release(self) -> None:
        """Hand the slot to the first in line, or free it."""
        while self._line:
            place = self._line.popleft()
            if not place.done():
                place.set_result(True)  # the slot changes hands: ``busy`` stays
                return
        self.busy -= 1

    def close(self) -> None:
        """Admit no more: every check still in line is told False."""
        self.closed = True
        while self._line:
            place = self._line.popleft()
            if not place.done():
                place.set_result(False)
