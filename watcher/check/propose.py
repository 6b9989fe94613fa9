"""Regions a new target could watch, proposed from its page, so that an analyst who
pastes a URL starts from the article or the notice list rather than a blank selector.

Reads one fetched page (and, for a page its scripts fill, the JSON its scripts
fetched); stores nothing. Each proposal is the target's keys as they would be
written in ``targets.yaml``, so the editor can show, tune and save it as it is;
a proposal the config loader would refuse is not made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from lxml import etree

from watcher.analysis.article import AUTO, article_region
from watcher.analysis.extract import extract_with_report, page_tree
from watcher.check.document import document_parts
from watcher.check.endpoints import json_listings
from watcher.check.paging import paging_of
from watcher.check.regions import (
    ListGroup,
    absolute,
    first_lines,
    link_selector,
    list_groups,
    matches,
    parse_page,
    unique_selector,
)
from watcher.config import ConfigError, Follow
from watcher.config.load import parse_config_text
from watcher.fetch.visits import Observed
from watcher.listings.items import ListingError, items_of

__all__ = ["Observed", "Proposal", "document_select", "propose"]

log = logging.getLogger(__name__)

_MAX_LISTINGS = 3  # link blocks proposed besides the main one
_MAX_TRIED = 12  # link blocks whose CSS is worked out and read back (each parses the page)
_SAMPLES = 3
_ARTICLE_MIN_BESIDE_LIST = 200  # characters: less, on a listing page, is its list or pager
_ARTICLE_FIRST_SHARE = 0.5  # a list holding less of the article's text than this is a sidebar


@dataclass(frozen=True, slots=True)
class Proposal:
    """One region worth watching, and how to watch it."""

    kind: Literal["article", "listing", "json-listing"]
    label: str  # what the analyst reads: "Main article (1,234 characters)", "Notice list: 20 links"
    fragment: dict[str, Any]  # the target's keys as in targets.yaml: {"select": …} or {"follow": …}
    selector: str | None = None  # the region on the page, to outline in the preview
    sample: tuple[str, ...] = field(default=())  # the first lines, or the first items' titles


def propose(html: str, url: str, observed: Sequence[Observed] = ()) -> list[Proposal]:
    """The regions of the page at ``url`` worth watching, best first."""
    root = parse_page(html)
    article = _article(html, url) if root is not None else None
    listings = _listings(root, html, url) if root is not None else []
    shown = _link_paths(root, url) if root is not None else set()
    feeding: list[Proposal] = []  # JSON the page's list is made of, or a shell's endpoint
    other: list[Proposal] = []  # JSON the page fetched but does not show
    for endpoint in json_listings(html, url, observed, _listing_from_html):
        proposal = Proposal(
            kind="json-listing",
            label=endpoint.label,
            fragment=endpoint.fragment,
            sample=endpoint.sample,
        )
        feeds = not endpoint.urls or bool(shown & {urlsplit(u).path for u in endpoint.urls})
        (feeding if feeds else other).append(proposal)
    found: list[Proposal] = [*feeding]
    if article is not None and listings and _list_first(article, listings[0]):
        kept = [article[0]] if article[1].size >= _ARTICLE_MIN_BESIDE_LIST else []
        found += [listings[0][0], *kept, *(p for p, _ in listings[1:])]
    else:
        found += [*([article[0]] if article else []), *(p for p, _ in listings)]
    return [p for p in [*found, *other] if _loads(p, url)]


def _link_paths(root: etree._Element, url: str) -> set[str]:
    """The paths the page links to: a JSON answer whose items it links to feeds it."""
    joined = (absolute(url, a.get("href", "")) for a in root.iter("a"))
    return {urlsplit(u).path for u in joined if u}


def document_select(html: str, url: str) -> tuple[str, ...]:
    """CSS selectors of a listing's document page worth keeping (its title, metadata
    and body), for the proposal's ``follow: select``; empty: keep ``select: auto``."""
    return document_parts(html, url)


# --- the article ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Article:
    size: int  # characters of its text, whitespace left out


