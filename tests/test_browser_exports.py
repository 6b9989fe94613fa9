"""Exports and the citation in a real browser: Chromium clicks an export link and
saves the file, clicks Copy and reads the clipboard, and renders the Swagger page
under the app's strict CSP. The store is tests/test_exports.py's, from real checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clock import FakeClock
from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, serving, shoot, shots
from test_exports import NOW, captures, read_csv, read_xlsx, site

from watcher.web.app import create_app

__all__ = ["shots", "site"]  # fixtures, from test_browser and test_exports

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")


@pytest.fixture(scope="module")
def base(site: tuple[Path, Path]) -> Iterator[str]:
    config, data = site
    with serving(create_app(data, config, clock=FakeClock(NOW))) as url:
        yield url


@pytest.fixture(scope="module")
def browser(site: tuple[Path, Path]) -> Iterator[Browser]:
    with sync_playwright() as p:  # after the store: ``watcher check`` runs its own loop
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, base: str) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a refusal by the pages' CSP ('self' only); the archived page's own (its styles
    # and images on the original site, in the sandboxed frame) are meant
    page.on("console", lambda m: errors.append(m.text) if "'self'" in m.text else None)
    yield page
    context.close()
    assert not errors  # no script error, nothing the pages' CSP refused


def test_export_link_copy_button_and_api_docs(page: Page, base: str, site, tmp_path, shots) -> None:
    page.goto(f"{base}/t/formula")
    with page.expect_download() as saving:
        page.get_by_role("link", name="CSV").first.click()
    download = saving.value
    assert download.suggested_filename == "watcher-history-formula-2026-12-03.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = read_csv(saved.read_bytes())
    assert [r["Capture"] for r in rows] == [c.id for c in captures(site, "formula")]

    page.goto(f"{base}/hits")
    with page.expect_download() as saving:
        page.locator(".exports").get_by_role("link", name="XLSX").click()
    saved = tmp_path / saving.value.suggested_filename
    saving.value.save_as(saved)
    assert saved.name == "watcher-hits-2026-12-03.xlsx"
    assert read_xlsx(saved.read_bytes())[1]  # rows, as Excel would open them

    capture = captures(site, "policy")[0]
    page.goto(f"{base}/c/{capture.id}")
    copy = page.get_by_role("button", name="Copy citation")
    expect(copy).to_be_visible()  # shown by the script; without it the text is selectable
    copy.click()
    expect(page.locator(".copy-line .copied").first).to_have_text("Copied.")
    pasted = page.evaluate("navigator.clipboard.readText()")
    assert pasted == page.locator("#citation-text").text_content()
    assert "发文字号: 工信部联规〔2022〕12号" in pasted
    assert f"SHA-256 {capture.raw_sha256}" in pasted
    shoot(page, shots, "citation")

    page.goto(f"{base}/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("watcher")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    shoot(page, shots, "api-docs")
