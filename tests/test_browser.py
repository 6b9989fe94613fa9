"""The web UI in a real browser: Debian's Chromium driven by Playwright.

Real parts only: a local site served by tests/httpserver.py, real ``watcher check``
runs that capture it into a store (a GBK notice whose 船只 becomes 船舶, a hostile
page full of scripts, a target that starts failing), the real app served by uvicorn
on 127.0.0.1, and Chromium clicking through it as a person would.

Screenshots go to ``$WATCHER_SCREENSHOTS`` (default: a pytest temporary folder);
``WATCHER_SCREENSHOTS=docs/screenshots pytest tests/test_browser.py`` refreshes the
ones the README shows. Chromium is Debian's (``/usr/bin/chromium``; .ci/run installs
it): Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn
from click.testing import CliRunner
from clock import eventually_sync
from httpserver import HTTPServer, Response
from playwright.sync_api import Browser, Dialog, Page, Playwright, expect, sync_playwright

from watcher.cli.main import main
from watcher.store.index import Store
from watcher.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000

# -- the watched site -----------------------------------------------------------------------

MIIT_HEAD = (
    "<html><head><meta charset='gbk'><title>工业和信息化部关于开展内河航运装备"
    "质量提升行动的通知</title></head><body><div class='article'>"
    "<h1>工业和信息化部关于开展内河航运装备质量提升行动的通知</h1>"
)
MIIT_PARAGRAPHS = [
    "工信部装〔2024〕58号",
    "各省、自治区、直辖市及计划单列市、新疆生产建设兵团工业和信息化主管部门：",
    "为推动内河船只标准化、绿色化、智能化发展，现将有关事项通知如下。",
    "一、总体要求",
    "坚持质量第一、效益优先，以标准提升引领装备升级。",
    "二、重点任务",
    "（一）加强设计能力建设，推广标准船型。",
    "（二）提升建造质量，完善检验检测体系。",
    "（三）推进配套设备国产化，提高关键部件可靠性。",
    "（四）加快数字化转型，推广先进制造工艺。",
    "三、保障措施",
    "（一）加强组织领导。各地要明确责任分工，抓好贯彻落实。",
    "（二）加大政策支持。统筹用好现有资金渠道。",
    "（三）强化宣传引导。及时总结推广典型经验。",
    "四、其他事项",
    "请于2024年6月30日前报送工作进展情况。",
    "联系电话：010-68205555",
    "工业和信息化部办公厅",
    "2024年3月1日",
]
# the second capture: 船只 becomes 船舶 (one character), and a paragraph is added far below
MIIT_ADDED = "五、鼓励骨干造船企业参与绿色智能船舶示范应用，形成一批可复制的经验。"


def miit_page(version: int) -> bytes:
    paragraphs = list(MIIT_PARAGRAPHS)
    if version >= 2:
        paragraphs[2] = paragraphs[2].replace("船只", "船舶")
        paragraphs.insert(16, MIIT_ADDED)
    if version >= 3:
        paragraphs[-1] = "2024年3月1日（2024年3月5日更新）"
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (MIIT_HEAD + body + "</div></body></html>").encode("gbk")


def news_page(title: str, items: list[str]) -> bytes:
    lis = "".join(
        f"<li><a href='/a/{i}.html'>{t}</a> <span>2024-03-0{i % 9 + 1}</span></li>"
        for i, t in enumerate(items)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><ul class='list'>{lis}</ul></body></html>"
    ).encode()


SASTIND_ITEMS = [
    "国防科工局召开2024年全系统工作会议",
    "国防科工局党组传达学习全国两会精神",
    "国防科工局推进军工企业安全生产专项整治",
]
SASTIND_ADDED = "国防科工局与国际同行签署月球探测合作备忘录（SASTIND news release）"
GOVCN_ITEMS = [
    "国务院关于推动内河航运高质量发展的意见",
    "国务院办公厅关于印发《工业互联网创新发展行动计划》的通知"
    "（Industrial Internet innovation action plan）",
    "国务院关于进一步优化政务服务提升行政效能的指导意见",
]
GOVCN_ADDED = "国务院关于加快发展先进制造业集群的意见"

# a hostile page: every way a page could try to run script in the UI's origin
PWN_SCRIPT = "<script>window.__pwned=1;alert(1)</script>"
PWN_IMG = '<img src=x onerror="window.__pwned=2;alert(2)">'
PWN_LINK = '<a id="js-link" href="javascript:window.__pwned=3">链接 link</a>'
PWN_TEXT = "<script>alert(3)</script>"  # shown as text by the page itself
PWN_TITLE = "某县人民政府公告 <img src=x onerror=alert(4)>"  # <title> is raw text


def county_page(version: int) -> bytes:
    extra = "<p>第二次公告：请关注后续通知。</p>" if version >= 2 else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{PWN_TITLE}</title>"
        f"{PWN_SCRIPT}</head><body><h1>某县人民政府 公告</h1>"
        f"<p>关于做好春季防汛工作的公告。</p>{PWN_IMG}<p>{PWN_LINK}</p>"
        "<p>&lt;script&gt;alert(3)&lt;/script&gt;</p>"
        "<svg onload='window.__pwned=5;alert(5)'></svg>"
        "<noscript><p id='noscript-proof'>脚本未运行 scripts did not run</p></noscript>"
        f"{extra}</body></html>"
    ).encode()


HTML = {"Content-Type": "text/html; charset=utf-8"}
GBK = {"Content-Type": "text/html; charset=GBK"}
CONFIG = """settings: {{host_delay: 0}}
keywords:
  shipbuilding: [船舶, 造船]
  sastind: [国防科工局]
  industrial-internet: [工业互联网]
