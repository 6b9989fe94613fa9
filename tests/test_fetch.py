"""watcher.fetch.client against a real HTTP server on 127.0.0.1 serving real bytes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import re
import threading
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from clock import PATIENCE, FakeClock, eventually, settle
from httpserver import (
    HTTPServer,
    Request,
    Response,
    RouteStats,
    brotli_bomb,
    compress,
    free_port,
    gzip_bomb,
    zeros,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.fetch.challenges import CHALLENGES, classify
from watcher.fetch.client import (
    DECODE_CHUNK,
    ContentDecoder,
    DecodingFailed,
    Fetcher,
    FetchError,
    FetchOptions,
    FetchSettings,
    backoff_delay,
    parse_retry_after,
)
from watcher.fetch.politeness import LocalPoliteness, Started

FAST = FetchOptions(backoff_base=0.01, backoff_max=0.05)
GBK_PAGE = (
    "<html><title>工业和信息化部</title><p>关于船舶工业高质量发展的通知。</p></html>\n" * 4000
).encode("gbk")


@pytest.fixture
def clock() -> FakeClock:
    """The fetcher's clock: retry waits end at once in virtual time and are recorded."""
    return FakeClock()


@pytest.fixture
async def fetcher(clock: FakeClock) -> AsyncIterator[Fetcher]:
    async with clock.autojump(), Fetcher(FetchSettings(host_delay=0), clock=clock) as f:
        yield f


class StartTimes(LocalPoliteness):
    """LocalPoliteness that notes when, by its clock, it let each request go."""

    def __init__(self, clock: FakeClock, **limits: float) -> None:
        super().__init__(**limits, clock=clock)  # type: ignore[arg-type]
        self.starts: list[float] = []
        self._started_by = clock

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[Started]:
        async with super().slot(host) as started:
            self.starts.append(self._started_by.monotonic())
            yield started


def answered_in_groups(server: HTTPServer, path: str, size: int, total: int) -> RouteStats:
    """Route ``path`` so that answers go out in groups of ``size`` arrivals: request k is
    held until the last request of its group came (30 s at most). So ``size`` requests
    surely overlap, on a machine of any speed, if the client lets them."""

    def handler(request: Request) -> Response:
        arrived = stats.hits  # this request's number, counted before the handler runs
        group_end = min(-(-arrived // size) * size, total)
        return Response(200, b"ok", delay=30, hold=lambda: stats.hits >= group_end)

    stats = server.route(path, handler=handler)
    return stats


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 9) for a, b in itertools.pairwise(times)]


async def fetch_error(fetcher: Fetcher, url: str, options: FetchOptions = FAST) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url, options)
    return info.value


# --- plain answers ---------------------------------------------------------------------------


async def test_200_returns_body_headers_and_timing(
    http_server: HTTPServer, fetcher: Fetcher, clock: FakeClock
):
    headers = [("Content-Type", "text/html; charset=gbk"), ("Set-Cookie", "a=1"), ("X-Mix", "Ab")]
    http_server.route("/page", GBK_PAGE, headers=[*headers, ("Set-Cookie", "b=2")])
    result = await fetcher.fetch(http_server.url("/page"), FAST)
    assert result.status_code == 200 and result.body == GBK_PAGE
    assert result.url == result.final_url == http_server.url("/page")
    assert [h for h in result.headers if h[0] in ("Set-Cookie", "X-Mix")] == [
        ("Set-Cookie", "a=1"),
        ("X-Mix", "Ab"),
        ("Set-Cookie", "b=2"),
    ]
    assert result.header("content-type") == "text/html; charset=gbk"
    assert result.fetched_at.tzinfo is not None and result.fetched_at.utcoffset() == timedelta(0)
    assert result.fetched_at == clock.now()  # stamped by the fetcher's clock
    assert result.attempts == 1 and result.duration == 0 and not result.not_modified


