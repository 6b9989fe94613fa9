"""A target's page, got the way its fetch mode says: plain HTTP (handing over to
the browser for cookies when a challenge stops it), or rendered in the shared
Chromium. Either way the host's politeness slot is held for the visit."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from watcher.check.options import browser_options, with_cookies
from watcher.config import Target
from watcher.core.models import FetchResult
from watcher.fetch.client import Fetcher, FetchError, FetchOptions
from watcher.fetch.session import BrowserSession
from watcher.fetch.visits import Observed

log = logging.getLogger(__name__)

RENDERED_HEADER = ("x-watcher-rendered", "chromium")  # marks a capture's text as the DOM's


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered page: the final DOM as the body, and the evidence beside it."""

    fetched: FetchResult  # body: the final DOM (the text's source), UTF-8
    first_body: bytes  # what the server sent first, e.g. a 521 challenge
    first_status: int
    screenshot: bytes | None
    observed: tuple[Observed, ...] = ()  # with ``observe``: JSON the page's scripts fetched


class RenderFailed(Exception):
    """The browser produced no page; ``str(e)`` is one line naming the URL."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Pages:
    """Gets pages over HTTP or in the browser; keeps nothing between targets
    except the cookies the browser earned."""

    def __init__(self, fetcher: Fetcher, browser: BrowserSession) -> None:
        self.fetcher = fetcher
        self.browser = browser
        # answers got already, by target name, each used once in place of a request
        # (``watcher.check.quick`` found them not all unchanged)
        self.prefetched: dict[str, FetchResult | FetchError] = {}

    async def http(self, target: Target, options: FetchOptions) -> FetchResult:
        """A plain request; with ``cookies_from_browser``, the cookies a browser visit
        earned go along, and a challenge earns them with one visit, then the request
        is made again. Raises ``FetchError`` (the first one, when the retry fails)."""
        answer = self.prefetched.pop(target.name, None)
        if isinstance(answer, FetchError):
            raise answer
        if answer is not None:
            return answer
        if target.cookies_from_browser:
            options = with_cookies(options, self.browser.cookies_for(target.url))
        try:
            return await self.fetcher.fetch(target.url, options)
        except FetchError as exc:
            if not (target.cookies_from_browser and exc.kind == "blocked"):
                raise
            retried = await self._with_browser_cookies(target, options)
            if retried is None:
                raise
            return retried

    async def _with_browser_cookies(
        self, target: Target, options: FetchOptions
    ) -> FetchResult | None:
        from watcher.fetch.visits import BrowserError, BrowserOptions, BrowserUnavailable

        visit = BrowserOptions(
            budget=target.timeout,
            user_agent=target.user_agent,
            screenshot=False,
            reach=options.reach,
        )
        try:
            async with self.fetcher.slot(target.url):
                seen = await self.browser.pool().fetch(target.url, visit)
        except (BrowserUnavailable, BrowserError) as exc:
            log.warning("%s: no cookies from the browser: %s", target.name, exc)
            return None
        self.browser.remember(seen.cookies)
        earned = self.browser.cookies_for(target.url)
        try:
            return await self.fetcher.fetch(target.url, with_cookies(options, earned))
        except FetchError:
            return None

    async def render(
        self, target: Target, allow_private: bool | tuple[str, ...] = False, observe: bool = False
    ) -> Rendered:
        """The page in the shared Chromium (with ``observe``, the JSON its scripts fetched
        too); raises ``RenderFailed``."""
        from watcher.fetch.visits import BrowserError, BrowserUnavailable

        cookies = self.browser.cookies_for(target.url)
        options = replace(browser_options(target, cookies, allow_private), observe=observe)
        try:
            async with self.fetcher.slot(target.url):  # the host's limits hold for browsers too
                seen = await self.browser.pool().fetch(target.url, options)
        except BrowserUnavailable as exc:
            raise RenderFailed(str(exc), "browser") from exc
        except BrowserError as exc:
            raise RenderFailed(f"{target.url} → browser: {exc}", exc.kind) from exc
        self.browser.remember(seen.cookies)
        fetched = FetchResult(
            url=target.url,
            final_url=seen.final_url,
            status_code=seen.status,
            headers=[*seen.first_headers, RENDERED_HEADER],
            body=seen.html,
            fetched_at=seen.fetched_at,
            duration=seen.duration,
        )
        return Rendered(fetched, seen.first_body, seen.first_status, seen.screenshot, seen.observed)
