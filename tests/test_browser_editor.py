"""The target editor in Chromium: paste a SASTIND list page's URL, see it rendered in
the sandboxed preview beside the text a check would store, click a region and watch
the selector and the text follow, accept a proposed listing, save, and find the
target in targets.yaml with the file's comments intact; then edit, pause, resume and
remove it from /targets. A viewer sees no controls and is refused.

The site is a real HTTP server on 127.0.0.1 serving the saved SASTIND list page of
tests/fixtures/sites; the app is served by uvicorn, with real accounts for the viewer
part. A screenshot of the editor goes to ``$WATCHER_SCREENSHOTS`` (docs/screenshots
in the README).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from httpserver import HTTPServer
from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, serving, shoot, shots

from watcher.check.propose import Proposal, propose
from watcher.cli.main import main
from watcher.config import load_config
from watcher.store.index import Store
from watcher.web.app import create_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
__all__ = ["shots"]  # a fixture used from test_browser

SITES = Path(__file__).parent / "fixtures" / "sites"
LIST = (SITES / "sastind.gov.cn" / "list.html").read_bytes()
LIST_PATH = "/n10086200/n10086319/index.html"
HTML = {"Content-Type": "text/html; charset=utf-8"}
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CONFIG = """\
# The team's targets. Comments like this one survive every edit from the browser.
settings:
  host_delay: 0
defaults:
  retries: 0
  timeout: 10s
keywords:
  shipbuilding: [船舶, 造船]   # 船舶工业
  mcf: [军民融合]
  standards: [标准化]
targets:
  # gov.cn's newest policies
  - name: gov-zuixin
    title: 国务院 最新政策
    url: {base}/zhengce/zuixin/
"""


@dataclass
class Site:
    config: Path
    data: Path
    server: HTTPServer

    def text(self) -> str:
        return self.config.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("editor")
    with HTTPServer() as server:
        server.route(LIST_PATH, body=LIST, headers=HTML)
        zuixin = (SITES / "gov.cn" / "zuixin.html").read_bytes()
        server.route("/zhengce/zuixin/", body=zuixin, headers=HTML)
        config = folder / "targets.yaml"
        config.write_text(CONFIG.format(base=server.url("").rstrip("/")), encoding="utf-8")
        Store(folder / "snapshots").close()
        command = ["--config", str(config), "--data", str(folder / "snapshots")]
        added = CliRunner().invoke(
            main, [*command, "user", "add", "vic", "--role", "viewer", "--password-stdin"],
            input="viewer-password\n",
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        yield Site(config, folder / "snapshots", server)


@pytest.fixture(scope="module")
def app(site: Site):
    return create_app(site.data, site.config, password_hasher=CHEAP)


@pytest.fixture(scope="module")
def base(app) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        expect.set_options(timeout=TIMEOUT_MS)
        yield browser
        expect.set_options(timeout=5_000)
        browser.close()


def signed_in(browser: Browser, base: str, name: str, password: str) -> Page:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=base)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto("/login?next=/targets")
    page.fill("input[name=user]", name)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
    expect(page).to_have_url(f"{base}/targets")
    return page


@pytest.fixture
def admin(browser: Browser, base: str, site: Site) -> Iterator[Page]:
    """An admin: with accounts in the store, the one the admin's account signs in."""
    CliRunner().invoke(
        main,
        [
            "--config",
            str(site.config),
            "--data",
            str(site.data),
            "user",
            "add",
            "ada",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="admin-password\n",
    )  # fmt: skip (a second run finds ada there already: fine)
    page = signed_in(browser, base, "ada", "admin-password")
    yield page
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    page.context.close()


def fetch(page: Page, url: str) -> None:
    page.goto("/targets")
    page.click("#add-target")
    page.fill("#fetch-url", url)
    page.click("#fetch-button")
    expect(page).to_have_url(re.compile(r"/targets/new\?draft="))
    expect(page.frame_locator("#preview").locator("div.location")).to_be_visible()


def test_paste_point_at_a_region_and_save_keeping_the_files_comments(
    admin: Page, site: Site, shots: Path
) -> None:
    page = admin
    url = site.server.url(LIST_PATH)
    fetch(page, url)
    stored = page.locator("#stored-text")
    expect(stored).to_contain_text("时政要闻 - 国家国防科技工业局")  # the whole page, title first
    expect(stored).to_contain_text("网站标识码")
    expect(page.locator("#target-name")).to_have_value("n10086200-n10086319")
    # a click in the page: its selector in the form, the text re-read at once
    frame = page.frame_locator("#preview")
    frame.locator("div.location").click(position={"x": 5, "y": 5})
    expect(page.locator("#target-select")).to_have_value("div.location")
    expect(stored).to_have_text("您现在的位置：首页 > 新闻中心 > 时政要闻")
    expect(page.locator("#text-size")).to_have_text(
        str(len("您现在的位置：首页 > 新闻中心 > 时政要闻"))
    )
    expect(page.locator("#draft-hits li")).to_have_text(["none"])
    # an element inside the list: the shortest selector that names it alone
    frame.get_by_text("国防科技工业2026年度标准化工作会议召开", exact=True).click()
    expect(page.locator("#target-select")).to_have_value(
        re.compile(r"li:nth-of-type\(2\) > a > p\.list_first$")
    )
    expect(stored).to_have_text("国防科技工业2026年度标准化工作会议召开")
    expect(page.locator("#draft-hits")).to_contain_text("standards 标准化 ×1")
    # typed, and a selector that matches nothing says so
    page.fill("#target-select", ".nothing-here")
    expect(page.locator("#text-error")).to_contain_text("'.nothing-here' matched nothing")
    page.fill("#target-select", "div.list_infor_news")
    expect(page.locator("#text-error")).to_be_hidden()
    expect(stored).to_contain_text("国防科工局召开船舶工业军民融合发展推进会")
    expect(stored).not_to_contain_text("网站标识码")
    expect(page.locator("#draft-hits")).to_contain_text("shipbuilding 船舶 ×2")
    # the keyword groups chosen: only their hits
    for group in ("mcf", "standards"):
        page.uncheck(f"input[name=keywords][value={group}]")
    expect(page.locator("#draft-hits")).not_to_contain_text("standards")
    expect(page.locator("#draft-hits")).to_contain_text("shipbuilding 船舶 ×2")
    page.check("input[name=schedule][value=interval]")
    page.fill("input[name=interval]", "2h")
    page.fill("#target-notify", "analysts")
    page.fill("#target-title", "国防科工局 时政要闻")
    outlined = frame.locator("div.list_infor_news")
    expect(outlined).to_have_attribute("style", re.compile("outline"))
    page.set_viewport_size({"width": 1280, "height": 1000})
    next(f for f in page.frames if f.url.endswith("/page")).evaluate("window.scrollTo(0, 0)")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, shots, "target-editor")
    page.set_viewport_size(DESKTOP)
    page.click("#save-target")
    expect(page).to_have_url(re.compile(r"/targets\?done=added&name=n10086200-n10086319"))
    expect(page.locator("#targets-done")).to_contain_text("Added n10086200-n10086319")
    expect(page.locator('tr[data-target="n10086200-n10086319"]')).to_contain_text("every 2h")
    text = site.text()
    assert text.startswith(CONFIG.format(base=site.server.url("").rstrip("/")))
    assert text.endswith(
        "  - name: n10086200-n10086319\n"
        "    title: 国防科工局 时政要闻\n"
        f"    url: {url}\n"
        "    select: div.list_infor_news\n"
        "    keywords:\n      - shipbuilding\n"
        "    interval: 2h\n"
        "    notify:\n      - analysts\n"
    )
    saved = load_config(site.config).target("n10086200-n10086319")
    assert saved.select == ("div.list_infor_news",) and saved.interval == 7200