async def test_default_request_headers(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route("/page", b"ok")
    await fetcher.fetch(http_server.url("/page"), FAST)
    sent = http_server.requests("/page")[0].headers
    assert sent["accept-encoding"] == "gzip, deflate, br"
    assert sent["accept-language"] == "zh-CN,zh;q=0.9,en;q=0.5"
    assert sent["accept"].startswith("text/html")
    assert sent["user-agent"] == "watcher/0.1 (+change monitoring)"
    assert "cookie" not in sent and "if-none-match" not in sent


async def test_404_is_an_http_error_and_not_retried(
    http_server: HTTPServer, fetcher: Fetcher, clock: FakeClock
):
    http_server.route("/gone", b"nope", status=404)
    error = await fetch_error(fetcher, http_server.url("/gone"))
    assert (error.kind, error.status_code, error.attempts) == ("http", 404, 1)
    assert str(error) == f"{http_server.url('/gone')} → HTTP 404 Not Found"
    assert http_server.hits("/gone") == 1 and clock.slept == []


# --- redirects -------------------------------------------------------------------------------


async def test_redirect_chain_of_three(http_server: HTTPServer, fetcher: Fetcher):
    http_server.redirect("/r1", "/r2", status=301)
    http_server.redirect("/r2", "/r3", status=307)
    http_server.redirect("/r3", http_server.url("/final"), status=308)
    http_server.route("/final", b"arrived")
    result = await fetcher.fetch(http_server.url("/r1"), FAST)
    assert result.body == b"arrived" and result.status_code == 200
    assert result.url == http_server.url("/r1") and result.final_url == http_server.url("/final")
    assert [http_server.hits(p) for p in ("/r1", "/r2", "/r3", "/final")] == [1, 1, 1, 1]


async def test_redirect_loop_is_an_error(http_server: HTTPServer, fetcher: Fetcher):
    http_server.redirect("/a", "/b")
    http_server.redirect("/b", "/a")
    error = await fetch_error(fetcher, http_server.url("/a"))
    assert error.kind == "redirects" and error.attempts == 1
    assert "redirect loop" in str(error) and http_server.url("/b") in str(error)


@pytest.mark.parametrize(("count", "ok"), [(10, True), (11, False)])
async def test_at_most_max_redirects(
    http_server: HTTPServer, fetcher: Fetcher, count: int, ok: bool
):
    for i in range(count):
        http_server.redirect(f"/r{i}", f"/r{i + 1}")
    http_server.route(f"/r{count}", b"end")
    if ok:
        assert (await fetcher.fetch(http_server.url("/r0"), FAST)).body == b"end"
        return
    error = await fetch_error(fetcher, http_server.url("/r0"))
    assert error.kind == "redirects" and "more than 10" in str(error)
    assert http_server.hits(f"/r{count}") == 0


async def test_redirect_to_unsupported_scheme(http_server: HTTPServer, fetcher: Fetcher):
    http_server.redirect("/r", "ftp://127.0.0.1/file")
    error = await fetch_error(fetcher, http_server.url("/r"))
    assert error.kind == "redirects" and "ftp://127.0.0.1/file" in str(error)


# --- conditional requests --------------------------------------------------------------------


async def test_304_on_matching_etag(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route("/page", b"body", headers={"ETag": '"v7"'})
    result = await fetcher.fetch(http_server.url("/page"), FetchOptions(etag='"v7"'))
    assert result.not_modified and result.status_code == 304 and result.body == b""
    assert result.header("etag") == '"v7"'
    assert http_server.requests("/page")[0].headers["if-none-match"] == '"v7"'


async def test_changed_etag_gets_the_body(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route("/page", b"new body", headers={"ETag": '"v8"'})
    result = await fetcher.fetch(http_server.url("/page"), FetchOptions(etag='"v7"'))
    assert not result.not_modified and result.body == b"new body"


async def test_304_on_last_modified(http_server: HTTPServer, fetcher: Fetcher):
    stamp = "Tue, 03 Jun 2025 08:00:00 GMT"
    http_server.route("/page", b"body", headers={"Last-Modified": stamp})
    result = await fetcher.fetch(http_server.url("/page"), FetchOptions(last_modified=stamp))
    assert result.not_modified and result.body == b""
    assert http_server.requests("/page")[0].headers["if-modified-since"] == stamp


# --- retries ---------------------------------------------------------------------------------


async def test_500_then_200_succeeds_on_second_attempt(
    http_server: HTTPServer, fetcher: Fetcher, clock: FakeClock
):
    http_server.route("/flaky", sequence=[Response(500), Response(200, b"fine")])
    start = clock.now()
    result = await fetcher.fetch(http_server.url("/flaky"), FAST)
    assert result.body == b"fine" and result.attempts == 2
    assert http_server.hits("/flaky") == 2 and len(clock.slept) == 1
    # the duration and the arrival are the clock's: the retry's wait is in both
    assert result.duration == pytest.approx(clock.slept[0]) and result.duration > 0
    assert result.fetched_at == clock.now() == start + timedelta(seconds=result.duration)


async def test_503_forever_gives_up_after_retries(
    http_server: HTTPServer, fetcher: Fetcher, clock: FakeClock
):
    http_server.route("/down", status=503)
    options = FetchOptions(retries=3, backoff_base=0.5, backoff_max=0.8)
    error = await fetch_error(fetcher, http_server.url("/down"), options)
    assert (
        str(error) == f"{http_server.url('/down')} → HTTP 503 Service Unavailable after 4 attempts"
    )
    assert (error.kind, error.status_code, error.attempts) == ("http", 503, 4)
    assert http_server.hits("/down") == 4
    ceilings = [0.5, 0.8, 0.8]  # base * 2**(n-1), capped by backoff_max
    assert len(clock.slept) == 3
    assert all(0 <= d <= c for d, c in zip(clock.slept, ceilings, strict=True))


async def test_retry_is_logged_as_warning_with_reason(
    http_server: HTTPServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
):
    http_server.route("/flaky", sequence=[Response(502), Response(200, b"ok")])
    with caplog.at_level(logging.DEBUG, logger="watcher.fetch.client"):
        await fetcher.fetch(http_server.url("/flaky"), FAST)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "HTTP 502 Bad Gateway" in warnings[0]
    assert any(r.levelno == logging.DEBUG and "attempt 1" in r.getMessage() for r in caplog.records)


async def test_429_honours_retry_after_seconds(
    http_server: HTTPServer, fetcher: Fetcher, clock: FakeClock
):
    http_server.route(
        "/busy", sequence=[Response(429, headers={"Retry-After": "1"}), Response(200, b"ok")]
    )
    result = await fetcher.fetch(http_server.url("/busy"), FAST)
    assert result.body == b"ok" and result.attempts == 2
    assert clock.slept == [1.0]


async def test_retry_after_as_http_date(
    http_server: HTTPServer, fetcher: Fetcher, clock: FakeClock
):
    """The date is read against the fetcher's clock at the answer's arrival."""
    when = format_datetime(clock.now() + timedelta(seconds=3), usegmt=True)
    http_server.route(
        "/busy", sequence=[Response(503, headers={"Retry-After": when}), Response(200, b"ok")]
    )
    assert (await fetcher.fetch(http_server.url("/busy"), FAST)).body == b"ok"
    assert clock.slept == [3.0]


async def test_retry_after_above_cap_fails_now(
    http_server: HTTPServer, fetcher: Fetcher, clock: FakeClock
):
    http_server.route("/busy", status=429, headers={"Retry-After": "3600"})
    error = await fetch_error(fetcher, http_server.url("/busy"), FAST)
    assert (error.kind, error.status_code, error.attempts) == ("http", 429, 1)
    assert "HTTP 429 Too Many Requests" in str(error)
    assert "retry after 3,600 s" in str(error) and "retry_after_max 300 s" in str(error)
    assert http_server.hits("/busy") == 1 and clock.slept == []


async def test_retries_wait_outside_the_host_slot(http_server: HTTPServer):
    """With one slot per host, a sleeping retry must not block another request to the host."""
    http_server.route("/flaky", sequence=[Response(500), Response(200, b"ok")])
    http_server.route("/other", b"other")
    clock = FakeClock()
    settings = FetchSettings(per_host=1, concurrency=1, host_delay=0)
    async with Fetcher(settings, clock=clock) as fetcher:
        flaky = asyncio.create_task(fetcher.fetch(http_server.url("/flaky"), FAST))
        await clock.sleeping()  # the retry's wait; time stands still meanwhile
        other = await asyncio.wait_for(fetcher.fetch(http_server.url("/other"), FAST), PATIENCE)
        assert other.body == b"other" and not flaky.done()
        await clock.advance(clock.waits()[0])
        result = await asyncio.wait_for(flaky, PATIENCE)
    assert result.body == b"ok" and result.attempts == 2


# --- timeouts --------------------------------------------------------------------------------


async def test_slow_headers_hit_the_read_timeout(http_server: HTTPServer, fetcher: Fetcher):
    # the answer would come after 30 s: only the timeout can end the fetch with an error
    http_server.route("/slow", b"late", delay=30)
    options = FetchOptions(read_timeout=0.2, retries=0)
    error = await fetch_error(fetcher, http_server.url("/slow"), options)
    assert error.kind == "timeout" and "read timeout after 0.2 s" in str(error)


async def test_trickling_body_hits_the_total_timeout(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route("/trickle", b"x" * 400, chunk_size=1, chunk_delay=0.05)  # 20 s in all
    options = FetchOptions(read_timeout=1, total_timeout=0.5, retries=0)
    error = await fetch_error(fetcher, http_server.url("/trickle"), options)
    assert error.kind == "timeout" and "total timeout" in str(error) and "0.5 s" in str(error)


async def test_waiting_for_a_slot_does_not_count_against_the_total_timeout(
    http_server: HTTPServer,
):
    """The attempt's deadline (real time: it bounds network I/O) starts with the slot."""
    http_server.route("/page", b"ok")
    options = FetchOptions(total_timeout=1.0, retries=0)
    url = http_server.url("/page")
    async with Fetcher(FetchSettings(concurrency=1, per_host=1, host_delay=0)) as fetcher:
        async with fetcher.slot(url):  # held, as a browser visit would hold it
            waiting = asyncio.create_task(fetcher.fetch(url, options))
            # more than the whole deadline must really pass; a slower machine waits longer
            await asyncio.sleep(1.5)
            assert http_server.hits("/page") == 0 and not waiting.done()
        assert (await asyncio.wait_for(waiting, PATIENCE)).body == b"ok"


async def test_connection_refused_is_retried_then_reported(fetcher: Fetcher, clock: FakeClock):
    url = f"http://127.0.0.1:{free_port()}/"
    error = await fetch_error(fetcher, url, FetchOptions(retries=1, backoff_base=0.01))
    assert (error.kind, error.attempts, len(clock.slept)) == ("connection", 2, 1)
    assert str(error).startswith(f"{url} → cannot connect") and "after 2 attempts" in str(error)


async def test_body_shorter_than_content_length_is_a_connection_error(
    http_server: HTTPServer, fetcher: Fetcher
):
    http_server.route("/cut", b"0123456789", content_length=100)
    error = await fetch_error(fetcher, http_server.url("/cut"), FetchOptions(retries=1))
    assert error.kind == "connection" and error.attempts == 2


# --- size caps and decompression -------------------------------------------------------------


async def peak_memory(work: Callable[[], Awaitable[object]]) -> int:
    """Peak bytes allocated by Python while ``work`` runs."""
    tracemalloc.start()
    try:
        await work()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


async def test_content_length_above_cap_fails_before_reading(
    http_server: HTTPServer, fetcher: Fetcher
):
    # If the client read this body it would take 100 s: 0.5 s before each 64 KB; and the
    # message would be the one of a body found too large while reading, not this one.
    http_server.route("/big", zeros(10**9), content_length=10**9, chunk_delay=0.5)
    error = await fetch_error(fetcher, http_server.url("/big"), FetchOptions(max_size=1_000_000))
    assert error.kind == "too_large" and error.attempts == 1
    assert "max_size 1.0 MB" in str(error) and "Content-Length: 1,000,000,000 bytes" in str(error)


async def test_chunked_body_above_cap_stops_early_with_small_memory(
    http_server: HTTPServer, fetcher: Fetcher
):
    served: list[int] = []

    def counted_zeros() -> Iterator[bytes]:  # 1 GB, chunked, no Content-Length
        for piece in zeros(10**9)():
            served.append(len(piece))
            yield piece

    stats = http_server.route("/huge", counted_zeros)
    options = FetchOptions(max_size=1_000_000)
    errors: list[FetchError] = []

    async def work() -> None:
        errors.append(await fetch_error(fetcher, http_server.url("/huge"), options))

    peak = await peak_memory(work)
    assert errors[0].kind == "too_large" and errors[0].attempts == 1
    assert "body exceeds max_size 1.0 MB (got more than 1,000,000 bytes)" in str(errors[0])
    assert peak < 6_000_000
    # stopped early: the client hung up, and the server got rid of a few socket buffers'
    # worth beyond the megabyte, not of the gigabyte
    await eventually(lambda: stats.in_flight == 0, "the server to see the hang-up")
    assert sum(served) < 64_000_000


@pytest.mark.parametrize(
    ("encoding", "header"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),  # zlib-wrapped, as the RFC says
        ("deflate-raw", "deflate"),  # raw, as some servers send it
        ("br", "br"),
    ],
)
async def test_compressed_bodies_are_decoded(
    http_server: HTTPServer, fetcher: Fetcher, encoding: str, header: str
):
    http_server.route("/z", compress(GBK_PAGE, encoding), headers={"Content-Encoding": header})
    result = await fetcher.fetch(http_server.url("/z"), FAST)
    assert result.body == GBK_PAGE and result.header("content-encoding") == header


async def test_stacked_encodings_are_undone_in_reverse(http_server: HTTPServer, fetcher: Fetcher):
    body = compress(compress(GBK_PAGE, "gzip"), "br")
    http_server.route("/z", body, headers={"Content-Encoding": "gzip, br"})
    assert (await fetcher.fetch(http_server.url("/z"), FAST)).body == GBK_PAGE


async def test_decoded_size_counts_against_the_cap(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route(
        "/z", compress(bytes(2_000_000), "gzip"), headers={"Content-Encoding": "gzip"}
    )
    error = await fetch_error(fetcher, http_server.url("/z"), FetchOptions(max_size=1_000_000))
    assert error.kind == "too_large"


@pytest.mark.parametrize("encoding", ["gzip", "br"])
async def test_compression_bomb_fails_fast_with_small_memory(
    http_server: HTTPServer, fetcher: Fetcher, encoding: str
):
    body = gzip_bomb(1 << 30) if encoding == "gzip" else brotli_bomb(1 << 30)  # 1 GiB of zeros
    http_server.route("/bomb", body, headers={"Content-Encoding": encoding})
    errors: list[FetchError] = []

    async def work() -> None:
        errors.append(
            await fetch_error(fetcher, http_server.url("/bomb"), FetchOptions(max_size=10**6))
        )

    peak = await peak_memory(work)
    assert errors[0].kind == "too_large" and "1,000,000 bytes" in str(errors[0])
    assert peak < 6_000_000  # decoded piece by piece: the GiB is never there to be held


async def test_unknown_encoding_is_a_decoding_error(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route("/z", b"\x28\xb5\x2f\xfd data", headers={"Content-Encoding": "zstd"})
    error = await fetch_error(fetcher, http_server.url("/z"))
    assert error.kind == "decoding" and "'zstd'" in str(error) and http_server.hits("/z") == 1


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b"this is not gzip at all", "gzip"),
        (compress(GBK_PAGE, "gzip")[:-20], "gzip"),  # truncated
        (compress(GBK_PAGE, "br")[:-20], "br"),
    ],
    ids=["not-gzip", "truncated-gzip", "truncated-br"],
)
async def test_corrupt_or_truncated_compressed_body(
    http_server: HTTPServer, fetcher: Fetcher, body: bytes, encoding: str
):
    http_server.route("/z", body, headers={"Content-Encoding": encoding})
    error = await fetch_error(fetcher, http_server.url("/z"))
    assert error.kind == "decoding" and encoding in str(error)


# --- per-target headers and cookies ----------------------------------------------------------


async def test_per_target_ua_headers_cookies_do_not_leak(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route("/a", b"a")
    http_server.route("/b", b"b")
    special = FetchOptions(
        user_agent="Mozilla/5.0 special",
        headers={"Referer": "https://www.miit.gov.cn/", "Accept-Language": "en"},
        cookies={"sid": "secret", "lang": "zh"},
    )
    await asyncio.gather(
        fetcher.fetch(http_server.url("/a"), special), fetcher.fetch(http_server.url("/b"), FAST)
    )
    a, b = http_server.requests("/a")[0], http_server.requests("/b")[0]
    assert a.headers["user-agent"] == "Mozilla/5.0 special"
    assert a.headers["referer"] == "https://www.miit.gov.cn/"
    assert a.headers["accept-language"] == "en"
    assert a.cookies == {"sid": "secret", "lang": "zh"}
    assert b.headers["user-agent"] == "watcher/0.1 (+change monitoring)"
    assert "referer" not in b.headers and "cookie" not in b.headers
    assert b.headers["accept-language"].startswith("zh-CN")


async def test_cookie_set_on_a_redirect_is_sent_on_within_that_fetch_only(
    http_server: HTTPServer, fetcher: Fetcher
):
    http_server.route(
        "/start", status=302, headers=[("Location", "/next"), ("Set-Cookie", "hop=1; Path=/")]
    )
    http_server.route("/next", b"ok")
    await fetcher.fetch(http_server.url("/start"), FetchOptions(cookies={"sid": "s"}))
    await fetcher.fetch(http_server.url("/next"), FAST)
    with_cookie, later = http_server.requests("/next")
    assert with_cookie.cookies == {"sid": "s", "hop": "1"}
    assert "cookie" not in later.headers


async def test_header_with_non_ascii_value_is_invalid(http_server: HTTPServer, fetcher: Fetcher):
    options = FetchOptions(headers={"Referer": "https://工信部.中国/"})
    error = await fetch_error(fetcher, http_server.url("/x"), options)
    assert error.kind == "invalid" and error.url == http_server.url("/x")
    assert http_server.hits("/x") == 0


# --- politeness and isolation ----------------------------------------------------------------


async def test_per_host_limit_and_spacing(http_server: HTTPServer):
    stats = answered_in_groups(http_server, "/slow", size=2, total=6)
    clock = FakeClock()
    politeness = StartTimes(clock, per_host=2, host_delay=0.1)
    async with clock.autojump(), Fetcher(politeness=politeness, clock=clock) as fetcher:
        await asyncio.gather(*(fetcher.fetch(http_server.url("/slow"), FAST) for _ in range(6)))
    assert stats.hits == 6 and stats.max_in_flight == 2
    assert min(gaps(politeness.starts)) >= 0.1  # by the clock the spacing is measured on


async def test_host_delay_spaces_request_starts(http_server: HTTPServer):
    """Each start waits ``host_delay`` after the one before, by the fetcher's clock; the
    test moves that clock, so a busy machine can neither squeeze nor hide the spacing."""
    stats = http_server.route("/fast", b"ok")
    clock = FakeClock()
    start = clock.monotonic()
    async with Fetcher(FetchSettings(per_host=8, host_delay=0.15), clock=clock) as fetcher:
        fetches = asyncio.gather(*(fetcher.fetch(http_server.url("/fast"), FAST) for _ in range(4)))
        for sent in range(1, 4):
            await eventually(lambda n=sent: stats.hits >= n, f"request {sent}")
            await clock.sleeping()  # the next request waits its turn ...
            assert gaps([0, *clock.waits()]) == [0.15]  # ... for host_delay by the clock
            assert stats.hits == sent  # and nothing else goes out meanwhile
            await clock.advance(0.15)
        await asyncio.wait_for(fetches, PATIENCE)
    assert stats.hits == 4 and round(clock.monotonic() - start, 9) == 0.45


async def test_host_delay_counts_from_when_the_request_went_out(tls_site) -> None:
    """A new connection's handshake may outlast ``host_delay``. The next request to the
    host, on a connection kept alive, must still reach the site ``host_delay`` after the
    first one did, not with it: the site's view, timed by the fetcher's clock."""
    server_ctx = tls_site
    clock = FakeClock()
    start = clock.monotonic()
    seen: dict[str, float] = {}  # path: when the site had the request's head, by the clock
    x_may_answer = threading.Event()

    def noting(**answer: object) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            seen[request.path] = round(clock.monotonic() - start, 9)
            return Response(200, b"ok", **answer)  # type: ignore[arg-type]

        return handler

    with HTTPServer(tls=server_ctx) as site:
        site.route("/x", handler=noting(hold=x_may_answer.is_set, delay=30))
        site.route("/a", handler=noting())
        site.route("/b", handler=noting())
        async with Fetcher(FetchSettings(per_host=2, host_delay=0.1), clock=clock) as fetcher:
            x = asyncio.create_task(fetcher.fetch(site.url("/x"), FAST))
            await eventually(lambda: "/x" in seen, "the first request")
            site.accepting.clear()  # a new connection now waits in its TLS handshake
            a = asyncio.create_task(fetcher.fetch(site.url("/a"), FAST))
            await clock.sleeping()
            await clock.advance(0.1)  # a's turn: a new connection, as x holds the other
            x_may_answer.set()
            await asyncio.wait_for(x, PATIENCE)  # x's connection is free, kept alive
            b = asyncio.create_task(fetcher.fetch(site.url("/b"), FAST))
            await clock.advance(0.1)  # host_delay after a's turn, a still shaking hands
            site.accepting.set()
            await eventually(
                lambda: "/a" in seen and ("/b" in seen or bool(clock.waits())), "a, then b"
            )
            if "/b" not in seen:
                assert clock.waits() == [pytest.approx(0.1)]  # host_delay after a went out
                await clock.advance(0.1)
            await asyncio.wait_for(asyncio.gather(a, b), PATIENCE)
    assert seen == {"/x": 0.0, "/a": 0.2, "/b": 0.3}


async def test_global_concurrency_limit(http_server: HTTPServer):
    stats = answered_in_groups(http_server, "/slow", size=3, total=8)
    async with Fetcher(FetchSettings(concurrency=3, per_host=10, host_delay=0)) as fetcher:
        await asyncio.gather(*(fetcher.fetch(http_server.url("/slow"), FAST) for _ in range(8)))
    assert stats.hits == 8 and stats.max_in_flight == 3


async def test_one_bad_target_does_not_hold_up_the_others(http_server: HTTPServer):
    """While one request hangs in its slot, the others to the same host get through."""
    hang = http_server.route("/hang", b"never", delay=60)
    http_server.route("/down", status=503)
    for i in range(5):
        http_server.route(f"/ok{i}", f"page {i}".encode())
    async with Fetcher(FetchSettings(per_host=4, host_delay=0)) as fetcher:
        hung = asyncio.create_task(
            fetcher.fetch(http_server.url("/hang"), FetchOptions(read_timeout=60, retries=0))
        )
        await eventually(lambda: hang.in_flight == 1, "the hanging request")
        with pytest.raises(FetchError):
            await asyncio.wait_for(fetcher.fetch(http_server.url("/down"), FAST), PATIENCE)
        pages = await asyncio.wait_for(
            asyncio.gather(*(fetcher.fetch(http_server.url(f"/ok{i}"), FAST) for i in range(5))),
            PATIENCE,
        )
        assert [p.body for p in pages] == [f"page {i}".encode() for i in range(5)]
        assert not hung.done() and hang.in_flight == 1  # all that, while it still hung
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung


async def test_cancelled_waiter_does_not_leak_a_slot():
    politeness = LocalPoliteness(concurrency=1, per_host=1, host_delay=0)
    async with politeness.slot("a.example"):
        waiter = asyncio.create_task(_enter_and_leave(politeness, "a.example"))
        await settle()  # the waiter now waits for the slot
        assert not waiter.done()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await asyncio.wait_for(_enter_and_leave(politeness, "a.example"), PATIENCE)
    await asyncio.wait_for(_enter_and_leave(politeness, "b.example"), PATIENCE)


async def _enter_and_leave(politeness: LocalPoliteness, host: str) -> None:
    async with politeness.slot(host):
        pass


# --- anti-bot answers ------------------------------------------------------------------------

BLOCKED_CASES = {
    f"{row.vendor.split(' ')[0]}-{sample.status}": (row, sample)
    for row in CHALLENGES
    for sample in row.samples()
}


def test_the_table_covers_every_status_and_vendor_of_the_research() -> None:
    statuses = {sample.status for _, sample in BLOCKED_CASES.values()}
    assert statuses >= {200, 202, 403, 405, 412, 468, 503, 521}
    vendors = " ".join(row.vendor for row in CHALLENGES)
    for name in ("加速乐", "瑞数", "WZWS", "安全狗", "云锁", "创宇盾", "Cloudflare", "安全验证"):
        assert name in vendors


@pytest.mark.parametrize("case", BLOCKED_CASES)
async def test_anti_bot_answers_are_blocked_and_retried_once(
    http_server: HTTPServer, fetcher: Fetcher, case: str
):
    """Every row of the table, served for real, whatever its status: blocked, with the
    vendor named (a 200 challenge is never content)."""
    row, sample = BLOCKED_CASES[case]
    http_server.route("/p", sample.bytes(), status=sample.status, headers=list(sample.headers))
    error = await fetch_error(fetcher, http_server.url("/p"), FetchOptions(retries=3))
    assert (error.kind, error.status_code, error.attempts) == ("blocked", sample.status, 2)
    assert f"blocked by {row.vendor}: HTTP {sample.status}" in str(error)
    assert http_server.hits("/p") == 2


PAGES = Path(__file__).parent / "fixtures" / "pages"
REAL_PAGES = sorted(str(p.relative_to(PAGES)) for p in PAGES.glob("*.gov.cn/*.html"))


def security_notice(small: bool) -> bytes:
    """A real gov.cn page turned into a notice about 网络安全验证 (and, small, cut
    down to its head and first paragraphs, under the size the generic markers look at)."""
    page = (PAGES / "gov.cn" / "gongbao_2007-23_content_711039.html").read_text(encoding="utf-8")
    title = "关于开展网络安全验证和访问验证工作的通知"
    page = re.sub(r"<title>.*?</title>", f"<title>{title}</title>", page, flags=re.S)
    body = (
        f"<p>{title}。各有关单位：为做好网络安全验证工作，请按要求完成访问验证、"
        "人机验证和滑动验证功能的安全评估，拖动滑块等交互方式应符合无障碍要求。"
        "请于2026年12月31日前将安全验证工作总结报送工业和信息化部网络安全管理局。</p>" * 2
    )
    page = page.replace("<body", f"<body><div id='UCAP-CONTENT'>{body}</div><x", 1)
    if small:
        head = page[: page.index("</head>") + len("</head>")]
        page = f"{head}<body><div id='UCAP-CONTENT'>{body}</div></body></html>"
        assert len(page.encode()) < 16 * 1024
    return page.encode()


@pytest.mark.parametrize("name", [*REAL_PAGES, "security-notice", "small-security-notice"])
async def test_ordinary_pages_stay_content(http_server: HTTPServer, fetcher: Fetcher, name: str):
    """Real government pages, and notices that merely speak of 安全验证, are content."""
    if name.endswith("security-notice"):
        body = security_notice(small=name.startswith("small"))
    else:
        body = (PAGES / name).read_bytes()
    http_server.route("/p", body, headers={"Content-Type": "text/html; charset=utf-8"})
    result = await fetcher.fetch(http_server.url("/p"), FAST)
    assert result.status_code == 200 and result.body == body


def test_classifying_an_answer_is_cheap() -> None:
    """It runs on every answer: a large real page costs well under a millisecond."""
    import time

    import httpx

    body = (PAGES / "cmse.gov.cn" / "article_t20120624_43188.html").read_bytes()
    headers = httpx.Headers({"Content-Type": "text/html", "Server": "nginx"})
    started = time.perf_counter()
    for _ in range(100):
        assert classify(200, headers, [], body) is None
    assert (time.perf_counter() - started) / 100 < 0.005  # measured: about 0.02 ms


async def test_redirect_to_wzws_challenge_is_blocked(http_server: HTTPServer, fetcher: Fetcher):
    http_server.redirect("/p", "/WZWSREL?wzwschallenge=V1pXU19DT05G")
    error = await fetch_error(fetcher, http_server.url("/p"), FetchOptions(retries=0))
    assert error.kind == "blocked" and "WZWS" in str(error)
    assert http_server.hits("/WZWSREL") == 0


async def test_plain_412_is_an_ordinary_http_error(http_server: HTTPServer, fetcher: Fetcher):
    http_server.route("/p", b"precondition failed", status=412)
    error = await fetch_error(fetcher, http_server.url("/p"))
    assert (error.kind, error.attempts) == ("http", 1)


# --- invalid input, proxies, errors ----------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["", "not a url", "ftp://127.0.0.1/x", "http://", "http://[::1", "file:///etc/passwd"]
)
async def test_invalid_urls(fetcher: Fetcher, url: str):
    error = await fetch_error(fetcher, url)
    assert error.kind == "invalid" and error.url == url and "\n" not in str(error)


async def test_proxy_from_environment_is_used(
    http_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
):
    """The test server doubles as a proxy: the request reaches it in absolute form."""
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, http_server.base_url)
    http_server.route("/via-proxy", b"proxied")
    async with Fetcher(FetchSettings(host_delay=0)) as fetcher:
        result = await fetcher.fetch("http://watcher-test.invalid/via-proxy", FAST)
    assert result.body == b"proxied"
    assert http_server.requests("/via-proxy")[0].target == "http://watcher-test.invalid/via-proxy"


async def test_no_proxy_keeps_loopback_direct(
    http_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port()}")
    http_server.route("/direct", b"direct")
    async with Fetcher(FetchSettings(host_delay=0)) as fetcher:
        assert (await fetcher.fetch(http_server.url("/direct"), FAST)).body == b"direct"


def test_fetch_error_pickles_and_keeps_its_fields():
    error = FetchError(
        "http", "https://x/", "HTTP 503 Service Unavailable", status_code=503, attempts=4
    )
    assert str(error) == "https://x/ → HTTP 503 Service Unavailable after 4 attempts"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.url, copy.status_code, copy.attempts, str(copy)) == (
        "http",
        "https://x/",
        503,
        4,
        str(error),
    )


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError):
        FetchOptions(read_timeout=0)
    with pytest.raises(ValueError):
        FetchSettings(per_host=0)


