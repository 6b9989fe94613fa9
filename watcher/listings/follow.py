"""A listing target's documents: new items fetched, removals confirmed, delistings told.

After a listing page's own check (its text is diffed like any page), its items
are compared with the documents it listed before:

- items seen for the first time become documents; the first check of a listing
  only records them (a baseline, no alerts) unless ``follow.baseline`` is off;
- new documents are fetched, at most ``follow.max_new`` per check; the rest
  are deferred to the next checks;
- documents are checked again every ``follow.recheck`` for ``follow.recheck_for``
  (later edits are diffed like any page), and so are suspected removals;
- a document answering 404/410, a soft 404, or a redirect to the site's home is
  *suspected* removed; after ``follow.removal_checks`` such checks spanning
  ``follow.removal_after`` it is *removed* (an alert with the last good capture);
  blocks, 5xx and timeouts never count; a removed document that answers again
  is *restored*;
- an item missing from the listing while items listed below it remain is
  *delisted* (one that scrolled off the end is not).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from watcher.alerts.events import Event
from watcher.analysis.decode import decode_html
from watcher.config import Target
from watcher.core.clock import Clock
from watcher.core.models import (
    CheckResult,
    DocumentCheck,
    DocumentFate,
    FetchResult,
    ListingOutcome,
)
from watcher.fetch.client import FetchError
from watcher.listings.items import Item, ListingError, items_of, listed_metadata, next_page
from watcher.store.documents import DocumentRow
from watcher.store.index import Store, TargetState
from watcher.store.outbox import NewMessage

log = logging.getLogger(__name__)

REMOVAL_STATUS = (404, 410)


@dataclass(frozen=True, slots=True)
class DocumentRole:
    """What a document's check needs to know of its listing."""

    listing_title: str
    listed_date: str | None = None
    attachments: bool = False  # report its attachment links
    attachment_of: str | None = None  # for an attachment: its notice's title
    listed: dict[str, str] | None = None  # the metadata its JSON listing gave (pcode …)


CheckDocument = Callable[[Target, TargetState, DocumentRole], Awaitable[CheckResult]]
FetchPage = Callable[[str], Awaitable[FetchResult]]
Alerts = Callable[[Sequence[Event]], list[NewMessage]]


@dataclass
class _Tally:
    """The fates of one listing check's documents, gathered as they are settled."""

    new: list[DocumentCheck] = field(default_factory=list)
    changed: list[DocumentCheck] = field(default_factory=list)
    suspected: list[DocumentFate] = field(default_factory=list)
    removed: list[DocumentFate] = field(default_factory=list)
    delisted: list[DocumentFate] = field(default_factory=list)
    restored: list[DocumentFate] = field(default_factory=list)

    def outcome(self, deferred: Sequence[DocumentRow]) -> ListingOutcome:
        return ListingOutcome(
            new=tuple(self.new),
            changed=tuple(self.changed),
            suspected=tuple(self.suspected),
            removed=tuple(self.removed),
            delisted=tuple(self.delisted),
            restored=tuple(self.restored),
            deferred=tuple(_fate(d) for d in deferred),
        )


