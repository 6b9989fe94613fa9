"""What a check stores and tells, built from what it found: the capture row, the
check record, the events, and the result. Pure functions: nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from watcher.alerts import events
from watcher.alerts.events import Event
from watcher.analysis.analyse import Analysis
from watcher.config import Target
from watcher.core.ids import new_id
from watcher.core.models import CheckResult, FetchResult, Status
from watcher.listings.follow import DocumentRole
from watcher.store.index import CheckRecord, NewCapture, TargetState


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the server sent first, when the text came from elsewhere (a rendered DOM);
    its blobs are stored already."""

    raw: bytes
    raw_sha256: str
    status: int
    screenshot_sha256: str | None


def status_of(state: TargetState, analysis: Analysis) -> Status:
    if state.last is None:
        return "new"
    return "changed" if analysis.text_changed else "unchanged"


def capture_of(
    target: Target,
    state: TargetState,
    fetched: FetchResult,
    analysis: Analysis,
    evidence: Evidence | None = None,
    role: DocumentRole | None = None,
    base_url: str | None = None,
) -> NewCapture:
    """The index row of a new version; with evidence (a browser fetch) the raw bytes
    are the server's first answer and the DOM the text's source. A listing's own page
    is no notice: only its documents are linked to copies elsewhere."""
    # here: the metadata readers (lxml, their patterns) are for new versions only
    from watcher.analysis.metadata import merge_listed

    raw, raw_sha256, status_code = fetched.body, analysis.raw_sha256, fetched.status_code
    if evidence is not None:
        raw, raw_sha256, status_code = evidence.raw, evidence.raw_sha256, evidence.status
    return NewCapture(
        target_id=state.id,
        kind=status_of(state, analysis),
        url=target.url,
        final_url=fetched.final_url,
        status_code=status_code,
        headers=fetched.headers,
        fetched_at=fetched.fetched_at,
        duration=fetched.duration,
        raw=raw,
        text="",
        text_size=analysis.text_size,
        raw_sha256=raw_sha256,
        content_type=fetched.header("content-type"),
        encoding=analysis.encoding,
        encoding_source=analysis.encoding_source,
        title=analysis.title,
        previous_id=state.last.id if state.last else None,
        added=analysis.added,
        removed=analysis.removed,
        hits=analysis.hits,
        id=new_id(fetched.fetched_at.timestamp()),
        metadata=merge_listed(analysis.metadata, role.listed if role else None),
        dom_sha256=analysis.raw_sha256 if evidence is not None else None,
        screenshot_sha256=evidence.screenshot_sha256 if evidence is not None else None,
        extraction_version=analysis.extraction_version,
        rules_sha256=analysis.rules_sha256,
        warnings=[dict(w) for w in analysis.warnings] or None,
        change_key=analysis.change_key,
        facts=replace(analysis.facts, notify=tuple(target.notify), base_url=base_url)
        if analysis.facts is not None and target.follow is None
        else None,
    )


def check_record(
    state: TargetState, fetched: FetchResult, status: str, duration: float
) -> CheckRecord:
    """The check log row of a check that got a page; a 304 keeps the validators."""
    return CheckRecord(
        target_id=state.id,
        checked_at=fetched.fetched_at,
        status=status,
        duration=duration,
        http_status=fetched.status_code,
        attempts=fetched.attempts,
        etag=fetched.header("etag") or (state.etag if fetched.not_modified else None),
        last_modified=fetched.header("last-modified")
        or (state.last_modified if fetched.not_modified else None),
    )


def rules_of(target: Target, error_after: int) -> events.Rules:
    return events.Rules(target.alert, target.alert_new, error_after)


def event_of(target: Target, at: datetime, **details: object) -> Event:
    """An event's common part; the decision in ``watcher.alerts.events`` sets its kind."""
    return Event(
        "changed", target.name, target.title, target.url, at, notify=target.notify, **details
    )  # type: ignore[arg-type]


def capture_events(
    target: Target,
    state: TargetState,
    new: NewCapture,
    analysis: Analysis,
    role: DocumentRole | None,
    rules: events.Rules,
    attachment_sha256: str | None,
) -> list[Event]:
    """What a new version tells: a change, a new notice, a recovery, or nothing."""
    base = event_of(
        target,
        new.fetched_at,
        capture_id=new.id,
        previous_id=new.previous_id,
        hits=analysis.hits,
        added=analysis.added,
        removed=analysis.removed,
        moved=analysis.moved,
        excerpt=analysis.excerpt,
        page_title=analysis.title,
        listing=role.listing_title if role else "",
        listed_date=role.listed_date if role else None,
        metadata=new.metadata,  # with what the listing said of it
        attachment_of=role.attachment_of if role else None,
        attachment_sha256=attachment_sha256,
    )
    if role is not None and (analysis.looks_removed or role.quiet):
        # a notice replaced by "页面不存在": the removal rules decide; a baseline
        # document archived in the background: evidence, not news
        return []
    if target.follow is not None:
        # a listing's own text changes with every new item: its documents are the
        # news (`document` events), so the listing only tells of recovery
        return events.recovery_events(rules, state.consecutive_errors, base)
    failures = 0 if role else state.consecutive_errors
    return events.capture_events(new.kind, rules, failures, base, document=role is not None)


def stored_result(
    target: Target,
    fetched: FetchResult,
    new: NewCapture,
    analysis: Analysis,
    capture_id: str,
    duration: float,
    role: DocumentRole | None,
) -> CheckResult:
    return CheckResult(
        target=target.name,
        url=target.url,
        status=new.kind,  # type: ignore[arg-type]
        fetched_at=fetched.fetched_at,
        capture_id=capture_id,
        previous_id=new.previous_id,
        final_url=fetched.final_url,
        http_status=fetched.status_code,
        duration=duration,
        size=len(fetched.body),
        added=analysis.added,
        removed=analysis.removed,
        moved=analysis.moved,
        hits=analysis.hits,
        title=analysis.title,
        looks_removed=analysis.looks_removed,
        attachment_links=analysis.attachment_links if role and role.attachments else (),
        warnings=analysis.warnings,
        metadata=new.metadata,
    )


def unchanged_result(
    target: Target, state: TargetState, fetched: FetchResult, duration: float
) -> CheckResult:
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
        duration=duration,
        size=len(fetched.body) if not fetched.not_modified else last.raw_size,
        title=last.title,
        metadata=last.metadata,
    )
