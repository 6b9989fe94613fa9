"""A listing target's documents: new items fetched, removals confirmed, delistings told.

After a listing page's own check (its text is diffed like any page), its items
are compared with the documents it listed before:

- items seen for the first time become documents; the first check of a listing
  records them as a baseline (no alerts) unless ``follow.baseline`` is off, and
  archives them in the background, ``ARCHIVE_PER_CHECK`` per check, quietly: no
  alert for what was already there, but evidence of it;
- new documents are fetched, at most ``follow.max_new`` per check; the rest
  are deferred to the next checks;
- documents are checked again every ``follow.recheck`` for ``follow.recheck_for``
  (later edits are diffed like any page), and so are suspected removals;
- a document answering 404/410, a soft 404, or a redirect to the site's home is
  *suspected* removed; after ``follow.removal_checks`` such checks spanning
  ``follow.removal_after`` it is *removed* (an alert with the last good capture);
  blocks, 5xx and timeouts never count; a removed document that answers again
  is *restored*. Only a captured document can be gone: one that never answered
  with content is *broken*; one that answers with a challenge is *blocked*;
- an item missing from the listing while items listed below it remain is
  *delisted* (one that scrolled off the end is not), and checked at once;
- a document that ``follow.select`` does not fit is captured whole, and that is
  told once.

Every change of a document's state is logged (``documents.Fate``) with what was
seen, and reported in the check's ``ListingOutcome.fates``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from watcher.alerts.events import Event
from watcher.analysis.decode import decode_html
from watcher.config import Target
from watcher.core.budget import count_elements
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
from watcher.store.documents import DocumentRow, Fate
from watcher.store.index import Store, TargetState
from watcher.store.outbox import NewMessage

log = logging.getLogger(__name__)

REMOVAL_STATUS = (404, 410)
ARCHIVE_PER_CHECK = 10  # baseline documents archived per listing per check


@dataclass(frozen=True, slots=True)
class DocumentRole:
    """What a document's check needs to know of its listing."""

    listing_title: str
    listed_date: str | None = None
    attachments: bool = False  # report its attachment links
    attachment_of: str | None = None  # for an attachment: its notice's title
    listed: dict[str, str] | None = None  # the metadata its JSON listing gave (pcode …)
    quiet: bool = False  # archived as evidence of the baseline: no alerts


CheckDocument = Callable[[Target, TargetState, DocumentRole], Awaitable[CheckResult]]
# documents handed to a job queue instead of checked here (``watcher worker``): each is
# then checked by its own job, through ``Follower.check_one``
DeferDocuments = Callable[[Target, Sequence[DocumentRow]], Awaitable[int]]
FetchPage = Callable[[str], Awaitable[FetchResult]]
Alerts = Callable[[Sequence[Event]], list[NewMessage]]


@dataclass
class _Tally:
    """The fates of one listing check's documents, gathered as they are settled."""

    listing_id: int
    at: datetime  # the check's time, shared by its entries in the log
    new: list[DocumentCheck] = field(default_factory=list)
    changed: list[DocumentCheck] = field(default_factory=list)
    suspected: list[DocumentFate] = field(default_factory=list)
    removed: list[DocumentFate] = field(default_factory=list)
    delisted: list[DocumentFate] = field(default_factory=list)
    restored: list[DocumentFate] = field(default_factory=list)
    blocked: list[DocumentFate] = field(default_factory=list)
    broken: list[DocumentFate] = field(default_factory=list)
    fates: list[DocumentFate] = field(default_factory=list)
    delisted_ids: set[int] = field(default_factory=set)

    def told(
        self, doc: DocumentRow, state: str, reason: str | None, failed: int | None = None
    ) -> tuple[DocumentFate, Fate]:
        """A state change: in the outcome, and as the log's entry."""
        fate = replace(_fate(doc, failed), state=state, reason=reason)  # type: ignore[arg-type]
        self.fates.append(fate)
        entry = Fate(self.listing_id, self.at, state, reason, doc.last_good_capture_id)
        return fate, entry

    def outcome(self, deferred: Sequence[DocumentRow]) -> ListingOutcome:
        return ListingOutcome(
            new=tuple(self.new),
            changed=tuple(self.changed),
            suspected=tuple(self.suspected),
            removed=tuple(self.removed),
            delisted=tuple(self.delisted),
            restored=tuple(self.restored),
            blocked=tuple(self.blocked),
            broken=tuple(self.broken),
            deferred=tuple(_fate(d) for d in deferred),
            fates=tuple(self.fates),
        )