def _article(html: str, url: str) -> tuple[Proposal, _Article] | None:
    try:
        document, _ = extract_with_report(html, url, select=[AUTO], links=False)
    except ValueError:
        return None
    size = len("".join(document.text.split()))
    if size == 0:
        return None
    proposal = Proposal(
        kind="article",
        label=f"Main article ({size:,} characters)",
        fragment={"select": AUTO},
        selector=_article_selector(html),
        sample=first_lines(document.text, _SAMPLES),
    )
    return proposal, _Article(size)


def _article_selector(html: str) -> str | None:
    """Where ``select: auto`` finds the article, for the preview's outline: the
    region's own name, or its nearest named ancestor's and a child path."""
    root, title = page_tree(html)
    if root is None:
        return None
    region = article_region(root, title)  # drops the furniture of this copy only
    if region is None:
        return None
    selector = unique_selector(region, root)
    fresh, _ = page_tree(html)
    if fresh is None or selector is None:
        return None
    return selector if len(matches(fresh, selector)) == 1 else None


# --- link blocks ----------------------------------------------------------------------


def _listings(root: etree._Element, html: str, url: str) -> list[tuple[Proposal, ListGroup]]:
    out: list[tuple[Proposal, ListGroup]] = []
    paging = paging_of(root, html, url)
    taken: list[set[str]] = []
    for group in list_groups(root, url)[:_MAX_TRIED]:
        if len(out) > _MAX_LISTINGS:
            break
        urls = set(group.urls)
        if any(urls & other for other in taken):  # a part or a mix of one proposed already
            continue
        links = link_selector(group, root)
        if links is None:
            continue
        follow: dict[str, Any] = {"links": links}
        if not out and paging is not None:
            follow.update(paging.keys)
        follow["select"] = AUTO
        if not _reads_back(html, url, follow, group.urls):
            continue
        pages = f", {follow['pages']} pages" if "pages" in follow else ""
        total = f" (of {paging.total})" if pages and paging and paging.total else ""
        kind = "Notice list" if group.dated else "Link list"
        container = unique_selector(group.container, root)
        taken.append(urls)
        out.append(
            (
                Proposal(
                    kind="listing",
                    label=f"{kind}: {_links_count(len(group.urls))}{pages}{total}",
                    fragment=_listing_fragment(container, follow),
                    selector=container,
                    sample=group.titles[:_SAMPLES],
                ),
                group,
            )
        )
    return out


def _listing_fragment(container: str | None, follow: dict[str, Any]) -> dict[str, Any]:
    """The listing's own capture keeps its list only (as the example config's SASTIND
    target does): a change of the frame around it is no change of the listing."""
    return {"select": container, "follow": follow} if container else {"follow": follow}


def _links_count(count: int) -> str:
    return f"{count:,} link" if count == 1 else f"{count:,} links"


def _listing_from_html(html: str, url: str) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """The item links' CSS of a list's HTML (inside a JSON answer), its first titles
    and its links."""
    root = parse_page(html)
    if root is None:
        return None
    for group in list_groups(root, url):
        links = link_selector(group, root)
        if links is not None and _reads_back(html, url, {"links": links}, group.urls):
            return links, group.titles[:_SAMPLES], group.urls
    return None


def _reads_back(html: str, url: str, follow: dict[str, Any], urls: Sequence[str]) -> bool:
    """The listing reader, given these keys, finds exactly the group's links."""
    try:
        spec = Follow(links=follow["links"])
        found = items_of(html, "text/html", url, spec)
    except (ValueError, ListingError):
        return False
    return [i.url for i in found] == [u for u in urls if u.startswith(("http://", "https://"))]


def _list_first(article: tuple[Proposal, _Article], listing: tuple[Proposal, ListGroup]) -> bool:
    """A page whose best list holds much of what ``select: auto`` keeps is a listing."""
    return listing[1].text_size >= _ARTICLE_FIRST_SHARE * article[1].size


# --- the contract: every fragment loads -----------------------------------------------


def _loads(proposal: Proposal, url: str) -> bool:
    target = {"name": "proposal", "url": url, **proposal.fragment}
    text = yaml.safe_dump({"targets": [target]}, allow_unicode=True, sort_keys=False)
    try:
        parse_config_text(text, "proposal")
    except ConfigError as exc:
        log.warning("proposal %r not made: %s", proposal.label, exc)
        return False
    return True
