"""Accessibility of the web UI: axe-core on every kind of page, in Debian's Chromium.

Real parts only, as in tests/test_browser.py: a local site served by tests/httpserver.py,
real ``watcher check`` runs (a GBK notice that changes, a target that starts failing, a
listing whose notices become documents), the real app served by uvicorn on 127.0.0.1, and
Chromium visiting each page at 1366 px and at 390 px. axe-core (the npm package pinned in
tests/a11y/package.json; .ci/run installs it, and so does this test where npm is at hand)
is injected into each page, and no violation of impact "serious" or "critical" may be
found. The feeds are XML and are not visited; /api/docs is FastAPI's Swagger page, whose
script and styles come from a CDN that the pages' CSP refuses, so there is no page to test.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from httpserver import HTTPServer, Response
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GBK,
    HTML,
    PHONE,
    TIMEOUT_MS,
    miit_page,
    news_page,
    run_check,
    serving,
    shoot,
)

from watcher.store.index import Store
from watcher.web.app import create_app

AXE_DIR = Path(__file__).parent / "a11y"
AXE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_VERSION = json.loads((AXE_DIR / "package.json").read_text())["devDependencies"]["axe-core"]
WIDE = {"width": 1366, "height": 900}
SEVERE = ("serious", "critical")
# rules the issue named that axe rates below "serious": a second nav unlabelled, an empty th
NAMED = ("landmark-unique", "empty-table-header", "region")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
)


def axe_source() -> str:
    """axe.min.js as npm installed it (``make test`` does, where npm is installed)."""
    installed = AXE_DIR / "node_modules" / "axe-core" / "package.json"
    found = json.loads(installed.read_text())["version"] if installed.exists() else None
    if found != AXE_VERSION:
        why = (
            f"needs axe-core {AXE_VERSION} in tests/a11y/node_modules (found: {found or 'none'}); "
            "`make test` installs it with npm (apt-get install npm; .ci/run does both)"
        )
        if os.environ.get("CI"):
            pytest.fail(why)  # CI installs it: a missing axe there is a broken CI, not a skip
        pytest.skip(why)
    return AXE.read_text(encoding="utf-8")


# -- the store ------------------------------------------------------------------------------

LISTING_ITEMS = [
    ("/art/2.html", "关于印发船舶工业标准化工作要点的通知"),
    ("/art/1.html", "关于公布第一批示范项目名单的通知"),
]
CONFIG = """settings: {{host_delay: 0}}
keywords:
  shipbuilding: [船舶, 造船]
targets:
  - name: miit-notices
    title: 工信部 通知公告
    url: {miit}
    keywords: [shipbuilding]
  - name: miit-policy
    title: 工信部 政策解读
    url: {policy}
    retries: 0
  - name: sastind-list
    title: 国防科工局 通知
    url: {listing}
    follow: {{links: "ul.list li a", select: "#con_con", baseline: false}}
"""


def notice(title: str) -> bytes:
    return (
        f"<html><head><meta charset='gbk'><title>{title}</title></head><body>"
        f"<div id='con_con'><h1>{title}</h1><p>{title}。正文：推动船舶工业发展。</p></div>"
        "</body></html>"
    ).encode("gbk")


@dataclass
class Store3:
    data: Path
    config: Path
    ids: dict[str, list[str]] = field(default_factory=dict)  # oldest first


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store3]:
    """Three real checks: an edited notice, a failing target, a listing with documents."""
    folder = tmp_path_factory.mktemp("a11y-store")
    server = HTTPServer().start()
    try:
        server.route("/miit", body=miit_page(1), headers=GBK)
        ok = Response(200, news_page("政策解读", ["解读《内河航运装备质量提升行动》"]), HTML)
        server.route("/policy", sequence=[ok, Response(503, b"busy")])
        lis = "".join(f"<li><a href='{h}'>{t}</a></li>" for h, t in LISTING_ITEMS)
        listing = (
            "<html><head><meta charset='gbk'><title>通知</title></head>"
            f"<body><ul class='list'>{lis}</ul></body></html>"
        )
        server.route("/list", body=listing.encode("gbk"), headers=GBK)
        for href, title in LISTING_ITEMS:
            server.route(href, body=notice(title), headers=GBK)
        config = folder / "targets.yaml"
        config.write_text(
            CONFIG.format(
                miit=server.url("/miit"), policy=server.url("/policy"), listing=server.url("/list")
            ),
            encoding="utf-8",
        )
        data = folder / "snapshots"
        run_check(config, data)
        server.route("/miit", body=miit_page(2), headers=GBK)
        run_check(config, data)
        server.route("/miit", body=miit_page(3), headers=GBK)
        run_check(config, data)
    finally:
        server.stop()
    db = Store(data, readonly=True)
    try:
        ids = {name: [c.id for c in reversed(db.history(name))] for name in db.target_names()}
    finally:
        db.close()
    assert len(ids["miit-notices"]) == 3
    yield Store3(data, config, ids)


@pytest.fixture(scope="module")
def base(store: Store3) -> Iterator[str]:
    with serving(create_app(store.data, store.config)) as url:
        yield url


@pytest.fixture(scope="module")
def guarded(store: Store3) -> Iterator[str]:
    with serving(create_app(store.data, store.config, password="s3cret")) as url:
        yield url


@pytest.fixture(scope="module")
def playwright(store: Store3) -> Iterator[Playwright]:
    with sync_playwright() as p:  # after the store: `watcher check` needs its own loop
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("WATCHER_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("a11y-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the pages ------------------------------------------------------------------------------


def pages(store: Store3, base: str, guarded: str) -> dict[str, str]:
    miit = store.ids["miit-notices"]
    diff = f"{base}/t/miit-notices/diff?from={miit[0]}&to={miit[1]}"
    document = next(n for n in store.ids if n.startswith("sastind-list") and n != "sastind-list")
    return {
        "dashboard": base + "/",
        "target": base + "/t/miit-policy",  # a failing one: its checks hold errors
        "listing": base + "/t/sastind-list",
        "document": f"{base}/t/{document}",
        "capture": f"{base}/c/{miit[1]}",
        "diff-inline": diff,
        "diff-side": diff + "&view=side",
        "search": base + "/search?q=船舶",
        "hits": base + "/hits",
        "keywords": base + "/keywords",
        "import": base + "/targets/import",
        "login": guarded + "/login",
        "error": base + "/t/no-such-target",
    }


KINDS = [
    "dashboard",
    "target",
    "listing",
    "document",
    "capture",
    "diff-inline",
    "diff-side",
    "search",
    "hits",
    "keywords",
    "import",
    "login",
    "error",
]


FIRST_FOCUSABLE = """() => [...document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]")][0].textContent"""