class Follower:
    """Follows one listing's documents. It checks each with ``check_document`` and
    fetches further listing pages with ``fetch_page``; what they tell becomes
    messages through ``alerts``, written with the document's new state. Given
    ``defer``, the documents due are handed to it instead, each to be checked by a job
    of its own (``check_one``), so no two processes check one document at once."""

    def __init__(
        self,
        store: Store,
        check_document: CheckDocument,
        fetch_page: FetchPage,
        alerts: Alerts,
        clock: Clock,
        defer: DeferDocuments | None = None,
    ) -> None:
        self.defer = defer
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
        tally = _Tally(state.id, now)
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
        due = self._due(listing, everything, now, tally.delisted_ids)
        if due and self.defer is not None:
            queued = await self.defer(listing, due)
            log.info("%s: %d of %d documents due queued as jobs", listing.name, queued, len(due))
        elif due:
            await self._check_documents(listing, state.id, due, now, tally)
        waiting = [d for d in self.documents.of_listing(state.id).values() if d.state == "deferred"]
        return tally.outcome(waiting)

    async def check_one(self, listing: Target, listing_id: int, name: str) -> ListingOutcome | None:
        """One document of the listing checked and settled, as its own job does it; None
        when the listing no longer has it."""
        rows = self.documents.of_listing(listing_id).values()
        doc = next((d for d in rows if d.name == name), None)
        if doc is None:
            return None
        tally = _Tally(listing_id, self.clock.now())
        await self._check_documents(listing, listing_id, [doc], tally.at, tally)
        return tally.outcome(())

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
                fate, entry = tally.told(doc, "delisted", "no longer listed; items below it are")
                self.documents.update(doc.target_id, self.alerts([event]), entry, delisted_at=now)
                tally.delisted.append(fate)
                tally.delisted_ids.add(doc.target_id)  # checked now: is it gone too?
                log.info("%s: delisted %s", listing.name, doc.url)

    # -- the documents ------------------------------------------------------------------

    def _due(
        self, listing: Target, known: dict[str, DocumentRow], now: datetime, delisted: set[int]
    ) -> list[DocumentRow]:
        follow = listing.follow
        assert follow is not None
        order = lambda d: (d.first_seen_at, d.position or 0)  # noqa: E731
        deferred = sorted((d for d in known.values() if d.state == "deferred"), key=order)
        deferred = deferred[: follow.max_new]
        baseline = sorted((d for d in known.values() if d.state == "baseline"), key=order)
        baseline = baseline[:ARCHIVE_PER_CHECK]  # the rest on later checks
        recheck_until = timedelta(seconds=follow.recheck_for)
        again = [
            d
            for d in known.values()
            if d.state in ("active", "broken", "blocked", "suspected", "removed")
            and (d.state not in ("active", "broken") or now - d.first_seen_at <= recheck_until)
            and (d.next_check_at is None or d.next_check_at <= now)
        ]
        chosen = {d.target_id for d in (*deferred, *baseline, *again)}
        taken_out = [d for d in known.values() if d.target_id in delisted - chosen]
        return deferred + baseline + again + taken_out

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
            quiet = doc.state == "baseline"
            role = DocumentRole(
                listing.title, doc.listed_date, wants_files, parent, listed, quiet=quiet
            )
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
            if self.defer is not None:
                await self.defer(listing, found[:room])
            else:
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
                "baseline" if doc.state == "baseline" else "deferred",  # quiet as its notice
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
        if outcome.select_missed and not doc.select_missed:
            log.warning(
                "%s: follow.select %s matched nothing in %s; its whole page was captured",
                listing.name,
                ", ".join(follow.select),
                doc.url,
            )
            self.documents.update(doc.target_id, select_missed=True)  # told once
        # the same bytes as the page that made it suspect (a soft 404 page) are still gone
        still_gone = (
            outcome.status == "unchanged"
            and doc.state in ("suspected", "removed", "broken")
            and outcome.capture_id != doc.last_good_capture_id
        )
        reason = (doc.reason or "the same page as before") if still_gone else None
        reason = reason or removal_reason(outcome, doc.url)
        if reason and doc.last_good_capture_id is None:
            self._broken(doc, reason, next_check, tally)  # never captured: no evidence
        elif reason:
            self._gone(listing, doc, reason, now, next_check, tally)
        elif outcome.status == "error" and outcome.error_kind == "blocked":
            self._blocked(doc, _what(outcome.error), now, next_check, tally)
        elif outcome.status == "error":  # 5xx, timeouts: never a removal
            self.documents.update(doc.target_id, next_check_at=next_check)
        else:
            self._answered(listing, doc, outcome, now, next_check, tally)

    def _broken(self, doc: DocumentRow, reason: str, next_check: datetime, tally: _Tally) -> None:
        """A link that never worked: broken, never a removal (nothing was there)."""
        entry = None
        if doc.state != "broken":
            fate, entry = tally.told(doc, "broken", reason, doc.failed_checks + 1)
            tally.broken.append(fate)
            log.info("%s: broken link %s (%s)", doc.name, doc.url, reason)
        self.documents.update(
            doc.target_id,
            (),
            entry,
            state="broken",
            reason=reason,
            state_since=tally.at if entry else doc.state_since,
            failed_checks=doc.failed_checks + 1,
            next_check_at=next_check,
        )

    def _blocked(
        self, doc: DocumentRow, reason: str, now: datetime, next_check: datetime, tally: _Tally
    ) -> None:
        """A challenge instead of the page: blocked, never a version, never a removal.
        A confirmed removal stays one (a challenge says nothing either way)."""
        if doc.state in ("blocked", "removed"):
            self.documents.update(doc.target_id, next_check_at=next_check)
            return
        fate, entry = tally.told(doc, "blocked", reason)
        tally.blocked.append(fate)
        self.documents.update(
            doc.target_id,
            (),
            entry,
            state="blocked",
            reason=reason,
            state_since=now,
            next_check_at=next_check,
        )

    def _gone(
        self,
        listing: Target,
        doc: DocumentRow,
        reason: str,
        now: datetime,
        next_check: datetime,
        tally: _Tally,
    ) -> None:
        """One more removal signal: suspected, or removed once it has persisted."""
        follow = listing.follow
        assert follow is not None
        failed = doc.failed_checks + 1 if doc.state in ("suspected", "removed") else 1
        since = doc.state_since if doc.state == "suspected" else now
        confirmed = (
            doc.state != "removed"
            and failed >= follow.removal_checks
            and now - (since or now) >= timedelta(seconds=follow.removal_after)
        )
        state = "removed" if confirmed or doc.state == "removed" else "suspected"
        messages: list[NewMessage] = []
        entry = None
        if confirmed:
            messages = self.alerts([_event(listing, doc, "removed", now)])
            fate, entry = tally.told(doc, "removed", reason, failed)
            tally.removed.append(fate)
            log.info("%s: removed %s (%d failed checks)", listing.name, doc.url, failed)
        elif state == "suspected":
            fate = replace(_fate(doc, failed), state="suspected", reason=reason)
            if doc.state != "suspected":  # the change of state is told once
                fate, entry = tally.told(doc, "suspected", reason, failed)
            tally.suspected.append(fate)
        self.documents.update(
            doc.target_id,
            messages,
            entry,
            state=state,
            reason=reason if entry else doc.reason,
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
        """The document answered with content: captured (restored if it was removed)."""
        messages = []
        entry = None
        if doc.state == "removed":
            messages = self.alerts([_event(listing, doc, "restored", now)])
            fate, entry = tally.told(doc, "restored", "answers with content again")
            tally.restored.append(fate)
        elif doc.state != "active":
            why = {
                "baseline": "baseline",
                "deferred": "new",
                "broken": "new",
                "suspected": "answers with content again",
                "blocked": "no challenge this time",
            }[doc.state]
            _, entry = tally.told(doc, "captured", why)
        self.documents.update(
            doc.target_id,
            messages,
            entry,
            state="active",
            reason=None if entry else doc.reason,
            state_since=now if doc.state != "active" else doc.state_since,
            failed_checks=0,
            last_good_capture_id=outcome.capture_id or doc.last_good_capture_id,
            next_check_at=next_check,
        )
        if doc.state == "baseline":
            return  # evidence of what was there already, not news
        first = doc.state in ("deferred", "broken") or outcome.status == "new"
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
        _within_element_budget(listing, fetched.final_url, text)
        found.extend(
            await asyncio.to_thread(items_of, text, content_type, fetched.final_url, follow)
        )
        url = next_page(text, fetched.final_url, follow, number)
        if url is None:
            return found
        fetched = await fetch_page(url)
        number += 1


def _within_element_budget(listing: Target, url: str, text: str) -> None:
    """A listing page is parsed whole too: over its target's budget, no items are
    read this time (a partial list would look like delisted items)."""
    tags = count_elements(text, listing.max_elements)
    if tags is not None and tags > listing.max_elements:
        raise ListingError(
            f"{url}: the listing page has {tags:,} tags, over its analysis budget of"
            f" {listing.max_elements:,} (raise max_elements for this target)"
        )


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
            "home": listing.home or listing.url,
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


def removal_reason(outcome: CheckResult, url: str) -> str | None:
    """A removal signal, named: 404/410, a soft 404, or a redirect to the site's home."""
    if outcome.status == "error":
        gone = outcome.error_kind == "http" and outcome.http_status in REMOVAL_STATUS
        return f"HTTP {outcome.http_status}" if gone else None
    if outcome.looks_removed:
        return "soft 404: the page says it does not exist"
    final = outcome.final_url or url
    if final != url and urlsplit(final).path in ("", "/", "/index.html", "/index.htm"):
        return f"redirect to the home page {final}"
    return None


def _what(error: str | None) -> str:
    """An error's detail without the URL it names: "blocked by …: HTTP 200"."""
    return (error or "blocked").split(" → ", 1)[-1]


def _title(items: list[Item], url: str) -> str | None:
    return next((i.title for i in items if i.url == url), None)


def _date(items: list[Item], url: str) -> str | None:
    return next((i.date for i in items if i.url == url), None)