class Follower:
    """Follows one listing's documents. It checks each with ``check_document`` and
    fetches further listing pages with ``fetch_page``; what they tell becomes
    messages through ``alerts``, written with the document's new state."""

    def __init__(
        self,
        store: Store,
        check_document: CheckDocument,
        fetch_page: FetchPage,
        alerts: Alerts,
        clock: Clock,
    ) -> None:
        self.store = store
        self.documents = store.documents
        self.check_document = check_document
        self.fetch_page = fetch_page
        self.alerts = alerts
        self.clock = clock

    async def follow(
        self, listing: Target, state: TargetState, status: str, page: FetchResult | None
    ) -> ListingOutcome:
        """Update the listing's documents after its own check (``status``); ``page`` is
        its fetched page when its items are to be read again (it changed)."""
        follow = listing.follow
        assert follow is not None
        now = self.clock.now()
        tally = _Tally()
        known = self.documents.of_listing(state.id, kind="document")
        if page is not None and status != "error":
            try:
                items = await read_items(listing, page, self.fetch_page)
            except (ListingError, FetchError) as exc:
                log.warning("%s: cannot read the listing's items: %s", listing.name, exc)
                items = None
            if items is not None:
                first = not known and status == "new"
                known = self._register(listing, state, items, known, now, first, tally)
        everything = {**self.documents.of_listing(state.id, kind="attachment"), **known}
        due = self._due(listing, everything, now)
        if due:
            await self._check_documents(listing, state.id, due, now, tally)
        waiting = [d for d in self.documents.of_listing(state.id).values() if d.state == "deferred"]
        return tally.outcome(waiting)

    # -- the listing's items ------------------------------------------------------------

    def _register(
        self,
        listing: Target,
        state: TargetState,
        items: list[Item],
        known: dict[str, DocumentRow],
        now: datetime,
        first: bool,
        tally: _Tally,
    ) -> dict[str, DocumentRow]:
        follow = listing.follow
        assert follow is not None
        seen = {item.url: position for position, item in enumerate(items)}
        new = [
            (item.url, item.title, item.date, seen[item.url])
            for item in items
            if item.url not in known
        ]
        baseline = first and follow.baseline
        added = self.documents.add(
            listing.name, state.id, new, "baseline" if baseline else "deferred", now
        )
        again = [
            (d.target_id, seen[d.url], _title(items, d.url) or d.title, _date(items, d.url))
            for d in known.values()
            if d.url in seen
        ]
        self.documents.listed(again, now)
        self._keep_fields(items, [*known.values(), *added])
        self._delistings(listing, items, known, now, tally)
        if baseline and added:
            log.info("%s: %d items recorded as the baseline", listing.name, len(added))
        out = dict(known)
        out.update({d.url: d for d in added})
        return out

    def _keep_fields(self, items: list[Item], rows: list[DocumentRow]) -> None:
        """A JSON listing's own fields of each item, stored with its document when new
        or changed (the fields of earlier listings stay in the listing's captures)."""
        given = {item.url: item.fields for item in items if item.fields}
        changed = [
            (row.target_id, given[row.url])
            for row in rows
            if row.url in given and given[row.url] != row.listed_fields
        ]
        self.documents.keep_fields(changed)

    def _delistings(
        self,
        listing: Target,
        items: list[Item],
        known: dict[str, DocumentRow],
        now: datetime,
        tally: _Tally,
    ) -> None:
        """Known items missing while an item listed below them is still there."""
        present = {item.url for item in items}
        still = [d.position for d in known.values() if d.url in present and d.position is not None]
        lowest = max(still, default=-1)
        for doc in known.values():
            if doc.url in present or doc.delisted_at is not None or doc.position is None:
                continue
            if doc.position < lowest:  # an item below it is still listed: it was taken out
                event = _event(listing, doc, "delisted", now)
                self.documents.update(doc.target_id, self.alerts([event]), delisted_at=now)
                tally.delisted.append(_fate(doc))
                log.info("%s: delisted %s", listing.name, doc.url)

    # -- the documents ------------------------------------------------------------------

    def _due(
        self, listing: Target, known: dict[str, DocumentRow], now: datetime
    ) -> list[DocumentRow]:
        follow = listing.follow
        assert follow is not None
        deferred = sorted(
            (d for d in known.values() if d.state == "deferred"),
            key=lambda d: (d.first_seen_at, d.position or 0),
        )[: follow.max_new]
        recheck_until = timedelta(seconds=follow.recheck_for)
        again = [
            d
            for d in known.values()
            if d.state in ("active", "suspected", "removed")
            and (d.state != "active" or now - d.first_seen_at <= recheck_until)
            and (d.next_check_at is None or d.next_check_at <= now)
        ]
        return deferred + again

    async def _check_documents(
        self,
        listing: Target,
        listing_id: int,
        due: list[DocumentRow],
        now: datetime,
        tally: _Tally,
    ) -> None:
        follow = listing.follow
        assert follow is not None
        states = self.store.target_states([(d.name, d.url) for d in due], now)
        rows = self.documents.of_listing(listing_id)
        parents = {d.target_id: d.title for d in rows.values()}

        async def one(doc: DocumentRow) -> tuple[DocumentRow, CheckResult]:
            wants_files = follow.attachments and doc.kind == "document"
            parent = parents.get(doc.parent_id) if doc.parent_id else None
            listed = listed_metadata(rows[doc.url].listed_fields if doc.url in rows else None)
            role = DocumentRole(listing.title, doc.listed_date, wants_files, parent, listed)
            target = document_target(listing, doc)
            return doc, await self.check_document(target, states[doc.name], role)

        with_files: list[tuple[DocumentRow, CheckResult]] = []
        for doc, outcome in await asyncio.gather(*(one(d) for d in due)):
            self._settle(listing, doc, outcome, tally)
            if outcome.attachment_links and doc.kind == "document":
                with_files.append((doc, outcome))
        found = self._attachments(listing, listing_id, with_files, now)
        if found:  # a new notice's files, fetched with it (within the same cap)
            room = max(follow.max_new - sum(1 for d in due if d.state == "deferred"), 0)
            await self._check_documents(listing, listing_id, found[:room], now, tally)

    def _attachments(
        self,
        listing: Target,
        listing_id: int,
        found: list[tuple[DocumentRow, CheckResult]],
        now: datetime,
    ) -> list[DocumentRow]:
        """Register the attachment links of checked documents that are new."""
        known = self.documents.of_listing(listing_id, kind="attachment")
        added: list[DocumentRow] = []
        for doc, outcome in found:
            new = [
                (url, text or url.rsplit("/", 1)[-1], None, None)
                for url, text in dict(outcome.attachment_links).items()
                if url not in known
            ]
            rows = self.documents.add(
                listing.name,
                listing_id,
                new,
                "deferred",
                now,
                kind="attachment",
                parent_id=doc.target_id,
            )
            known.update({r.url: r for r in rows})
            added.extend(rows)
        return added

    def _settle(
        self, listing: Target, doc: DocumentRow, outcome: CheckResult, tally: _Tally
    ) -> None:
        """A checked document's new standing, with the alerts its change causes."""
        follow = listing.follow
        assert follow is not None
        now = self.clock.now()
        next_check = now + timedelta(seconds=follow.recheck)
        # the same bytes as the page that made it suspect (a soft 404 page) are still gone
        still_gone = (
            outcome.status == "unchanged"
            and doc.state in ("suspected", "removed")
            and outcome.capture_id != doc.last_good_capture_id
        )
        if still_gone or _gone(outcome, doc.url):
            self._gone(listing, doc, now, next_check, tally)
        elif outcome.status == "error":  # blocked, 5xx, timeouts: never a removal
            self.documents.update(doc.target_id, next_check_at=next_check)
        else:
            self._answered(listing, doc, outcome, now, next_check, tally)

    def _gone(
        self,
        listing: Target,
        doc: DocumentRow,
        now: datetime,
        next_check: datetime,
        tally: _Tally,
    ) -> None:
        """One more removal signal: suspected, or removed once it has persisted."""
        follow = listing.follow
        assert follow is not None
        failed = doc.failed_checks + 1
        since = doc.state_since if doc.state == "suspected" else now
        confirmed = (
            doc.state != "removed"
            and failed >= follow.removal_checks
            and now - (since or now) >= timedelta(seconds=follow.removal_after)
        )
        state = "removed" if confirmed or doc.state == "removed" else "suspected"
        messages: list[NewMessage] = []
        if confirmed:
            messages = self.alerts([_event(listing, doc, "removed", now)])
            tally.removed.append(_fate(doc, failed))
            log.info("%s: removed %s (%d failed checks)", listing.name, doc.url, failed)
        elif state == "suspected":
            tally.suspected.append(_fate(doc, failed))
        self.documents.update(
            doc.target_id,
            messages,
            state=state,
            state_since=since if state == "suspected" else (now if confirmed else since),
            failed_checks=failed,
            next_check_at=next_check,
        )

    def _answered(
        self,
        listing: Target,
        doc: DocumentRow,
        outcome: CheckResult,
        now: datetime,
        next_check: datetime,
        tally: _Tally,
    ) -> None:
        """The document answered with content: active (restored if it was removed)."""
        messages = []
        if doc.state == "removed":
            messages = self.alerts([_event(listing, doc, "restored", now)])
            tally.restored.append(_fate(doc))
        self.documents.update(
            doc.target_id,
            messages,
            state="active",
            state_since=now if doc.state != "active" else doc.state_since,
            failed_checks=0,
            last_good_capture_id=outcome.capture_id or doc.last_good_capture_id,
            next_check_at=next_check,
        )
        first = doc.state in ("deferred", "baseline") or outcome.status == "new"
        if first or outcome.status == "changed":
            checked = DocumentCheck(
                url=doc.url,
                title=outcome.title or doc.title,
                status="new" if first else "changed",
                capture_id=outcome.capture_id,
                hits=outcome.hits,
                kind=doc.kind,
                warnings=outcome.warnings,
                metadata=outcome.metadata,
            )
            (tally.new if first else tally.changed).append(checked)


