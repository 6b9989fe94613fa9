"""``watcher run``: the scheduler, the outbox sender and (later) the web UI, in one
asyncio process.

It holds the one runtime (``watcher.service.runtime``: store, fetcher, browser,
analysis workers, composer, sender, clock) for as long as it runs, and the
lifecycle: reload on SIGHUP or when the config file changes (an invalid new
config is reported and the old one keeps running), and a clean stop on SIGTERM
or SIGINT: no new checks, running ones finish or are abandoned between writes,
the outbox gets a last bounded pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from watcher.alerts.events import Event
from watcher.alerts.plan import plan
from watcher.alerts.send import CONFIG_NAMES, Channels, ChannelsError, Sender, load_channels
from watcher.analysis.workers import Analyzer
from watcher.config import Config, ConfigError, Target, file_stamp, load_config
from watcher.core import heap
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.service.health import Progress
from watcher.service.line import Line
from watcher.service.runtime import Paths, Runtime
from watcher.service.scheduler import Scheduler
from watcher.service.webserver import ListenError, listen, web_server
from watcher.store import space
from watcher.store.blobs import BlobLocation
from watcher.store.index import Store

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceTimings:
    """The service's own waits, in seconds (and one batch size): one value handed to
    ``Service``, so that a test or a deployment picks them without patching the module.
    They are timed by the service's clock."""

    # checks under way get to finish after SIGTERM; one still running then is abandoned
    # whole (its capture stored or not at all) and checked again at the next start, so
    # that a stop takes about two seconds with a slow page or 10,000 targets
    stop_grace: float = 1.5
    # the last outbox pass may take, sends still on their threads included; a send
    # hung past it is left behind, pending (a container stop kills at 10 s)
    flush_budget: float = 3.0
    watch_every: float = 2.0  # between looks at the config files
    settle: float = 0.5  # a changed file must stay the same this long before it is read
    sender_poll: float = 30.0  # the sender looks at the outbox at least this often
    index_every: float = 5.0  # between looks for texts to add to the search index
    index_batch: int = 50  # texts indexed in one go (one transaction) between looks at the checks
    idle_release: float = 60.0  # without a check before the analysis workers are stopped


@dataclass
class _Watched:
    path: Path
    stamp: tuple[int, int] | None = None

    def changed(self) -> bool:
        stamp = file_stamp(self.path)
        if stamp == self.stamp:
            return False
        self.stamp = stamp
        return True


