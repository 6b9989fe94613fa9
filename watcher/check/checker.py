"""One target's check: the one place that decides new / changed / unchanged / error.

fetch (HTTP or the browser, as the target's fetch mode says) → (hash: unchanged
bytes stop here) → analysis in a worker (decode → extract → diff → keywords →
blobs) → the index row, with the alerts it causes in the same transaction → a
``CheckResult``. A listing target's documents are followed after its own check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from watcher.alerts import events
from watcher.alerts.events import Event
from watcher.analysis.analyse import Analysis, ExtractionProblem
from watcher.analysis.workers import Analyzer, WorkerCrashed
from watcher.check import record
from watcher.check.options import compared_with, fetch_options, page_of
from watcher.check.pages import Pages, Rendered, RenderFailed
from watcher.config import Config, Target
from watcher.core.budget import OverBudget
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.core.models import CheckResult, FetchResult, ListingOutcome
from watcher.fetch.client import FetchError
from watcher.fetch.visits import Observed
from watcher.listings.follow import Alerts, DeferDocuments, DocumentRole, Follower
from watcher.store import space
from watcher.store.blobs import BlobUnavailable, sha256
from watcher.store.index import CheckRecord, Store, TargetState
from watcher.store.outbox import NewMessage

log = logging.getLogger(__name__)

__all__ = ["Checker", "ExtractionProblem"]

FLUSH_EVERY = 500  # buffered check records written in one transaction


@dataclass(frozen=True, slots=True)
class _Checked:
    """A page's check, and the page it got when that page is a new version (a
    listing's items are read from it)."""

    result: CheckResult
    page: FetchResult | None = None
    observed: tuple[Observed, ...] = ()  # a rendered page's script answers, when observed


def _no_alerts(_found: Sequence[Event]) -> list[NewMessage]:
    return []