targets:
  - name: miit-notices
    title: 工信部 通知公告
    url: {miit}
    tags: [miit]
    keywords: [shipbuilding]
  - name: miit-policy
    title: 工信部 政策解读
    url: {policy}
    tags: [miit]
    retries: 0
  - name: sastind-news
    title: 国防科工局 新闻
    url: {sastind}
    tags: [sastind]
    keywords: [sastind, shipbuilding]
  - name: govcn-latest-policy
    title: 国务院 最新政策
    url: {govcn}
    tags: [gov-cn]
  - name: county-notices
    title: 某县政府 公告
    url: {county}
    tags: [local]
"""


@dataclass
class Site:
    """The store the browser looks at, and the capture ids the tests need."""

    data: Path
    config: Path
    ids: dict[str, list[str]] = field(default_factory=dict)  # oldest first

    def capture(self, name: str, index: int) -> str:
        return self.ids[name][index]


def run_check(config: Path, data: Path) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--no-notify"]
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1), result.output  # 1: the failing target failed
    # `watcher run` indexes new texts when idle; here, as a cron user would, at once
    CliRunner().invoke(main, ["--config", str(config), "--data", str(data), "reindex"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Three real checks of a local site; pages change between them."""
    folder = tmp_path_factory.mktemp("browser-store")
    server = HTTPServer().start()
    try:
        server.route("/miit", body=miit_page(1), headers=GBK)
        ok = Response(200, news_page("政策解读", ["解读《内河航运装备质量提升行动》"]), HTML)
        server.route("/policy", sequence=[ok, Response(503, b"busy")])  # fails from check 2
        server.route("/sastind", body=news_page("国防科工局 时政要闻", SASTIND_ITEMS), headers=HTML)
        server.route("/govcn", body=news_page("最新政策", GOVCN_ITEMS), headers=HTML)
        server.route("/county", body=county_page(1), headers=HTML)
        config = folder / "targets.yaml"
        config.write_text(
            CONFIG.format(
                miit=server.url("/miit"),
                policy=server.url("/policy"),
                sastind=server.url("/sastind"),
                govcn=server.url("/govcn"),
                county=server.url("/county"),
            ),
            encoding="utf-8",
        )
        data = folder / "snapshots"
        run_check(config, data)
        server.route("/miit", body=miit_page(2), headers=GBK)
        server.route(
            "/sastind",
            body=news_page("国防科工局 时政要闻", [SASTIND_ADDED, *SASTIND_ITEMS]),
            headers=HTML,
        )
        server.route("/county", body=county_page(2), headers=HTML)
        run_check(config, data)
        server.route("/miit", body=miit_page(3), headers=GBK)
        server.route(
            "/govcn", body=news_page("最新政策", [GOVCN_ADDED, *GOVCN_ITEMS]), headers=HTML
        )
        run_check(config, data)
    finally:
        server.stop()
    store = Store(data, readonly=True)
    try:
        ids = {name: [c.id for c in reversed(store.history(name))] for name in store.target_names()}
    finally:
        store.close()
    assert len(ids["miit-notices"]) == 3
    yield Site(data, config, ids)


