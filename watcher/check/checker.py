"""One target's check, and "run these targets once" as a plain function.

fetch → (hash: unchanged bytes stop here) → analysis in a worker (decode →
extract → diff → keywords → blobs) → index row → a ``CheckResult``. This is
the one place that decides new / changed / unchanged / error. The CLI calls
``run_once`` directly; the scheduler only calls it on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from watcher.alerts import events
from watcher.alerts.events import Event
from watcher.alerts.plan import plan
from watcher.analysis import analyse
from watcher.analysis.analyse import ExtractionProblem, Page
from watcher.analysis.workers import MIN_PAGES_FOR_PROCESSES, Analyzer, WorkerCrashed, make_analyzer
from watcher.config import Config, Target
from watcher.core.ids import new_id
from watcher.core.models import CheckResult, FetchResult
from watcher.fetch.client import Fetcher, FetchError, FetchOptions
from watcher.store import outbox
from watcher.store.blobs import sha256
from watcher.store.index import CheckRecord, NewCapture, Store, TargetState

if TYPE_CHECKING:
    from watcher.alerts.compose import Composer
    from watcher.config import BrowserSettings as BrowserSettingsConfig

log = logging.getLogger(__name__)

__all__ = ["Checker", "ExtractionProblem", "fetch_options", "page_of", "run_once"]


def fetch_options(
    target: Target, etag: str | None = None, last_modified: str | None = None
) -> FetchOptions:
    """Per-target fetch settings, with conditional headers when given."""
    return FetchOptions(
        connect_timeout=target.connect_timeout,
        read_timeout=target.read_timeout,
        total_timeout=target.timeout,
        retries=target.retries,
        max_size=target.max_size,
        user_agent=target.user_agent,
        headers=dict(target.headers),
        cookies=dict(target.cookies),
        etag=etag,
        last_modified=last_modified,
    )


def page_of(
    target: Target,
    fetched: FetchResult,
    previous_text_sha256: str | None,
    diff_timeout: float = 2.0,
    excerpt_limit: int = 1500,
) -> Page:
    """What the analysis needs of a target and its fetched page, and nothing more."""
    return Page(
        body=fetched.body,
        content_type=fetched.header("content-type"),
        final_url=fetched.final_url,
        select=tuple(target.select),
        exclude=tuple(target.exclude),
        ignore=tuple(target.ignore),
        groups=tuple(target.keywords),
        previous_text_sha256=previous_text_sha256,
        diff_timeout=diff_timeout,
        excerpt_limit=excerpt_limit,
    )


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the server sent first, when the text came from elsewhere (a rendered DOM)."""

    raw: bytes
    raw_sha256: str
    status: int
    screenshot_sha256: str | None


class BrowserSession:
    """The shared browser (started on first use) and the cookies its visits earned.

    Cookies a challenge set are kept per host until they expire, so that plain HTTP
    requests of targets with ``cookies_from_browser`` get through after one visit.
    """

    def __init__(self, settings: BrowserSettingsConfig | None = None) -> None:
        self.settings = settings
        self._pool: Any = None
        self._cookies: dict[str, dict[str, tuple[str, float | None]]] = {}

    def pool(self) -> Any:
        if self._pool is None:
            from watcher.fetch.browser import BrowserPool, BrowserSettings

            s = self.settings
            self._pool = BrowserPool(
                BrowserSettings(
                    executable=s.executable if s else None,
                    max_pages=s.max_pages if s else 2,
                    restart_after_pages=s.restart_after_pages if s else 200,
                    restart_above_mb=s.restart_above_mb if s else 1500,
                )
            )
        return self._pool

    def remember(self, cookies: list[dict[str, Any]]) -> None:
        for cookie in cookies:
            host = str(cookie.get("domain", "")).lower().lstrip(".")
            expires = cookie.get("expires")
            until = float(expires) if isinstance(expires, int | float) and expires > 0 else None
            self._cookies.setdefault(host, {})[str(cookie["name"])] = (str(cookie["value"]), until)

    def cookies_for(self, url: str) -> dict[str, str]:
        host = (urlsplit(url).hostname or "").lower()
        now = time.time()
        found: dict[str, str] = {}
        for domain, jar in self._cookies.items():
            if host == domain or host.endswith("." + domain):
                found.update(
                    {n: v for n, (v, until) in jar.items() if until is None or until > now}
                )
        return found

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


