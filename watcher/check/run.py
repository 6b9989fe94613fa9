""" "Run these targets once", as a plain function: the CLI calls it directly and
the scheduler only calls it on a timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from watcher.analysis.workers import MIN_PAGES_FOR_PROCESSES, Analyzer, make_analyzer
from watcher.check.checker import Checker
from watcher.check.pages import Pages
from watcher.config import Config, Target
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.core.models import CheckResult, occurrence_count
from watcher.listings.follow import Alerts, DeferDocuments
from watcher.store import works
from watcher.store.index import Store
from watcher.store.space import DiskFull

log = logging.getLogger(__name__)


async def run_once(
    config: Config,
    store: Store,
    pages: Pages,
    targets: Sequence[Target] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    *,
    alerts: Alerts | None = None,
    on_messages: Callable[[], None] | None = None,
    analyzer: Analyzer | None = None,
    clock: Clock = SYSTEM_CLOCK,
    defer_documents: DeferDocuments | None = None,
) -> list[CheckResult]:
    """Check the given targets (default: all) concurrently, once; results in config order.

    At most ``concurrency`` downloads plus what the analyzer can take are between
    fetch and store at a time, so fetched pages wait in the network, not in
    memory, when parsing falls behind, and a low concurrency (polite to one
    host) still keeps every worker busy. A long-lived caller (the service)
    passes its own ``analyzer``; otherwise one is made for these targets.
    """
    # all: the paused ones stay out; a target named is checked, paused or not
    chosen = [t for t in config.targets if not t.paused] if targets is None else list(targets)
    own_analyzer = analyzer is None
    if analyzer is None:
        analyzer = make_analyzer(config.keywords, store.blobs.location, pages=len(chosen))
    checker = Checker(
        config,
        store,
        pages,
        analyzer,
        alerts=alerts,
        on_messages=on_messages,
        clock=clock,
        defer_documents=defer_documents,
    )
    states = store.target_states([(t.name, t.url) for t in chosen], clock.now())
    if (
        own_analyzer
        and sum(1 for s in states.values() if s.last is None) >= MIN_PAGES_FOR_PROCESSES
    ):
        analyzer.warm_up()  # many first captures ahead: parsing will be needed
    in_flight = asyncio.Semaphore(config.settings.concurrency + analyzer.capacity)

    async def one(target: Target) -> CheckResult:
        async with in_flight:
            result = await checker.check(target, states[target.name])
        _log_result(result)
        if on_result is not None:
            on_result(result)
        return result

    try:
        return list(await asyncio.gather(*(one(t) for t in chosen)))
    finally:
        try:
            checker.flush()
        except DiskFull as exc:
            log.error("this cycle's check log: %s", exc)
        except Exception:  # e.g. the index locked by another writer for too long
            log.exception("could not write this cycle's check log (captures are stored)")
        try:
            _remind(config, store, clock, on_messages)
        except Exception:  # the deadlines stay unreminded: the next cycle tries again
            log.exception("could not queue this cycle's deadline reminders")
        finally:
            if own_analyzer:
                analyzer.close()


async def run_document(
    config: Config,
    store: Store,
    pages: Pages,
    listing: Target,
    name: str,
    *,
    analyzer: Analyzer,
    defer_documents: DeferDocuments,
    alerts: Alerts | None = None,
    on_messages: Callable[[], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> bool:
    """Check one document of a listing, as its job in the queue: the one check of
    it, settled (captured, suspected, removed …) like the listing's own would; its new
    attachments go to ``defer_documents``. False: the listing has no such document."""
    checker = Checker(
        config,
        store,
        pages,
        analyzer,
        alerts=alerts,
        on_messages=on_messages,
        clock=clock,
        defer_documents=defer_documents,
    )
    try:
        return await checker.check_listed(listing, name) is not None
    finally:
        checker.flush()


def _remind(
    config: Config, store: Store, clock: Clock, on_messages: Callable[[], None] | None
) -> None:
    """Deadlines coming up (``settings.deadline_reminders``), once each, after a cycle."""
    reminders = config.settings.deadline_reminders
    if reminders is None:
        return
    before = timedelta(seconds=reminders.before)
    queued = works.remind(
        store.engine, clock.now(), before, reminders.notify, config.settings.base_url
    )
    if queued and on_messages is not None:
        on_messages()


def _log_result(result: CheckResult) -> None:
    log.info(
        "%s %s in %.2fs, %d bytes, %d hits%s",
        result.target,
        result.status,
        result.duration,
        result.size,
        occurrence_count(result.hits),
        f": {result.error}" if result.error else "",
        extra={
            "target": result.target,
            "status": result.status,
            "duration": round(result.duration, 3),
            "bytes": result.size,
            "hits": occurrence_count(result.hits),
            "capture_id": result.capture_id,
            "error": result.error,
        },
    )