@contextmanager
def serving(app: object) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free 127.0.0.1 port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    eventually_sync(lambda: server.started or not thread.is_alive(), "uvicorn to start")
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def base(site: Site) -> Iterator[str]:
    with serving(create_app(site.data, site.config)) as url:
        yield url


@pytest.fixture(scope="module")
def playwright(site: Site) -> Iterator[Playwright]:
    """After the store: Playwright's sync API keeps an event loop running in this
    thread, and ``watcher check`` needs to start its own."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class Watched:
    """A page with what it did that a person would notice: dialogs and script errors."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    w = Watched(page)
    yield w
    context.close()
    assert not w.errors, f"script errors on the page: {w.errors}"
    assert not w.dialogs, f"dialogs opened: {w.dialogs}"


@pytest.fixture
def page(watched: Watched) -> Page:
    return watched.page


SHOTS = os.environ.get("WATCHER_SCREENSHOTS")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page: Page, folder: Path, name: str, *, full_page: bool = False) -> None:
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- 1. dashboard ---------------------------------------------------------------------------


def test_dashboard_lists_targets_and_opens_one(page: Page, base: str, shots: Path) -> None:
    page.goto(base + "/")
    rows = page.locator("table.targets tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("h1 .count")).to_have_text("5")

    miit = rows.filter(has_text="miit-notices")
    expect(miit.locator(".status")).to_have_text("changed")
    expect(miit).to_have_class(re.compile(r"\bfresh\b"))
    hits = int(miit.locator("a.hits").inner_text())
    assert hits >= 2  # 船舶 twice, 造船 once in the second capture
    expect(miit.locator(".group")).to_have_text(["shipbuilding"])

    failing = rows.filter(has_text="miit-policy")
    expect(failing).to_have_class(re.compile(r"\bfailing\b"))
    expect(failing.locator(".status")).to_have_text("error")
    expect(failing.locator(".err")).to_contain_text("503")
    expect(failing.locator("td.num").last).to_have_text("2")  # checks 2 and 3 failed

    govcn = rows.filter(has_text="govcn-latest-policy")
    expect(govcn.locator("td.num").first).to_have_text(re.compile(r"^\d+"))
    expect(rows.filter(has_text="county-notices").locator("td.num").first).to_have_text("0")
    shoot(page, shots, "dashboard")

    page.locator("table.targets").get_by_role("link", name="工信部 通知公告").click()
    expect(page).to_have_url(base + "/t/miit-notices")
    expect(page.locator("h1")).to_have_text("工信部 通知公告")
    expect(page.locator("table.timeline tbody tr")).to_have_count(3)


# -- 2. target page -------------------------------------------------------------------------


def test_target_page_compares_two_chosen_captures(
    page: Page, base: str, site: Site, shots: Path
) -> None:
    page.goto(base + "/t/miit-notices")
    rows = page.locator("table.timeline tbody tr")
    expect(rows).to_have_count(3)  # newest first
    oldest, middle = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
    expect(rows.nth(2).locator("td").nth(3)).to_have_text("new")
    expect(rows.nth(1).locator("td.num").nth(0)).to_have_text(re.compile(r"\+\d+ −1"))
    shoot(page, shots, "target")

    # the defaults compare the two newest: choose the oldest and the middle one instead
    page.get_by_label(f"compare from {oldest}").check()
    page.get_by_label(f"compare to {middle}").check()
    page.get_by_role("button", name="Compare the two chosen captures").click()
    expect(page).to_have_url(re.compile(r"/t/miit-notices/diff\?"))
    assert query_of(page.url) == {"from": oldest, "to": middle}
    expect(page.locator("h1")).to_have_text("miit-notices: what changed")
    expect(page.locator("p.meta a").first).to_have_attribute("href", f"/c/{oldest}")
    expect(page.locator("p.meta a").nth(1)).to_have_attribute("href", f"/c/{middle}")
    expect(page.locator(".diff-inline del")).to_have_text(["只"])


# -- 3. diff page ---------------------------------------------------------------------------


def test_diff_marks_characters_hits_and_navigates_changes(
    page: Page, base: str, site: Site, shots: Path
) -> None:
    old, new = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
    page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}")
    diff = page.locator(".diff-inline")
    # one CJK character replaced: exactly 只 deleted and 舶 inserted on that line
    expect(diff.locator("del")).to_have_text(["只"])
    first = page.locator("#change-1")
    expect(first).to_have_class(re.compile(r"\bdel\b"))
    expect(first).to_contain_text("为推动内河船只标准化")
    added_line = page.locator("#change-1 + .line.ins")
    expect(added_line.locator("ins")).to_have_text(["舶"])
    expect(added_line).to_contain_text("为推动内河船舶标准化")
    # the keyword hit spans the unchanged 船 and the inserted 舶
    marks = added_line.locator('mark.hit[data-group="shipbuilding"]')
    assert "".join(marks.all_inner_texts()) == "船舶"
    expect(added_line.locator('ins mark.hit[data-group="shipbuilding"]')).to_have_text("舶")
    second = page.locator("#change-2")
    expect(second.locator("ins")).to_have_text([MIIT_ADDED])
    expect(second.locator('mark.hit[data-group="shipbuilding"]')).to_have_text(["造船", "船舶"])
    expect(page.locator("#change-3")).to_have_count(0)
    expect(page.locator(".toolbar .nav")).to_contain_text("2 changes")
    expect(page.locator(".hit-list li")).to_have_count(3)
    shoot(page, shots, "diff-inline")

    # "Next change": marks the change as current and scrolls it into view, then the next
    page.set_viewport_size({"width": 1280, "height": 420})
    page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}&lines=50")
    expect(page.locator(".current")).to_have_count(0)
    next_change = page.locator("a[data-nav=next]")
    next_change.click()
    expect(page.locator("#change-1")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator("#change-1")).to_be_in_viewport()
    expect(page).to_have_url(re.compile("#change-1$"))
    before = page.evaluate("window.scrollY")
    next_change.click()
    expect(page.locator("#change-2")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator("#change-1")).not_to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator("#change-2")).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > before
    page.keyboard.press("p")  # back to the first with the keyboard
    expect(page.locator("#change-1")).to_have_class(re.compile(r"\bcurrent\b"))
    page.set_viewport_size(DESKTOP)


