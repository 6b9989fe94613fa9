"""Where page analysis runs: worker processes for many pages, threads for a few.

A check spends most of its CPU parsing and diffing pages. In worker processes
that work runs beside the event loop on another core instead of fighting it
for the interpreter lock; for a handful of pages a thread avoids the start-up
cost of a process. Both run ``watcher.analysis.analyse.run`` with the same set-up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

from watcher.analysis import analyse
from watcher.core import heap
from watcher.store.blobs import BlobLocation

log = logging.getLogger(__name__)

MIN_PAGES_FOR_PROCESSES = 20  # below this, starting a process costs more than it saves
MAX_BYTES_IN_ANALYSIS = 20_000_000  # bodies analysed at once in threads: one max_size page


class WorkerCrashed(Exception):
    """A worker process died while analysing a page (killed, out of memory, a crash)."""


class Analyzer(Protocol):
    capacity: int  # pages it can usefully hold at once; more only wait in memory

    async def analyse(self, page: analyse.Page) -> analyse.Analysis: ...
    def warm_up(self) -> None: ...
    def release(self) -> None: ...
    def close(self, *, abandon: bool = False) -> None: ...


class ThreadAnalyzer:
    """Analysis in threads of this process: at most ``capacity`` pages at once, and
    a big page alone.

    A page's analysis costs about ten times its size (a 19 MB page of text, 210 MB),
    so pages are let in, in the order they came, while the bodies in analysis stay
    within ``max_bytes``; one page always may. A page is counted until its thread
    is done, not until its caller stops waiting.
    """

    capacity = 2

    def __init__(
        self,
        keywords: Mapping[str, Sequence[str]],
        blob_root: Path | BlobLocation,
        fsync: bool = True,
        max_bytes: int = MAX_BYTES_IN_ANALYSIS,
    ) -> None:
        analyse.init(keywords, blob_root, fsync)
        self._pool = ThreadPoolExecutor(self.capacity, thread_name_prefix="analysis")
        self._admission = _Admission(self.capacity, max_bytes)

    async def analyse(self, page: analyse.Page) -> analyse.Analysis:
        size = len(page.body)
        await self._admission.enter(size)
        loop = asyncio.get_running_loop()
        try:
            running = self._pool.submit(_run, page)
        except BaseException:
            self._admission.leave(size)
            raise
        running.add_done_callback(lambda _: _call_soon(loop, self._admission.leave, size))
        return await asyncio.wrap_future(running)

    def warm_up(self) -> None:
        pass

    def release(self) -> None:
        pass

    def close(self, *, abandon: bool = False) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Admission:
    """Pages in analysis, first come first served, within a count and a byte budget."""

    def __init__(self, pages: int, max_bytes: int) -> None:
        self._max_pages, self._max_bytes = pages, max_bytes
        self._pages = self._bytes = 0
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def enter(self, size: int) -> None:
        if not self._waiting and self._fits(size):
            self._take(size)
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((size, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave(size)  # let in just as its caller gave up
            else:
                self._waiting.remove((size, turn))
                self._wake()
            raise

    def leave(self, size: int) -> None:
        self._pages -= 1
        self._bytes -= size
        self._wake()

    def _fits(self, size: int) -> bool:
        if self._pages == 0:
            return True
        return self._pages < self._max_pages and self._bytes + size <= self._max_bytes

    def _take(self, size: int) -> None:
        self._pages += 1
        self._bytes += size

    def _wake(self) -> None:
        while self._waiting and self._fits(self._waiting[0][0]):
            size, turn = self._waiting.popleft()
            self._take(size)
            turn.set_result(None)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[int], None], arg: int) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(callback, arg)


def _run(page: analyse.Page) -> analyse.Analysis:
    try:
        return analyse.run(page)  # looked up at each call: tests count the pages in flight
    finally:
        if len(page.body) >= analyse.TRIM_AFTER_BYTES:
            heap.trim()  # this process lives on: a big page's heap goes back


class ProcessAnalyzer:
    """Analysis in a pool of worker processes, restarted if one dies.

    Pages go to the workers in batches: each hand-over between processes costs
    the event loop about as much CPU as fetching a page (measured), so while
    every worker is busy, newly fetched pages wait and then go together. With
    workers idle, a page goes alone at once.
    """

    def __init__(
        self,
        keywords: Mapping[str, Sequence[str]],
        blob_root: Path | BlobLocation,
        workers: int,
        fsync: bool = True,
    ) -> None:
        self._keywords = dict(keywords)
        self._args: tuple[Any, ...] = (self._keywords, blob_root, fsync)
        self._workers = workers
        self.capacity = 2 * workers * MAX_BATCH  # what _dispatch keeps out at most
        self._pool: ProcessPoolExecutor | None = None  # started by the first changed page
        self._waiting: list[tuple[analyse.Page, asyncio.Future[analyse.Analysis]]] = []
        self._batches_out = 0
        self._retried: set[int] = set()  # futures whose page already met a dying worker
        self._closed = False  # batches ending after close() start no new pool

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs an event loop and threads
        pool = ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(*self._args, self._spellings()),
        )
        self._pool = pool
        return pool

    def _spellings(self) -> dict[str, frozenset[str]]:
        """The terms' traditional spellings, learned once here for every worker (each
        worker learning them held OpenCC's dictionaries, about 40 MB, at its first page,
        all workers at once)."""
        from watcher.keywords import KeywordMatcher

        return KeywordMatcher(self._keywords).spellings()

    def warm_up(self) -> None:
        """Start the workers now, so their imports overlap the first downloads."""
        pool = self._pool or self._start()
        for _ in range(self._workers):
            pool.submit(os.getpid)

    async def analyse(self, page: analyse.Page) -> analyse.Analysis:
        future: asyncio.Future[analyse.Analysis] = asyncio.get_running_loop().create_future()
        self._waiting.append((page, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        """Send waiting pages while fewer than two batches per worker are out."""
        while not self._closed and self._waiting and self._batches_out < 2 * self._workers:
            size = self._next_batch_size()
            batch, self._waiting = self._waiting[:size], self._waiting[size:]
            pages = [p for p, _ in batch]
            pool = self._pool or self._start()
            try:
                submitted = pool.submit(analyse.run_many, pages)
            except BrokenProcessPool:  # a worker died earlier, between batches
                log.error("an analysis worker had died; restarting the pool")
                pool.shutdown(wait=False, cancel_futures=True)
                pool = self._start()
                submitted = pool.submit(analyse.run_many, pages)
            sent = asyncio.wrap_future(submitted)
            self._batches_out += 1
            sent.add_done_callback(lambda done, b=batch, p=pool: self._settle(b, done, p))

    def submit(self, pages: Sequence[analyse.Page]) -> Future[list[analyse.Analysis | Exception]]:
        """Send ``pages`` to the workers now, from any thread, outside the batching of
        ``analyse`` (``Ahead``: pages begun before a check asks for them)."""
        if self._closed:
            raise RuntimeError("the analysis workers are stopped")
        return (self._pool or self._start()).submit(analyse.run_many, list(pages))

    def _next_batch_size(self) -> int:
        """Up to MAX_BATCH pages and MAX_BATCH_BYTES, but a page on its second try
        goes alone: if it is what kills workers, it must not take other pages down
        with it. Big pages go alone too: a batch is held whole by its worker."""
        if id(self._waiting[0][1]) in self._retried:
            return 1
        size = 0
        for i, (page, future) in enumerate(self._waiting[:MAX_BATCH]):
            size += len(page.body)
            if id(future) in self._retried or (i and size > MAX_BATCH_BYTES):
                return i
        return min(MAX_BATCH, len(self._waiting))

    def _settle(
        self,
        batch: list[tuple[analyse.Page, asyncio.Future[analyse.Analysis]]],
        done: asyncio.Future[list[analyse.Analysis | Exception]],
        pool: ProcessPoolExecutor,
    ) -> None:
        self._batches_out -= 1
        error = done.exception()
        if isinstance(error, BrokenProcessPool) and not self._closed:
            if self._pool is pool:
                log.error("an analysis worker died; restarting the pool")
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            again = [(p, f) for p, f in batch if id(f) not in self._retried and not f.done()]
            self._retried.update(id(f) for _, f in again)
            self._waiting[:0] = again  # one more try each, on a fresh pool
            batch = [(p, f) for p, f in batch if (p, f) not in again]
        for (_, future), outcome in zip(batch, _outcomes(done, len(batch)), strict=True):
            self._retried.discard(id(future))
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._dispatch()

    def release(self) -> None:
        """Stop idle workers (a long-lived service between cycles); the next page
        starts them again. Each holds its own interpreter and parsers."""
        if self._pool is not None and not self._waiting and self._batches_out == 0:
            self._pool.shutdown(wait=False)
            self._pool = None

    def close(self, *, abandon: bool = False) -> None:
        """Stop the workers and wait for them, so none outlives this process and the
        pool's queues are released (no "leaked semaphore" warning at exit).

        ``abandon``: nobody waits for the pages still in the workers (the service
        stops, its checks abandoned): the workers are ended at once. A blob they were
        writing is at most a temporary file, removed later; no index row names it.
        Before, they were left to finish their batch, and a process that then left at
        once (``watcher run`` after SIGTERM) left them waiting for work for ever."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if abandon:
            _terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


