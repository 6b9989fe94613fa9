"""HTTP fetching: one shared httpx client, politeness, retries, size caps, safe decompression.

A watched page is hostile input. Everything here is bounded: the time of one
attempt (connect, read and a total deadline), the number of attempts and
redirects, and the size of the body *after* decompression, which is done here
chunk by chunk with a bounded output so that a small compression bomb fails fast
with little memory. Anti-bot challenge pages are reported as ``blocked`` and never
returned as content, so a challenge page is never diffed against a real capture.

Charset decoding (bytes -> text) is not done here; ``FetchResult.body`` is bytes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import brotli
import httpx

from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.core.models import FetchResult
from watcher.fetch.addresses import Reach
from watcher.fetch.challenges import classify
from watcher.fetch.politeness import LocalPoliteness, Politeness, Started
from watcher.fetch.transport import (
    LanedTransport,
    Trust,
    Unreachable,
    check_internals,
    reaching,
    use_asyncio_backend,
    without_client_jar,
)

__all__ = [
    "ContentDecoder",
    "DecodingFailed",
    "FetchError",
    "FetchOptions",
    "FetchSettings",
    "Fetcher",
    "backoff_delay",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

ErrorKind = Literal[
    "timeout",
    "connection",
    "http",
    "too_large",
    "blocked",
    "redirects",
    "decoding",
    "invalid",
    "private",
]

DEFAULT_HEADERS: Mapping[str, str] = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5",
}
DECODE_CHUNK = 64 * 1024  # most bytes one decompression step may produce
SNIFF_LIMIT = 256 * 1024  # body bytes kept from error and redirect answers, for classification


@dataclass(frozen=True)
class FetchSettings:
    """Process-wide limits (one per process)."""

    concurrency: int = 16
    per_host: int = 2
    host_delay: float = 1.0  # minimum seconds between request starts to one host
    max_redirects: int = 10

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_host < 1 or self.host_delay < 0:
            raise ValueError("need concurrency >= 1, per_host >= 1 and host_delay >= 0")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")


@dataclass(frozen=True)
class FetchOptions:
    """Per-target knobs. ``total_timeout`` bounds one attempt end to end, redirects included."""

    connect_timeout: float = 10
    read_timeout: float = 20
    total_timeout: float = 30
    retries: int = 3
    max_size: int = 20_000_000
    user_agent: str = "watcher/0.1 (+change monitoring)"
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    # the non-public addresses the fetch may connect to; None: only the URL's own
    reach: Reach | None = None

    def __post_init__(self) -> None:
        timeouts = (self.connect_timeout, self.read_timeout, self.total_timeout)
        if min(timeouts) <= 0:
            raise ValueError("timeouts must be > 0")
        if self.retries < 0 or self.max_size < 1:
            raise ValueError("need retries >= 0 and max_size >= 1")
        if min(self.backoff_base, self.backoff_max, self.retry_after_max) < 0:
            raise ValueError("backoff_base, backoff_max and retry_after_max must be >= 0")


class FetchError(Exception):
    """A fetch that did not produce content; ``str(e)`` is one line naming the URL."""

    def __init__(
        self,
        kind: ErrorKind,
        url: str,
        detail: str,
        *,
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        self.kind: ErrorKind = kind
        self.url = url
        self.detail = detail
        self.status_code = status_code
        self.attempts = attempts
        super().__init__(_compose_message(url, detail, attempts))

    def __reduce__(self) -> tuple[object, ...]:
        kwargs = {"status_code": self.status_code, "attempts": self.attempts}
        return (_rebuild_error, (self.kind, self.url, self.detail, kwargs))


def _rebuild_error(kind: ErrorKind, url: str, detail: str, kwargs: dict) -> FetchError:
    return FetchError(kind, url, detail, **kwargs)


def _compose_message(url: str, detail: str, attempts: int) -> str:
    message = f"{_one_line(url)} → {detail}"
    if attempts > 1:
        message += (
            f" ({attempts} attempts)" if " after " in detail else f" after {attempts} attempts"
        )
    return message


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Failure(Exception):
    """One failed attempt, before the retry policy decides what to do with it."""

    def __init__(
        self,
        kind: ErrorKind,
        detail: str,
        *,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind: ErrorKind = kind
        self.detail = detail
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after

    def error(self, url: str, attempts: int, detail: str | None = None) -> FetchError:
        return FetchError(
            self.kind, url, detail or self.detail, status_code=self.status_code, attempts=attempts
        )


# ---------------------------------------------------------------------------------------------
# Retry policy helpers (pure, public so the notifier outbox can reuse them)


def backoff_delay(
    attempt: int, base: float, cap: float, *, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(attempt-1))].

    Full jitter spreads retries of many workers hit by the same outage.
    """
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 1000))  # 2.0**1024 overflows
    return ceiling * rand()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delay-seconds or HTTP-date); None if unusable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _secs(value: float) -> str:
    return f"{value:g} s"