# --- properties of the pure helpers ----------------------------------------------------------

ENCODINGS = ["gzip", "deflate", "deflate-raw", "br"]


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000) | st.text(max_size=1000).map(lambda s: (s * 50).encode()),
    encoding=st.sampled_from(ENCODINGS),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=8),
)
def test_decoder_round_trips_any_chunking(data: bytes, encoding: str, cuts: list[int]):
    raw = compress(data, encoding)
    header = "deflate" if encoding == "deflate-raw" else encoding
    decoder = ContentDecoder(header)
    points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    pieces = [p for a, b in itertools.pairwise(points) for p in decoder.feed(raw[a:b])]
    pieces += list(decoder.flush())
    assert b"".join(pieces) == data
    assert all(len(p) <= 2 * DECODE_CHUNK for p in pieces)


def test_decoder_yields_bounded_pieces_lazily_from_a_bomb():
    decoder = ContentDecoder("br")
    pieces = decoder.feed(brotli_bomb(1 << 30))
    first = [next(pieces) for _ in range(3)]  # would take seconds and GBs if not lazy
    assert all(0 < len(p) <= 2 * DECODE_CHUNK and not any(p) for p in first)


def test_decoder_rejects_unknown_encodings():
    with pytest.raises(DecodingFailed):
        ContentDecoder("compress")
    assert list(ContentDecoder("identity").feed(b"abc")) == [b"abc"]


