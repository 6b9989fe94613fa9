"""watcher.fetch.browser: fetching pages in Debian's Chromium through Playwright's async API.

Real parts only: a local site served by tests/httpserver.py (a page filled by script, a
加速乐-style 521 cookie challenge, a page that never finishes loading...), the real
Chromium at /usr/bin/chromium, and /proc to find and kill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from clock import PATIENCE, FakeClock, eventually
from httpserver import HTTPServer, Request, Response

from watcher.fetch import browser
from watcher.fetch.addresses import Reach
from watcher.fetch.browser import (
    BrowserError,
    BrowserOptions,
    BrowserPool,
    BrowserSettings,
    BrowserUnavailable,
    cookies_from_browser,
)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
)

HTML = {"Content-Type": "text/html; charset=utf-8"}
PNG = bytes.fromhex(  # a 1x1 transparent PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000005000d0a2db40000000049454e44ae426082"
)
TITLE = "工业和信息化部关于印发《船舶工业高质量发展行动计划》的通知"


def page(body: str, head: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title>{head}"
        f"</head><body>{body}</body></html>"
    ).encode()


@pytest.fixture
async def pool() -> BrowserPool:
    async with BrowserPool() as pool:
        yield pool


# -- /proc helpers, independent of watcher.fetch.browser's -----------------------------------------


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError):
                parents[int(entry)] = _parent(int(entry))
    found, todo = [], [root]
    while todo:
        current = todo.pop()
        kids = [pid for pid, parent in parents.items() if parent == current]
        found.extend(kids)
        todo.extend(kids)
    return found


def _is_chromium(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe").endswith("/chromium")
    except OSError:
        return False


def browser_processes() -> list[int]:
    """Chromium main processes under this test process (their parent is not Chromium)."""
    return [
        pid
        for pid in _descendants(os.getpid())
        if _is_chromium(pid) and not _is_chromium(_parent(pid))
    ]


async def wait_for_hit(server: HTTPServer, path: str) -> None:
    await eventually(lambda: server.hits(path) > 0, f"the browser to ask for {path}")


async def settled(
    pool: BrowserPool, clock: FakeClock, url: str, options: BrowserOptions | None = None
) -> browser.BrowserResult:
    """``pool.fetch`` with the pool on ``clock``: each time the visit waits for its quiet
    period (a sleeper beside its budget and those of visits already running), the
    soonest wait passes at once."""
    others = len(clock.waits())
    fetch = asyncio.ensure_future(pool.fetch(url, options or BrowserOptions()))
    while not fetch.done():
        quiet = asyncio.ensure_future(clock.sleeping(others + 2))
        await asyncio.wait([fetch, quiet], return_when=asyncio.FIRST_COMPLETED)
        quiet.cancel()
        waits = clock.waits()
        if not fetch.done() and len(waits) >= others + 2:
            await clock.advance(waits[0])
    return fetch.result()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# -- 1. a page filled by script --------------------------------------------------------------

ITEMS = ["关于开展2024年度船舶行业规范条件申报工作的通知", "国防科工局2024年第3号公告"]
SHELL = page(
    "<h1>通知公告</h1><ul id='list'></ul><script>"
    "fetch('/data.json').then(r => r.json()).then(items => {"
    "document.getElementById('list').innerHTML ="
    " items.map(i => '<li>' + i + '</li>').join('');});</script>"
)


def serve_shell(server: HTTPServer, data_delay: float) -> None:
    server.route("/list", body=SHELL, headers=HTML)
    server.route(
        "/data.json",
        body=json.dumps(ITEMS, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        delay=data_delay,
    )


@pytest.mark.parametrize("wait_for", ["ul li", "networkidle"])
async def test_script_filled_list(http_server: HTTPServer, pool: BrowserPool, wait_for: str):
    serve_shell(http_server, data_delay=1.0)  # after "load" and after the quiet period
    result = await pool.fetch(http_server.url("/list"), BrowserOptions(wait_for=wait_for))
    html = result.html.decode("utf-8")
    assert all(item in html for item in ITEMS)
    assert f'<ul id="list"><li>{ITEMS[0]}</li><li>{ITEMS[1]}</li></ul>' in html
    assert result.first_status == result.status == 200
    assert result.first_body == SHELL  # the evidence: what the server sent, list empty
    assert ITEMS[0].encode() not in result.first_body
    assert ("Content-Type", "text/html; charset=utf-8") in result.first_headers
    assert result.final_url == result.url == http_server.url("/list")
    assert result.fetched_at.tzinfo is not None


async def test_without_wait_for_the_load_event_is_the_end(
    http_server: HTTPServer, pool: BrowserPool
):
    serve_shell(http_server, data_delay=0)
    released = threading.Event()  # the list's data is answered once the fetch returned
    http_server.route("/data.json", body=json.dumps(ITEMS).encode(), delay=30, hold=released.is_set)
    result = await pool.fetch(http_server.url("/list"), BrowserOptions(screenshot=False))
    released.set()
    assert '<ul id="list"></ul>' in result.html.decode()


async def test_fetched_at_and_duration_are_the_pools_clock(http_server: HTTPServer):
    http_server.route("/p", body=page("<p>内容</p>"), headers=HTML)
    clock = FakeClock()
    async with BrowserPool(clock=clock) as pool:
        start = clock.now()
        result = await settled(pool, clock, http_server.url("/p"), BrowserOptions(screenshot=False))
    # the only time that passed on the pool's clock is the quiet period after "load"
    assert result.duration == browser.QUIET
    assert result.fetched_at == start + timedelta(seconds=browser.QUIET) == clock.now()


# -- 2. a JS cookie challenge (加速乐 / 521) ----------------------------------------------------

CLEARANCE = "1717200000.417|0|cRDMyT4Vh2PV%2BvNp1xwXlB0eJ3o%3D"
CHALLENGE = (
    "<script>document.cookie=('__jsl_clearance=" + CLEARANCE + ";max-age=3600;path=/');"
    "location.href=location.pathname+location.search</script>"
).encode()
REAL = page(
    f"<div class='article'><h1>{TITLE}</h1><p>各有关单位：现将行动计划印发给你们。</p></div>"
)


def challenged(request: Request) -> Response:
    if request.cookies.get("__jsl_clearance") == CLEARANCE:
        return Response(200, REAL, HTML)
    cookie = "__jsluid_h=0f3a9bd2c1e84b6e; max-age=31536000; path=/; HttpOnly"
    return Response(521, CHALLENGE, [("Content-Type", "text/html"), ("Set-Cookie", cookie)])


async def test_jsl_cookie_challenge(http_server: HTTPServer, pool: BrowserPool):
    http_server.route("/notice", handler=challenged)
    url = http_server.url("/notice?id=42")
    result = await pool.fetch(url)

    assert result.first_status == 521
    assert result.first_body == CHALLENGE
    assert any(k.lower() == "set-cookie" and "__jsluid_h" in v for k, v in result.first_headers)
    assert result.status == 200
    assert "现将行动计划印发给你们" in result.html.decode()
    assert result.final_url == url
    cookies = {c["name"]: c for c in result.cookies}
    assert cookies["__jsl_clearance"]["value"] == CLEARANCE
    assert cookies["__jsl_clearance"]["domain"] == "127.0.0.1"
    assert cookies["__jsl_clearance"]["expires"] > time.time() + 3000
    assert cookies["__jsluid_h"]["path"] == "/"
    assert cookies_from_browser(result) == {
        "__jsluid_h": "0f3a9bd2c1e84b6e",
        "__jsl_clearance": CLEARANCE,
    }
    # the second request carried both cookies; the first none
    first, second = http_server.requests("/notice")
    assert first.cookies == {}
    assert second.cookies["__jsl_clearance"] == CLEARANCE
    assert second.cookies["__jsluid_h"] == "0f3a9bd2c1e84b6e"
    assert "Headless" not in second.headers["user-agent"]


async def test_two_step_challenge_with_a_late_reload(http_server: HTTPServer):
    """加速乐 answers 521 twice (a cookie, then a computed one); the second reloads after 1.5 s,
    later than the quiet period of a normal page: an error status makes the browser wait.

    The pool's clock stands still until the reload came, so its quiet periods cannot run
    out first, however slow the machine."""

    def handler(request: Request) -> Response:
        cookies = request.cookies
        if cookies.get("step") == "2":
            return Response(200, REAL, HTML)
        if cookies.get("step") == "1":
            script = "setTimeout(() => {document.cookie='step=2;path=/'; location.reload()}, 1500)"
        else:
            script = "document.cookie='step=1;path=/'; location.reload()"
        return Response(521, f"<script>{script}</script>".encode(), HTML)

    http_server.route("/two", handler=handler)
    clock = FakeClock()
    async with BrowserPool(clock=clock) as pool:
        fetch = asyncio.ensure_future(pool.fetch(http_server.url("/two")))
        await eventually(
            lambda: browser.QUIET in clock.waits() or fetch.done(), "the real page's quiet period"
        )
        assert http_server.hits("/two") == 3 and not fetch.done()
        await clock.advance(browser.QUIET)
        result = await asyncio.wait_for(fetch, PATIENCE)
    assert browser.CHALLENGE_QUIET in clock.slept  # after a 521 it waited the longer period
    assert (result.first_status, result.status) == (521, 200)
    assert b"step=1" in result.first_body
    assert "现将行动计划印发给你们" in result.html.decode()
    assert http_server.hits("/two") == 3


async def test_a_challenge_that_never_passes_is_returned_as_it_is(http_server: HTTPServer):
    http_server.route("/blocked", status=412, body=page("<p>访问被拒绝</p>"), headers=HTML)
    clock = FakeClock()
    async with BrowserPool(clock=clock) as pool:
        fetch = asyncio.ensure_future(
            pool.fetch(http_server.url("/blocked"), BrowserOptions(screenshot=False))
        )
        # it waits for a reload that never comes, the longer period a challenge's status gets
        await eventually(lambda: browser.CHALLENGE_QUIET in clock.waits(), "the quiet period")
        assert not fetch.done()
        await clock.advance(browser.CHALLENGE_QUIET)
        result = await asyncio.wait_for(fetch, PATIENCE)
    assert result.first_status == result.status == 412
    assert "访问被拒绝" in result.html.decode()
    assert result.duration == browser.CHALLENGE_QUIET


# -- 3. a page that never finishes loading ---------------------------------------------------


async def test_budget_ends_a_hung_page_and_others_go_on(http_server: HTTPServer):
    """The budget is kept by the pool's clock: the page hangs (for real) until the test
    lets 3 s pass, and another page is fetched meanwhile."""
    http_server.route(
        "/hung", body=page("<p>正文</p><script src='/never.js'></script>"), headers=HTML
    )
    http_server.route("/never.js", body=b"", delay=60)
    http_server.route("/fine", body=page("<p>正常页面</p>"), headers=HTML)
    clock = FakeClock()
    async with BrowserPool(clock=clock) as pool:
        await settled(pool, clock, http_server.url("/fine"))  # the browser is up
        hung = asyncio.ensure_future(pool.fetch(http_server.url("/hung"), BrowserOptions(budget=3)))
        await wait_for_hit(http_server, "/never.js")  # the hung page holds its slot
        assert clock.waits() == [3.0]  # its budget, and nothing else, runs
        fine = await settled(pool, clock, http_server.url("/fine"))  # 0.5 s of the 3 pass
        assert "正常页面" in fine.html.decode() and not hung.done()
        assert clock.waits() == [2.5]
        await clock.advance(2.5)
        with pytest.raises(BrowserError) as caught:
            await asyncio.wait_for(hung, PATIENCE)
        assert caught.value.kind == "timeout"
        assert "budget of 3 s spent (loading)" in str(caught.value)
        # the pool is fine afterwards, still on its first browser
        assert (await settled(pool, clock, http_server.url("/fine"))).status == 200
        assert pool.launches == 1
    assert http_server.hits("/fine") == 3


# -- 4. screenshots --------------------------------------------------------------------------


async def test_screenshot_is_a_full_page_png(http_server: HTTPServer, pool: BrowserPool):
    http_server.route("/tall", body=page("<div style='height:3000px'>长页面</div>"), headers=HTML)
    result = await pool.fetch(http_server.url("/tall"))
    assert result.screenshot is not None
    width, height = png_size(result.screenshot)
    assert width == 1280
    assert 3000 <= height < 3200
    assert 1_000 < len(result.screenshot) < 2_000_000


async def test_a_huge_page_is_cut_and_screenshots_can_be_skipped(
    http_server: HTTPServer, pool: BrowserPool
):
    http_server.route("/huge", body=page("<div style='height:60000px'>很长</div>"), headers=HTML)
    result = await pool.fetch(http_server.url("/huge"))
    assert png_size(result.screenshot) == (1280, 20_000)
    skipped = await pool.fetch(http_server.url("/huge"), BrowserOptions(screenshot=False))
    assert skipped.screenshot is None


# -- 5. blocked resource types ---------------------------------------------------------------


async def test_images_are_blocked_unless_asked_for(http_server: HTTPServer, pool: BrowserPool):
    http_server.route("/pictured", body=page("<img src='/pic.png'><p>图片新闻</p>"), headers=HTML)
    http_server.route("/pic.png", body=PNG, headers={"Content-Type": "image/png"})

    result = await pool.fetch(http_server.url("/pictured"))
    assert "图片新闻" in result.html.decode()
    assert http_server.hits("/pic.png") == 0

    await pool.fetch(http_server.url("/pictured"), BrowserOptions(block=()))
    assert http_server.hits("/pic.png") == 1


# -- 6. a browser killed mid-fetch -----------------------------------------------------------


async def test_a_killed_browser_fails_its_fetch_and_the_next_relaunches(
    http_server: HTTPServer, pool: BrowserPool
):
    http_server.route("/slow", body=page("<script src='/slow.js'></script>"), headers=HTML)
    http_server.route("/slow.js", body=b"", delay=30)
    http_server.route("/fine", body=page("<p>正常页面</p>"), headers=HTML)

    fetch = asyncio.ensure_future(pool.fetch(http_server.url("/slow"), BrowserOptions(budget=20)))
    await wait_for_hit(http_server, "/slow.js")
    (victim,) = browser_processes()
    assert victim == pool.browser_pid
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(BrowserError) as caught:
        await fetch
    assert caught.value.kind == "crashed"  # told by the death, not by the 20 s budget

    result = await pool.fetch(http_server.url("/fine"))
    assert "正常页面" in result.html.decode()
    assert pool.launches == 2
    assert pool.browser_pid not in (None, victim)
    assert browser_processes() == [pool.browser_pid]


# -- 7. pages open at once -------------------------------------------------------------------


@pytest.mark.parametrize("max_pages", [1, 2])
async def test_max_pages(http_server: HTTPServer, max_pages: int):
    """Each page's answer is held until the other page has asked too: with two pages
    allowed both are open at once however slow the machine; with one, the second cannot
    ask while the first is held (for 3 s, its chance to), so the answers never overlap."""
    hold = 30 if max_pages == 2 else 3
    for path, other in (("/a", "/b"), ("/b", "/a")):
        http_server.route(
            path,
            body=page("<p>慢</p>"),
            headers=HTML,
            delay=hold,
            hold=lambda other=other: http_server.hits(other) > 0,
        )
    async with BrowserPool(BrowserSettings(max_pages=max_pages)) as pool:
        options = BrowserOptions(screenshot=False)
        await asyncio.gather(
            pool.fetch(http_server.url("/a"), options), pool.fetch(http_server.url("/b"), options)
        )
    assert http_server.hits("/a") == http_server.hits("/b") == 1
    assert http_server.max_in_flight == max_pages


# -- 8. no browser ---------------------------------------------------------------------------


async def test_missing_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    missing = str(tmp_path / "chromium")
    async with BrowserPool(BrowserSettings(executable=missing)) as pool:
        with pytest.raises(BrowserUnavailable) as caught:
            await pool.fetch("http://127.0.0.1:9/")
    message = str(caught.value)
    assert missing in message and "apt-get install chromium" in message
    assert "WATCHER_CHROMIUM" in message

    monkeypatch.setenv("WATCHER_CHROMIUM", missing)
    async with BrowserPool() as pool:
        with pytest.raises(BrowserUnavailable, match="apt-get install chromium"):
            await pool.fetch("http://127.0.0.1:9/")


# -- 9. politeness hook ----------------------------------------------------------------------


async def test_before_request_is_awaited_for_documents_only(http_server: HTTPServer):
    http_server.route("/app.js", body=b"window.ok = 1", headers={"Content-Type": "text/javascript"})
    calls: list[tuple[str, float]] = []

    async def before_request(url: str) -> None:
        await asyncio.sleep(0.3)  # a politeness delay: time for a request not waited for
        calls.append((url, time.monotonic()))  # the same clock the server stamps with

    real = REAL.replace(b"</body>", b"<script src='/app.js'></script></body>")
    http_server.route(
        "/notice",
        handler=lambda r: Response(200, real, HTML) if r.cookies else challenged(r),
    )
    async with BrowserPool(before_request=before_request) as pool:
        result = await pool.fetch(http_server.url("/notice"))
    assert result.status == 200
    assert http_server.hits("/app.js") == 1
    assert [url for url, _ in calls] == [http_server.url("/notice")] * 2
    requests = http_server.requests("/notice")
    for (_, returned), request in zip(calls, requests, strict=True):
        assert request.received_at > returned  # sent only once the hook had returned


# -- more: settings that reach the server, errors, recycling ---------------------------------


async def test_headers_cookies_and_user_agent_reach_the_server(
    http_server: HTTPServer, pool: BrowserPool
):
    http_server.route("/p", body=page("<p>内容</p>"), headers=HTML)
    options = BrowserOptions(
        user_agent="Mozilla/5.0 watcher-test",
        headers={"X-Requested-By": "watcher"},
        cookies={"JSESSIONID": "abc123"},
    )
    http_server.redirect("/deep/er/p", "/p")  # the cookie is the host's, not the path's
    await pool.fetch(http_server.url("/deep/er/p"), options)
    assert http_server.requests("/deep/er/p")[0].cookies == {"JSESSIONID": "abc123"}
    (request,) = http_server.requests("/p")
    assert request.headers["user-agent"] == "Mozilla/5.0 watcher-test"
    assert request.headers["x-requested-by"] == "watcher"
    assert request.cookies == {"JSESSIONID": "abc123"}
    assert request.headers["accept-language"].startswith("zh-CN")
    # a new context per fetch: nothing carried over
    await pool.fetch(http_server.url("/p"))
    assert http_server.requests("/p")[1].cookies == {}


async def test_proxy_from_the_environment(
    http_server: HTTPServer, pool: BrowserPool, monkeypatch: pytest.MonkeyPatch
):
    http_server.route("/via-proxy", body=page("<p>经代理</p>"), headers=HTML)
    monkeypatch.setenv("HTTP_PROXY", http_server.base_url)
    result = await pool.fetch("http://www.miit.gov.cn.invalid/via-proxy")
    assert "经代理" in result.html.decode()
    (request,) = http_server.requests("/via-proxy")
    assert request.target == "http://www.miit.gov.cn.invalid/via-proxy"


async def test_gbk_page_becomes_utf8(http_server: HTTPServer, pool: BrowserPool):
    body = f"<html><head><meta charset='gb2312'></head><body><p>{TITLE}，朱镕基</p></body></html>"
    http_server.route("/gbk", body=body.encode("gbk"), headers={"Content-Type": "text/html"})
    result = await pool.fetch(http_server.url("/gbk"))
    assert f"{TITLE}，朱镕基" in result.html.decode("utf-8")


async def test_unreachable_is_a_navigation_error(pool: BrowserPool):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BrowserError) as caught:
        await pool.fetch(f"http://127.0.0.1:{port}/", BrowserOptions(budget=10))
    assert caught.value.kind == "navigation"
    assert "ERR_CONNECTION_REFUSED" in str(caught.value)


async def test_error_status_and_redirect_are_results(http_server: HTTPServer, pool: BrowserPool):
    http_server.redirect("/old", "/new")
    http_server.route("/new", body=page("<p>新地址</p>"), headers=HTML)
    result = await pool.fetch(http_server.url("/old"))
    assert (result.first_status, result.status) == (302, 200)
    assert ("Location", http_server.url("/new")) in result.first_headers
    assert result.first_body == b""
    assert result.final_url == http_server.url("/new")

    missing = await pool.fetch(http_server.url("/missing"))
    assert missing.first_status == missing.status == 404


async def test_recycling(http_server: HTTPServer):
    http_server.route("/p", body=page("<p>内容</p>"), headers=HTML)
    options = BrowserOptions(screenshot=False)
    async with BrowserPool(BrowserSettings(restart_after_pages=2)) as pool:
        pids = []
        for _ in range(3):
            await pool.fetch(http_server.url("/p"), options)
            pids.append(pool.browser_pid)
        assert pool.launches == 2
        assert pids[0] == pids[1] != pids[2]
        assert len(browser_processes()) == 1  # the old ones are gone
        assert pool.memory() > 10 * 1024 * 1024
    async with BrowserPool(BrowserSettings(restart_above_mb=1, max_pages=2)) as pool:
        await asyncio.gather(*(pool.fetch(http_server.url("/p"), options) for _ in range(3)))
        assert pool.launches == 3  # each fetch after the first waited for the one before
    assert browser_processes() == []


async def test_a_failing_before_request_fails_the_fetch_quickly(http_server: HTTPServer):
    http_server.route("/p", body=page("<p>内容</p>"), headers=HTML)

    async def refuse(url: str) -> None:
        raise RuntimeError("politeness says no")

    async with BrowserPool(before_request=refuse) as pool:
        with pytest.raises(BrowserError) as caught:
            await pool.fetch(http_server.url("/p"), BrowserOptions(budget=10))
    assert caught.value.kind == "navigation"
    assert http_server.hits("/p") == 0


async def test_process_tree_without_children_files(monkeypatch: pytest.MonkeyPatch):
    async with BrowserPool() as pool:
        await pool.fetch("data:text/html,<p>x</p>", BrowserOptions(screenshot=False))
        for _ in range(40):  # renderers come and go: compare two looks close together
            with_files = sorted(browser.process_tree(pool.browser_pid))
            monkeypatch.setattr(browser, "_CHILDREN_FILES", False)
            by_scan = sorted(browser.process_tree(pool.browser_pid))
            monkeypatch.setattr(browser, "_CHILDREN_FILES", True)
            if by_scan == with_files:
                break
            await asyncio.sleep(0.25)
        assert by_scan == with_files
        assert len(with_files) >= 3  # the browser, its zygotes, its utility processes


# -- where a visit may connect (watcher.fetch.addresses) ----------------------------------------


@pytest.fixture
def other_server() -> Iterator[HTTPServer]:
    """A real server on 127.0.0.5: loopback, but not 127.0.0.1 where the UI listens."""
    with HTTPServer("127.0.0.5") as server:
        yield server


async def test_a_redirect_to_another_loopback_address_is_refused(
    http_server: HTTPServer, other_server: HTTPServer, pool: BrowserPool
):
    other_server.route("/secret", body=page("<p>内部</p>"), headers=HTML)
    http_server.redirect("/old", other_server.url("/secret"))
    with pytest.raises(BrowserError) as caught:
        await pool.fetch(http_server.url("/old"), BrowserOptions(budget=20))
    assert caught.value.kind == "private"
    assert f"refused to fetch {other_server.url('/secret')}" in str(caught.value)
    assert "settings.allow_private" in str(caught.value)
    # Chromium follows a redirect without asking the router: the hop is sent, and its
    # answer refused on the address it came from (a direct navigation is not sent)
    assert other_server.hits("/secret") == 1
    with pytest.raises(BrowserError, match=r"127\.0\.0\.5 is a loopback address"):
        # a listing's document: the reach of its listing, on 127.0.0.1
        reach = Reach.of(http_server.url("/list"))
        await pool.fetch(other_server.url("/x"), BrowserOptions(budget=20, reach=reach))
    assert other_server.hits("/x") == 0


async def test_a_script_from_another_loopback_address_is_not_loaded(
    http_server: HTTPServer, other_server: HTTPServer, pool: BrowserPool
):
    other_server.route(
        "/s.js",
        body=b"document.body.insertAdjacentHTML('beforeend', '<p>SECRET-5</p>');",
        headers={"Content-Type": "text/javascript"},
    )
    script = f"<script src='{other_server.url('/s.js')}'></script>"
    http_server.route("/page", body=page("<p>正文</p>" + script), headers=HTML)
    result = await pool.fetch(http_server.url("/page"), BrowserOptions(budget=20))
    assert "正文" in result.html.decode()
    assert b"SECRET-5" not in result.html
    assert other_server.hits("/s.js") == 0


async def test_the_address_connected_to_is_checked_for_names(
    http_server: HTTPServer, other_server: HTTPServer, pool: BrowserPool
):
    """localhost may resolve to ::1 (allowed here) but is answered on 127.0.0.1: the
    address Chromium connected to is refused after the visit, nothing returned."""
    port = http_server.base_url.rsplit(":", 1)[1]
    http_server.route("/admin", body=page("<p>SECRET-1</p>"), headers=HTML)
    other_server.redirect("/old", f"http://localhost:{port}/admin")
    reach = Reach.of(other_server.url("/"), ["::1"])
    with pytest.raises(BrowserError) as caught:
        await pool.fetch(other_server.url("/old"), BrowserOptions(budget=20, reach=reach))
    assert caught.value.kind == "private"
    assert "localhost, at 127.0.0.1, is a loopback address" in str(caught.value)


async def test_allow_private_lets_a_visit_reach_another_address(
    http_server: HTTPServer, other_server: HTTPServer, pool: BrowserPool
):
    other_server.route("/secret", body=page("<p>内部</p>"), headers=HTML)
    http_server.redirect("/old", other_server.url("/secret"))
    reach = Reach.of(http_server.url("/"), ["127.0.0.5"])
    result = await pool.fetch(http_server.url("/old"), BrowserOptions(budget=20, reach=reach))
    assert "内部" in result.html.decode()