def test_accept_a_proposed_listing(admin: Page, site: Site) -> None:
    if not propose(LIST.decode("utf-8"), site.server.url(LIST_PATH)):
        pytest.skip(
            "watcher.check.propose.propose proposes nothing on this branch (its"
            " implementation is on another branch): no listing to accept yet"
        )
    page = admin
    fetch(page, site.server.url(LIST_PATH))
    listing = page.locator('.proposal[data-kind="listing"]').first
    expect(listing).to_be_visible()
    listing.locator(".accept-proposal").click()
    expect(listing).to_have_class(re.compile(r"\baccepted\b"))
    expect(page.locator("#target-follow")).to_have_value(re.compile(r'"links"'))
    page.fill("#target-name", "sastind-list")
    page.click("#save-target")
    expect(page).to_have_url(re.compile(r"/targets\?done=added&name=sastind-list"))
    follow = load_config(site.config).target("sastind-list").follow
    assert follow is not None and follow.links
    assert CONFIG.splitlines()[0] in site.text()


def test_a_proposal_accepted_fills_the_form_and_is_saved(admin: Page, site: Site, app) -> None:
    """The editor's part of a proposal, whatever ``propose`` finds: a listing proposal
    made here by hand, as ``propose`` gives one, on the page really fetched."""
    fetch(admin, site.server.url(LIST_PATH))
    token = admin.url.split("draft=", 1)[1]
    kept = app.state.drafts.get(token, "ada")
    follow = {"links": "div.list_infor_news li a", "pages": 2, "next": "div.pages a"}
    listing = Proposal(
        "listing", "Notice list: 2 links, 2 pages", {"follow": follow},
        "div.list_infor_news", ("国防科工局召开船舶工业军民融合发展推进会",),
    )  # fmt: skip
    article = Proposal("article", "Main article", {"select": "div.location"}, "div.location")
    api = {"url": site.server.url("/api/list.json"), "headers": {"Referer": "x"}}
    endpoint = Proposal(
        "json-listing", "JSON list: 20 items", {**api, "follow": {"items": "data", "url": "u"}}
    )
    made = replace(kept.preview, proposals=(listing, article, endpoint))
    draft = app.state.drafts.add("ada", made, None)
    admin.goto(f"/targets/new?draft={draft.token}")
    first = admin.locator(".proposal").first
    expect(first).to_contain_text("Notice list: 2 links, 2 pages")
    expect(first).to_contain_text("国防科工局召开船舶工业军民融合发展推进会")
    admin.locator(".proposal").nth(1).locator(".accept-proposal").click()
    expect(admin.locator("#target-select")).to_have_value("div.location")
    expect(admin.locator("#stored-text")).to_have_text("您现在的位置：首页 > 新闻中心 > 时政要闻")
    admin.locator(".proposal").nth(2).locator(".accept-proposal").click()
    expect(admin.locator("#extra-note")).to_contain_text("the target watches that address")
    assert json.loads(admin.locator("#target-extra").input_value()) == api
    first.locator(".accept-proposal").click()
    expect(first).to_have_class(re.compile(r"\baccepted\b"))
    expect(admin.locator("#extra-note")).to_be_hidden()
    expect(admin.locator("#target-extra")).to_have_value("")
    expect(admin.locator("#target-select")).to_have_value("")
    assert json.loads(admin.locator("#target-follow").input_value()) == follow
    outlined = admin.frame_locator("#preview").locator("div.list_infor_news")
    expect(outlined).to_have_attribute("style", re.compile("outline"))
    admin.fill("#target-name", "sastind-by-hand")
    admin.click("#save-target")
    expect(admin).to_have_url(re.compile(r"/targets\?done=added&name=sastind-by-hand"))
    saved = load_config(site.config).target("sastind-by-hand").follow
    assert saved is not None and saved.links == "div.list_infor_news li a" and saved.pages == 2
    assert CONFIG.splitlines()[0] in site.text()


