"""``watcher check`` of pages that have not changed, without loading the store's
SQLAlchemy: the index is read and written with ``sqlite3`` (``watcher.store.quick``).

Taken only where the usual check would do nothing else: a SQLite store, no alerts
to make or send, no deadline reminders, and a few targets (``MAX_TARGETS``), each a
plain HTTP page already captured, not failing, at the URL the index knows. When any
page turns out new, changed or failed, nothing is recorded here: the usual check
runs, on the answers already fetched (``Quick.fetched``), so no page is asked for
twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watcher.check.options import fetch_options
from watcher.config.snapshot import QuickConfig, QuickTarget
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.core.models import CheckResult, FetchResult
from watcher.fetch.client import Fetcher, FetchError, FetchSettings
from watcher.store.blobs.base import sha256
from watcher.store.quick import QuickCheck, QuickIndex, QuickState

log = logging.getLogger("watcher.check.run")  # as the usual check logs its results

# a few pages: their answers are held until all are in (the usual check lets each go)
MAX_TARGETS = 50


@dataclass
class Quick:
    """``results``: the checks, all unchanged and recorded; None: the usual check is
    needed, and ``fetched`` holds the answers (or failures) it should use."""

    results: list[CheckResult] | None
    fetched: dict[str, FetchResult | FetchError] = field(default_factory=dict)


def sqlite_store(config: QuickConfig) -> bool:
    """Whether the index is the embedded SQLite file (a database URL names another)."""
    named = os.environ.get("WATCHER_STORE") or getattr(config.settings, "store", None) or ""
    return not named or str(named).startswith("sqlite")


def may_try(config: QuickConfig, with_alerts: bool) -> bool:
    """Whether an unchanged check could need nothing but this module."""
    return not with_alerts and sqlite_store(config) and not config.settings.deadline_reminders


async def check_unchanged(
    config: QuickConfig,
    targets: Sequence[QuickTarget],
    data: Path,
    on_result: Callable[[CheckResult], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Quick | None:
    """Check ``targets``; None: not a case for this module (nothing was fetched)."""
    index = QuickIndex.open(data)
    if index is None:
        return None
    try:
        states = index.states([t.name for t in targets])
        if not 0 < len(targets) <= MAX_TARGETS or not all(
            _plain(t, states.get(t.name)) for t in targets
        ):
            return None
        s = config.settings
        settings = FetchSettings(
            concurrency=s.concurrency, per_host=s.per_host, host_delay=s.host_delay
        )
        fetcher = Fetcher(settings, clock=clock)
        try:
            answers = await asyncio.gather(
                *(_fetch(fetcher, config, t, states[t.name], clock) for t in targets)
            )
        finally:
            await fetcher.aclose()
        fetched = {t.name: a for t, (a, _) in zip(targets, answers, strict=True)}
        if not all(
            isinstance(a, FetchResult) and _unchanged(a, states[name])
            for name, a in fetched.items()
        ):
            return Quick(None, fetched)
        checks, results = [], []
        for target, (fetched, duration) in zip(targets, answers, strict=True):
            assert isinstance(fetched, FetchResult)
            state = states[target.name]
            checks.append(_check_of(state, fetched, duration))
            results.append(_result(target, state, fetched, duration))
        if not index.record_unchanged(checks):  # the usual way tries, and says why not
            return Quick(None, fetched)
    finally:
        index.close()
    for result in results:
        log.info(
            "%s unchanged in %.2fs, %d bytes, 0 hits", result.target, result.duration, result.size
        )
        if on_result is not None:
            on_result(result)
    return Quick(results)


def _plain(target: QuickTarget, state: QuickState | None) -> bool:
    """A page the usual check would fetch over plain HTTP and may find unchanged."""
    return (
        state is not None
        and state.capture_id is not None
        and state.kind == "page"
        and state.url == target.url
        and state.consecutive_errors == 0  # else a success is a recovery: an alert
        and (target.fetch == "http" or (target.fetch == "auto" and not state.fetch_learned))
        and not target.cookies_from_browser
        and not target.follows
    )


async def _fetch(
    fetcher: Fetcher, config: QuickConfig, target: QuickTarget, state: QuickState, clock: Clock
) -> tuple[FetchResult | FetchError, float]:
    started = clock.monotonic()
    options = fetch_options(
        target, state.etag, state.last_modified, allow_private=config.settings.allow_private
    )
    try:
        fetched: FetchResult | FetchError = await fetcher.fetch(target.url, options)
    except FetchError as exc:
        fetched = exc
    return fetched, clock.monotonic() - started


def _unchanged(fetched: FetchResult, state: QuickState) -> bool:
    return fetched.not_modified or sha256(fetched.body) == state.raw_sha256


def _check_of(state: QuickState, fetched: FetchResult, duration: float) -> QuickCheck:
    """As ``watcher.check.record.check_record``: a 304 keeps the validators."""
    kept = fetched.not_modified
    return QuickCheck(
        target_id=state.id,
        checked_at=fetched.fetched_at,
        http_status=fetched.status_code,
        duration=duration,
        attempts=fetched.attempts,
        etag=fetched.header("etag") or (state.etag if kept else None),
        last_modified=fetched.header("last-modified") or (state.last_modified if kept else None),
    )


def _result(
    target: QuickTarget, state: QuickState, fetched: FetchResult, duration: float
) -> CheckResult:
    """As ``watcher.check.record.unchanged_result``."""
    return CheckResult(
        target=target.name,
        url=target.url,
        status="unchanged",
        fetched_at=fetched.fetched_at,
        capture_id=state.capture_id,
        final_url=fetched.final_url,
        http_status=fetched.status_code,
        duration=duration,
        size=len(fetched.body) if not fetched.not_modified else state.raw_size,
        title=state.title,
        metadata=state.metadata,
    )