def test_empty_body_with_content_encoding_is_empty():
    decoder = ContentDecoder("gzip")
    assert list(decoder.feed(b"")) == [] and list(decoder.flush()) == []


def test_concatenated_gzip_members_form_one_body():
    raw = compress(b"first ", "gzip") + compress(b"second", "gzip")
    decoder = ContentDecoder("gzip")
    assert b"".join([*decoder.feed(raw), *decoder.flush()]) == b"first second"


@given(
    attempt=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=100),
    rand=st.floats(min_value=0, max_value=1),
)
def test_backoff_is_full_jitter_under_the_cap(attempt: int, base: float, cap: float, rand: float):
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    delay = backoff_delay(attempt, base, cap, rand=lambda: rand)
    assert 0 <= delay <= ceiling
    assert backoff_delay(attempt, base, cap, rand=lambda: 1.0) == ceiling


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),  # in the past: retry now
        ("-5", None),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None):
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected


def test_request_record_parses_cookies():
    request = Request("GET", "/", "", "/", {"cookie": "a=1; b=two"}, [], b"", 0.0)
    assert request.cookies == {"a": "1", "b": "two"}


async def test_connections_are_reused_after_304_answers(http_server) -> None:
    """A 304 has no body, but the exchange must still be read to its end, or the
    connection is dropped and every conditional request opens a new one."""
    http_server.route("/n", body=b"<p>x</p>", headers={"ETag": '"v1"'})
    options = FetchOptions(etag='"v1"')
    async with Fetcher(FetchSettings(host_delay=0, per_host=1)) as fetcher:
        for _ in range(5):
            result = await fetcher.fetch(http_server.url("/n"), options)
            assert result.not_modified
    ports = {r.client_port for r in http_server.requests("/n")}
    assert len(http_server.requests("/n")) == 5
    assert len(ports) == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused(http_server) -> None:
    """Servers drop idle keep-alive connections without a word. The pool must see
    that (watcher's backend answers from the stream's state, not a poll) and open
    a new connection, rather than fail a request on the dead one."""
    http_server.route("/n", body=b"<p>x</p>", hang_up=True)
    no_retries = FetchOptions(retries=0)
    async with Fetcher(FetchSettings(host_delay=0, per_host=1)) as fetcher:
        for _ in range(3):
            result = await fetcher.fetch(http_server.url("/n"), no_retries)
            assert result.status_code == 200
            port = http_server.requests("/n")[-1].client_port
            await eventually(lambda p=port: http_server.closed(p), "the server to hang up")
            await settle()  # the loop reads the FIN: the connection is idle and closed
    ports = [r.client_port for r in http_server.requests("/n")]
    assert len(ports) == 3 and len(set(ports)) == 3