async def read_items(listing: Target, first: FetchResult, fetch_page: FetchPage) -> list[Item]:
    """Items of every listing page followed (``follow.pages``), in order."""
    follow = listing.follow
    assert follow is not None
    found: list[Item] = []
    fetched, number = first, 1
    while True:
        content_type = fetched.header("content-type")
        text = decode_html(fetched.body, content_type).text
        found.extend(
            await asyncio.to_thread(items_of, text, content_type, fetched.final_url, follow)
        )
        url = next_page(text, fetched.final_url, follow, number)
        if url is None:
            return found
        fetched = await fetch_page(url)
        number += 1


def document_target(listing: Target, doc: DocumentRow | Item) -> Target:
    """A listing's document as a target: the listing's settings, the document's page."""
    from watcher.store.documents import document_name

    follow = listing.follow
    assert follow is not None
    name = doc.name if isinstance(doc, DocumentRow) else document_name(listing.name, doc.url)
    return listing.model_copy(
        update={
            "name": name,
            "url": doc.url,
            "title": doc.title or doc.url,
            "select": follow.select,
            "exclude": follow.exclude,
            "follow": None,
            "alert_new": False,
        }
    )


def _event(listing: Target, doc: DocumentRow, kind: str, now: datetime) -> Event:
    return Event(
        kind,  # type: ignore[arg-type]
        doc.name,
        doc.title or doc.url,
        doc.url,
        now,
        capture_id=doc.last_good_capture_id,
        evidence_id=doc.last_good_capture_id,
        notify=listing.notify,
        listing=listing.title,
        listed_date=doc.listed_date,
    )


def _fate(doc: DocumentRow, failed_checks: int | None = None) -> DocumentFate:
    return DocumentFate(
        url=doc.url,
        title=doc.title or doc.url,
        evidence_id=doc.last_good_capture_id,
        failed_checks=doc.failed_checks if failed_checks is None else failed_checks,
    )


def _gone(outcome: CheckResult, url: str) -> bool:
    """A removal signal: 404/410, a soft 404, or a redirect to the site's home page."""
    if outcome.status == "error":
        return outcome.error_kind == "http" and outcome.http_status in REMOVAL_STATUS
    if outcome.looks_removed:
        return True
    final = outcome.final_url or url
    return final != url and urlsplit(final).path in ("", "/", "/index.html", "/index.htm")


def _title(items: list[Item], url: str) -> str | None:
    return next((i.title for i in items if i.url == url), None)


def _date(items: list[Item], url: str) -> str | None:
    return next((i.date for i in items if i.url == url), None)
