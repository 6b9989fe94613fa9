"""The line of targets due for a check, and how many are checked at once.

APScheduler fires each target's job on its own timer, so the first cycle of 10,000
new targets makes thousands due within a minute. A job only puts its target in
this line; a fixed number of the service's workers take from it, so at most that
many checks are between fetch and store, and the ones waiting are names, not
suspended tasks. A stop drops the line at once, whatever its length, and waits
only for the checks under way.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict


class Line:
    """Target names in the order they fell due, each at most once, in line or under way."""

    def __init__(self) -> None:
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self._busy: set[str] = set()
        self._ready = asyncio.Event()
        self.closed = False

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> int:
        """Checks taken and not yet done."""
        return len(self._busy)

    def under_way(self, name: str) -> bool:
        return name in self._busy

    def add(self, name: str, *, first: bool = False) -> bool:
        """Put ``name`` in line (``first``: at its head: someone asked for it now);
        False when it is under way already or the line is closed. A name already in
        line keeps its one place."""
        if self.closed or name in self._busy:
            return False
        self._waiting[name] = None
        if first:
            self._waiting.move_to_end(name, last=False)
        self._ready.set()
        return True

    async def take(self) -> str | None:
        """The next name (``done()`` it after its check), or None once closed."""
        while not self.closed:
            if self._waiting:
                name, _ = self._waiting.popitem(last=False)
                self._busy.add(name)
                return name
            self._ready.clear()
            await self._ready.wait()
        return None

    def done(self, name: str) -> None:
        self._busy.discard(name)

    def close(self) -> int:
        """Take no more and drop the names in line; returns how many were dropped."""
        dropped = len(self._waiting)
        self.closed = True
        self._waiting.clear()
        self._ready.set()  # idle takers end
        return dropped
