"""``watcher dispatch``: the due checks queued as jobs for ``watcher worker``.

Schedules stay data in the index (each target's last check); a pass queues every
target due by then that has no job queued or under way. ``dispatch_due`` is that pass
as a plain function, on a time given to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime
from pathlib import Path

from watcher.config import Config, ConfigError, file_stamp, load_config
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.service.scheduler import due_after
from watcher.store.blobs import BlobLocation
from watcher.store.index import Store
from watcher.store.queue import CheckJob, JobQueue

log = logging.getLogger(__name__)


async def dispatch_due(config: Config, store: Store, queue: JobQueue, now: datetime) -> int:
    """Queue a check of every target due at ``now`` with no job open; how many."""
    last = await asyncio.to_thread(store.last_checked)
    busy = await queue.open_jobs()
    jobs = [
        CheckJob(t.name, CheckJob.stamp(last.get(t.name)))
        for t in config.targets
        if t.name not in busy and due_after(t, last.get(t.name), now) <= now
    ]
    return await queue.defer(jobs)


class Dispatcher:
    def __init__(
        self,
        config_path: Path,
        data: Path,
        queue_url: str,
        *,
        every: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        blobs: BlobLocation | None = None,
        index: str | None = None,
    ) -> None:
        """``index``: the team store's URL; None: the data folder's SQLite index."""
        self.config_path = config_path
        self.config = load_config(config_path)
        self.every = every
        self.clock = clock
        self.store = Store(data, shared=True, blobs=blobs, index=index)
        self.queue = JobQueue(queue_url)
        self._stamp = file_stamp(self.config_path)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, once: bool = False) -> int:
        """Passes every ``every`` seconds until SIGTERM (``once``: one pass); the jobs
        queued in all."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        queued = 0
        try:
            await self.queue.open()
            self.store.register_targets([(t.name, t.url) for t in self.config.targets])
            log.info("dispatching %d targets every %g s", len(self.config.targets), self.every)
            while True:
                self._reload()
                n = await dispatch_due(self.config, self.store, self.queue, self.clock.now())
                queued += n
                if n:
                    log.info("%d checks queued", n)
                if once or self._stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.every)
                if self._stop.is_set():
                    break
        finally:
            await self.queue.close()
            self.store.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return queued

    def _reload(self) -> None:
        """The config again when its file changed; an invalid one keeps the old."""
        stamp = file_stamp(self.config_path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload: invalid, still dispatching the previous config:\n%s", exc)
            return
        self.config = config
        self.store.register_targets([(t.name, t.url) for t in config.targets])
        log.info("reloaded: %d targets", len(config.targets))
