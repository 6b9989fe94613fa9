"""One target's check, and "run these targets once" as a plain function.

fetch → (hash: unchanged bytes stop here) → decode → extract → store → diff →
keywords → a ``CheckResult``. This is the one place that decides new /
changed / unchanged / error. The CLI calls ``run_once`` directly; the
scheduler only calls it on a timer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from watcher.blobs import sha256
from watcher.config import Config, Target
from watcher.decode import decode_html
from watcher.diff import diff_texts
from watcher.extract import extract_with_report
from watcher.fetch import Fetcher, FetchError, FetchOptions
from watcher.keywords import KeywordMatcher, find_hits
from watcher.models import CheckResult, Document, FetchResult, Hit
from watcher.store import CheckRecord, NewCapture, Store, TargetState

log = logging.getLogger(__name__)


class ExtractionProblem(Exception):
    """The page came back but yields no text to compare (e.g. ``select`` matched nothing)."""


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the CPU-bound stage found in a new version of a page."""

    document: Document
    encoding: str
    encoding_source: str
    text_changed: bool
    added: int
    removed: int
    hits: list[Hit]
    diff_timed_out: bool


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


def document_of(target: Target, fetched: FetchResult) -> tuple[Document, str, str]:
    """Bytes → text Document, by content type (HTML by default; JSON pretty-printed)."""
    content_type = fetched.header("content-type")
    decoded = decode_html(fetched.body, content_type)
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime.endswith("json"):
        return _json_document(decoded.text), decoded.encoding, decoded.source
    document, warnings = extract_with_report(
        decoded.text,
        fetched.final_url,
        select=target.select,
        exclude=target.exclude,
        ignore=target.ignore,
    )
    if target.select and not document.text:
        raise ExtractionProblem("; ".join(warnings) or "select matched no text")
    return document, decoded.encoding, decoded.source


def _json_document(text: str) -> Document:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ExtractionProblem(f"response is not valid JSON: {exc}") from exc
    pretty = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)
    return Document(title="", text=pretty)


def analyse(
    target: Target,
    fetched: FetchResult,
    previous_text: str | None,
    matcher: KeywordMatcher,
    diff_timeout: float,
) -> Analysis:
    """The CPU-bound part of a check; runs in a worker thread, off the event loop."""
    document, encoding, source = document_of(target, fetched)
    if previous_text is None:
        hits = find_hits(matcher, None, document.text, None)
        added = len(document.text) - document.text.count("\n")
        return Analysis(document, encoding, source, True, added, 0, hits, False)
    if previous_text == document.text:
        return Analysis(document, encoding, source, False, 0, 0, [], False)
    diff = diff_texts(previous_text, document.text, timeout=diff_timeout)
    hits = find_hits(matcher, previous_text, document.text, diff)
    return Analysis(
        document, encoding, source, True, diff.added, diff.removed, hits, diff.timed_out
    )


class Checker:
    """Checks targets against one store with one fetcher; keeps no state between checks."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self.matcher = KeywordMatcher(config.keywords)
        # checks that stored nothing are written in batches: one transaction per
        # cycle instead of one per target (they are a log, not evidence)
        self._pending: list[CheckRecord] = []

    def flush(self) -> None:
        """Write the buffered check records."""
        pending, self._pending = self._pending, []
        self.store.save_checks(pending)

    def _log_check(self, record: CheckRecord) -> None:
        self._pending.append(record)
        if len(self._pending) >= 500:
            self.flush()

    async def check(self, target: Target, state: TargetState | None = None) -> CheckResult:
        """Check one target; any failure becomes an ``error`` result, never an exception.

        ``state`` may be passed when the caller loaded many targets' states at once.
        """
        started = time.perf_counter()
        try:
            if state is None:
                state = self.store.target_state(target.name, target.url, self.clock())
            return await self._check(target, state, started)
        except Exception as exc:  # a bug must not stop the other targets
            log.exception("%s: internal error", target.name)
            return self._error(target, state, f"internal error: {exc!r}", started)

    async def _check(self, target: Target, state: TargetState, started: float) -> CheckResult:
        try:
            # conditional headers only when there is a capture to fall back on
            reuse = state.last is not None
            options = fetch_options(
                target, state.etag if reuse else None, state.last_modified if reuse else None
            )
            fetched = await self.fetcher.fetch(target.url, options)
        except FetchError as exc:
            return self._error(target, state, str(exc), started, exc.status_code, exc.attempts)
        digest = sha256(fetched.body) if not fetched.not_modified else ""
        if state.last is not None and (fetched.not_modified or digest == state.last.raw_sha256):
            return self._unchanged(target, state, fetched, started)
        previous_text = await asyncio.to_thread(self.store.text, state.last) if state.last else None
        matcher = self.matcher.restricted(target.keywords)
        try:
            analysis = await asyncio.to_thread(
                analyse, target, fetched, previous_text, matcher, self.config.settings.diff_timeout
            )
        except ExtractionProblem as exc:
            return self._error(target, state, str(exc), started, fetched.status_code)
        return await self._store(target, state, fetched, digest, analysis, started)

    async def _store(
        self,
        target: Target,
        state: TargetState,
        fetched: FetchResult,
        digest: str,
        analysis: Analysis,
        started: float,
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
            text=analysis.document.text,
            raw_sha256=digest,
            content_type=fetched.header("content-type"),
            encoding=analysis.encoding,
            encoding_source=analysis.encoding_source,
            title=analysis.document.title,
            previous_id=state.last.id if state.last else None,
            added=analysis.added,
            removed=analysis.removed,
            hits=analysis.hits,
        )
        digests = await asyncio.to_thread(self.store.write_blobs, new)
        # index writes stay on this thread: one writer, no lock contention
        record = self._record(state, fetched, status, started)
        capture_id = self.store.save_capture(new, record, digests)
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
            added=analysis.added if status != "new" else 0,
            removed=analysis.removed,
            hits=analysis.hits,
            title=analysis.document.title,
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
        self._log_check(self._record(state, fetched, "unchanged", started))
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
            self._log_check(record)
        return CheckResult(
            target=target.name,
            url=target.url,
            status="error",
            fetched_at=now,
            http_status=http_status,
            duration=time.perf_counter() - started,
            error=message,
        )


async def run_once(
    config: Config,
    store: Store,
    fetcher: Fetcher,
    targets: Sequence[Target] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Check the given targets (default: all) concurrently, once; results in config order."""
    checker = Checker(config, store, fetcher)
    chosen = list(config.targets if targets is None else targets)
    states = store.target_states([(t.name, t.url) for t in chosen], checker.clock())

    async def one(target: Target) -> CheckResult:
        result = await checker.check(target, states[target.name])
        _log_result(result)
        if on_result is not None:
            on_result(result)
        return result

    try:
        return list(await asyncio.gather(*(one(t) for t in chosen)))
    finally:
        checker.flush()


def _log_result(result: CheckResult) -> None:
    log.info(
        "%s %s in %.2fs, %d bytes, %d hits%s",
        result.target,
        result.status,
        result.duration,
        result.size,
        len(result.hits),
        f": {result.error}" if result.error else "",
    )