async def test_https_through_the_asyncio_backend(tmp_path, monkeypatch) -> None:
    """Real TLS on 127.0.0.1 with a test CA: the handshake, certificate checking and
    reading all go through watcher's own network backend."""
    import ssl

    import trustme
    from httpserver import HTTPServer

    from watcher.fetch.transport import AsyncioBackend

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with HTTPServer(tls=server_ctx) as server:
        server.route("/s", body="<p>国防科工局</p>".encode(), headers={"ETag": '"t"'})
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        async with Fetcher(FetchSettings(host_delay=0)) as fetcher:
            result = await fetcher.fetch(server.url("/s"), FetchOptions())
            again = await fetcher.fetch(server.url("/s"), FetchOptions(etag='"t"'))
            lanes = fetcher._client._transport._lanes
            assert lanes and all(
                isinstance(lane.transport._pool._network_backend, AsyncioBackend) for lane in lanes
            )
        assert result.final_url.startswith("https://")
        assert result.body.decode() == "<p>国防科工局</p>"
        assert again.not_modified
        monkeypatch.delenv("SSL_CERT_FILE")
        async with Fetcher(FetchSettings(host_delay=0)) as fetcher:  # unknown CA
            with pytest.raises(FetchError) as failed:
                await fetcher.fetch(server.url("/s"), FetchOptions(retries=0))
        assert failed.value.kind == "connection"
        assert "certificate" in str(failed.value).lower()


