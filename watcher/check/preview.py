"""A pasted URL read the way its check would read it, for the target editor.

The page is fetched on ``watcher test``'s path (``trial``: plain HTTP, the browser
for a challenge) into a scratch store that is thrown away; a page that comes back
as a script shell, its text all but empty, is fetched again in the browser. What
is kept is what the editor needs to tune the target without fetching again: the
bytes the text was read from, so a new selector re-reads them at once, and the
regions ``propose`` finds in them.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from watcher.analysis.analyse import ExtractionProblem, Page, read_page
from watcher.check.options import browser_settings
from watcher.check.pages import RENDERED_HEADER, Pages
from watcher.check.propose import Proposal, propose
from watcher.check.trial import Trial, trial
from watcher.config import Config, Target
from watcher.core.budget import OverBudget
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.core.models import TermHits
from watcher.fetch.client import Fetcher, FetchSettings
from watcher.fetch.session import BrowserSession
from watcher.keywords import KeywordMatcher, find_hits
from watcher.store.index import Store

__all__ = ["Preview", "draft_target", "hits_of", "preview", "suggest_name", "text_of"]

SHELL_CHARACTERS = 200  # fewer than this besides the title, and scripts: a script shell
RENDERED = "text/html; charset=utf-8"  # a rendered page's body is the DOM, in UTF-8


@dataclass(frozen=True, slots=True)
class Preview:
    """One fetch of a page for the editor: what its check would store, and the bytes."""

    url: str
    final_url: str
    http_status: int | None
    title: str
    text: str  # the text of record, as the check would store it
    error: str | None  # why there is no text (the check's error)
    body: bytes  # what the text is read from: the server's bytes, or the rendered DOM
    content_type: str | None
    html: str  # ``body`` decoded, for the preview pane and the proposals
    fetch: str  # the fetch mode the page needs: http, auto (a challenge) or browser
    why_browser: str = ""  # what made the browser needed, for the analyst
    proposals: tuple[Proposal, ...] = field(default=())

    @property
    def size(self) -> int:
        """Bytes held (the body and its decoded text)."""
        return len(self.body) + 2 * len(self.html)


def draft_target(config: Config, url: str, name: str, base: Target | None = None) -> Target:
    """The target a preview checks: ``base`` (an edited target) at ``url``, else a
    new one with the config's defaults, every keyword group and ``fetch: auto``."""
    if base is not None:
        return base.model_copy(update={"url": url})
    values: dict[str, Any] = config.defaults.model_dump(exclude_none=True)
    values.update(name=name, url=url)
    values.setdefault("keywords", tuple(config.keywords))
    values["fetch"] = "auto" if values.get("fetch", "http") == "http" else values["fetch"]
    values["alert_new"] = False
    return Target.model_validate(values)


async def preview(config: Config, target: Target, clock: Clock = SYSTEM_CLOCK) -> Preview:
    """Fetch ``target`` once as its check would, storing nothing that lasts.

    A fetcher and browser of its own, closed at the end: the editor's fetch never
    holds a pool the service's checks share, whatever event loop it runs in."""
    s = config.settings
    fetcher = Fetcher(
        FetchSettings(concurrency=2, per_host=1, host_delay=0.0), clock=clock
    )  # one page, on an admin's click: the host is asked once, as a person would
    browser = BrowserSession(browser_settings(s.browser), clock)
    pages = Pages(fetcher, browser)
    try:
        found = await _tried(config, pages, target, clock)
        if found.error is None and found.fetch != "browser" and _shell(found):
            shell = target.model_copy(update={"fetch": "browser"})
            again = await _tried(config, pages, shell, clock)
            if again.error is None and len(again.text) > 2 * len(found.text) + 20:
                why = "the page is a script shell: its text comes from the browser"
                found = _with(again, fetch="browser", why_browser=why)
    finally:
        await fetcher.aclose()
        await browser.close()
    return found


async def _tried(config: Config, pages: Pages, target: Target, clock: Clock) -> Preview:
    """One trial of the page alone (a listing's items are the check's business)."""
    single = target.model_copy(update={"follow": None})
    with (
        tempfile.TemporaryDirectory(prefix="watcher-preview-") as folder,
        Store(Path(folder), fsync=False) as scratch,
    ):
        return _read(scratch, target, await trial(config, scratch, pages, single, clock))