def only_loopback(route: Route) -> None:
    if route.request.url.startswith("http://127.0.0.1:"):
        route.continue_()
    else:
        route.abort()


def readable(violations: list[dict]) -> str:
    """One paragraph per violation: its rule, impact, help, and each element with why."""
    out = []
    for v in violations:
        out.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl'].split('?')[0]}")
        for node in v["nodes"][:8]:
            why = node.get("failureSummary", "").replace("\n", " ")
            out.append(f"    {' '.join(node['target'])}: {node['html'][:160]}\n      {why}")
        if len(v["nodes"]) > 8:
            out.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(out)


def run_axe(page: Page, axe: str) -> list[dict]:
    page.add_script_tag(content=axe)
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return result


@pytest.mark.parametrize("width", ["wide", "phone"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_serious_accessibility_violation(
    browser: Browser,
    store: Store3,
    base: str,
    guarded: str,
    axe: str,
    shots: Path,
    kind: str,
    width: str,
) -> None:
    url = pages(store, base, guarded)[kind]
    options: dict = (
        {"viewport": WIDE}
        if width == "wide"
        else {
            "viewport": PHONE,
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
        }
    )
    # bypass_csp: the pages refuse inline scripts, and axe is injected as one
    context = browser.new_context(locale="en-GB", bypass_csp=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", only_loopback)
    try:
        page = context.new_page()
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        page.goto(url)
        expect(page.locator("main h1")).to_be_visible()
        shoot(page, shots, f"a11y-{kind}-{width}", full_page=True)
        violations = run_axe(page, axe)
        severe = [v for v in violations if v["impact"] in SEVERE]
        assert not severe, f"{kind} at {width}:\n{readable(severe)}"
        named = [v for v in violations if v["id"] in NAMED]
        assert not named, f"{kind} at {width}:\n{readable(named)}"
        if kind != "error":
            assert not missing, f"404 answers while loading {kind}: {missing}"
        assert_interface(page, kind)
    finally:
        context.close()


def assert_interface(page: Page, kind: str) -> None:
    """What the issue named beyond axe's serious and critical rules."""
    # the interface is English; captured Chinese text says it is Chinese
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # the first thing a keyboard reaches: a link past the header to the content
    # (search and login put the focus in their box at once; the link comes first
    # in the page all the same)
    first = page.evaluate(FIRST_FOCUSABLE)
    assert first == "Skip to content", (kind, first)
    if not page.locator("[autofocus]").count():
        page.keyboard.press("Tab")
        skip = page.locator(":focus")
        expect(skip).to_have_text("Skip to content")
        expect(skip).to_be_in_viewport()
        expect(skip).to_have_attribute("href", "#main")
        skip.press("Enter")
        expect(page).to_have_url(re.compile(r"#main$"))
    expect(page.locator("main#main")).to_have_count(1)
    # every nav labelled, each label its own
    labels = page.locator("nav").evaluate_all("ns => ns.map(n => n.ariaLabel || '')")
    assert all(labels) and len(set(labels)) == len(labels), (kind, labels)
    # no table header without text (a visually hidden one counts)
    empty = page.locator("th").evaluate_all(
        "ths => ths.filter(t => !t.textContent.trim()).map(t => t.outerHTML)"
    )
    assert not empty, (kind, empty)
    icon = page.locator("link[rel=icon]")
    expect(icon).to_have_attribute("href", "/static/favicon.svg")


def test_captured_chinese_text_and_the_favicon(
    browser: Browser, store: Store3, base: str, guarded: str
) -> None:
    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", only_loopback)
    try:
        page = context.new_page()
        urls = pages(store, base, guarded)
        page.goto(urls["capture"])
        expect(page.locator("pre.text")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("p.meta").first).to_have_attribute("lang", "zh-CN")
        page.goto(urls["diff-inline"])
        expect(page.locator(".diff")).to_have_attribute("lang", "zh-CN")
        page.goto(urls["diff-side"])
        expect(page.locator(".diff")).to_have_attribute("lang", "zh-CN")
        page.goto(urls["search"])
        expect(page.locator(".snippet").first).to_have_attribute("lang", "zh-CN")
        for path in ("/static/favicon.svg", "/favicon.ico"):
            answer = page.request.get(base + path)
            assert answer.status == 200, path
            assert answer.headers["content-type"].startswith("image/svg+xml"), path
            assert b"<svg" in answer.body()
        # the login page is open to anyone, and so must its icon be
        assert page.request.get(guarded + "/favicon.ico", max_redirects=0).status == 200
    finally:
        context.close()