def test_diff_side_by_side(page: Page, base: str, site: Site, shots: Path) -> None:
    old, new = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
    page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}")
    page.get_by_role("link", name="Side by side").click()
    expect(page).to_have_url(re.compile(r"view=side"))
    assert query_of(page.url) == {"from": old, "to": new, "view": "side"}
    # old text on the left, new on the right, on one row
    row = page.locator("table.diff-side tr#change-1")
    expect(row.locator("td")).to_have_count(4)
    expect(row.locator("td.old del")).to_have_text("只")
    expect(row.locator("td.new ins")).to_have_text("舶")
    expect(row.locator("td.old")).to_contain_text("为推动内河船只标准化")
    expect(row.locator("td.new")).to_contain_text("为推动内河船舶标准化")
    expect(row.locator('td.new mark.hit[data-group="shipbuilding"]')).to_have_count(2)
    expect(page.locator("table.diff-side tr#change-2 td.old")).to_have_text("")
    expect(page.locator("table.diff-side tr#change-2 td.new ins")).to_have_text(MIIT_ADDED)
    shoot(page, shots, "diff-side")
    left, right = row.locator("td.old").bounding_box(), row.locator("td.new").bounding_box()
    assert left and right
    assert right["x"] >= left["x"] + left["width"] - 1  # side by side, not stacked
    assert abs(left["y"] - right["y"]) < 1


