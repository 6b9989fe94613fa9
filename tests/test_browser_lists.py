"""A listing's page and failing targets in Chromium, at 1366 and 390 px wide.

The site of tests/uisite.py, checked for real; the real app served by uvicorn on
127.0.0.1; Debian's Chromium driven by Playwright. Screenshots go where the other
browser tests put theirs (``$WATCHER_SCREENSHOTS``, else a temporary folder).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, TIMEOUT_MS, serving, shoot
from uisite import ADDED, ITEMS, PDF_TITLE, UISite, build

from watcher.web.app import create_app

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
)
WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> UISite:
    return build(tmp_path_factory.mktemp("browser-lists"))


@pytest.fixture(scope="module")
def base(site: UISite) -> Iterator[str]:
    with serving(create_app(site.data, site.config)) as url:
        yield url


@pytest.fixture(scope="module")
def playwright(site: UISite) -> Iterator[Playwright]:
    """After the store: ``watcher check`` needs an event loop of its own."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(params=[WIDE, PHONE], ids=["1366", "390"])
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=request.param, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def suffix(page: Page) -> str:
    size = page.viewport_size
    return "-phone" if size and size["width"] < 640 else ""


def fits(page: Page) -> None:
    """Nothing wider than the window: no sideways scrolling of the page itself."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than the window"


def test_the_listing_shows_notices_with_their_fates(
    page: Page, base: str, site: UISite, shots: Path
) -> None:
    page.goto(base + "/t/miit-notices")
    rows = page.locator("table.documents tbody tr")
    expect(rows).to_have_count(5)
    added = rows.filter(has=page.get_by_role("link", name=ADDED[1], exact=True))
    expect(added.locator(".mark.new")).to_be_visible()
    expect(added.locator("td.docno")).to_have_text("工信部装〔2026〕12号")
    expect(added.locator("td.date")).to_have_text("2026-11-27")
    # the attachment is the row right under its notice, indented
    pdf = rows.nth(1)
    expect(pdf).to_have_class(re.compile(r"\battachment\b"))
    expect(pdf.get_by_role("link", name=PDF_TITLE)).to_be_visible()
    notice_x = added.get_by_role("link", name=ADDED[1]).bounding_box()
    pdf_x = pdf.get_by_role("link", name=PDF_TITLE).bounding_box()
    assert notice_x and pdf_x and pdf_x["x"] > notice_x["x"] + 8
    # only the new notice and its attachment are marked new
    expect(page.locator("table.documents .mark.new")).to_have_count(2)
    removed = rows.filter(has_text=ITEMS[2][1])
    expect(removed.locator(".mark.removed")).to_have_text("removed")
    expect(removed.locator(".since")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d Beijing time$")
    )
    expect(removed.locator(".mark.new")).to_have_count(0)
    edited = rows.filter(has_text=ITEMS[1][1])
    expect(edited.get_by_role("link", name="edited 1×")).to_be_visible()
    fits(page)
    shoot(page, shots, "listing" + suffix(page), full_page=True)

    removed.get_by_role("link", name="last capture before removal").click()
    expect(page).to_have_url(re.compile(r"/c/[0-9A-Z]{26}$"))
    page.go_back()
    page.locator("table.documents").get_by_role("link", name="edited 1×").click()
    expect(page).to_have_url(re.compile(r"/diff\?from=[0-9A-Z]{26}&to=[0-9A-Z]{26}$"))
    expect(page.locator(".diff-inline ins").first).to_be_visible()


def test_failing_targets_say_since_when_why_and_the_next_try(
    page: Page, base: str, site: UISite, shots: Path
) -> None:
    page.goto(base + "/")
    county = page.locator("table.targets tbody tr").filter(has_text="县政府公告")
    expect(county.locator(".status")).to_have_text("never succeeded")
    expect(county.locator(".trouble")).to_have_text(
        re.compile(
            rf"^never succeeded \(3 checks\): connection refused by 127\.0\.0\.1:"
            rf"{site.refused_port} — next try \d\d:\d\d Beijing time$"
        )
    )
    policy = page.locator("table.targets tbody tr").filter(has_text="政策解读")
    expect(policy.locator(".trouble")).to_have_text(
        re.compile(r"^failing since .* Beijing time \(2 checks\): the server answered HTTP 503")
    )
    shoot(page, shots, "statuses" + suffix(page), full_page=True)

    page.locator("table.targets").get_by_role("link", name="县政府公告").click()
    expect(page.locator("h1")).to_have_text("县政府公告")
    expect(page.locator(".internal-name")).to_have_text("county")
    expect(page.locator("p.trouble.never")).to_contain_text("connection refused by 127.0.0.1")
    expect(page.locator(".no-change")).to_have_text("no capture yet: no change to show")
    expect(page.get_by_role("link", name="latest change")).to_have_count(0)
    fits(page)
    shoot(page, shots, "never-succeeded" + suffix(page), full_page=True)