# --- lanes: a small pool per request in flight ---------------------------------------------


async def test_lanes_keep_one_connection_per_host_across_hosts() -> None:
    """Alternating between two sites keeps both connections alive, as one shared pool
    would: each request goes to the lane that already has a connection to its host."""
    from httpserver import HTTPServer

    with HTTPServer() as a, HTTPServer() as b:
        a.route("/p", b"<p>a</p>")
        b.route("/p", b"<p>b</p>")
        async with Fetcher(FetchSettings(concurrency=4, host_delay=0)) as fetcher:
            for _ in range(4):
                for server in (a, b):
                    assert (await fetcher.fetch(server.url("/p"), FAST)).status_code == 200
            made = fetcher._client._transport.lanes
        assert {len({r.client_port for r in s.requests("/p")}) for s in (a, b)} == {1}
        assert made == 2


async def test_lanes_are_bounded_by_requests_in_flight(http_server: HTTPServer) -> None:
    stats = answered_in_groups(http_server, "/slow", size=4, total=24)
    async with Fetcher(FetchSettings(concurrency=4, per_host=4, host_delay=0)) as fetcher:
        for _ in range(3):
            await asyncio.gather(*(fetcher.fetch(http_server.url("/slow"), FAST) for _ in range(8)))
        made = fetcher._client._transport.lanes
    assert stats.hits == 24 and stats.max_in_flight == 4
    assert made == 4
    assert len({r.client_port for r in http_server.requests("/slow")}) == 4