class Checker:
    """Checks targets against one store; keeps no state between checks.

    ``alerts`` turns a check's events into outbox messages (none without it); they
    are written in the same transaction as the check itself, and ``on_messages``
    is called after.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        pages: Pages,
        analyzer: Analyzer,
        *,
        alerts: Alerts | None = None,
        on_messages: Callable[[], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        observe: bool = False,
        defer_documents: DeferDocuments | None = None,
    ) -> None:
        """``defer_documents``: a listing's due documents go to it (the job queue)
        instead of being checked with the listing; ``check_listed`` checks one."""
        self.config = config
        self.defer_documents = defer_documents
        self.observe = observe  # rendered pages keep their scripts' JSON (watcher test)
        self.store = store
        self.pages = pages
        self.analyzer = analyzer
        self.alerts: Alerts = alerts or _no_alerts
        self.on_messages = on_messages
        self.clock = clock
        # checks that stored nothing are written in batches: one transaction per
        # cycle instead of one per target (they are a log, not evidence)
        self._pending: list[CheckRecord] = []
        self._pending_messages: list[NewMessage] = []

    def flush(self) -> None:
        """Write the buffered check records and the alerts they cause."""
        pending, self._pending = self._pending, []
        messages, self._pending_messages = self._pending_messages, []
        self.store.save_checks(pending, messages)
        if messages and self.on_messages is not None:
            self.on_messages()

    def _log_check(self, check: CheckRecord, found: list[Event]) -> None:
        self._pending.append(check)
        self._pending_messages.extend(self.alerts(found) if found else [])
        if len(self._pending) >= FLUSH_EVERY:
            self.flush()

    def _rules(self, target: Target) -> events.Rules:
        return record.rules_of(target, self.config.settings.error_after)

    async def check(
        self,
        target: Target,
        state: TargetState | None = None,
        *,
        document: DocumentRole | None = None,
        follow: bool = True,
    ) -> CheckResult:
        """Check one target; any failure becomes an ``error`` result, never an exception.

        ``state`` may be passed when the caller loaded many targets' states at once.
        ``document`` marks a listing's document: its first capture is a ``document``
        event, and its failures feed the removal rules instead of ``error`` alerts.
        A listing target's documents are followed after its own check unless
        ``follow`` is off.
        """
        started = self.clock.monotonic()
        try:
            if state is None:
                state = self.store.target_state(target.name, target.url, self.clock.now())
            checked = await self._check(target, state, started, document)
            if target.follow is None or document is not None or not follow:
                return checked.result
            outcome = await self._follower(target).follow(
                target, state, checked.result.status, checked.page
            )
            return replace(checked.result, listing=outcome)
        except Exception as exc:  # a bug must not stop the other targets
            if isinstance(exc, BlobUnavailable):  # the bucket: nothing of the page indexed
                log.error("%s: %s", target.name, exc)
                return self._error(target, state, str(exc), started, document)
            if space.is_disk_full(exc):  # an error like a failed fetch: it counts, it alerts
                self.store.note_disk_full()
                message = space.full_message(self.store.root)
                log.error("%s: %s", target.name, message)
                return self._error(target, state, message, started, document)
            log.exception("%s: internal error", target.name)
            return self._error(target, state, f"internal error: {exc!r}", started, document)

    async def page(
        self, target: Target, document: DocumentRole | None = None
    ) -> tuple[CheckResult, FetchResult | None, tuple[Observed, ...]]:
        """A target's own page checked, without its documents, the page it got when it
        was a new version, and what its scripts fetched if it was rendered with
        ``observe`` (``watcher test``)."""
        started = self.clock.monotonic()
        state = self.store.target_state(target.name, target.url, self.clock.now())
        checked = await self._check(target, state, started, document)
        return checked.result, checked.page, checked.observed

    def _follower(self, listing: Target) -> Follower:
        async def check_document(
            target: Target, state: TargetState, role: DocumentRole
        ) -> CheckResult:
            return await self.check(target, state, document=role)

        async def fetch_page(url: str) -> FetchResult:
            allow = self.config.settings.allow_private
            return await self.pages.fetcher.fetch(url, fetch_options(listing, allow_private=allow))

        return Follower(
            self.store,
            check_document,
            fetch_page,
            self._alerts_now,
            self.clock,
            defer=self.defer_documents,
        )

    async def check_listed(self, listing: Target, name: str) -> ListingOutcome | None:
        """One of a listing's documents checked and settled on its own (its job in the
        queue); None when the listing has no such document (any more)."""
        state = self.store.target_state(listing.name, listing.url, self.clock.now())
        return await self._follower(listing).check_one(listing, state.id, name)

    def _alerts_now(self, found: Sequence[Event]) -> list[NewMessage]:
        """Messages written with a document's state; the sender is woken for them."""
        messages = self.alerts(found)
        if messages and self.on_messages is not None:
            self.on_messages()
        return messages

    # -- getting the page ---------------------------------------------------------------

    async def _check(
        self, target: Target, state: TargetState, started: float, role: DocumentRole | None
    ) -> _Checked:
        if target.fetch == "browser" or (target.fetch == "auto" and state.fetch_learned):
            return await self._rendered(target, state, started, role)
        # conditional headers only when there is a capture to fall back on
        reuse = state.last is not None
        options = fetch_options(
            target,
            state.etag if reuse else None,
            state.last_modified if reuse else None,
            allow_private=self.config.settings.allow_private,
        )
        try:
            fetched = await self.pages.http(target, options)
        except FetchError as exc:
            if target.fetch == "auto" and exc.kind == "blocked":
                # a JavaScript challenge a plain client cannot pass: the browser can
                return await self._to_browser(target, state, started, role, str(exc))
            return _Checked(
                self._error(
                    target, state, str(exc), started, role, exc.status_code, exc.attempts, exc.kind
                )
            )
        return await self._fetched(target, state, fetched, started, role)

    async def _to_browser(
        self,
        target: Target,
        state: TargetState,
        started: float,
        role: DocumentRole | None,
        why: object,
    ) -> _Checked:
        """``fetch: auto`` learns that the target needs the browser, for good."""
        self.store.learn_fetch(state.id, "browser")
        log.info("%s: %s; fetching with the browser from now on", target.name, why)
        return await self._rendered(target, state, started, role)

    async def _fetched(
        self,
        target: Target,
        state: TargetState,
        fetched: FetchResult,
        started: float,
        role: DocumentRole | None,
    ) -> _Checked:
        digest = sha256(fetched.body) if not fetched.not_modified else ""
        if state.last is not None and (fetched.not_modified or digest == state.last.raw_sha256):
            return _Checked(self._unchanged(target, state, fetched, started))
        settings = self.config.settings
        page = page_of(
            target, fetched, None, settings.diff_timeout, settings.excerpt, settings.regex_timeout
        )
        page = compared_with(page, state)
        if role is not None:
            last = state.last.metadata if state.last and state.last.metadata else {}
            page = replace(page, document=True, previous_last_modified=last.get("last_modified"))
        missed = False
        try:
            analysis = await self.analyzer.analyse(page)
        except (ExtractionProblem, WorkerCrashed, OverBudget) as exc:
            if target.fetch == "auto" and isinstance(exc, ExtractionProblem) and target.select:
                # the selected region is empty: a shell page that a script fills
                return await self._to_browser(target, state, started, role, exc)
            status = fetched.status_code
            if not (role is not None and isinstance(exc, ExtractionProblem) and page.select):
                return _Checked(self._error(target, state, str(exc), started, role, status))
            try:  # a listing mixes templates: evidence first, the whole page's text
                analysis = await self.analyzer.analyse(replace(page, select=()))
            except (ExtractionProblem, WorkerCrashed, OverBudget) as again:
                return _Checked(self._error(target, state, str(again), started, role, status))
            missed = True
        result = self._store(target, state, fetched, analysis, started, role)
        return _Checked(replace(result, select_missed=missed), fetched)

    async def _rendered(
        self, target: Target, state: TargetState, started: float, role: DocumentRole | None
    ) -> _Checked:
        """Render the page in the shared Chromium: the text comes from the final DOM,
        the server's first answer and a screenshot are kept as evidence."""
        try:
            allow = self.config.settings.allow_private
            rendered = await self.pages.render(target, allow, observe=self.observe)
        except RenderFailed as exc:
            return _Checked(self._error(target, state, str(exc), started, role, kind=exc.kind))
        fetched = rendered.fetched
        settings = self.config.settings
        page = page_of(
            target, fetched, None, settings.diff_timeout, settings.excerpt, settings.regex_timeout
        )
        page = compared_with(page, state)
        page = replace(page, content_type="text/html; charset=utf-8", document=role is not None)
        try:
            analysis = await self.analyzer.analyse(page)
        except (ExtractionProblem, WorkerCrashed, OverBudget) as exc:
            status = fetched.status_code
            return _Checked(self._error(target, state, str(exc), started, role, status))
        if state.last is not None and not analysis.text_changed:
            return _Checked(self._unchanged(target, state, fetched, started))  # same text
        # off the event loop: a put is an fsync, or round trips to a bucket
        evidence = await asyncio.to_thread(self._evidence, rendered)
        stored = self._store(target, state, fetched, analysis, started, role, evidence)
        return _Checked(stored, fetched, rendered.observed)

    def _evidence(self, rendered: Rendered) -> record.Evidence:
        blobs = self.store.blobs
        return record.Evidence(
            raw=rendered.first_body,
            raw_sha256=blobs.put(rendered.first_body),
            status=rendered.first_status,
            screenshot_sha256=blobs.put(rendered.screenshot) if rendered.screenshot else None,
        )

    # -- what the check stores and tells ------------------------------------------------

    def _store(
        self,
        target: Target,
        state: TargetState,
        fetched: FetchResult,
        analysis: Analysis,
        started: float,
        role: DocumentRole | None,
        evidence: record.Evidence | None = None,
    ) -> CheckResult:
        new = record.capture_of(
            target, state, fetched, analysis, evidence, role, self.config.settings.base_url
        )
        screenshot = evidence.screenshot_sha256 if evidence and target.attach_screenshot else None
        found = record.capture_events(
            target, state, new, analysis, role, self._rules(target), screenshot
        )
        messages = self.alerts(found) if found else []
        # the analysis stored the blobs; the index row goes in on this thread:
        # one writer, no lock contention
        check = record.check_record(state, fetched, new.kind, self._since(started))
        capture_id = self.store.save_capture(
            new, check, (new.raw_sha256, analysis.text_sha256), messages
        )
        if messages and self.on_messages is not None:
            self.on_messages()
        if analysis.diff_timed_out:
            log.warning("%s: diff time budget ran out; change shown coarsely", target.name)
        duration = self._since(started)
        return record.stored_result(target, fetched, new, analysis, capture_id, duration, role)

    def _unchanged(
        self, target: Target, state: TargetState, fetched: FetchResult, started: float
    ) -> CheckResult:
        base = record.event_of(target, fetched.fetched_at, capture_id=state.last and state.last.id)
        found = events.recovery_events(self._rules(target), state.consecutive_errors, base)
        duration = self._since(started)
        self._log_check(record.check_record(state, fetched, "unchanged", duration), found)
        return record.unchanged_result(target, state, fetched, duration)

    def _error(
        self,
        target: Target,
        state: TargetState | None,
        message: str,
        started: float,
        role: DocumentRole | None = None,
        http_status: int | None = None,
        attempts: int = 1,
        kind: str | None = None,
    ) -> CheckResult:
        now = self.clock.now()
        duration = self._since(started)
        if state is not None:
            check = CheckRecord(
                target_id=state.id,
                checked_at=now,
                status="error",
                duration=duration,
                http_status=http_status,
                attempts=attempts,
                error=message,
            )
            base = record.event_of(target, now, error=message, blocked=kind == "blocked")
            found = (
                []  # a document's failures feed the removal rules, not error alerts
                if role is not None
                else events.error_events(self._rules(target), state.consecutive_errors, base)
            )
            self._log_check(check, found)
        return CheckResult(
            target=target.name,
            url=target.url,
            status="error",
            fetched_at=now,
            http_status=http_status,
            duration=duration,
            error=message,
            error_kind=kind,
        )

    def _since(self, started: float) -> float:
        return self.clock.monotonic() - started