@dataclass(frozen=True, slots=True)
class DocumentRole:
    """What a document's check needs to know of its listing."""

    listing_title: str
    listed_date: str | None = None
    attachments: bool = False  # report its attachment links
    attachment_of: str | None = None  # for an attachment: its notice's title


class Checker:
    """Checks targets against one store with one fetcher; keeps no state between checks.

    With a ``composer``, the alerts a check causes are written to the outbox in
    the same transaction as the check itself, and ``on_messages`` is called after.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        analyzer: Analyzer,
        *,
        composer: Composer | None = None,
        on_messages: Callable[[], None] | None = None,
        browser: BrowserSession | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.analyzer = analyzer
        self.composer = composer
        self.on_messages = on_messages
        self.clock = clock
        self.browser = browser or BrowserSession(config.settings.browser)
        # checks that stored nothing are written in batches: one transaction per
        # cycle instead of one per target (they are a log, not evidence)
        self._pending: list[CheckRecord] = []
        self._pending_messages: list[outbox.NewMessage] = []
        self._listing_pages: dict[str, FetchResult] = {}

    def flush(self) -> None:
        """Write the buffered check records and the alerts they cause."""
        pending, self._pending = self._pending, []
        messages, self._pending_messages = self._pending_messages, []
        self.store.save_checks(pending, messages)
        if messages and self.on_messages is not None:
            self.on_messages()

    def _log_check(self, record: CheckRecord, found: list[Event] | None = None) -> None:
        self._pending.append(record)
        self._pending_messages.extend(self.messages_for(found or []))
        if len(self._pending) >= 500:
            self.flush()

    def messages_for(self, found: list[Event]) -> list[outbox.NewMessage]:
        """The outbox messages of events (none without a composer)."""
        if self.composer is None or not found:
            return []
        digests = self.config.settings.digest
        return [m for e in found for m in plan(e, self.composer.compose(e), digests)]

    def _rules(self, target: Target) -> events.Rules:
        return events.Rules(target.alert, target.alert_new, self.config.settings.error_after)

    @staticmethod
    def _event(target: Target, at: datetime, **details: object) -> Event:
        """An event's common part; the decision in ``watcher.alerts.events`` sets its kind."""
        return Event(
            "changed", target.name, target.title, target.url, at, notify=target.notify, **details
        )  # type: ignore[arg-type]

    async def check(
        self,
        target: Target,
        state: TargetState | None = None,
        *,
        document: DocumentRole | None = None,
    ) -> CheckResult:
        """Check one target; any failure becomes an ``error`` result, never an exception.

        ``state`` may be passed when the caller loaded many targets' states at once.
        ``document`` marks a listing's document: its first capture is a ``document``
        event, and its failures feed the removal rules instead of ``error`` alerts.
        A listing target's documents are followed after its own check.
        """
        started = time.perf_counter()
        try:
            if state is None:
                state = self.store.target_state(target.name, target.url, self.clock())
            result = await self._check(target, state, started, document)
            if target.follow is not None and document is None:
                from watcher.listings.follow import Follower

                page = self._listing_pages.pop(target.name, None)
                await Follower(self).follow(target, state, result, page)
            return result
        except Exception as exc:  # a bug must not stop the other targets
            log.exception("%s: internal error", target.name)
            return self._error(
                target, state, f"internal error: {exc!r}", started, document=document
            )

    async def _check(
        self,
        target: Target,
        state: TargetState,
        started: float,
        document: DocumentRole | None = None,
    ) -> CheckResult:
        if target.fetch == "browser" or (target.fetch == "auto" and state.fetch_learned):
            return await self._check_browser(target, state, started, document)
        try:
            # conditional headers only when there is a capture to fall back on
            reuse = state.last is not None
            options = fetch_options(
                target, state.etag if reuse else None, state.last_modified if reuse else None
            )
            if target.cookies_from_browser:
                earned = self.browser.cookies_for(target.url)
                options = replace(options, cookies={**earned, **options.cookies})
            fetched = await self.fetcher.fetch(target.url, options)
        except FetchError as exc:
            if target.cookies_from_browser and exc.kind == "blocked":
                retried = await self._with_browser_cookies(target, options)
                if retried is not None:
                    fetched = retried
                    return await self._after_fetch(target, state, fetched, started, document)
            if target.fetch == "auto" and exc.kind == "blocked":
                # a JavaScript challenge a plain client cannot pass: the browser can
                self.store.learn_fetch(state.id, "browser")
                log.info("%s: %s; fetching with the browser from now on", target.name, exc)
                return await self._check_browser(target, state, started, document)
            return self._error(
                target, state, str(exc), started, exc.status_code, exc.attempts, document, exc.kind
            )
        return await self._after_fetch(target, state, fetched, started, document)

    async def _with_browser_cookies(
        self, target: Target, options: FetchOptions
    ) -> FetchResult | None:
        """A challenge met by plain HTTP: one browser visit earns the site's cookies,
        then the same request again, with them (None when that fails too)."""
        from watcher.fetch.browser import BrowserError, BrowserOptions, BrowserUnavailable

        try:
            async with self.fetcher.slot(target.url):
                seen = await self.browser.pool().fetch(
                    target.url,
                    BrowserOptions(
                        budget=target.timeout, user_agent=target.user_agent, screenshot=False
                    ),
                )
        except (BrowserUnavailable, BrowserError) as exc:
            log.warning("%s: no cookies from the browser: %s", target.name, exc)
            return None
        self.browser.remember(seen.cookies)
        earned = self.browser.cookies_for(target.url)
        try:
            return await self.fetcher.fetch(
                target.url, replace(options, cookies={**earned, **options.cookies})
            )
        except FetchError:
            return None

    async def _after_fetch(
        self,
        target: Target,
        state: TargetState,
        fetched: FetchResult,
        started: float,
        document: DocumentRole | None,
    ) -> CheckResult:
        digest = sha256(fetched.body) if not fetched.not_modified else ""
        if state.last is not None and (fetched.not_modified or digest == state.last.raw_sha256):
            return self._unchanged(target, state, fetched, started)
        previous = state.last.text_sha256 if state.last else None
        settings = self.config.settings
        page = page_of(target, fetched, previous, settings.diff_timeout, settings.excerpt)
        if document is not None:
            last = state.last.metadata if state.last and state.last.metadata else {}
            page = replace(page, document=True, previous_last_modified=last.get("last_modified"))
        if target.follow is not None and document is None:
            self._listing_pages[target.name] = fetched  # its items are read after the check
        try:
            analysis = await self.analyzer.analyse(page)
        except (ExtractionProblem, WorkerCrashed) as exc:
            if target.fetch == "auto" and isinstance(exc, ExtractionProblem) and target.select:
                # the selected region is empty: a shell page that a script fills
                self.store.learn_fetch(state.id, "browser")
                log.info("%s: %s; fetching with the browser from now on", target.name, exc)
                return await self._check_browser(target, state, started, document)
            return self._error(
                target, state, str(exc), started, fetched.status_code, document=document
            )
        return self._store(target, state, fetched, analysis, started, document)

    async def _check_browser(
        self,
        target: Target,
        state: TargetState,
        started: float,
        document: DocumentRole | None,
    ) -> CheckResult:
        """Render the page in the shared Chromium: the text comes from the final DOM,
        the server's first answer and a screenshot are kept as evidence."""
        from watcher.fetch.browser import BrowserError, BrowserOptions, BrowserUnavailable

        options = BrowserOptions(
            wait_for=target.wait_for,
            budget=target.timeout,
            block=tuple(target.block),
            user_agent=target.user_agent,
            headers=dict(target.headers),
            cookies={**self.browser.cookies_for(target.url), **dict(target.cookies)},
        )
        try:
            async with self.fetcher.slot(target.url):  # the host's limits hold for browsers too
                seen = await self.browser.pool().fetch(target.url, options)
        except BrowserUnavailable as exc:
            return self._error(target, state, str(exc), started, document=document, kind="browser")
        except BrowserError as exc:
            message = f"{target.url} → browser: {exc}"
            return self._error(target, state, message, started, document=document, kind=exc.kind)
        self.browser.remember(seen.cookies)
        fetched = FetchResult(
            url=target.url,
            final_url=seen.final_url,
            status_code=seen.status,
            headers=list(seen.first_headers),
            body=seen.html,
            fetched_at=seen.fetched_at,
            duration=seen.duration,
        )
        fetched = replace(fetched, headers=[*fetched.headers, ("x-watcher-rendered", "chromium")])
        previous = state.last.text_sha256 if state.last else None
        settings = self.config.settings
        page = page_of(target, fetched, previous, settings.diff_timeout, settings.excerpt)
        page = replace(page, content_type="text/html; charset=utf-8", document=document is not None)
        try:
            analysis = await self.analyzer.analyse(page)
        except (ExtractionProblem, WorkerCrashed) as exc:
            return self._error(target, state, str(exc), started, seen.status, document=document)
        if state.last is not None and not analysis.text_changed:
            return self._unchanged(target, state, fetched, started)  # the same text: no capture
        evidence = Evidence(
            raw=seen.first_body,
            raw_sha256=self.store.blobs.put(seen.first_body),
            status=seen.first_status,
            screenshot_sha256=self.store.blobs.put(seen.screenshot) if seen.screenshot else None,
        )
        return self._store(target, state, fetched, analysis, started, document, evidence)

    def _store(
        self,
        target: Target,
        state: TargetState,
        fetched: FetchResult,
        analysis: analyse.Analysis,
        started: float,
        document: DocumentRole | None = None,
        evidence: Evidence | None = None,
    ) -> CheckResult:
        status = (
            "new" if state.last is None else "changed" if analysis.text_changed else "unchanged"
        )
        new = NewCapture(
            target_id=state.id,
            kind=status,
            url=target.url,
            final_url=fetched.final_url,
            status_code=fetched.status_code,
            headers=fetched.headers,
            fetched_at=fetched.fetched_at,
            duration=fetched.duration,
            raw=fetched.body,
            text="",
            text_size=analysis.text_size,
            raw_sha256=analysis.raw_sha256,
            content_type=fetched.header("content-type"),
            encoding=analysis.encoding,
            encoding_source=analysis.encoding_source,
            title=analysis.title,
            previous_id=state.last.id if state.last else None,
            added=analysis.added,
            removed=analysis.removed,
            hits=analysis.hits,
            id=new_id(fetched.fetched_at.timestamp()),
            metadata=analysis.metadata,
        )
        digests = (analysis.raw_sha256, analysis.text_sha256)
        if evidence is not None:  # a browser fetch: the server's first answer is the raw
            new.raw = evidence.raw
            new.raw_sha256 = evidence.raw_sha256
            new.status_code = evidence.status
            new.dom_sha256 = analysis.raw_sha256
            new.screenshot_sha256 = evidence.screenshot_sha256
            digests = (evidence.raw_sha256, analysis.text_sha256)
        base = self._event(
            target,
            fetched.fetched_at,
            capture_id=new.id,
            previous_id=new.previous_id,
            hits=tuple(analysis.hits),
            added=analysis.added,
            removed=analysis.removed,
            excerpt=analysis.excerpt,
            page_title=analysis.title,
            listing=document.listing_title if document else "",
            listed_date=document.listed_date if document else None,
            metadata=analysis.metadata,
            attachment_of=document.attachment_of if document else None,
            attachment_sha256=evidence.screenshot_sha256
            if evidence is not None and target.attach_screenshot
            else None,
        )
        if document is not None and analysis.looks_removed:
            found = []  # a notice replaced by "页面不存在": the removal rules decide
        elif target.follow is not None:
            # a listing's own text changes with every new item: its documents are
            # the news (`document` events), so the listing only tells of recovery
            found = events.recovery_events(self._rules(target), state.consecutive_errors, base)
        else:
            failures = 0 if document else state.consecutive_errors
            found = events.capture_events(
                status, self._rules(target), failures, base, document=document is not None
            )
        messages = self.messages_for(found)
        # the analysis stored the blobs; the index row goes in on this thread:
        # one writer, no lock contention
        record = self._record(state, fetched, status, started)
        capture_id = self.store.save_capture(new, record, digests, messages)
        if messages and self.on_messages is not None:
            self.on_messages()
        result = CheckResult(
            target=target.name,
            url=target.url,
            status=status,  # type: ignore[arg-type]
            fetched_at=fetched.fetched_at,
            capture_id=capture_id,
            previous_id=new.previous_id,
            final_url=fetched.final_url,
            http_status=fetched.status_code,
            duration=time.perf_counter() - started,
            size=len(fetched.body),
            added=analysis.added,
            removed=analysis.removed,
            hits=analysis.hits,
            title=analysis.title,
            looks_removed=analysis.looks_removed,
            links=analysis.attachment_links if document and document.attachments else (),
        )
        if analysis.diff_timed_out:
            log.warning("%s: diff time budget ran out; change shown coarsely", target.name)
        return result

    def _record(
        self, state: TargetState, fetched: FetchResult, status: str, started: float
    ) -> CheckRecord:
        return CheckRecord(
            target_id=state.id,
            checked_at=fetched.fetched_at,
            status=status,
            duration=time.perf_counter() - started,
            http_status=fetched.status_code,
            attempts=fetched.attempts,
            etag=fetched.header("etag") or (state.etag if fetched.not_modified else None),
            last_modified=fetched.header("last-modified")
            or (state.last_modified if fetched.not_modified else None),
        )

    def _unchanged(
        self, target: Target, state: TargetState, fetched: FetchResult, started: float
    ) -> CheckResult:
        base = self._event(target, fetched.fetched_at, capture_id=state.last and state.last.id)
        found = events.recovery_events(self._rules(target), state.consecutive_errors, base)
        self._log_check(self._record(state, fetched, "unchanged", started), found)
        last = state.last
        assert last is not None
        return CheckResult(
            target=target.name,
            url=target.url,
            status="unchanged",
            fetched_at=fetched.fetched_at,
            capture_id=last.id,
            final_url=fetched.final_url,
            http_status=fetched.status_code,
            duration=time.perf_counter() - started,
            size=len(fetched.body) if not fetched.not_modified else last.raw_size,
            title=last.title,
        )

    def _error(
        self,
        target: Target,
        state: TargetState | None,
        message: str,
        started: float,
        http_status: int | None = None,
        attempts: int = 1,
        document: DocumentRole | None = None,
        kind: str | None = None,
    ) -> CheckResult:
        now = self.clock()
        if state is not None:
            record = CheckRecord(
                target_id=state.id,
                checked_at=now,
                status="error",
                duration=time.perf_counter() - started,
                http_status=http_status,
                attempts=attempts,
                error=message,
            )
            base = self._event(target, now, error=message, blocked=kind == "blocked")
            found = (
                []  # a document's failures feed the removal rules, not error alerts
                if document is not None
                else events.error_events(self._rules(target), state.consecutive_errors, base)
            )
            self._log_check(record, found)
        return CheckResult(
            target=target.name,
            url=target.url,
            status="error",
            fetched_at=now,
            http_status=http_status,
            duration=time.perf_counter() - started,
            error=message,
            error_kind=kind,
        )