async def test_failed_and_cancelled_requests_give_their_lane_back(http_server: HTTPServer) -> None:
    """A timed-out request and one cancelled mid-body must free their lane, or every
    failure would leave a lane (and its connection) behind."""
    http_server.route("/hang", b"never", delay=30)
    on_its_way = threading.Event()

    def trickle() -> Iterator[bytes]:  # 100 s of body if nobody hung up
        for i in range(10_000):
            if i == 3:
                on_its_way.set()  # the first pieces are written
            yield b"x" * 100

    http_server.route("/trickle", body=trickle, chunk_delay=0.01)
    http_server.route("/ok", b"<p>ok</p>")
    async with Fetcher(FetchSettings(concurrency=1, host_delay=0)) as fetcher:
        with pytest.raises(FetchError):
            await fetcher.fetch(http_server.url("/hang"), FetchOptions(read_timeout=0.2, retries=0))
        task = asyncio.create_task(fetcher.fetch(http_server.url("/trickle"), FAST))
        await eventually(on_its_way.is_set, "the body to be on its way")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(3):
            assert (await fetcher.fetch(http_server.url("/ok"), FAST)).status_code == 200
        transport = fetcher._client._transport
        assert transport.lanes == 1 and len(transport._free) == 1


async def test_lanes_keep_connections_to_many_hosts_under_load() -> None:
    """With every slot busy, the next request is for another host than the one just
    answered; kept lanes beyond those in flight let it find its own host's
    connection instead of closing one and opening another for each request."""
    from httpserver import HTTPServer

    with HTTPServer() as a, HTTPServer() as b, HTTPServer() as c:
        servers = (a, b, c)
        for server in servers:
            server.route("/p", b"<p>ok</p>", delay=0.01)
        urls = [s.url("/p") for _ in range(20) for s in servers]
        async with Fetcher(FetchSettings(concurrency=4, per_host=4, host_delay=0)) as fetcher:
            results = await asyncio.gather(*(fetcher.fetch(u, FAST) for u in urls))
        assert all(r.status_code == 200 for r in results)
        connections = sum(len({r.client_port for r in s.requests("/p")}) for s in servers)
    assert connections <= 8  # of 60 requests; lanes only for those in flight: dozens