def test_side_by_side_gives_the_text_the_width(page: Page, base: str, site: Site) -> None:
    old, new = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
    page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}&view=side")
    table = page.locator("table.diff-side").bounding_box()
    row = page.locator("table.diff-side tr#change-1")
    numbers = row.locator("td.ln").first.bounding_box()
    text = row.locator("td.new").bounding_box()
    assert table and numbers and text
    assert numbers["width"] < 80, f"a line-number column is {numbers['width']}px wide"
    assert text["width"] > 0.4 * table["width"], f"a text column is {text['width']}px wide"


WIDE = {"width": 1366, "height": 800}


def widths(page: Page, row: str) -> tuple[float, float]:
    """A side-by-side row's first line-number cell and its new text cell."""
    numbers = page.locator(f"{row} td.ln").first.bounding_box()
    text = page.locator(f"{row} td.new").bounding_box()
    assert numbers and text
    return numbers["width"], text["width"]


def test_side_by_side_when_the_first_row_is_a_fold(page: Page, base: str, site: Site) -> None:
    """A fold spanning all four columns first must not make them 25 % each; on a phone
    the table falls back to one text column."""
    old, new = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
    page.set_viewport_size(WIDE)
    page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}&view=side&lines=1")
    expect(page.locator("table.diff-side > tbody > tr").first).to_have_class("fold")
    table = page.locator("table.diff-side").bounding_box()
    numbers, text = widths(page, "table.diff-side tr#change-1")
    assert table
    assert numbers < 70, f"a line-number column is {numbers}px wide at 1366 px"
    assert text > 0.42 * table["width"], f"a text column is {text}px of {table['width']}"

    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.locator("table.diff-side td.ln").first).to_be_hidden()
    box = page.locator("table.diff-side tr#change-1 td.new").bounding_box()
    assert box
    text, viewport = box["width"], PHONE["width"]
    assert text >= 0.8 * viewport, f"the text is {text}px of {viewport} on a phone"
    old_box = page.locator("table.diff-side tr#change-1 td.old").bounding_box()
    new_box = page.locator("table.diff-side tr#change-1 td.new").bounding_box()
    assert old_box and new_box and new_box["y"] >= old_box["y"] + old_box["height"] - 1  # stacked
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport + 1
    page.set_viewport_size(DESKTOP)


def luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_a_changed_character_stands_out_and_small_edits_are_listed(
    page: Page, base: str, site: Site, shots: Path
) -> None:
    old, new = site.capture("miit-notices", 1), site.capture("miit-notices", 2)
    page.set_viewport_size(WIDE)
    page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}")
    inserted = page.locator(".diff-inline .line.ins ins")
    expect(inserted).to_have_text(["（2024年3月5日更新）"])
    expect(inserted).to_be_visible()
    style = inserted.evaluate(
        "e => { const s = getComputedStyle(e), l = getComputedStyle(e.parentElement);"
        " return [s.color, s.backgroundColor, l.backgroundColor, s.fontWeight,"
        " s.textDecorationLine]; }"
    )
    color, background, line, weight, decoration = style
    lighter, darker = sorted((luminance(color), luminance(background)), reverse=True)
    assert (lighter + 0.05) / (darker + 0.05) >= 4.5, style  # readable
    assert abs(luminance(background) - luminance(line)) > 0.3, style  # not a faint shade
    assert int(weight) >= 700 and "underline" in decoration, style
    # the summary at the top names the edit and jumps to it
    summary = page.locator(".small-edits li a")
    expect(summary).to_have_count(1)
    expect(summary).to_contain_text("+（2024年3月5日更新） in paragraph")
    shoot(page, shots, "diff-small-edit")

    first, second = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
    page.set_viewport_size({"width": 1366, "height": 400})
    page.goto(f"{base}/t/miit-notices/diff?from={first}&to={second}&lines=0")
    summary = page.locator(".small-edits li a")
    expect(summary).to_have_count(1)  # 只→舶; the added paragraph is no small edit
    expect(summary.locator(".edit-label")).to_have_text("只→舶")
    summary.click()
    expect(page).to_have_url(re.compile(r"#edit-\d+$"))
    anchor = page.url.rsplit("#", 1)[1]
    line = page.locator(f".line.ins:has(#{anchor})")
    expect(line.locator("ins")).to_have_text(["舶"])
    expect(line).to_be_in_viewport()
    page.set_viewport_size(DESKTOP)


