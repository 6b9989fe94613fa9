"""Fetching pages in a real browser (the settings and results it deals in are in
``visits``, which loads without Playwright): for pages that JavaScript fills, and for anti-bot
challenges (HTTP 412/521 pages whose script sets a cookie and reloads).

One headless Chromium (Debian's, driven by Playwright's async API) serves every fetch of a
:class:`BrowserPool`; each fetch gets its own browser context, so cookies never leak from
one target to another. The first answer the server sent (the challenge, say) is kept as
evidence next to the final DOM, its status, a screenshot and the cookies the page set.

Failure is bounded: a fetch lasts at most ``BrowserOptions.budget`` seconds; a browser that
dies mid-fetch fails that fetch (``BrowserError(kind="crashed")``) and is relaunched by the
next one; the browser is recycled after ``restart_after_pages`` pages or when its process
tree grows above ``restart_above_mb`` (both between fetches, never during one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import signal
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.fetch.addresses import Reach
from watcher.fetch.visits import (
    MAX_OBSERVED,
    MAX_OBSERVED_BYTES,
    BrowserError,
    BrowserOptions,
    BrowserResult,
    BrowserSettings,
    BrowserUnavailable,
    Observed,
    cookies_from_browser,
    find_executable,
)

try:  # an optional dependency: without it every fetch raises BrowserUnavailable
    from playwright.async_api import Error as _PlaywrightError
    from playwright.async_api import TimeoutError as _PlaywrightTimeout
    from playwright.async_api import async_playwright as _async_playwright
except ImportError:  # pragma: no cover - depends on the installation
    _async_playwright = None
    _PlaywrightTimeout = None

    class _PlaywrightError(Exception):  # type: ignore[no-redef]
        """Stands in for playwright's Error so the except clauses still work."""


if TYPE_CHECKING:
    from playwright.async_api import (
        Browser,
        BrowserContext,
        CDPSession,
        Frame,
        Page,
        Playwright,
        Request,
        Response,
        Route,
    )

log = logging.getLogger(__name__)

__all__ = [
    "BrowserError",
    "BrowserOptions",
    "BrowserPool",
    "BrowserResult",
    "BrowserSettings",
    "BrowserUnavailable",
    "cookies_from_browser",
    "find_executable",
    "process_tree",
    "rss_bytes",
]

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # navigator.webdriver stays false: challenge scripts (瑞数 among them) test it
    "--disable-blink-features=AutomationControlled",
)
_MARKER = "--watcher-browser-pool"  # an inert switch that finds our browser in /proc
LAUNCH_TIMEOUT = 30.0  # seconds for Chromium to start (not part of a fetch's budget)
CLOSE_TIMEOUT = 5.0  # seconds to close a context or the browser before giving up on it
QUIET = 0.5  # after "load", seconds without a new navigation before the page counts as settled
CHALLENGE_QUIET = 5.0  # the same after an answer with a challenge's status (may reload late)
CHALLENGE_STATUSES = frozenset({202, 403, 412, 503, 521})  # WZWS, WAFs, 瑞数, 加速乐
MAX_SELF_NAVIGATIONS = 10  # reloads/redirects by script followed before giving up settling
MAX_SCREENSHOT_HEIGHT = 20_000  # px; taller pages are cut (a 100k px page is a ~GB bitmap)
VIEWPORT = {"width": 1280, "height": 800}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

T = TypeVar("T")

DEFAULT_SETTINGS = BrowserSettings()  # frozen: sharing them is safe
DEFAULT_OPTIONS = BrowserOptions()


# ---------------------------------------------------------------------------------------------
# /proc: the browser's process tree and its memory


