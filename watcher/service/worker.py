"""``watcher worker``: checks taken from the job queue, as many processes and machines
as there are workers, beside one ``watcher dispatch``.

A worker holds a runtime (store, fetcher, analysis workers, composer) for its life.
Its fetcher's politeness is shared through the queue's database, so ``per_host`` and
``host_delay`` hold across all workers together. Every worker looks for the jobs of
dead workers and puts them back; one of them at a time, holding the sender's lease,
delivers the outbox. SIGTERM: no new jobs, running checks get their grace, then the
rest are abandoned whole (their jobs end and the dispatcher queues them again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watcher.alerts.send import load_channels
from watcher.config import Target, load_config
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.fetch.politeness import SharedPoliteness
from watcher.service.runtime import Paths, Runtime
from watcher.store.blobs import BlobLocation
from watcher.store.documents import DocumentRow
from watcher.store.hosts import HostGate
from watcher.store.index import Store
from watcher.store.queue import CheckJob, JobQueue, SenderLease

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerTimings:
    """A worker's waits, in seconds."""

    stalled_after: float = 30.0  # a worker without a heartbeat this long is dead
    sweep_every: float = 5.0  # between looks for dead workers' jobs
    stop_grace: float = 10.0  # checks under way get this long after SIGTERM
    sender_poll: float = 10.0  # between looks at the outbox (and tries for the lease)
    flush_budget: float = 3.0  # the last outbox pass at a stop


class Worker:
    def __init__(
        self,
        config_path: Path,
        data: Path,
        notifiers: Path,
        queue_url: str,
        *,
        concurrency: int | None = None,
        name: str | None = None,
        timings: WorkerTimings = WorkerTimings(),  # frozen: sharing the default is safe
        clock: Clock = SYSTEM_CLOCK,
        blobs: BlobLocation | None = None,
        index: str | None = None,
    ) -> None:
        """``index``: the team store's URL (workers on several machines); None: the
        data folder's SQLite index (workers on this machine only)."""
        config = load_config(config_path)
        channels = load_channels(notifiers)
        settings = config.settings
        self.timings = timings
        self.concurrency = concurrency or settings.concurrency
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.queue = JobQueue(queue_url)
        self.hosts = HostGate(
            queue_url,
            settings.per_host,
            settings.host_delay,
            connections=self.concurrency + 2,
            clock=clock,
        )
        self.lease = SenderLease(queue_url)
        self.store = Store(data, shared=True, blobs=blobs, index=index)  # one of several writers
        self.runtime = Runtime(
            config,
            Paths(config_path, data, notifiers, blobs, index),
            self.store,
            channels=channels,
            clock=clock,
            queue_alerts=True,
            politeness=SharedPoliteness(self.hosts, settings.concurrency),
        )
        self.runtime.keep_analyzer()
        self._targets: dict[str, Target] = {t.name: t for t in config.targets}
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self.checks_done = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Until SIGTERM / SIGINT (or ``stop()``)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        side: list[asyncio.Task[Any]] = []
        work: asyncio.Task[None] | None = None
        try:
            await self.queue.open()
            await self.hosts.open()
            t = self.timings
            work = asyncio.create_task(
                self.queue.work(
                    self.handle,
                    name=self.name,
                    concurrency=self.concurrency,
                    heartbeat=max(0.2, t.stalled_after / 5),
                    stalled_after=t.stalled_after,
                    grace=t.stop_grace,
                ),
                name="jobs",
            )
            side = [
                asyncio.create_task(self._sweep_loop(), name="sweep"),
                asyncio.create_task(self._send_loop(), name="sender"),
            ]
            log.info(
                "worker %s: %d checks at a time, %d targets known; data in %s",
                self.name,
                self.concurrency,
                len(self._targets),
                self.store.root,
            )
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if work.done():
                work.result()  # the queue's database went away: said, not swallowed
            log.info("stopping: no new checks; waiting up to %g s for running ones", t.stop_grace)
            await self._cancel(work)
            await self._cancel(*side)
            await self._last_delivery()
        finally:
            await self._cancel(*side, *([work] if work else []))
            await self.lease.release()
            await self.runtime.aclose(abandon=True)
            await self.hosts.close()
            await self.queue.close()
            self.store.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            log.info("worker %s stopped after %d checks", self.name, self.checks_done)

    async def handle(self, job: CheckJob) -> None:
        """One check job: the check, unless the target was checked since it was queued.
        A listing's job queues its due documents as jobs of their own."""
        target = self._targets.get(job.listing or job.name)
        if target is None:
            log.warning("%s: not in this worker's config; job dropped", job.listing or job.name)
            return
        last = await asyncio.to_thread(self.store.last_checked_at, job.name)
        if CheckJob.stamp(last) != job.after:
            log.info("%s: checked since it was queued; not checked again", job.name)
            return
        if job.listing is None:
            await self.runtime.check(
                [target], on_messages=self._wake.set, defer_documents=self._defer_documents
            )
        elif await self.runtime.check_document(
            target, job.name, defer_documents=self._defer_documents, on_messages=self._wake.set
        ):
            log.info("worker %s: document %s of %s checked", self.name, job.name, target.name)
        else:
            log.warning("%s: %s no longer has this document; job dropped", job.name, target.name)
            return
        self.checks_done += 1

    async def _defer_documents(self, listing: Target, docs: Sequence[DocumentRow]) -> int:
        """A job per document due that has none open, carrying its last check: a
        document is checked by its own job only, one at a time."""
        busy = await self.queue.open_jobs()
        wanted = [d for d in docs if d.name not in busy]
        last = await asyncio.to_thread(self.store.last_checked_of, [d.name for d in wanted])
        jobs = [CheckJob(d.name, CheckJob.stamp(last.get(d.name)), listing.name) for d in wanted]
        return await self.queue.defer(jobs)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.queue.sweep(self.timings.stalled_after)
            except Exception:  # the database may be restarting: the next look tries again
                log.exception("queue: the look for dead workers' jobs failed")
            t = self.timings
            await self.runtime.clock.sleep(min(t.sweep_every, t.stalled_after / 2))

    async def _send_loop(self) -> None:
        """Deliver the outbox while this worker holds the sender's lease."""
        while True:
            self._wake.clear()
            wait = self.timings.sender_poll
            if self.runtime.channels and await self.lease.take():
                try:
                    next_due = await self.runtime.sender.deliver_due()
                except Exception:
                    log.exception("outbox: delivery pass failed; trying again later")
                    next_due = None
                if next_due is not None:
                    left = (next_due - self.runtime.clock.now()).total_seconds()
                    wait = min(wait, max(0.0, left))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _last_delivery(self) -> None:
        if not self.runtime.channels or not await self.lease.take():
            return
        try:
            await asyncio.wait_for(self.runtime.sender.finish(), self.timings.flush_budget)
        except TimeoutError:
            log.warning("outbox: last delivery pass cut off after %g s", self.timings.flush_budget)
        except Exception:
            log.exception("outbox: last delivery pass failed")

    @staticmethod
    async def _cancel(*tasks: asyncio.Task[Any]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