def test_folds_expand_without_script(browser: Browser, base: str, site: Site) -> None:
    context = browser.new_context(viewport=WIDE, java_script_enabled=False)
    try:
        page = context.new_page()
        old, new = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
        for view, line in (("inline", ".line.ctx"), ("side", "tr.ctx td.new")):
            page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}&view={view}")
            hidden = page.locator(line).filter(has_text="（二）提升建造质量")  # between the changes
            fold = page.locator("details.fold, tr.fold details").filter(has=hidden)
            expect(fold).to_have_count(1)
            expect(fold.locator("summary")).to_contain_text("unchanged lines")
            expect(hidden).to_be_hidden()
            fold.locator("summary").click()
            expect(hidden).to_be_visible()
    finally:
        context.close()


def test_pickers_choose_the_versions_and_the_original_is_linked(
    page: Page, base: str, site: Site
) -> None:
    ids = site.ids["miit-notices"]
    page.goto(f"{base}/t/miit-notices/diff?view=side")  # the newest two by default
    expect(page.get_by_label("From version")).to_have_value(ids[1])
    expect(page.get_by_label("To version")).to_have_value(ids[2])
    expect(page.get_by_label("From version").locator("option")).to_have_count(3)
    page.get_by_label("From version").select_option(ids[0])
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/t/miit-notices/diff\?"))
    assert query_of(page.url) == {"from": ids[0], "to": ids[2], "view": "side"}
    expect(page.locator("table.diff-side td.old del").first).to_have_text("只")
    original = page.locator("p.meta a.original")
    href = original.get_attribute("href")
    assert href and re.fullmatch(r"http://127\.0\.0\.1:\d+/miit", href), href
    expect(original).to_have_attribute("rel", re.compile("noopener"))


# -- 4. search ------------------------------------------------------------------------------


def search_from_header(page: Page, words: str) -> None:
    box = page.locator("header form.search input[name=q]")
    box.fill(words)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))


def test_search_from_the_header(page: Page, base: str, site: Site, shots: Path) -> None:
    page.goto(base + "/")
    search_from_header(page, "船舶")
    expect(page.locator("header input[name=q]")).to_have_value("船舶")
    results = page.locator("ol.results > li")
    miit = results.filter(has=page.locator("a[href='/t/miit-notices']"))
    expect(miit).to_have_count(1)  # once, with its versions: the second and third captures
    expect(miit.locator(".versions")).to_have_text("2 versions")
    expect(miit.locator(".snippet mark").first).to_have_text("船舶")
    expect(miit.locator(".snippet mark").first).to_be_visible()
    expect(miit.locator("a.result-title")).to_have_attribute(
        "href", f"/c/{site.capture('miit-notices', 2)}"
    )
    expect(results.filter(has=page.locator("a[href='/t/county-notices']"))).to_have_count(0)
    shoot(page, shots, "search")

    search_from_header(page, "SASTIND")  # a Latin word, any case
    expect(results).to_have_count(1)
    expect(results.locator(".sub a")).to_have_text("sastind-news")
    expect(results.locator(".snippet").first).to_contain_text("SASTIND")

    search_from_header(page, '"industrial internet"')  # a phrase, whole
    expect(results.locator(".sub a").first).to_have_text("govcn-latest-policy")
    expect(results.locator(".snippet").first).to_contain_text("Industrial Internet")
    search_from_header(page, '"internet industrial"')  # both words, not that phrase
    expect(results).to_have_count(0)
    expect(page.locator("p.empty")).to_contain_text("Nothing found")

    search_from_header(page, "船")  # one Hanzi: the index cannot answer it
    expect(page.locator("p.problem")).to_contain_text("at least two Chinese characters")
    expect(results).to_have_count(0)