async def run_once(
    config: Config,
    store: Store,
    fetcher: Fetcher,
    targets: Sequence[Target] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    *,
    composer: Composer | None = None,
    on_messages: Callable[[], None] | None = None,
    analyzer: Analyzer | None = None,
    browser: BrowserSession | None = None,
) -> list[CheckResult]:
    """Check the given targets (default: all) concurrently, once; results in config order.

    At most ``concurrency`` downloads plus what the analyzer can take are between
    fetch and store at a time, so fetched pages wait in the network, not in
    memory, when parsing falls behind, and a low concurrency (polite to one
    host) still keeps every worker busy. A long-lived caller (the service)
    passes its own ``analyzer``; otherwise one is made for these targets.
    """
    chosen = list(config.targets if targets is None else targets)
    own_analyzer = analyzer is None
    if analyzer is None:
        analyzer = make_analyzer(
            config.keywords, store.blobs.root, pages=len(chosen), fsync=store.blobs.fsync
        )
    own_browser = browser is None
    checker = Checker(
        config,
        store,
        fetcher,
        analyzer,
        composer=composer,
        on_messages=on_messages,
        browser=browser,
    )
    states = store.target_states([(t.name, t.url) for t in chosen], checker.clock())
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
        except Exception:  # e.g. the index locked by another writer for too long
            log.exception("could not write this cycle's check log (captures are stored)")
        finally:
            if own_analyzer:
                analyzer.close()
            if own_browser:
                await checker.browser.close()


def _log_result(result: CheckResult) -> None:
    log.info(
        "%s %s in %.2fs, %d bytes, %d hits%s",
        result.target,
        result.status,
        result.duration,
        result.size,
        len(result.hits),
        f": {result.error}" if result.error else "",
        extra={
            "target": result.target,
            "status": result.status,
            "duration": round(result.duration, 3),
            "bytes": result.size,
            "hits": len(result.hits),
            "capture_id": result.capture_id,
            "error": result.error,
        },
    )