_CHILDREN_FILES = Path(f"/proc/self/task/{os.getpid()}/children").exists()


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    if not _CHILDREN_FILES:  # a kernel without CONFIG_PROC_CHILDREN: ask every process
        for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    kids.append(int(entry))
        return kids
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        with contextlib.suppress(OSError):
            kids.extend(
                int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            )
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/<pid>/task/*/children)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def rss_bytes(pids: list[int]) -> int:
    """Summed resident memory of ``pids`` (pages shared between them count once per process)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    return total


def _find_marked(root: int, token: str) -> int | None:
    """The process under ``root`` whose command line carries ``token`` (our browser)."""
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


# ---------------------------------------------------------------------------------------------
# The pool


@dataclass(eq=False)
class _Live:
    """One launched browser process."""

    browser: Browser
    pid: int | None
    user_agent: str
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    pages: int = 0
    broken: bool = False  # a context would not close, or the driver died: recycle it


@dataclass(eq=False)
class _Visit:
    """What the event handlers of one page record while it loads.

    Main-frame document requests are numbered as they start (the first goto, a reload by
    script, each redirect hop); ``committed`` and ``settled`` say up to which one the
    page has committed, and then loaded (or given up on: a failed request leaves the
    previous document in place). The page is quiet when ``settled == requests`` after a
    load event.
    """

    page: Page | None = None
    context: BrowserContext | None = None
    first: Response | None = None
    first_headers: asyncio.Future[list[tuple[str, str]]] | None = None
    first_body: _FirstBody | None = None
    last: Response | None = None
    latest: Request | None = None
    stage: str = "starting"  # what the visit was doing, for a timeout's message
    refused: str | None = None  # why a main-frame document request was not sent
    requests: int = 0
    committed: int = 0
    settled: int = 0
    loads: int = 0  # main-frame load events (data: and about: documents make no requests)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    crashed: asyncio.Event = field(default_factory=asyncio.Event)
    clock: Clock = SYSTEM_CLOCK  # what quiet periods are timed by
    observe: bool = False  # keep the JSON answers of the page's scripts
    observing: list[asyncio.Future[Observed | None]] = field(default_factory=list)

    def note(self) -> None:
        self.changed.set()

    def quiet(self) -> bool:
        return self.loads > 0 and self.settled == self.requests

    async def until(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait until ``ready()``; False when ``timeout`` seconds (by the clock) passed first."""
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        while not ready():
            self.changed.clear()
            if deadline is None:
                await self.changed.wait()
                continue
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return False
            await _first(self.changed.wait(), self.clock.sleep(left))
        return True


class BrowserPool:
    """A shared headless Chromium for browser fetches, used from one asyncio event loop.

    ``before_request(url)`` is awaited before each main-frame document request the page
    starts (the first one, and any reload or navigation by script), so the caller's
    per-host politeness covers them; subresources and server redirects do not call it.

    ``clock`` times what a visit waits for by itself (its budget, the quiet periods that
    tell a settled page) and stamps ``fetched_at`` and ``duration``. Starting and closing
    Chromium stay bounded on real time: they wait on a real process.
    """

    def __init__(
        self,
        settings: BrowserSettings = DEFAULT_SETTINGS,
        *,
        before_request: Callable[[str], Awaitable[None]] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self._before_request = before_request
        self._clock = clock
        self._slots = asyncio.Semaphore(settings.max_pages)
        self._state = asyncio.Condition()
        self._playwright: Playwright | None = None
        self._live: _Live | None = None
        self._active = 0
        self._draining = False
        self._closed = False
        self.launches = 0  # how many browsers this pool started (relaunches included)

    async def __aenter__(self) -> BrowserPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def browser_pid(self) -> int | None:
        """The running browser's main process id (None before the first fetch)."""
        live = self._live
        return live.pid if live is not None and not live.gone.is_set() else None

    def memory(self) -> int:
        """Bytes of RSS of the browser's process tree now (0 when none runs)."""
        pid = self.browser_pid
        return rss_bytes(process_tree(pid)) if pid else 0

    async def close(self) -> None:
        """Close the browser and the Playwright driver; fetches still running fail."""
        self._closed = True
        async with self._state:
            live, self._live = self._live, None
        if live is not None:
            await self._retire(live)
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(playwright.stop(), CLOSE_TIMEOUT)

    async def fetch(self, url: str, options: BrowserOptions = DEFAULT_OPTIONS) -> BrowserResult:
        """Load ``url`` in a fresh context and return the settled page.

        Raises BrowserUnavailable (no Chromium) or BrowserError (timeout, crash, navigation).
        HTTP error statuses are results, not errors: a 404 page is evidence too.
        """
        if self._closed:
            raise RuntimeError("BrowserPool is closed")
        async with self._slots:
            live = await self._checkout()
            try:
                return await self._visit(live, url, options)
            finally:
                async with self._state:
                    self._active -= 1
                    self._state.notify_all()

    # -- the browser's life ---------------------------------------------------------------

    async def _checkout(self) -> _Live:
        """The browser to use, launched or recycled first when needed (between fetches)."""
        async with self._state:
            await self._state.wait_for(lambda: not self._draining)
            if self._closed:
                raise RuntimeError("BrowserPool is closed")
            live = self._live
            if live is None or live.gone.is_set() or not live.browser.is_connected():
                self._live = None
                live = self._live = await self._launch()
            elif reason := self._recycle_reason(live):
                log.info("recycling the browser: %s", reason)
                self._draining = True
                try:
                    await self._state.wait_for(lambda: self._active == 0)
                    self._live = None
                    await self._retire(live)
                    live = self._live = await self._launch()
                finally:
                    self._draining = False
                    self._state.notify_all()
            live.pages += 1
            self._active += 1
            return live

    def _recycle_reason(self, live: _Live) -> str | None:
        if live.broken:
            return "it failed a visit (a page would not close, or it died)"
        if live.pages >= self.settings.restart_after_pages:
            return f"{live.pages} pages served"
        if live.pid is not None:
            rss = rss_bytes(process_tree(live.pid))
            if rss > self.settings.restart_above_mb * 1024 * 1024:
                return f"its processes use {rss / 1048576:.0f} MB"
        return None

    async def _launch(self) -> _Live:
        executable = find_executable(self.settings.executable)
        if _async_playwright is None:
            raise BrowserUnavailable(
                "the playwright package is not installed (pip install playwright; "
                "it drives Debian's Chromium, no browser download is needed)"
            )
        token = secrets.token_hex(8)
        args = [*CHROMIUM_ARGS, f"{_MARKER}={token}"]
        for attempt in (1, 2):
            if self._playwright is None:
                try:
                    self._playwright = await _async_playwright().start()
                except Exception as exc:
                    raise BrowserUnavailable(f"Playwright's driver did not start: {exc}") from exc
            try:
                browser = await self._playwright.chromium.launch(
                    executable_path=executable, args=args, timeout=LAUNCH_TIMEOUT * 1000
                )
                break
            except _PlaywrightError as exc:
                # the driver itself may have died with the browser: start a new one once
                playwright, self._playwright = self._playwright, None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(playwright.stop(), CLOSE_TIMEOUT)
                if attempt == 2:
                    first_line = (str(exc).strip().splitlines() or ["?"])[0]
                    raise BrowserUnavailable(
                        f"Chromium at {executable} did not start: {first_line}"
                    ) from exc
        major = browser.version.split(".", 1)[0]
        user_agent = (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36"
        )
        live = _Live(browser, _find_marked(os.getpid(), token), user_agent)
        browser.on("disconnected", lambda _: live.gone.set())
        self.launches += 1
        log.info("launched %s (Chromium %s, pid %s)", executable, browser.version, live.pid)
        return live

    async def _retire(self, live: _Live) -> None:
        """Close a browser; if it will not close, kill its process tree."""
        if live.gone.is_set():
            return
        try:
            await asyncio.wait_for(live.browser.close(), CLOSE_TIMEOUT)
        except Exception:
            log.warning("the browser did not close; killing pid %s", live.pid)
            if live.pid is not None:
                for pid in reversed(process_tree(live.pid)):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)

    # -- one visit ---------------------------------------------------------------------------

    async def _visit(self, live: _Live, url: str, options: BrowserOptions) -> BrowserResult:
        started = self._clock.monotonic()
        visit = _Visit(clock=self._clock, observe=options.observe)
        spent = asyncio.Event()
        budget = asyncio.ensure_future(_set_after(self._clock, options.budget, spent))
        try:
            return await _race(
                self._load(live, visit, url, options, started), live.gone, visit.crashed, spent
            )
        except _Stopped:
            if not (live.gone.is_set() or visit.crashed.is_set()):
                raise BrowserError(
                    "timeout", f"{url}: budget of {options.budget:g} s spent ({visit.stage})"
                ) from None
            what = "the browser process died" if live.gone.is_set() else "the page crashed"
            raise BrowserError("crashed", f"{url}: {what} during the visit") from None
        except _PlaywrightError as exc:
            if visit.refused is not None:
                raise BrowserError("private", f"{url}: {visit.refused}") from None
            if _closed_error(exc) or live.gone.is_set() or visit.crashed.is_set():
                # the browser, its page or the Playwright driver died; when "disconnected"
                # does not follow (a dead driver sends nothing), recycle before the next fetch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(live.gone.wait(), 0.5)
                live.broken = True
                raise BrowserError("crashed", f"{url}: the browser died: {_brief(exc)}") from None
            if _PlaywrightTimeout is not None and isinstance(exc, _PlaywrightTimeout):
                raise BrowserError("timeout", f"{url}: {_brief(exc)}") from None
            raise BrowserError("navigation", f"{url}: {_brief(exc)}") from None
        finally:
            budget.cancel()
            if visit.first_headers is not None and not visit.first_headers.done():
                visit.first_headers.cancel()
            if visit.first_body is not None:
                visit.first_body.cancel()
            for reading in visit.observing:
                reading.cancel()
            if visit.context is not None and not live.gone.is_set():
                try:
                    await asyncio.shield(asyncio.wait_for(visit.context.close(), CLOSE_TIMEOUT))
                except Exception:
                    live.broken = True

    async def _load(
        self, live: _Live, visit: _Visit, url: str, options: BrowserOptions, started: float
    ) -> BrowserResult:
        visit.stage = "opening a page"
        reach = options.reach if options.reach is not None else Reach.of(url)
        args = self._context_args(live, url, options)
        context = visit.context = await _new_context(live.browser, args)
        context.set_default_timeout((options.budget + 5) * 1000)  # the visit's budget acts first
        if options.cookies:  # host-only, path "/": as the HTTP fetcher binds them
            parts = urlsplit(url)
            root = f"{parts.scheme}://{parts.netloc}/"
            await context.add_cookies(
                [{"name": k, "value": v, "url": root} for k, v in options.cookies.items()]
            )
        page = visit.page = await context.new_page()
        self._watch(page, visit)
        visit.first_body = await _FirstBody.start(context, page)
        await page.route("**/*", self._router(page, options.block, reach, visit))

        visit.stage = "loading"
        try:
            await page.goto(url, wait_until="load")
        except _PlaywrightError as exc:
            # a script that reloads before "load" interrupts goto: that is the challenge
            # working, not a failure; anything else with one navigation is a failure
            if visit.requests < 2 or not _interrupted(exc):
                raise
        await self._settle(visit)
        if "proxy" not in args:  # through a proxy, the address is the proxy's
            for answer in (visit.first, visit.last):
                refused = await _refusal_of_chain(answer, reach)
                if refused is not None:
                    raise BrowserError("private", f"{url}: {refused}")
        visit.stage = f"waiting for {options.wait_for!r}"
        if options.wait_for == "networkidle":
            await page.wait_for_load_state("networkidle")
        elif options.wait_for:
            await page.wait_for_selector(options.wait_for, state="attached")
        visit.stage = "reading the page"
        fetched_at = self._clock.now()
        html = await _content(page, visit)
        visit.stage = "taking the screenshot"
        screenshot = await _screenshot(page) if options.screenshot else None
        urls = [u for u in (page.url, url) if u.startswith(("http://", "https://"))]
        cookies = [dict(c) for c in await context.cookies(urls)] if urls else []
        first, last = visit.first, visit.last
        first_headers = await visit.first_headers if visit.first_headers else []
        first_body = await visit.first_body.read(first) if first else b""
        observed = [o for o in await asyncio.gather(*visit.observing) if o is not None]
        return BrowserResult(
            url=url,
            final_url=page.url,
            first_status=first.status if first else 0,
            first_headers=first_headers,
            first_body=first_body,
            status=last.status if last else 0,
            html=html.encode("utf-8"),
            screenshot=screenshot,
            cookies=cookies,
            fetched_at=fetched_at,
            duration=self._clock.monotonic() - started,
            observed=tuple(observed),
        )

    def _context_args(self, live: _Live, url: str, options: BrowserOptions) -> dict[str, Any]:
        args: dict[str, Any] = {
            "user_agent": options.user_agent or live.user_agent,
            "locale": "zh-CN",
            "viewport": VIEWPORT,
            "service_workers": "block",  # requests must pass our router (blocking, politeness)
            "accept_downloads": False,
        }
        if options.headers:
            args["extra_http_headers"] = dict(options.headers)
        proxy = _proxy_settings(options.proxy or _env_proxy(url))
        if proxy:
            args["proxy"] = proxy
        return args

    @staticmethod
    def _watch(page: Page, visit: _Visit) -> None:
        """Record main-frame document requests, answers, commits and loads as they happen."""

        def main_document(request: Request) -> bool:
            try:
                return request.is_navigation_request() and request.frame == page.main_frame
            except _PlaywrightError:
                return False

        def on_request(request: Request) -> None:
            if main_document(request):
                visit.requests += 1
                visit.latest = request
                visit.note()

        def on_response(response: Response) -> None:
            if not main_document(response.request):
                if visit.observe and len(visit.observing) < MAX_OBSERVED and _json_like(response):
                    visit.observing.append(asyncio.ensure_future(_observed(response)))
                return
            visit.last = response
            if visit.first is None:
                visit.first = response
                # ask now: once the page has moved on, the body may be gone
                visit.first_headers = asyncio.ensure_future(_raw_headers(response))
            visit.note()

        def on_failed(request: Request) -> None:
            if request is visit.latest and main_document(request):
                visit.settled = visit.requests  # the previous document stays
                visit.note()

        def on_navigated(frame: Frame) -> None:
            if frame == page.main_frame:
                visit.committed = visit.requests
                visit.note()

        def on_load(_: object) -> None:
            visit.loads += 1
            if visit.committed == visit.requests:
                visit.settled = visit.requests
                visit.note()

        def on_crash(_: object) -> None:
            visit.crashed.set()

        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)
        page.on("framenavigated", on_navigated)
        page.on("load", on_load)
        page.on("crash", on_crash)

    def _router(
        self, page: Page, block: tuple[str, ...], reach: Reach, visit: _Visit
    ) -> Callable[[Route], Coroutine[Any, Any, None]]:
        """Blocked resource types, and requests to addresses out of reach (named by
        the URL: a name's address is known only after), are aborted; a main-frame
        document request waits for the caller's ``before_request`` first."""
        before = self._before_request

        async def route(route: Route) -> None:
            request = route.request
            try:
                if request.resource_type in block:
                    await route.abort("blockedbyclient")
                    return
                document = request.is_navigation_request() and request.frame == page.main_frame
                refused = reach.refusal_of_host(request.url)
                if refused is not None:
                    if document:
                        visit.refused = refused
                    log.info("request not sent: %s", refused)
                    await route.abort("blockedbyclient")
                    return
                if before is not None and document:
                    try:
                        await before(request.url)
                    except Exception:
                        log.exception("before_request(%s) failed: request not sent", request.url)
                        await route.abort("failed")
                        return
                await route.continue_()
            except _PlaywrightError:
                pass  # the page or its context closed meanwhile

        return route

    @staticmethod
    async def _settle(visit: _Visit) -> None:
        """Wait until the page stops navigating by itself (a challenge's reload, a script
        redirect): each new main-frame request is followed to its load event."""
        for _ in range(MAX_SELF_NAVIGATIONS + 1):
            await visit.until(visit.quiet)
            seen = visit.requests
            status = visit.last.status if visit.last is not None else 200
            quiet = CHALLENGE_QUIET if status in CHALLENGE_STATUSES else QUIET
            if not await visit.until(lambda: visit.requests > seen, quiet):  # noqa: B023
                return
        log.info("%s: still navigating after %d reloads", visit.page, MAX_SELF_NAVIGATIONS)


