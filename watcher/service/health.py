"""Whether the service's checks are making progress, for ``/healthz``.

A process that answers HTTP is not a working watcher: checks can stop (every check
hung, every scheduled run skipped as "still running") while the web UI goes on
answering. Progress is judged from what the schedule wants and what actually
ended, by the service's clock; cheap enough to be asked every few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from watcher.config import Target
from watcher.service.scheduler import due_after

STALL_MINIMUM = 900.0  # seconds: never "stalled" sooner, whatever the timeouts
STALL_FACTOR = 3.0  # times the longest a fetch may take (timeout × attempts)


def stall_limit(targets: Sequence[Target]) -> float:
    """Seconds a target may be overdue, and all checks quiet, before checks count as stalled."""
    longest = max((t.timeout * (t.retries + 1) for t in targets), default=0.0)
    return max(STALL_MINIMUM, STALL_FACTOR * longest)


class Progress:
    """When the service started and when each target's check last ended."""

    def __init__(self, started: datetime, last_checked: Mapping[str, datetime | None]) -> None:
        self.started = started
        self._ended: dict[str, datetime | None] = dict(last_checked)
        self._last_end: datetime | None = None  # the last check this process finished
        self._since: dict[str, datetime] = {}  # targets added by a reload: when
        # a cron's next time costs ~80 µs: kept per (schedule, last check), not redone per poll
        self._due: dict[str, tuple[tuple[object, ...], datetime]] = {}

    def added(self, names: Sequence[str], at: datetime) -> None:
        """Targets a reload added are due from ``at``, not from the service's start."""
        for name in names:
            self._ended.setdefault(name, None)
            self._since[name] = at

    def ended(self, name: str, at: datetime) -> None:
        self._ended[name] = at
        self._last_end = at

    def stalled(self, targets: Sequence[Target], now: datetime) -> str | None:
        """Why checks count as stopped, or None: a target is overdue by more than
        ``stall_limit`` while no check at all ended for that long."""
        limit = stall_limit(targets)
        quiet = (now - (self._last_end or self.started)).total_seconds()
        if quiet <= limit:
            return None
        ended = dict(self._ended)  # a copy: the service's loop writes while the web reads
        late: list[tuple[float, str]] = []
        for target in targets:
            if target.paused:
                continue  # not scheduled: never overdue
            due = self._due_of(target, ended.get(target.name))
            overdue = (now - due).total_seconds() - target.jitter
            if overdue > limit:
                late.append((overdue, target.name))
        if not late:
            return None
        overdue, name = max(late)
        return (
            f"checks stalled: none finished for {_minutes(quiet)} while {len(late)} "
            f"target{'s are' if len(late) != 1 else ' is'} overdue (longest: {name}, "
            f"{_minutes(overdue)}; limit {_minutes(limit)})"
        )

    def _due_of(self, target: Target, last: datetime | None) -> datetime:
        since = self._since.get(target.name, self.started)
        key = (target.interval, target.cron, last, since)
        known = self._due.get(target.name)
        if known is not None and known[0] == key:
            return known[1]
        due = max(due_after(target, last, since), since)
        self._due[target.name] = (key, due)
        return due


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"