def _read(scratch: Store, target: Target, found: Trial) -> Preview:
    result = found.result
    if result.capture_id is None:
        return Preview(
            url=target.url,
            final_url=result.final_url or target.url,
            http_status=result.http_status,
            title="",
            text="",
            error=result.error or "nothing was stored",
            body=b"",
            content_type=None,
            html="",
            fetch=target.fetch,
        )
    capture = scratch.capture(result.capture_id)
    rendered = capture.dom_sha256 is not None or list(RENDERED_HEADER) in capture.headers
    body = scratch.blobs.get(capture.dom_sha256) if capture.dom_sha256 else scratch.raw(capture)
    content_type = RENDERED if rendered else capture.content_type
    html = _decoded(body, content_type)
    fetch = target.fetch
    why = ""
    if rendered and target.fetch == "auto":
        why = "the site answered with a challenge that only a browser passes"
    elif rendered:
        why = "the target is fetched with the browser"
    elif fetch == "auto":
        fetch = "http"
    return Preview(
        url=target.url,
        final_url=capture.final_url,
        http_status=capture.status_code,
        title=capture.title or "",
        text=found.text,
        error=None,
        body=body,
        content_type=content_type,
        html=html,
        fetch=fetch,
        why_browser=why,
        proposals=tuple(propose(html, capture.final_url, found.observed)) if html else (),
    )


def _decoded(body: bytes, content_type: str | None) -> str:
    from watcher.analysis.decode import decode_html

    mime = (content_type or "").split(";")[0].strip().lower()
    if mime and "html" not in mime and "xml" not in mime:
        return ""  # a file or JSON: nothing to show as a page
    return decode_html(body, content_type).text


def _shell(found: Preview) -> bool:
    """Little text besides the title, and scripts to fill it: the browser's DOM, not
    the server's bytes, holds the page."""
    text = found.text
    if found.title and text.startswith(found.title):
        text = text[len(found.title) :]
    return len(text.strip()) < SHELL_CHARACTERS and b"<script" in found.body.lower()


def _with(found: Preview, **changes: Any) -> Preview:
    from dataclasses import replace

    return replace(found, **changes)


def text_of(
    found: Preview,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    ignore: Sequence[str] = (),
    regex_timeout: float = 1.0,
) -> str:
    """The text a check would store with these selectors, read from the kept bytes.
    Raises ValueError naming the selector or pattern at fault, ``ExtractionProblem``
    when the selected region has no text."""
    from watcher.analysis.extract import check_pattern, check_selector

    for selector in (*(s for s in select if s != "auto"), *exclude):
        try:
            check_selector(selector)
        except ValueError as exc:
            raise ValueError(f"{selector!r} is not a CSS selector watcher reads: {exc}") from None
    for pattern in ignore:
        check_pattern(pattern)
    page = Page(
        body=found.body,
        content_type=found.content_type,
        final_url=found.final_url,
        select=tuple(select),
        exclude=tuple(exclude),
        ignore=tuple(ignore),
        regex_timeout=regex_timeout,
    )
    try:
        return read_page(page).document.text
    except OverBudget as exc:
        raise ExtractionProblem(str(exc)) from None


def hits_of(
    keywords: Mapping[str, Sequence[str]], groups: Sequence[str], text: str
) -> list[TermHits]:
    """What a first capture of ``text`` would report for these keyword groups."""
    chosen = {g: list(keywords[g]) for g in groups if g in keywords}
    return find_hits(KeywordMatcher(chosen), None, text, None) if chosen else []


_NOT_NAME = re.compile(r"[^a-z0-9]+")
_DULL = {"www", "gov", "cn", "com", "org", "index", "html", "htm", "shtml", "jsp", "php"}


def suggest_name(url: str, taken: Sequence[str]) -> str:
    """A target name from the URL's host and path (``miit-jgsj-zfs``), not one in ``taken``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if re.fullmatch(r"[0-9.]+|[0-9a-f:]+", host):
        host = ""  # an address names no site
    words = [w for w in _NOT_NAME.split(host) if w and w not in _DULL]
    words += [w for w in _NOT_NAME.split(parts.path.lower()) if w and w not in _DULL][:3]
    base = "-".join(words)[:40].strip("-") or "target"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name