async def _refusal_of_chain(answer: Response | None, reach: Reach) -> str | None:
    """Why a main-frame answer, or a redirect before it, came from an address out of
    ``reach`` (the address Chromium connected to), or None."""
    request = answer.request if answer is not None else None
    while request is not None:
        response = await request.response()
        server = await response.server_addr() if response is not None else None
        if server:
            refused = reach.refusal(str(server["ipAddress"]), request.url)
            if refused is not None:
                return refused
        request = request.redirected_from
    return None


_background: set[asyncio.Future[Any]] = set()  # tasks nobody awaits, kept from the GC


def _forget(task: asyncio.Future[Any]) -> None:
    _background.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a late close that failed is of no interest


async def _new_context(browser: Browser, args: dict[str, Any]) -> BrowserContext:
    """A new context; one that arrives after its visit was cancelled is closed, not leaked."""
    task = asyncio.ensure_future(browser.new_context(**args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:

        def close_late(done: asyncio.Future[BrowserContext]) -> None:
            if not done.cancelled() and done.exception() is None:
                closing = asyncio.ensure_future(done.result().close())
                _background.add(closing)
                closing.add_done_callback(_forget)

        task.add_done_callback(close_late)
        raise


class _Stopped(Exception):
    """The browser or the page died, or the budget ran out, while a visit waited on it."""


async def _set_after(clock: Clock, seconds: float, event: asyncio.Event) -> None:
    await clock.sleep(seconds)
    event.set()


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Return when the first of ``waits`` is done; the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _race(work: Coroutine[Any, Any, T], *stops: asyncio.Event) -> T:
    """Run ``work`` unless one of ``stops`` is set first (then raise _Stopped).

    A dead browser makes most pending calls fail, but not a wait on our own events: this
    turns its death into a prompt error instead of a wait for the budget to run out.
    """
    task = asyncio.ensure_future(work)
    waiters = [asyncio.ensure_future(stop.wait()) for stop in stops]
    try:
        done, _ = await asyncio.wait([task, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        raise _Stopped
    finally:
        for waiter in waiters:
            waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _content(page: Page, visit: _Visit) -> str:
    """The DOM as HTML; a navigation at that moment destroys the document: wait and retry."""
    for attempt in range(3):
        try:
            return await page.content()
        except _PlaywrightError:
            if attempt == 2:
                raise
            await visit.until(visit.quiet)
    raise AssertionError("unreachable")


async def _screenshot(page: Page) -> bytes | None:
    """A full-page PNG, cut at MAX_SCREENSHOT_HEIGHT; None if the page cannot be drawn."""
    try:
        height = await page.evaluate(
            "() => Math.max(document.documentElement ? document.documentElement.scrollHeight"
            " : 0, document.body ? document.body.scrollHeight : 0)"
        )
        clip = None
        if isinstance(height, int | float) and height > MAX_SCREENSHOT_HEIGHT:
            clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_SCREENSHOT_HEIGHT}
        return await page.screenshot(full_page=True, type="png", clip=clip)  # type: ignore[arg-type]
    except _PlaywrightError as exc:
        log.info("%s: no screenshot: %s", page.url, _brief(exc))
        return None


def _json_like(response: Response) -> bool:
    """An answer a script asked for that may hold a listing: XHR/fetch, or JSON."""
    try:
        kind = response.request.resource_type
    except _PlaywrightError:
        return False
    content_type = response.headers.get("content-type", "").lower()
    return 200 <= response.status < 300 and (kind in ("xhr", "fetch") or "json" in content_type)


async def _observed(response: Response) -> Observed | None:
    """The answer's body, unless it is larger than MAX_OBSERVED_BYTES or gone."""
    try:
        if int(response.headers.get("content-length") or 0) > MAX_OBSERVED_BYTES:
            return None
        body = await response.body()
    except (_PlaywrightError, ValueError):
        return None
    if len(body) > MAX_OBSERVED_BYTES:
        return None
    return Observed(response.url, response.headers.get("content-type", ""), body)


async def _raw_headers(response: Response) -> list[tuple[str, str]]:
    """An answer's headers as sent (Set-Cookie included), in order."""
    try:
        return [(h["name"], h["value"]) for h in await response.headers_array()]
    except _PlaywrightError:
        return list(response.headers.items())


class _FirstBody:
    """Reads the first main-frame document's body in the network stack, before the page
    gets it. Playwright's ``response.body()`` asks the renderer, which drops a document as
    soon as a script navigates away from it: a challenge's instant reload would lose it.

    The answer is held (CDP ``Fetch`` at the response stage, documents of the main frame
    only) just long enough to copy its body; then interception is switched off.
    """

    def __init__(self, session: CDPSession, frame_id: str) -> None:
        self._session = session
        self._frame_id = frame_id
        self.body: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, context: BrowserContext, page: Page) -> _FirstBody:
        session = await context.new_cdp_session(page)
        tree = await session.send("Page.getFrameTree")
        capture = cls(session, tree["frameTree"]["frame"]["id"])
        session.on("Fetch.requestPaused", capture._on_paused)
        pattern = {"resourceType": "Document", "requestStage": "Response"}
        await session.send("Fetch.enable", {"patterns": [pattern]})
        return capture

    def _on_paused(self, event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._paused(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _paused(self, event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        try:
            if not self.body.done() and event.get("frameId") == self._frame_id:
                body = b""
                if not 300 <= event.get("responseStatusCode", 0) < 400:  # redirects have none
                    with contextlib.suppress(_PlaywrightError):
                        reply = await self._session.send(
                            "Fetch.getResponseBody", {"requestId": request_id}
                        )
                        text = reply["body"]
                        body = base64.b64decode(text) if reply["base64Encoded"] else text.encode()
                if not self.body.done():
                    self.body.set_result(body)
        finally:
            with contextlib.suppress(_PlaywrightError):
                await self._session.send("Fetch.continueResponse", {"requestId": request_id})
            if self.body.done():
                with contextlib.suppress(_PlaywrightError):
                    await self._session.send("Fetch.disable")

    def cancel(self) -> None:
        """Stop waiting for a body (the visit is over)."""
        for task in list(self._tasks):
            task.cancel()
        if not self.body.done():
            self.body.cancel()

    async def read(self, response: Response) -> bytes:
        """The captured body; else what the renderer still has (b"" when nothing)."""
        if self.body.done():
            return self.body.result()
        self.body.cancel()
        try:
            return await response.body()
        except _PlaywrightError:
            return b""


def _interrupted(exc: Exception) -> bool:
    text = str(exc)
    return "interrupted by another navigation" in text or "net::ERR_ABORTED" in text


def _closed_error(exc: Exception) -> bool:
    """Whether an error says our browser, page or driver went away (not the server)."""
    text = str(exc)
    if "net::ERR_" in text:  # ERR_CONNECTION_CLOSED and the like: the site's doing
        return False
    text = text.lower()
    return "has been closed" in text or "connection closed" in text or "crashed" in text


def _brief(exc: Exception) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _env_proxy(url: str) -> str | None:
    """The proxy httpx would use for ``url`` from the environment (NO_PROXY respected)."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    server = proxies.get(parts.scheme) or proxies.get("all")
    if not server:
        return None
    if urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return server


def _proxy_settings(server: str | None) -> dict[str, str] | None:
    """Playwright's proxy dict; credentials in the URL become username/password."""
    if not server:
        return None
    parts = urlsplit(server if "://" in server else f"http://{server}")
    settings = {
        "server": f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    }
    if parts.username:
        settings["username"] = unquote(parts.username)
        settings["password"] = unquote(parts.password or "")
    return settings