def _size(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f} MB"
    if value >= 1_000:
        return f"{value / 1_000:.1f} kB"
    return f"{value} bytes"


# ---------------------------------------------------------------------------------------------
# Content-Encoding: bounded, incremental decompression


class DecodingFailed(ValueError):
    """The body's Content-Encoding is unknown, or its compressed data is corrupt or truncated."""


class _Zlib:
    """gzip (possibly multi-member) or deflate (zlib-wrapped or raw, detected from the header)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._d: zlib._Decompress | None = zlib.decompressobj(31) if name == "gzip" else None
        self._head = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._d is None:  # deflate: wait for two bytes to tell zlib-wrapped from raw
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._d = zlib.decompressobj(15 if _is_zlib_header(data) else -15)
        yield from self._drain(data)

    def _drain(self, data: bytes) -> Iterator[bytes]:
        assert self._d is not None
        while True:
            if self._d.eof:
                data = self._next_member(data)
                if not data:
                    return
            try:
                out = self._d.decompress(data, DECODE_CHUNK)
            except zlib.error as exc:
                raise DecodingFailed(f"corrupt {self.name} data: {exc}") from None
            if out:
                yield out
            data = self._d.unconsumed_tail
            if not data and len(out) < DECODE_CHUNK and not self._d.eof:
                return

    def _next_member(self, data: bytes) -> bytes:
        """Concatenated gzip members form one body; other bytes after the end are ignored."""
        assert self._d is not None
        rest = self._d.unused_data + data
        if self.name == "gzip" and rest[:2] == b"\x1f\x8b":
            self._d = zlib.decompressobj(31)
            return rest
        return b""

    def flush(self) -> Iterator[bytes]:
        if self._d is None:
            if self._head:
                raise DecodingFailed(f"truncated {self.name} data")
            return
        yield from self._drain(b"")
        if not self._d.eof:
            raise DecodingFailed(f"truncated {self.name} data (stream did not end)")


def _is_zlib_header(head: bytes) -> bool:
    return head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


class _Brotli:
    name = "br"

    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._d.process(data, output_buffer_limit=DECODE_CHUNK)
            except brotli.error as exc:
                raise DecodingFailed(f"corrupt br data: {exc}") from None
            data = b""
            if out:
                yield out
            if self._d.can_accept_more_data() and len(out) < DECODE_CHUNK:
                return

    def flush(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        if not self._d.is_finished():
            raise DecodingFailed("truncated br data (stream did not end)")


class ContentDecoder:
    """Undo a ``Content-Encoding`` chain (e.g. ``"gzip"`` or ``"gzip, br"``) incrementally.

    Every piece yielded is at most about ``DECODE_CHUNK`` bytes, and pieces are produced
    lazily, so the caller can stop as soon as its size limit is reached: a 10 GB bomb
    costs no more memory than the limit.
    """

    def __init__(self, content_encoding: str | None) -> None:
        names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
        self.stages = [_stage(name) for name in reversed(names) if name != "identity"]
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces for one chunk of raw body bytes."""
        if data:
            self._fed = True
            yield from _through(self.stages, iter([data]))

    def flush(self) -> Iterator[bytes]:
        """Whatever remains at the end of the body; raises DecodingFailed if it was cut short."""
        if not self._fed:  # an empty body with a Content-Encoding header is just empty
            return
        for index, stage in enumerate(self.stages):
            yield from _through(self.stages[index + 1 :], stage.flush())


