"""What a browser visit takes and gives: the browser's settings, one visit's options, its
result and its errors.

Apart from ``browser``, so that building a runtime (which always has a browser session,
started on first use) and handling a visit's outcome do not load Playwright; most
configs never start the browser.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from watcher.fetch.addresses import Reach

DEFAULT_EXECUTABLE = "/usr/bin/chromium"
MAX_OBSERVED = 20  # JSON/XHR answers kept of one visit with ``observe``
MAX_OBSERVED_BYTES = 2 * 1024 * 1024  # a larger answer is left out


@dataclass(frozen=True)
class BrowserSettings:
    """The shared browser process: where it is, how many pages at once, when to recycle it."""

    executable: str | None = None  # default: $WATCHER_CHROMIUM, /usr/bin/chromium, PATH
    max_pages: int = 2  # pages open at once: each costs a renderer (~50-150 MB)
    restart_after_pages: int = 200  # recycle the browser after this many pages ...
    restart_above_mb: int = 1500  # ... or when its process tree's RSS exceeds this

    def __post_init__(self) -> None:
        if self.max_pages < 1 or self.restart_after_pages < 1 or self.restart_above_mb < 1:
            raise ValueError("max_pages, restart_after_pages and restart_above_mb must be >= 1")


@dataclass(frozen=True)
class BrowserOptions:
    """One fetch's settings (a target's, typically)."""

    wait_for: str | None = None  # a CSS selector or "networkidle"; None: the load event
    budget: float = 30.0  # seconds for the whole visit, hard: a hung page cannot stall others
    block: tuple[str, ...] = ("image", "font", "media")  # Playwright resource types to abort
    user_agent: str | None = None  # None: a normal desktop Chrome one (not "HeadlessChrome")
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)  # sent to the URL's host
    proxy: str | None = None  # None: HTTPS_PROXY/HTTP_PROXY/ALL_PROXY unless NO_PROXY matches
    screenshot: bool = True
    # the non-public addresses the page may load from; None: only the URL's own
    reach: Reach | None = None
    # keep the JSON answers the page's scripts fetched (``BrowserResult.observed``), for
    # proposing a new target's JSON listing; checks leave it off
    observe: bool = False

    def __post_init__(self) -> None:
        if self.budget <= 0:
            raise ValueError("budget must be > 0 seconds")


@dataclass(frozen=True, slots=True)
class Observed:
    """A response the page's own scripts fetched while it rendered (browser fetch only)."""

    url: str
    content_type: str
    body: bytes


@dataclass(frozen=True)
class BrowserResult:
    """What a browser visit produced: the server's first answer as evidence, the final DOM."""

    url: str
    final_url: str
    first_status: int  # the first main-frame answer, e.g. the 521 challenge
    first_headers: list[tuple[str, str]]
    first_body: bytes  # b"" when unavailable (a redirect has none)
    status: int  # the final document's status (0: none seen, e.g. about:blank)
    html: bytes  # the final DOM serialised, UTF-8 (any <meta charset> in it is stale)
    screenshot: bytes | None  # full-page PNG, cut at MAX_SCREENSHOT_HEIGHT
    cookies: list[dict[str, Any]]  # the browser's cookies for the page (name, value, domain...)
    fetched_at: datetime  # UTC, when the page had settled
    duration: float  # seconds of the visit (not the wait for a free page)
    # with ``observe``: the first MAX_OBSERVED JSON/XHR answers, each at most MAX_OBSERVED_BYTES
    observed: tuple[Observed, ...] = ()


class BrowserUnavailable(Exception):
    """No usable Chromium (or no playwright): a setup problem, not the target's fault."""


class BrowserError(Exception):
    """A visit failed. ``kind``: "timeout" (budget spent), "crashed" (browser or page died),
    "navigation" (the page could not be loaded: DNS, connection, TLS, a download...) or
    "private" (the page is at an address out of the visit's reach)."""

    def __init__(
        self, kind: Literal["timeout", "crashed", "navigation", "private"], message: str
    ) -> None:
        super().__init__(message)
        self.kind = kind


def find_executable(configured: str | None = None) -> str:
    """The Chromium to run: ``configured``, $WATCHER_CHROMIUM, /usr/bin/chromium or PATH."""
    candidate = configured or os.environ.get("WATCHER_CHROMIUM")
    if candidate:
        if os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
        raise BrowserUnavailable(_missing(candidate))
    if os.access(DEFAULT_EXECUTABLE, os.X_OK):
        return DEFAULT_EXECUTABLE
    found = shutil.which("chromium")
    if found:
        return found
    raise BrowserUnavailable(_missing(DEFAULT_EXECUTABLE))


def _missing(path: str) -> str:
    return (
        f"Chromium is not installed (looked for {path}; set WATCHER_CHROMIUM to its path "
        "or install Debian's chromium package: apt-get install chromium)"
    )


def cookies_from_browser(result: BrowserResult, url: str | None = None) -> dict[str, str]:
    """Name -> value of the cookies a visit left for ``url``'s host (default: the final URL),
    ready for ``FetchOptions.cookies``: a solved challenge lets plain HTTP fetches through
    until the cookie expires (send the same User-Agent: clearance cookies are bound to it)."""
    host = (urlsplit(url or result.final_url).hostname or "").lower()
    found: dict[str, str] = {}
    for cookie in result.cookies:
        domain = str(cookie.get("domain", "")).lower()
        bare = domain.lstrip(".")
        if host == bare or (domain.startswith(".") and host.endswith("." + bare)):
            found[str(cookie["name"])] = str(cookie["value"])
    return found