# -- 5. hits --------------------------------------------------------------------------------


def test_hit_links_to_its_diff(page: Page, base: str, site: Site, shots: Path) -> None:
    page.goto(base + "/hits")
    rows = page.locator("table.hits-table tbody tr")
    expect(rows.first).to_be_visible()
    shoot(page, shots, "hits")
    # the row names the target by its title; its internal name is the link's tooltip
    hit = rows.filter(has=page.locator('a[title="miit-notices"]')).filter(has_text="船舶").first
    expect(hit.locator(".group")).to_have_text("shipbuilding")
    # the hit in its context, the term marked
    expect(hit.locator(".hit-snippet")).to_contain_text("为推动内河船舶标准化")
    expect(hit.locator(".hit-snippet mark")).to_have_text("船舶")
    expect(hit.locator(".hit-snippet mark")).to_be_visible()
    hit.get_by_role("link", name="diff").click()
    old, new = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
    expect(page).to_have_url(re.compile(r"/t/miit-notices/diff\?"))
    assert query_of(page.url) == {"from": old, "to": new}
    expect(page.locator('.diff mark.hit[data-group="shipbuilding"]').first).to_be_visible()

    # and from there to the capture, its archived original decoded from GBK in the frame
    page.locator("p.meta").get_by_role("link").nth(1).click()
    expect(page).to_have_url(f"{base}/c/{new}")
    expect(page.locator(".hit-list li")).to_have_count(3)
    expect(page.locator("pre.text")).to_contain_text("为推动内河船舶标准化")
    frame = page.frame_locator("iframe.archive")
    expect(frame.locator("h1")).to_have_text("工业和信息化部关于开展内河航运装备质量提升行动的通知")
    expect(frame.locator("body")).to_contain_text("船舶")
    shoot(page, shots, "capture")
    # a full-page screenshot leaves the (out-of-process) sandboxed frame blank: scroll to it
    page.get_by_role("heading", name="The archived page").evaluate("e => e.scrollIntoView()")
    expect(page.locator("iframe.archive")).to_be_in_viewport()
    page.wait_for_timeout(300)  # let the frame's own process paint
    shoot(page, shots, "capture-archive")


# -- 6. hostile pages -----------------------------------------------------------------------


def assert_no_script_ran(w: Watched) -> None:
    page = w.page
    for frame in page.frames:
        assert frame.evaluate("typeof window.__pwned") == "undefined", frame.url
    assert not w.dialogs, w.dialogs
    # only the UI's own script, and none of the page's elements, in the top document
    scripts = page.evaluate("[...document.scripts].map(s => new URL(s.src).pathname)")
    assert scripts == ["/static/app.js"]
    expect(page.locator("main img, main svg")).to_have_count(0)


