"""``watcher test``: a target checked on the same path as ``watcher check`` (its
fetch mode, selectors, ignore rules and keywords), against a scratch store that
the caller throws away, so nothing is stored where the user keeps evidence."""

from __future__ import annotations

from dataclasses import dataclass, replace

from watcher.analysis.analyse import ExtractionProblem, document_of
from watcher.analysis.workers import make_analyzer
from watcher.check.checker import Checker
from watcher.check.options import fetch_options, page_of
from watcher.check.pages import RENDERED_HEADER, Pages
from watcher.config import Config, Target
from watcher.core.budget import OverBudget
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.core.models import CheckResult, FetchResult, Link
from watcher.fetch.client import FetchError
from watcher.fetch.visits import Observed
from watcher.listings.follow import DocumentRole, document_target, read_items
from watcher.listings.items import Item, ListingError
from watcher.store.index import Store


@dataclass(frozen=True, slots=True)
class Trial:
    """What a check of the target would find and store."""

    result: CheckResult
    text: str  # the text of record, as the check stores it
    encoding: str | None
    links: tuple[Link, ...] = ()  # links in the selected region
    items: tuple[Item, ...] = ()  # a listing: the items it would follow
    items_error: str | None = None  # a listing whose items could not be read
    first: Trial | None = None  # a listing: its first item, checked as a document
    observed: tuple[Observed, ...] = ()  # browser fetch: JSON the page's scripts fetched


async def trial(
    config: Config, store: Store, pages: Pages, target: Target, clock: Clock = SYSTEM_CLOCK
) -> Trial:
    """Check ``target`` once, and a listing's first item, as new, in ``store`` (a scratch one)."""
    analyzer = make_analyzer(config.keywords, store.blobs.location, pages=1)
    try:
        checker = Checker(config, store, pages, analyzer, clock=clock, observe=True)
        result, page, observed = await checker.page(target)
        found = replace(_trial(store, target, result, page), observed=observed)
        if target.follow is None or page is None:
            return found
        options = fetch_options(target, allow_private=config.settings.allow_private)
        try:
            items = await read_items(target, page, lambda url: pages.fetcher.fetch(url, options))
        except (ListingError, FetchError) as exc:
            return replace(found, items_error=str(exc))
        first = None
        if items:
            item = items[0]
            role = DocumentRole(target.title, item.date, target.follow.attachments)
            document = document_target(target, item)
            checked, got, _ = await checker.page(document, role)
            first = _trial(store, document, checked, got)
        return replace(found, items=tuple(items), first=first)
    finally:
        analyzer.close()


def _trial(store: Store, target: Target, result: CheckResult, page: FetchResult | None) -> Trial:
    if result.capture_id is None:
        return Trial(result, "", None)
    capture = store.capture(result.capture_id)
    return Trial(result, store.text(capture), capture.encoding, _links(target, page))


def _links(target: Target, page: FetchResult | None) -> tuple[Link, ...]:
    """The links of the selected region, for tuning a listing's ``follow.links``."""
    if page is None:
        return ()
    read = page_of(target, page, None)
    if RENDERED_HEADER in page.headers:  # the body is the DOM, UTF-8 whatever the server said
        read = replace(read, content_type="text/html; charset=utf-8")
    try:
        document, _encoding, _source = document_of(read, links=True)
    except (ExtractionProblem, OverBudget):  # the check itself told why
        return ()
    return document.links
