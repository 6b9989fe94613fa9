"""``watcher check`` of pages that have not changed, without loading the store's
SQLAlchemy: the index is read and written with ``sqlite3`` (``watcher.store.quick``).

Taken where the usual check would do nothing else: a SQLite store, no alerts to send,
no deadline reminders, and every target a plain HTTP page already captured, not
failing, at the URL the index knows. (With a listing, a new page or a browser page
among them, the whole check goes the usual way, at once: that target would otherwise
wait for every plain page to be fetched, behind slow hosts' spacing.) Those found
unchanged are recorded here; those that changed or failed are left to the usual
check, with the answers fetched here (``Quick.fetched``), so no page is asked for
twice, up to ``HELD_BYTES`` of held answers: past that, a page that changed is asked
for again by the usual check, and memory stays bounded.
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

# answers held for the usual check; a site that changed every page at once must not
# hold all of them in memory until the last is in
HELD_BYTES = 64 * 1024 * 1024

# a target that needs the usual check, and the answer it will use (None: asked again)
OnRest = Callable[[str, "FetchResult | FetchError | None"], None]


@dataclass(repr=False)
class Quick:
    """``results``: the unchanged checks, recorded. ``rest``: the names of the
    targets the usual check must do, in the order given; ``fetched`` holds the
    answers (or failures) it should use for those fetched here."""

    results: list[CheckResult]
    rest: list[str] = field(default_factory=list)
    fetched: dict[str, FetchResult | FetchError] = field(default_factory=dict)

    def __repr__(self) -> str:
        # short: ``asyncio.run`` formats its finished task, result and all, when it
        # restores the SIGINT handler (Python 3.11), and these hold whole pages
        return f"Quick({len(self.results)} unchanged, {len(self.rest)} for the usual way)"


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
    on_rest: OnRest | None = None,
) -> Quick | None:
    """Check ``targets``; None: not a case for this module (nothing was fetched).

    ``on_rest(name, answer)``: the target ``name`` needs the usual check, which will
    use ``answer`` (None: it asks again), so that the caller can get it ready, and
    begin the page's analysis, while other pages are still fetched.
    """
    index = QuickIndex.open(data)
    if index is None:
        return None
    try:
        states = index.states([t.name for t in targets])
        if not targets or not all(_plain(t, states.get(t.name)) for t in targets):
            return None
        found = _Found(on_rest)
        s = config.settings
        fetcher = Fetcher(
            FetchSettings(concurrency=s.concurrency, per_host=s.per_host, host_delay=s.host_delay),
            clock=clock,
        )
        try:
            await asyncio.gather(
                *(found.one(fetcher, config, t, states[t.name], clock) for t in targets)
            )
        finally:
            await fetcher.aclose()
        found.in_order({t.name: i for i, t in enumerate(targets)})
        if found.checks and not index.record_unchanged(found.checks):
            return Quick([], [t.name for t in targets], found.fetched)  # the usual way says why
    finally:
        index.close()
    for result in found.results:
        log.info(
            "%s unchanged in %.2fs, %d bytes, 0 hits", result.target, result.duration, result.size
        )
        if on_result is not None:
            on_result(result)
    done = {r.target for r in found.results}
    return Quick(found.results, [t.name for t in targets if t.name not in done], found.fetched)


class _Found:
    """The answers as they come in: an unchanged page is kept as its check and result
    (its body let go at once), any other answer for the usual check while
    ``HELD_BYTES`` allow."""

    def __init__(self, on_rest: OnRest | None) -> None:
        self._on_rest = on_rest
        self.checks: list[QuickCheck] = []
        self.results: list[CheckResult] = []
        self.fetched: dict[str, FetchResult | FetchError] = {}
        self.held = 0

    def in_order(self, order: dict[str, int]) -> None:
        """Checks and results in the order the targets were given, not as answered."""
        places = {
            c.target_id: order[r.target] for c, r in zip(self.checks, self.results, strict=True)
        }
        self.results.sort(key=lambda r: order[r.target])
        self.checks.sort(key=lambda c: places[c.target_id])

    async def one(
        self,
        fetcher: Fetcher,
        config: QuickConfig,
        target: QuickTarget,
        state: QuickState,
        clock: Clock,
    ) -> None:
        answer, duration = await _fetch(fetcher, config, target, state, clock)
        if isinstance(answer, FetchResult) and _unchanged(answer, state):
            self.checks.append(_check_of(state, answer, duration))
            self.results.append(_result(target, state, answer, duration))
            return
        size = len(answer.body) if isinstance(answer, FetchResult) else 0
        held = self.held + size <= HELD_BYTES
        if held:
            self.fetched[target.name] = answer
            self.held += size
        if self._on_rest is not None:
            self._on_rest(target.name, answer if held else None)


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