def test_hostile_page_runs_no_script(watched: Watched, base: str, site: Site) -> None:
    page = watched.page
    first, second = site.capture("county-notices", 0), site.capture("county-notices", 1)

    # the capture page: the payload is text, and the original sits in a sandboxed frame
    with page.expect_response(re.compile(r"/c/\w+/raw$")) as raw:
        page.goto(f"{base}/c/{second}")
    csp = raw.value.headers["content-security-policy"]
    assert re.match(r"sandbox\s*;", csp) and "default-src 'none'" in csp, csp
    expect(page.locator("pre.text")).to_contain_text(PWN_TEXT)
    expect(page.locator("p.meta")).to_have_text(PWN_TITLE)
    iframe = page.locator("iframe.archive")
    expect(iframe).to_have_attribute("sandbox", "")
    frame = page.frame_locator("iframe.archive")
    expect(frame.locator("h1")).to_have_text("某县人民政府 公告")
    # <noscript> content is parsed as elements only where scripting is off
    expect(frame.locator("#noscript-proof")).to_be_visible()
    frame.locator("#js-link").click()
    page.wait_for_timeout(200)
    assert len(page.frames) == 2
    assert_no_script_ran(watched)

    # the raw original opened on its own: the CSP sandboxes it even as a top-level page
    response = page.goto(f"{base}/c/{second}/raw")
    assert response is not None
    assert response.headers["content-security-policy"].startswith("sandbox")
    expect(page.locator("#noscript-proof")).to_be_visible()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert not watched.dialogs

    # the diff page and the search results show the page's text, escaped
    page.goto(f"{base}/t/county-notices/diff?from={first}&to={second}")
    expect(page.locator(".diff")).to_contain_text(PWN_TEXT)
    expect(page.locator(".diff ins")).to_contain_text(["第二次公告"])
    assert_no_script_ran(watched)

    page.goto(f"{base}/search?q=alert")
    results = page.locator("ol.results > li")
    expect(results).to_have_count(1)  # the page once, with both its captures' texts
    expect(results.locator(".versions")).to_have_text("2 versions")
    expect(results.locator(".result-title")).to_have_text([PWN_TITLE])
    expect(results.locator(".snippet mark").first).to_have_text("alert")
    # the title line comes first in the text, then the body: both shown as text
    expect(results.first.locator(".snippet").first).to_contain_text("onerror=alert(4)")
    expect(results.first.locator(".snippet")).to_contain_text([PWN_TEXT])
    assert_no_script_ran(watched)

    page.goto(f"{base}/t/county-notices")
    expect(page.locator("td.page-title").first).to_have_text(PWN_TITLE)
    assert_no_script_ran(watched)


# -- 7. login -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(site: Site) -> Iterator[str]:
    """A second app over the same store, with a password."""
    with serving(create_app(site.data, site.config, password="s3cret")) as url:
        yield url


def test_login_required_for_pages_and_api(
    playwright: Playwright, page: Page, guarded: str, site: Site
) -> None:
    page.goto(guarded + "/t/miit-notices")
    expect(page).to_have_url(guarded + "/login?next=/t/miit-notices")
    expect(page.get_by_label("Password")).to_be_visible()
    page.goto(guarded + "/")
    expect(page).to_have_url(guarded + "/login?next=/")
    expect(page.locator("table")).to_have_count(0)

    anonymous = playwright.request.new_context(base_url=guarded)
    try:
        answer = anonymous.get("/api/targets")
        assert answer.status == 401
        assert answer.json() == {"detail": "login required"}
        assert "Basic" in answer.headers["www-authenticate"]
        assert anonymous.get(f"/c/{site.capture('miit-notices', 0)}/raw").status == 401
    finally:
        anonymous.dispose()
    program = playwright.request.new_context(
        base_url=guarded, http_credentials={"username": "any", "password": "s3cret"}
    )
    try:
        assert program.get("/api/targets").status == 200
    finally:
        program.dispose()


def test_login_form(page: Page, guarded: str) -> None:
    page.goto(guarded + "/")
    expect(page).to_have_url(guarded + "/login?next=/")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("body")).not_to_contain_text("CSRF", timeout=2000)
    expect(page.locator("p.problem")).to_have_text("Wrong password.")
    expect(page.locator("table")).to_have_count(0)

    page.get_by_label("Password").fill("s3cret")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(guarded + "/")
    expect(page.locator("h1")).to_contain_text("Targets")
    expect(page.locator("table.targets tbody tr")).to_have_count(5)
    assert page.request.get(guarded + "/api/targets").status == 200  # the session cookie

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(guarded + "/hits")
    expect(page).to_have_url(guarded + "/login?next=/hits")


# -- 8. phone -------------------------------------------------------------------------------


def test_phone_width(browser: Browser, base: str, site: Site, shots: Path) -> None:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(base + "/")
        expect(page.locator("table.targets tbody tr")).to_have_count(5)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"the dashboard is {width}px wide on a phone"
        shoot(page, shots, "dashboard-phone")

        old, new = site.capture("miit-notices", 0), site.capture("miit-notices", 1)
        page.goto(f"{base}/t/miit-notices/diff?from={old}&to={new}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"the diff is {width}px wide on a phone"
        box = page.locator("#change-1 + .line.ins").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        size = page.locator(".diff").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 12
        expect(page.locator("#change-1 + .line.ins ins")).to_be_in_viewport()
    finally:
        context.close()
