"""What a check's outcome means for the people watching: events.

A pure decision from a check's result, the target's alert rules and its count
of consecutive failures: quiet by default (no alert for an unchanged page, for
a change without hits when the target asks for hits, or for every failure of a
broken site: one ``error`` after N in a row, one ``recovered`` when it works).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from watcher.core.models import TermHits
from watcher.diff.excerpt import Excerpt

EventKind = Literal[
    "changed",
    "new",
    "error",
    "recovered",
    "config",
    "test",
    "document",  # a listing's new item, fetched for the first time
    "removed",  # a document gone for good (404/410, soft 404, sent home), confirmed
    "delisted",  # an item no longer in its listing
    "restored",  # a removed document back again
]


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    target: str  # the target's name
    title: str  # the target's title, for people
    url: str
    at: datetime
    capture_id: str | None = None
    previous_id: str | None = None
    hits: tuple[TermHits, ...] = ()  # per term and direction
    added: int = 0
    removed: int = 0
    moved: int = 0  # characters that moved, neither added nor removed
    excerpt: Excerpt | None = None
    error: str | None = None
    failures: int = 0  # consecutive failed checks (error and recovered events)
    blocked: bool = False  # the error is an anti-bot answer, not an outage or a deletion
    notify: tuple[str, ...] = ()  # apprise tags; () means every channel
    page_title: str = ""  # the page's own <title>
    listing: str = ""  # for documents: the listing target's title
    listed_date: str | None = None  # for documents: the date the listing shows
    evidence_id: str | None = None  # for removals: the last good capture
    metadata: dict[str, str] | None = None  # for documents: 发文字号, dates, issuer …
    attachment_of: str | None = None  # for an attachment: the title of its notice
    attachment_sha256: str | None = None  # a screenshot to send along (attach_screenshot)


@dataclass(frozen=True, slots=True)
class Rules:
    """A target's alert settings, as the decision needs them."""

    alert: Literal["hits", "changes"] = "changes"
    alert_new: bool = False
    error_after: int = 3


def capture_events(
    status: str,
    rules: Rules,
    failures_before: int,
    base: Event,
    *,
    document: bool = False,
) -> list[Event]:
    """Events for a check that stored a capture (``new`` / ``changed`` / ``unchanged``).

    ``base`` carries the capture's details with any kind; the decision picks kinds.
    A listing's new document is a ``document`` event (with hits, or any, by ``alert``).
    """
    events = recovery_events(rules, failures_before, base)
    if status == "new" and document:
        if rules.alert == "changes" or base.hits:
            events.append(_as(base, "document"))
    elif status == "new" and rules.alert_new:
        events.append(_as(base, "new"))
    elif status == "changed" and (rules.alert == "changes" or _added_or_removed(base.hits)):
        events.append(_as(base, "changed"))
    return events


def recovery_events(rules: Rules, failures_before: int, base: Event) -> list[Event]:
    """A ``recovered`` event when a check succeeds after an ``error`` alert went out."""
    if failures_before >= rules.error_after:
        return [_as(base, "recovered", failures=failures_before, hits=(), excerpt=None)]
    return []


def error_events(rules: Rules, failures_before: int, base: Event) -> list[Event]:
    """One ``error`` event when the failures in a row reach ``error_after``, not again."""
    failures = failures_before + 1
    if failures == rules.error_after:
        return [_as(base, "error", failures=failures)]
    return []


def _added_or_removed(hits: Sequence[TermHits]) -> bool:
    return bool(hits)  # hits are only where the change added or removed a term


def _as(base: Event, kind: EventKind, **changes: object) -> Event:
    return replace(base, kind=kind, **changes)  # type: ignore[arg-type]