def test_edit_pause_resume_and_remove_from_the_targets_page(admin: Page, site: Site) -> None:
    page = admin
    page.goto("/targets")
    row = page.locator('tr[data-target="gov-zuixin"]')
    row.get_by_role("link", name="Edit").click()
    expect(page.locator("#target-name")).to_have_value("gov-zuixin")
    expect(page.locator("#target-name")).to_have_attribute("readonly", "")
    page.click("#fetch-button")  # the target's own page, fetched as its check would
    expect(page).to_have_url(re.compile(r"/targets/gov-zuixin/edit\?draft="))
    page.frame_locator("#preview").locator("ul").first.click(position={"x": 2, "y": 2})
    expect(page.locator("#target-select")).not_to_have_value("")
    picked = page.locator("#target-select").input_value()
    page.check("input[name=schedule][value=cron]")
    page.fill("input[name=cron]", "0 8 * * 1-5")
    page.click("#save-target")
    expect(page.locator("#targets-done")).to_contain_text("Saved gov-zuixin")
    expect(row.locator("td").nth(2)).to_have_text(
        "cron 0 8 * * mon-fri"
    )  # as the scheduler reads it
    edited = load_config(site.config).target("gov-zuixin")
    assert (
        edited.select == (picked,) and edited.cron == "0 8 * * mon-fri" and edited.interval is None
    )
    assert "  # gov.cn's newest policies\n  - name: gov-zuixin\n" in site.text()
    assert "    cron: '0 8 * * 1-5'\n" in site.text()  # as the admin wrote it

    row.get_by_role("button", name="Pause").click()
    expect(page.locator("#targets-done")).to_contain_text("Paused gov-zuixin")
    expect(row.locator("td.state")).to_have_text("paused")
    assert load_config(site.config).target("gov-zuixin").paused
    row.get_by_role("button", name="Resume").click()
    expect(page.locator("#targets-done")).to_contain_text("Resumed gov-zuixin")
    expect(row.locator("td.state")).to_have_text("not checked yet")
    assert "paused" not in site.text()
    row.get_by_role("button", name="Remove gov-zuixin").click()
    expect(page.locator("#targets-done")).to_contain_text("Removed gov-zuixin")
    expect(row).to_have_count(0)
    assert "name: gov-zuixin" not in site.text()
    assert "# The team's targets. Comments like this one survive" in site.text()


def test_a_viewer_sees_no_controls_and_is_refused(browser: Browser, base: str, site: Site) -> None:
    page = signed_in(browser, base, "vic", "viewer-password")
    expect(page.locator("table.config-targets")).to_be_visible()
    expect(page.locator("#add-target")).to_have_count(0)
    expect(page.locator("td.target-forms")).to_have_count(0)
    expect(page.locator("#edit-targets")).to_have_count(0)
    before = site.text()
    token = page.locator("form.logout input[name=csrf]").get_attribute("value")
    name = load_config(site.config).targets[0].name
    answer = page.request.post(f"/targets/{name}/pause", form={"csrf": token or ""})
    assert answer.status == 403 and "admin" in answer.text()
    assert page.goto("/targets/new").status == 403
    assert site.text() == before
    page.context.close()