class Service:
    def __init__(
        self,
        config_path: Path,
        data: Path,
        notifiers: Path,
        *,
        web: tuple[str, int] | None = None,
        password: str | None = None,
        timings: ServiceTimings = ServiceTimings(),  # frozen: sharing the default is safe
        clock: Clock = SYSTEM_CLOCK,
        blobs: BlobLocation | None = None,
        index: str | None = None,
    ) -> None:
        self.web = web
        self.password = password
        self.config_path = config_path
        self.notifiers = notifiers
        self.timings = timings
        self.clock = clock
        # the file's state before it was read: the web UI shares a config read from it
        self.config_stamp = file_stamp(config_path)
        config = load_config(config_path)
        channels = load_channels(notifiers)
        self.store = Store(data, blobs=blobs, index=index)
        self.runtime = Runtime(
            config,
            Paths(config_path, data, notifiers, blobs, index),
            self.store,
            channels=channels,
            clock=clock,
            queue_alerts=True,  # a reload may add channels; the outbox keeps what waits
        )
        self.runtime.keep_analyzer()  # kept between cycles, released when idle
        self._retired: list[Analyzer] = []
        self.scheduler = Scheduler(self.check_target, clock)
        # what ``run_once`` bounds within one call, across the scheduled checks: at most
        # this many between fetch and store; the other due targets wait in line
        self.line = Line()
        self.workers = config.settings.concurrency + self.analyzer.capacity
        self._by_name: tuple[Config, dict[str, Target]] = (config, {})
        self._running: set[asyncio.Task[Any]] = set()  # workers with a check under way
        self._last_busy = 0.0  # loop time when the last check ended
        self._released = True  # workers stopped and heap trimmed since the last check
        self._stop = asyncio.Event()
        self.started = False  # the scheduler runs (the tests wait for this)
        self._web_task: asyncio.Task[Any] | None = None
        self._wake = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self._watched = [_Watched(config_path), *(_Watched(notifiers / n) for n in CONFIG_NAMES)]
        for watched in self._watched:
            watched.changed()  # remember the current state
        self.checks_done = 0
        self.progress: Progress | None = None  # from the start of ``run``

    @property
    def config(self) -> Config:
        return self.runtime.config

    def shared_config(self) -> tuple[tuple[int, int] | None, Config]:
        """The config the service runs, and the state of its file when it was read: the
        web UI uses it while the file is in that state instead of parsing it again (a
        config of 10,000 targets is 22 MB and 2.5 s of CPU to parse)."""
        return self.config_stamp, self.config

    @property
    def channels(self) -> Channels:
        assert self.runtime.channels is not None
        return self.runtime.channels

    @property
    def sender(self) -> Sender:
        return self.runtime.sender

    @property
    def analyzer(self) -> Analyzer:
        assert self.runtime.analyzer is not None
        return self.runtime.analyzer

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Until SIGTERM / SIGINT (or ``stop()``)."""
        try:
            # first of all: a busy port is then the one thing to report, with nothing to undo
            sockets = listen(*self.web) if self.web else []
        except ListenError:
            await self.runtime.aclose()
            self.store.close()
            raise
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_requested.set)
        tasks: list[asyncio.Task[Any]] = []
        checkers: list[asyncio.Task[Any]] = []
        server: uvicorn.Server | None = None
        try:
            self._register(self.config)
            self.scheduler.start()
            last_checked = self.store.last_checked()
            self.progress = Progress(self.clock.now(), last_checked)
            self.scheduler.sync(self.config.targets, last_checked)
            self.started = True
            log.info(
                "watching %d targets; %d notification channels; data in %s",
                len(self.config.targets),
                len(self.channels.all),
                self.store.root,
            )
            tasks = [
                asyncio.create_task(self._send_loop(), name="sender"),
                asyncio.create_task(self._watch_loop(), name="config-watch"),
            ]
            checkers = [
                asyncio.create_task(self._work(), name=f"checker-{n}") for n in range(self.workers)
            ]
            server = await self._start_web(sockets) if sockets else None
            tasks.append(asyncio.create_task(self._index_loop(), name="search-index"))
            await self._stop.wait()
            await self._wind_down(server, tasks, checkers)
        finally:
            # after a failure on the way too: no task left running or with its end unread
            await self._close(server, [*tasks, *checkers], sockets)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            log.info("stopped")

    async def _wind_down(
        self,
        server: uvicorn.Server | None,
        tasks: list[asyncio.Task[Any]],
        checkers: list[asyncio.Task[Any]],
    ) -> None:
        """The clean stop: no new checks, running ones get their grace, a last delivery."""
        if server is not None:
            server.should_exit = True
        grace = self.timings.stop_grace
        log.info("stopping: no new checks; waiting up to %g s for running ones", grace)
        self.scheduler.pause()
        dropped = self.line.close()  # idle workers end; the line is checked after a restart
        if dropped:
            log.info("%d targets due and not yet checked: checked at the next start", dropped)
        await self._finish_checks(checkers)
        for task in tasks:
            task.cancel()  # a delivery already on its thread completes and is recorded
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._last_delivery()

    async def _close(
        self,
        server: uvicorn.Server | None,
        tasks: list[asyncio.Task[Any]],
        sockets: list[socket.socket],
    ) -> None:
        if server is not None:
            server.should_exit = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._web_task is not None:
            await asyncio.wait([self._web_task], timeout=5)
        for sock in sockets:
            sock.close()  # uvicorn closes them when it ran; not when it never started
        self.scheduler.shutdown()
        # no check is waiting now: what the workers still hold is an abandoned check's
        await self.runtime.aclose(abandon=True)
        for old in self._retired:
            old.close()
        self.store.close()

    def stop(self) -> None:
        self._stop.set()

    def _target(self, name: str) -> Target | None:
        """The current config's target of this name, found in a dict made once per config
        (a list scan per check would make a cycle quadratic in the targets)."""
        config, by_name = self._by_name
        if config is not self.config or not by_name:
            by_name = {t.name: t for t in self.config.targets}
            self._by_name = (self.config, by_name)
        return by_name.get(name)

    def _register(self, config: Config) -> None:
        """Every target in the index in one transaction, before the first check."""
        self.store.register_targets([(t.name, t.url) for t in config.targets], self.clock.now())

    async def check_now(self, name: str) -> bool:
        """The web UI's "check now": start a check of ``name`` unless one is running."""
        if self._target(name) is None:
            return False
        self.line.add(name, first=True)
        return True

    async def _start_web(self, sockets: list[socket.socket]) -> uvicorn.Server:
        """The web UI in this event loop, on sockets bound before anything started; the
        service keeps the signals to itself."""
        assert self.web is not None
        host, port = self.web
        password, self.password = self.password, None  # the web app hashes it; not kept
        server = web_server(
            self.runtime.paths,
            host,
            port,
            password=password,
            check_now=self.check_now,
            health=self.health,
            shared_config=self.shared_config,
            own_signals=False,
        )
        self._web_task = asyncio.create_task(server.serve(sockets), name="web")
        while not server.started and not self._web_task.done():
            await asyncio.sleep(0.02)
        if not server.started:
            await self._web_task  # raises what stopped it, here rather than at exit
            raise RuntimeError(f"the web UI on {host}:{port} ended before it started")
        log.info("web UI on http://%s:%d/%s", host, port, "" if password else " (no password)")
        return server

    def health(self) -> list[str]:
        """What is wrong with the service, for ``/healthz`` (nothing: [])."""
        problems = []
        if self.progress is not None and not self._stop.is_set():
            stalled = self.progress.stalled(self.config.targets, self.clock.now())
            if stalled:
                problems.append(stalled)
        if self.store.disk_full:
            problems.append(f"the last write failed: {space.full_message(self.store.root)}")
        return problems

    def wake_sender(self) -> None:
        self._wake.set()

    async def check_target(self, name: str) -> bool:
        """A target fell due (its scheduled run): into the line. False when its previous
        check is still under way (this run is skipped)."""
        if self._stop.is_set() or self._target(name) is None:
            return True  # stopping, or removed by a reload while this run was queued
        return self.line.add(name)

    async def _work(self) -> None:
        """One of the service's checkers: targets from the line, one at a time."""
        while (name := await self.line.take()) is not None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await self.check(name)
            except Exception:  # a bug in one check must not stop this checker
                log.exception("%s: internal error", name)
            finally:
                self._running.discard(task)
                self.line.done(name)
                self._idle_again()

    async def check(self, name: str) -> None:
        """Check one target now, here, with the config current now."""
        target = self._target(name)
        if target is None:
            return  # removed by a reload while it waited in line
        await self.runtime.check([target], on_messages=self.wake_sender)
        self.checks_done += 1
        if self.progress is not None:
            self.progress.ended(name, self.clock.now())

    def _idle_again(self) -> None:
        self._last_busy = self.clock.monotonic()
        self._released = False
        if not self._running and self._retired:
            for old in self._retired:
                old.close()
            self._retired.clear()

    async def _index_loop(self) -> None:
        """Add new texts to the search index while no check runs.

        Tokenising a text costs more than extracting it, so it is kept off the
        checks' path: new captures become searchable within seconds of a quiet
        moment, and a first cycle of many pages is not slowed down.
        """
        while True:
            await self.clock.sleep(self.timings.index_every)
            if self._running or self.line:
                continue
            missing = await asyncio.to_thread(self.store.unindexed_texts)
            step = self.timings.index_batch
            for start in range(0, len(missing), step):
                if self._running or self.line or self._stop.is_set():
                    break  # checks first; the rest waits for the next quiet moment
                batch = missing[start : start + step]
                await asyncio.to_thread(self.store.index_texts, batch)
            if missing:
                log.debug("search: %d texts indexed", len(missing))

    async def _finish_checks(self, checkers: list[asyncio.Task[Any]]) -> None:
        """Wait for the checks under way (the line is closed: idle checkers end), for
        the grace at most; then abandon the rest between writes."""
        grace = self.timings.stop_grace
        with contextlib.suppress(TimeoutError):
            await _wait_for(self.clock, asyncio.wait(checkers), grace)
        pending = [task for task in checkers if not task.done()]
        for task in pending:
            task.cancel()  # between writes: a capture is stored whole or not at all
        if pending:
            log.warning("abandoned %d checks still running after %g s", len(pending), grace)
            await asyncio.gather(*pending, return_exceptions=True)

    async def _send_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_due = await self.sender.deliver_due()
            except Exception:
                log.exception("outbox: delivery pass failed; trying again later")
                next_due = None
            wait = self.timings.sender_poll
            if next_due is not None:
                wait = min(wait, max(0.0, (next_due - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await _wait_for(self.clock, self._wake.wait(), wait)

    async def _last_delivery(self) -> None:
        try:
            await _wait_for(self.clock, self.sender.finish(), self.timings.flush_budget)
        except TimeoutError:
            budget = self.timings.flush_budget
            log.warning("outbox: last delivery pass cut off after %.0f s", budget)
        except Exception:
            log.exception("outbox: last delivery pass failed")
        backlog = self.store.outbox.counts().get("pending", 0)
        if backlog:
            log.info("outbox: %d messages pending; they are sent at the next start", backlog)

    # -- reload ---------------------------------------------------------------------

    async def _watch_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await _wait_for(self.clock, self._reload_requested.wait(), self.timings.watch_every)
            requested = self._reload_requested.is_set()
            self._reload_requested.clear()
            idle_for = self.clock.monotonic() - self._last_busy
            if not self._running and idle_for > self.timings.idle_release and not self._released:
                self.analyzer.release()  # memory back between cycles
                heap.trim()
                self._released = True
            changed = [w for w in self._watched if w.changed()]
            if changed and not requested:
                # an editor may still be writing: reload once the file has settled
                await self.clock.sleep(self.timings.settle)
                if any(w.changed() for w in changed):
                    for w in changed:
                        w.stamp = (-1, -1)  # still changing: look again next time
                    continue
            if requested or changed:
                why = "SIGHUP" if requested else ", ".join(str(w.path) for w in changed)
                self.reload(why)

    def reload(self, why: str = "") -> bool:
        """Read the config and channels again; keep the old ones if either is invalid."""
        try:
            stamp = file_stamp(self.config_path)
            config = load_config(self.config_path)
            channels = load_channels(self.notifiers)
        except (ConfigError, ChannelsError) as exc:
            log.error("reload (%s): invalid, still running the previous config:\n%s", why, exc)
            self._admin_alert(str(exc))
            return False
        old = self.config
        before = {t.name: t for t in old.targets}
        after = {t.name: t for t in config.targets}
        added = sorted(after.keys() - before.keys())
        removed = sorted(before.keys() - after.keys())
        changed = sorted(n for n in after.keys() & before.keys() if after[n] != before[n])
        retired = self.runtime.reconfigure(config, channels)
        self.config_stamp = stamp
        if retired is not None:
            self._retired.append(retired)
        try:
            self._register(config)
        except Exception:  # each check registers its own target on first sight
            log.exception("reload: could not register the targets in one go")
        self.scheduler.sync(config.targets, self.store.last_checked())
        if self.progress is not None:
            self.progress.added(added, self.clock.now())
        log.info(
            "reloaded (%s): %d targets (+%d −%d ~%d), %d channels",
            why,
            len(config.targets),
            len(added),
            len(removed),
            len(changed),
            len(channels.all),
        )
        self.wake_sender()
        return True

    def _admin_alert(self, problem: str) -> None:
        """Tell the ``admin`` channels that the new config was refused (if there are any)."""
        if "admin" not in self.channels.tags():
            return
        event = Event(
            "config",
            "",
            "watcher",
            str(self.config_path),
            self.clock.now(),
            error=problem,
            notify=("admin",),
        )
        assert self.runtime.composer is not None  # the service always composes
        composed = self.runtime.composer.compose(event)
        self.store.outbox.queue(plan(event, composed, {}))
        self.wake_sender()


async def _wait_for(clock: Clock, awaitable: Awaitable[T], seconds: float) -> T:
    """``asyncio.wait_for`` with the time limit kept by ``clock``: the result, or
    TimeoutError (and ``awaitable`` cancelled) when ``seconds`` pass first."""
    work = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((work, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    if work.cancelled():
        raise TimeoutError
    return work.result()