class Ahead:
    """Workers given some pages before the check asks for them: ``watcher check``
    begins the analysis of the pages the quick way found changed while it still
    fetches the others (``watcher.cli.checking``).

    A page's analysis depends on nothing but the page, so the check takes the one
    begun for an equal page (the same answer, compared with the same capture) and
    asks again for any other; one that failed to run is asked for again too.
    """

    def __init__(self, inner: ProcessAnalyzer) -> None:
        self.inner = inner
        self.capacity = inner.capacity
        self.taken = 0  # analyses begun early that a check took
        self._lock = threading.Lock()
        # by the answer's body, which the check hands on as it was fetched
        self._begun: dict[int, tuple[analyse.Page, Future[list[Any]], int]] = {}

    def begin(self, pages: Sequence[analyse.Page]) -> None:
        """Send ``pages`` to the workers (any thread), a few a hand-over, so that every
        worker gets some."""
        start = 0
        while start < len(pages):
            end, size = start + 1, len(pages[start].body)
            while end < min(start + EARLY_BATCH, len(pages)):
                size += len(pages[end].body)
                if size > MAX_BATCH_BYTES:
                    break
                end += 1
            self._begin(pages[start:end])
            start = end

    def _begin(self, batch: Sequence[analyse.Page]) -> None:
        running = self.inner.submit(batch)
        with self._lock:
            for i, page in enumerate(batch):
                self._begun[id(page.body)] = (page, running, i)

    @property
    def begun(self) -> int:
        """Pages begun and not yet taken."""
        return len(self._begun)

    async def analyse(self, page: analyse.Page) -> analyse.Analysis:
        with self._lock:
            found = self._begun.pop(id(page.body), None)
        if found is not None and found[0] == page:
            _, running, place = found
            try:
                outcome = (await asyncio.wrap_future(running))[place]
            except Exception:  # a worker died, the pool was stopped: asked for again
                log.debug("a page begun early was not analysed; analysing it again")
            else:
                self.taken += 1
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
        return await self.inner.analyse(page)

    def warm_up(self) -> None:
        self.inner.warm_up()

    def release(self) -> None:
        self.inner.release()

    def close(self, *, abandon: bool = False) -> None:
        with self._lock:
            self._begun.clear()
        self.inner.close(abandon=abandon)