def _through(stages: list[_Zlib | _Brotli], pieces: Iterator[bytes]) -> Iterator[bytes]:
    for stage in stages:
        pieces = _chain_feed(stage, pieces)
    return pieces


def _chain_feed(stage: _Zlib | _Brotli, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from stage.feed(piece)


def _stage(name: str) -> _Zlib | _Brotli:
    if name in ("gzip", "x-gzip"):
        return _Zlib("gzip")
    if name == "deflate":
        return _Zlib("deflate")
    if name == "br":
        return _Brotli()
    raise DecodingFailed(f"unsupported Content-Encoding {name!r}")


class _Body:
    """Collects decoded bytes up to a limit: fail (or truncate, for sniffing) beyond it.

    The pieces are joined once at the end (a body of one piece is not copied at all),
    not grown in a buffer and copied again."""

    def __init__(self, limit: int, *, truncate: bool = False) -> None:
        self.limit = limit
        self.truncate = truncate
        self.pieces: list[bytes] = []
        self.size = 0
        self.full = False

    def add(self, piece: bytes) -> None:
        if self.size + len(piece) > self.limit:
            if not self.truncate:
                raise _Failure(
                    "too_large", _too_large(self.limit, f"got more than {self.limit:,} bytes")
                )
            piece = piece[: self.limit - self.size]
            self.full = True
        self.pieces.append(piece)
        self.size += len(piece)

    def data(self) -> bytes:
        pieces = self.pieces
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _too_large(limit: int, what: str) -> str:
    return f"body exceeds max_size {_size(limit)} ({what})"


# ---------------------------------------------------------------------------------------------
# The fetcher


@dataclass
class _Answer:
    """One HTTP response of one hop, with its body read (capped)."""

    url: httpx.URL
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    arrived: datetime
    next_request: httpx.Request | None


class _Budget:
    """What is left of one attempt's total deadline; only time spent holding a slot counts."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.left = seconds

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        start = time.monotonic()
        try:
            async with asyncio.timeout(max(self.left, 0.0)) as deadline:
                yield
        except TimeoutError:
            if not deadline.expired():
                raise
            detail = f"total timeout: attempt took longer than {_secs(self.total)}"
            raise _Failure("timeout", detail, retryable=True) from None
        finally:
            self.left -= time.monotonic() - start


class Fetcher:
    """Fetches URLs through ONE shared ``httpx.AsyncClient``; use as an async context manager.

    ``clock`` is what the waits between retries sleep on, what durations, ``fetched_at``
    and Retry-After dates are measured by, and (with the default politeness) what host
    spacing uses. With an explicit ``transport``, proxies from the environment are not
    used (the caller owns routing). The deadlines of one attempt (connect, read, total)
    bound real network I/O and stay on the event loop's time.
    """

    def __init__(
        self,
        settings: FetchSettings = FetchSettings(),  # frozen, so sharing the default is safe
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        politeness: Politeness | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        if politeness is None:
            politeness = LocalPoliteness(
                settings.concurrency, settings.per_host, settings.host_delay, clock=clock
            )
        self._politeness = politeness
        trust = Trust()  # the CA bundle is loaded for the first TLS connection
        self._client = httpx.AsyncClient(
            transport=transport,
            verify=trust.placeholder,
            trust_env=transport is None,
            follow_redirects=False,  # followed hop by hop below, each hop in its own slot
            headers=DEFAULT_HEADERS,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # no shared jar
            event_hooks={"response": [_refuse_other_schemes]},
        )
        check_internals(self._client)
        if transport is None:
            # A small pool per request in flight, and as many idle (transport.py). It
            # replaces the default transport after construction because httpx mounts
            # proxies from the environment only when it builds that transport itself;
            # requests to hosts in NO_PROXY, or with no proxy set, go to the default
            # transport, i.e. to the lanes.
            self._client._transport = LanedTransport(trust, keep=2 * settings.concurrency)
        use_asyncio_backend(self._client, trust)
        without_client_jar(self._client)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared client and its connections."""
        await self._client.aclose()

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """The politeness slot for ``url``'s host, for requests made elsewhere (a
        browser visit): the same global and per-host limits and the same spacing,
        counted from when the slot is given (the visit starts at once)."""
        async with self._politeness.slot(urlsplit(url).hostname or "") as started:
            started()
            yield

    async def fetch(self, url: str, options: FetchOptions) -> FetchResult:
        """GET ``url`` (following redirects, retrying transient failures); raises FetchError."""
        started = self._clock.monotonic()
        target = _parse_url(url)
        reach = options.reach if options.reach is not None else Reach.of(url)
        attempt = 0
        while True:
            attempt += 1
            log.debug("GET %s (attempt %d of %d)", url, attempt, options.retries + 1)
            try:
                answer = await self._attempt(target, options, reach)
            except _Failure as failure:
                await self._clock.sleep(self._retry_delay(url, failure, attempt, options))
                continue
            return _result(url, answer, attempt, self._clock.monotonic() - started)

    def _retry_delay(
        self, url: str, failure: _Failure, attempt: int, options: FetchOptions
    ) -> float:
        """How long to wait before the next attempt, or raise FetchError to give up now."""
        allowed = options.retries + 1 if failure.kind != "blocked" else min(options.retries, 1) + 1
        if not failure.retryable or attempt >= allowed:
            raise failure.error(url, attempt)
        delay = backoff_delay(attempt, options.backoff_base, options.backoff_max)
        if failure.retry_after is not None:
            if failure.retry_after > options.retry_after_max:
                detail = (
                    f"{failure.detail}; server asked to retry after {failure.retry_after:,.0f} s,"
                    f" more than retry_after_max {_secs(options.retry_after_max)}"
                )
                raise failure.error(url, attempt, detail)
            delay = failure.retry_after
        log.warning(
            "retrying %s in %.1f s (attempt %d of %d): %s",
            url,
            delay,
            attempt + 1,
            allowed,
            failure.detail,
        )
        return delay

    async def _attempt(self, target: httpx.URL, options: FetchOptions, reach: Reach) -> _Answer:
        """One attempt: the request and its redirects, within one total deadline."""
        request = self._build_request(target, options)
        jar = _target_cookies(target, options.cookies)
        extra_cookie = next((v for k, v in options.headers.items() if k.lower() == "cookie"), None)
        budget = _Budget(options.total_timeout)
        chain = [str(target)]
        for _ in range(self.settings.max_redirects + 1):
            _set_cookie_header(request, jar, extra_cookie)
            answer = await self._hop(request, jar, options, budget, reach)
            _raise_for_answer(answer)
            if answer.next_request is None:
                return answer
            request = _follow(answer.next_request, chain)
        raise _Failure("redirects", _too_many_redirects(chain, self.settings.max_redirects))

    async def _hop(
        self,
        request: httpx.Request,
        jar: httpx.Cookies,
        options: FetchOptions,
        budget: _Budget,
        reach: Reach,
    ) -> _Answer:
        """Send one request inside a politeness slot and read its (capped) body."""
        url = str(request.url)
        refused = reach.refusal_of_host(url)  # also through a proxy, which resolves names
        if refused is not None:
            raise _Failure("private", refused)
        async with self._politeness.slot(request.url.host) as started, budget.running():
            request.extensions["trace"] = _when_sent(started)
            try:
                with reaching(reach, url):
                    response = await self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise _transport_failure(exc, options) from exc
            started()  # surely gone out by now, whatever the transport told
            try:
                arrived = self._clock.now()
                if "set-cookie" in response.headers:  # parsing costs ~0.2 ms even when empty
                    jar.extract_cookies(response)
                body = await _read_body(response, options.max_size)
            except httpx.HTTPError as exc:
                raise _transport_failure(exc, options) from exc
            finally:
                await response.aclose()
        log.debug("%s %s -> %d", request.method, request.url, response.status_code)
        return _Answer(
            url=request.url,
            status=response.status_code,
            reason=response.reason_phrase,
            headers=response.headers,
            body=body,
            arrived=arrived,
            next_request=response.next_request,
        )

    def _build_request(self, target: httpx.URL, options: FetchOptions) -> httpx.Request:
        headers = httpx.Headers({"User-Agent": options.user_agent})
        if options.etag:
            headers["If-None-Match"] = options.etag
        if options.last_modified:
            headers["If-Modified-Since"] = options.last_modified
        timeout = httpx.Timeout(
            connect=options.connect_timeout,
            read=options.read_timeout,
            write=options.read_timeout,
            pool=options.connect_timeout,
        )
        try:
            headers.update(options.headers)
            return self._client.build_request("GET", target, headers=headers, timeout=timeout)
        except (UnicodeError, ValueError, httpx.HTTPError) as exc:
            raise _Failure("invalid", f"invalid request headers: {_one_line(str(exc))}") from None


def _when_sent(started: Started) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """httpcore's ``trace`` extension, calling ``started`` when the request's head has
    been written: the moment the host's spacing counts from. A proxy tunnel's
    ``CONNECT`` goes to the proxy, so the head written after it is the one."""
    to_host = False

    async def trace(event: str, info: dict[str, Any]) -> None:
        nonlocal to_host
        if event == "http11.send_request_headers.started":
            to_host = getattr(info.get("request"), "method", b"GET") != b"CONNECT"
        elif event == "http11.send_request_headers.complete" and to_host:
            started()

    return trace


@functools.lru_cache(maxsize=4096)  # a target's URL is parsed once, not every check
def _parse_url(url: str) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError("invalid", str(url), f"invalid URL: {exc}") from None
    if target.scheme not in ("http", "https"):
        detail = f"invalid URL: unsupported scheme {target.scheme!r} (only http and https)"
        raise FetchError("invalid", url, detail)
    if not target.host:
        raise FetchError("invalid", url, "invalid URL: no host")
    return target


def _target_cookies(target: httpx.URL, cookies: Mapping[str, str]) -> httpx.Cookies:
    """A jar for one attempt: the target's cookies (bound to its host) plus any set on the way."""
    jar = httpx.Cookies()
    for name, value in cookies.items():
        jar.set(name, value, domain=target.host)
    return jar


def _set_cookie_header(request: httpx.Request, jar: httpx.Cookies, extra: str | None) -> None:
    """Replace the Cookie header with what this hop's host may see (plus an explicit header)."""
    if not jar and extra is None and "cookie" not in request.headers:
        return  # the common case; each pop below scans the headers
    request.headers.pop("cookie", None)
    if jar:  # an empty jar still builds a urllib request to find nothing
        jar.set_cookie_header(request)
    value = "; ".join(v for v in (extra, request.headers.pop("cookie", None)) if v)
    if value:
        request.headers["Cookie"] = value


def _follow(request: httpx.Request, chain: list[str]) -> httpx.Request:
    chain.append(str(request.url))
    if request.url.scheme not in ("http", "https") or not request.url.host:
        raise _Failure("redirects", f"redirect to unsupported URL {_one_line(str(request.url))}")
    return request


async def _refuse_other_schemes(response: httpx.Response) -> None:
    """A redirect to ``data:``, ``javascript:``, ``file:`` … is the page's error, said
    before httpx tries to make a request of it (and fails with InvalidURL)."""
    if not response.has_redirect_location:
        return
    location = response.headers["location"]
    try:
        scheme = urlsplit(urljoin(str(response.request.url), location)).scheme.lower()
    except ValueError:
        return  # not a URL at all: httpx says so ("bad redirect")
    if scheme not in ("http", "https"):
        detail = (
            f"redirect to a {scheme or 'schemeless'}: URL, {_one_line(location, 120)}"
            f" (from {_one_line(str(response.request.url))}); only http and https are followed"
        )
        raise _Failure("redirects", detail)


def _too_many_redirects(chain: list[str], limit: int) -> str:
    for index, url in enumerate(chain):
        if url in chain[:index]:
            loop = " → ".join(chain[chain.index(url) : index + 1])
            return f"redirect loop: {_one_line(loop)} (gave up after {limit} redirects)"
    return f"too many redirects (more than {limit}), last to {_one_line(chain[-1])}"


async def _read_body(response: httpx.Response, max_size: int) -> bytes:
    """Stream and decode the body, never holding more than ``max_size`` decoded bytes."""
    if response.status_code in (204, 304) or response.request.method == "HEAD":
        # no body, but read to its end all the same: otherwise httpcore cannot tell
        # the exchange is over and closes the connection instead of reusing it
        # (measured: a new TCP connection for every 304)
        async for _ in response.aiter_raw():
            pass
        return b""
    sniff = response.has_redirect_location or response.status_code >= 400
    _check_content_length(response, max_size, sniff)
    try:
        decoder = ContentDecoder(response.headers.get("content-encoding"))
        body = _Body(SNIFF_LIMIT if sniff else max_size, truncate=sniff)
        async for raw in response.aiter_raw():
            for piece in decoder.feed(raw):
                body.add(piece)
                if body.full:
                    return body.data()
        for piece in decoder.flush():
            body.add(piece)
    except DecodingFailed as exc:
        if sniff:  # an error page we only wanted to peek at; its status says enough
            return b""
        raise _Failure("decoding", str(exc)) from None
    return body.data()


def _check_content_length(response: httpx.Response, max_size: int, sniff: bool) -> None:
    """Refuse before reading when the server announces a body above the cap."""
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return
    if length > max_size and not sniff:
        raise _Failure("too_large", _too_large(max_size, f"Content-Length: {length:,} bytes"))


def _raise_for_answer(answer: _Answer) -> None:
    """Turn challenge pages and error statuses into failures; pass content and redirects."""
    location = str(answer.next_request.url) if answer.next_request else ""
    cookies = answer.headers.get_list("set-cookie")
    vendor = classify(answer.status, answer.headers, cookies, answer.body, location)
    status = answer.status
    if vendor:
        raise _Failure("blocked", f"blocked by {vendor}", status_code=status, retryable=True)
    if status < 300 or status == 304 or answer.next_request is not None:
        return
    reason = answer.reason or _phrase(status)
    detail = f"HTTP {status} {reason}".strip()
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(answer.headers.get("retry-after"), answer.arrived)
        raise _Failure("http", detail, status_code=status, retryable=True, retry_after=retry_after)
    raise _Failure("http", detail, status_code=status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_TRANSPORT_DETAILS: list[tuple[type[httpx.HTTPError], ErrorKind, str]] = [
    (httpx.ConnectTimeout, "timeout", "connect timeout after {connect}"),
    (httpx.ReadTimeout, "timeout", "read timeout after {read}"),
    (httpx.WriteTimeout, "timeout", "write timeout after {read}"),
    (httpx.PoolTimeout, "timeout", "no free connection after {connect}"),
    (httpx.ProxyError, "connection", "proxy error: {exc}"),
    (httpx.ConnectError, "connection", "cannot connect: {exc}"),
    (httpx.RemoteProtocolError, "connection", "server broke the HTTP protocol: {exc}"),
    (httpx.TransportError, "connection", "network error: {exc}"),
]


def _transport_failure(exc: httpx.HTTPError, options: FetchOptions) -> _Failure:
    """Map an httpx exception to a failure with a short, specific message."""
    text = _one_line(str(exc)) or type(exc).__name__
    cause: BaseException | None = exc
    while cause is not None:  # httpx raises its own error from httpcore's
        if isinstance(cause, Unreachable):
            return _Failure("private", cause.refusal)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return _Failure("invalid", f"invalid request: {text}")
    if isinstance(exc, httpx.RemoteProtocolError) and "location header" in text.lower():
        return _Failure("redirects", f"bad redirect: {text}")
    for exc_type, kind, template in _TRANSPORT_DETAILS:
        if isinstance(exc, exc_type):
            connect, read = _secs(options.connect_timeout), _secs(options.read_timeout)
            detail = template.format(exc=text, connect=connect, read=read)
            return _Failure(kind, detail, retryable=True)
    return _Failure("connection", f"HTTP client error: {text}", retryable=True)


def _result(url: str, answer: _Answer, attempts: int, duration: float) -> FetchResult:
    encoding = answer.headers.encoding
    headers = [(k.decode(encoding), v.decode(encoding)) for k, v in answer.headers.raw]
    return FetchResult(
        url=url,
        final_url=str(answer.url),
        status_code=answer.status,
        headers=headers,
        body=answer.body if answer.status != 304 else b"",
        fetched_at=answer.arrived,
        duration=duration,
        attempts=attempts,
        not_modified=answer.status == 304,
    )
