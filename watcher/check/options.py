"""A target's settings turned into what each stage takes: fetch options, browser
options, and the page the analysis reads. Nothing else of the config goes down."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from watcher.core.budget import DEFAULT_REGEX_TIMEOUT, FILE_TEXT_SECONDS
from watcher.core.models import FetchResult
from watcher.fetch.addresses import Reach
from watcher.fetch.client import FetchOptions

if TYPE_CHECKING:
    from watcher.analysis.analyse import Page
    from watcher.config import BrowserSettings as ConfigBrowserSettings
    from watcher.config import Target
    from watcher.config.snapshot import QuickTarget
    from watcher.fetch.visits import BrowserOptions, BrowserSettings
    from watcher.store.index import TargetState


def reach_of(target: Target | QuickTarget, allow_private: bool | tuple[str, ...] = False) -> Reach:
    """Where the target's fetches may connect: public addresses, its own (a listing's
    document: its listing's), and what ``settings.allow_private`` opens."""
    return Reach.of(target.home or target.url, allow_private)


def fetch_options(
    target: Target | QuickTarget,
    etag: str | None = None,
    last_modified: str | None = None,
    *,
    allow_private: bool | tuple[str, ...] = False,
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
        reach=reach_of(target, allow_private),
    )


def browser_options(
    target: Target, cookies: dict[str, str], allow_private: bool | tuple[str, ...] = False
) -> BrowserOptions:
    """A rendering visit of the target's page; the target's own cookies win."""
    from watcher.fetch.visits import BrowserOptions

    return BrowserOptions(
        wait_for=target.wait_for,
        budget=target.timeout,
        block=tuple(target.block),
        user_agent=target.user_agent,
        headers=dict(target.headers),
        cookies={**cookies, **dict(target.cookies)},
        reach=reach_of(target, allow_private),
    )


def browser_settings(settings: ConfigBrowserSettings) -> BrowserSettings:
    """The config's ``settings.browser`` as the browser pool takes it."""
    from watcher.fetch.visits import BrowserSettings

    return BrowserSettings(
        executable=settings.executable,
        max_pages=settings.max_pages,
        restart_after_pages=settings.restart_after_pages,
        restart_above_mb=settings.restart_above_mb,
    )


def page_of(
    target: Target,
    fetched: FetchResult,
    previous_text_sha256: str | None,
    diff_timeout: float = 2.0,
    excerpt_limit: int = 1500,
    regex_timeout: float = DEFAULT_REGEX_TIMEOUT,
) -> Page:
    """What the analysis needs of a target and its fetched page, and nothing more."""
    from watcher.analysis.analyse import Page  # not loaded by a check of unchanged pages

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
        regex_timeout=regex_timeout,
        max_elements=target.max_elements,
        file_timeout=min(FILE_TEXT_SECONDS, target.timeout),
        excerpt_limit=excerpt_limit,
        content_disposition=fetched.header("content-disposition"),
    )


def compared_with(page: Page, state: TargetState) -> Page:
    """The page with what the analysis needs of the previous capture: its text, and
    the bytes that text came from (the rendered DOM, else the raw answer), so a text
    made by an older extraction can be read again. Rows from before versions were
    recorded are version 1. And the document the notice is a copy of, if known."""
    last = state.last
    if last is None:
        return page
    rendered = last.dom_sha256 is not None
    return replace(
        page,
        linked_to=state.document,
        previous_text_sha256=last.text_sha256,
        previous_extraction=last.extraction_version or 1,
        previous_rules_sha256=last.rules_sha256,
        previous_source_sha256=last.dom_sha256 if rendered else last.raw_sha256,
        previous_content_type="text/html; charset=utf-8" if rendered else last.content_type,
    )


def with_cookies(options: FetchOptions, earned: dict[str, str]) -> FetchOptions:
    """The options with cookies a browser visit earned; the target's own win."""
    return replace(options, cookies={**earned, **options.cookies})