WORKER_NICENESS = 10  # added to the parent's: the event loop comes first


def _init_worker(
    keywords: Mapping[str, Sequence[str]],
    blobs: Path | BlobLocation,
    fsync: bool,
    spellings: Mapping[str, frozenset[str]],
) -> None:
    """A pool worker ends itself when the process that started it dies: a parent killed
    with SIGKILL cannot stop its workers, and each holds the job queue's write end, so
    it would never read end-of-file and would wait for work for ever.

    It runs at a lower priority than its parent, whose event loop fetches every page
    and answers the web UI: with as many workers as cores, the three processes took
    turns on two cores, and a cycle of mostly unchanged pages waited on its fetching
    (a 10 % changed cycle: 9.2 and 9.6 s wall before, 8.6 and 7.9 s after). The
    analysis takes what the event loop leaves."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent.sentinel,), name="parent-watch", daemon=True
        ).start()
    os.nice(WORKER_NICENESS)
    from watcher.keywords import teach_spellings

    teach_spellings(spellings)
    analyse.init(keywords, blobs, fsync)


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's worker processes now (Python 3.14 names this ``terminate_workers``)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):  # already gone
            process.terminate()


MAX_BATCH = 16
MAX_BATCH_BYTES = 2_000_000  # a 1 MB page is big for a notice; a batch holds a few
EARLY_BATCH = 4  # pages begun early go out as they come, a few at a time


def _outcomes(
    done: asyncio.Future[list[analyse.Analysis | Exception]], size: int
) -> list[analyse.Analysis | BaseException]:
    error = done.exception()
    if error is None:
        return list(done.result())
    if isinstance(error, BrokenProcessPool):
        crashed = WorkerCrashed("the analysis worker died while reading this page")
        crashed.__cause__ = error
        return [crashed] * size
    return [error] * size


def default_workers() -> int:
    """One per core: the event loop mostly waits on the network (measured on 2 cores:
    1,000 new pages in 9.3 s with one worker, 7.9 s with two, 8.1 s with three)."""
    return max(1, os.cpu_count() or 1)


def make_analyzer(
    keywords: Mapping[str, Sequence[str]],
    blob_root: Path | BlobLocation,
    *,
    pages: int,
    workers: int | None = None,
    fsync: bool = True,
) -> Analyzer:
    """Processes when there are enough pages to pay for them, else a thread."""
    workers = default_workers() if workers is None else workers
    if workers <= 0 or pages < MIN_PAGES_FOR_PROCESSES:
        return ThreadAnalyzer(keywords, blob_root, fsync)
    return ProcessAnalyzer(keywords, blob_root, workers, fsync)
