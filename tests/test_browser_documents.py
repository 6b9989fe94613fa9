"""The document pages in Chromium, over the store tests/test_documents.py builds
from three local sites: following a document with the button, the edited repost's
diff reached from its row, and axe-core finding nothing serious on /d/{id},
/documents and /deadlines at 1366 and 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_a11y import SEVERE, WIDE, axe_source, readable, run_axe
from test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, TIMEOUT_MS, serving, shoot, shots
from test_documents import Sites, built

from watcher.web.app import create_app

__all__ = ["shots"]  # a fixture used from test_browser


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    yield from built(tmp_path_factory)


@pytest.fixture(scope="module")
def base(sites: Sites) -> Iterator[str]:
    with serving(create_app(sites.data, sites.config_path, clock=sites.clock)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(sites: Sites) -> Iterator[Browser]:  # after the checks: they need their own loop
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser: Browser, url: str, width: str = "wide") -> Page:
    viewport = WIDE if width == "wide" else PHONE
    context = browser.new_context(locale="en-GB", bypass_csp=True, viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("http://127.0.0.1:")
            else route.abort()
        ),
    )
    page = context.new_page()
    page.goto(url)
    return page


def test_following_a_document_with_its_button(browser: Browser, base: str, sites: Sites) -> None:
    gov = sites.document_of("gov-cn")
    page = open_page(browser, f"{base}/d/{gov}")
    try:
        button = page.get_by_role("button", name="Follow")
        expect(button).to_be_visible()
        button.click()
        expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
        expect(page.locator("form.follow")).to_contain_text("You follow this document")
        assert sites.rows(f"SELECT user FROM work_follows WHERE work_id = {gov}") == [("local",)]
        page.get_by_role("button", name="Unfollow").click()
        expect(page.get_by_role("button", name="Follow")).to_be_visible()
        assert sites.rows(f"SELECT user FROM work_follows WHERE work_id = {gov}") == []
    finally:
        page.context.close()


def test_the_changed_reposts_row_leads_to_its_diff(
    browser: Browser, base: str, sites: Sites, shots: Path
) -> None:
    page = open_page(browser, f"{base}/d/{sites.document_of('miit')}")
    try:
        shoot(page, shots, "document", full_page=True)
        row = page.locator('tr[data-target="sastind"]')
        expect(row).to_contain_text("changed")
        row.get_by_role("link", name="changed").click()
        heading = page.get_by_role("heading", name="miit → sastind")
        expect(heading).to_be_in_viewport()
        expect(page.locator(".copy-diff del").first).to_have_text("工业和信息化主管")
    finally:
        page.context.close()


@pytest.mark.parametrize("width", ["wide", "phone"])
@pytest.mark.parametrize("path", ["/d/{miit}", "/documents", "/deadlines"])
def test_no_serious_accessibility_violation(
    browser: Browser,
    base: str,
    sites: Sites,
    path: str,
    width: str,
) -> None:
    url = base + path.format(miit=sites.document_of("miit"))
    page = open_page(browser, url, width)
    try:
        expect(page.locator("main h1")).to_be_visible()
        severe = [v for v in run_axe(page, axe_source()) if v["impact"] in SEVERE]
        assert not severe, f"{path} at {width}:\n{readable(severe)}"
    finally:
        page.context.close()
