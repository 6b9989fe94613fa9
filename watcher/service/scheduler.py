"""When each target is checked: APScheduler jobs, one per target.

The schedule is data in the store (each target's last check); APScheduler only
holds timers derived from it. So a restart neither re-checks every target at
once nor skips one that fell due while the service was down: a due or overdue
target runs soon, spread over a short window, the others at their next time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from watcher.config import Target
from watcher.core.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

CATCH_UP_WINDOW = 60.0  # seconds over which due targets are spread at start-up


class _NoRawSkips(logging.Filter):
    """APScheduler's own line for a skipped run names the job by its repr; the
    scheduler logs its own line instead (``Scheduler._skipped``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.msg


_NO_RAW_SKIPS = _NoRawSkips()


def trigger_of(target: Target) -> BaseTrigger:
    """The target's schedule as an APScheduler trigger (cron in UTC)."""
    jitter = int(target.jitter) or None
    if target.cron:
        minute, hour, day, month, weekday = target.cron.split()
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=weekday,
            timezone=UTC,
            jitter=jitter,
        )
    assert target.interval is not None
    return IntervalTrigger(seconds=target.interval, timezone=UTC, jitter=jitter)


def due_after(target: Target, last_checked: datetime | None, now: datetime) -> datetime:
    """When the target's schedule wants its next check after ``last_checked`` (None:
    never checked, due ``now``), before any spreading or jitter."""
    if last_checked is None:
        return now
    if target.cron:
        trigger = trigger_of(target)
        return trigger.get_next_fire_time(None, last_checked + timedelta(seconds=1)) or now
    assert target.interval is not None
    return last_checked + timedelta(seconds=target.interval)


def first_run(
    target: Target, last_checked: datetime | None, now: datetime, rng: random.Random | None = None
) -> datetime:
    """When to check a target first after (re)starting, from its last check."""
    rng = rng or random.Random()
    due = due_after(target, last_checked, now)
    if due > now:
        return due
    spread = min(CATCH_UP_WINDOW, (target.interval or CATCH_UP_WINDOW) / 10)
    return now + timedelta(seconds=rng.uniform(0, spread))


class Scheduler:
    """One APScheduler job per target; never two checks of one target at once.

    First runs are worked out from ``clock.now()``; the timers themselves are
    APScheduler's, which fire by the system's time.
    """

    def __init__(
        self, check: Callable[[str], Awaitable[bool]], clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._check = check
        self._clock = clock
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._schedules: dict[str, tuple[Any, ...]] = {}
        self._aps.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        logging.getLogger("apscheduler.scheduler").addFilter(_NO_RAW_SKIPS)  # added once

    def _skipped(self, event: JobSubmissionEvent) -> None:
        due = ", ".join(f"{t:%H:%M:%S} UTC" for t in event.scheduled_run_times)
        log.warning(
            "%s: check due at %s skipped: the previous check of this target is still running",
            event.job_id,
            due,
        )

    async def _due(self, name: str) -> None:
        if not await self._check(name):
            log.warning(
                "%s: check due at %s skipped: the previous check of this target is still running",
                name,
                f"{self._clock.now():%H:%M:%S} UTC",
            )

    def start(self) -> None:
        self._aps.start()

    def pause(self) -> None:
        """Stop starting checks; running ones go on (the caller waits for them)."""
        if self._aps.running:
            self._aps.pause()

    def shutdown(self) -> None:
        """Stop the timers. APScheduler cancels checks still running: ``pause`` and
        wait for them first."""
        if self._aps.running:
            self._aps.shutdown(wait=False)

    def sync(self, targets: Sequence[Target], last_checked: Mapping[str, datetime | None]) -> None:
        """Make the jobs match ``targets``: add new ones, re-time changed ones, drop gone ones."""
        # paused while the jobs change: a running scheduler looks for due jobs after each
        # single change, which at 10,000 targets costs more than the checks' start
        running = self._aps.state == STATE_RUNNING
        if running:
            self._aps.pause()
        try:
            self._sync(targets, last_checked)
        finally:
            if running:
                self._aps.resume()

    def _sync(self, targets: Sequence[Target], last_checked: Mapping[str, datetime | None]) -> None:
        now = self._clock.now()
        wanted = {t.name: t for t in targets if not t.paused}
        for name in list(self._schedules):
            if name not in wanted:
                self._aps.remove_job(name)
                del self._schedules[name]
                log.info("%s: no longer scheduled (removed or paused)", name)
        for name, target in wanted.items():
            schedule = (target.interval, target.cron, target.jitter)
            if self._schedules.get(name) == schedule:
                continue
            first = first_run(target, last_checked.get(name), now)
            trigger = trigger_of(target)
            if isinstance(trigger, IntervalTrigger):
                # count intervals from the first run, not from now
                trigger.start_date = first
            self._aps.add_job(
                self._due,
                trigger,
                args=[name],
                id=name,
                name=name,
                replace_existing=True,
                max_instances=1,  # a slow check is never joined by the next one
                coalesce=True,  # missed runs while busy collapse into one
                misfire_grace_time=None,  # late is better than never
                next_run_time=first,
            )
            self._schedules[name] = schedule
            log.debug("%s: next check %s", name, first.isoformat())

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._aps.get_jobs()}
