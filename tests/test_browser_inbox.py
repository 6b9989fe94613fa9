"""The inbox in a real browser: two people triaging the same events, keys and bulk
actions. The store comes from real ``watcher check`` runs (tests/test_inbox.py's
site: a footer edit on three pages, a failing site), the app is served by uvicorn
on 127.0.0.1 and Debian's Chromium drives it; each person is a browser context
whose ``as`` cookie names them (standing in for the accounts part)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from clock import EPOCH, FakeClock
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, serving, shoot, shots
from test_inbox import AsUser, all_items, footer_item, fresh_triage, site

from watcher.web.app import create_app

__all__ = ["fresh_triage", "shots", "site"]  # fixtures used from the other modules

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")


@pytest.fixture(scope="module")
def base(site: tuple[Path, Path]) -> Iterator[str]:
    config, data = site
    app = create_app(data, config, clock=FakeClock(EPOCH + timedelta(days=3650)))
    app.add_middleware(AsUser)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def playwright(site: tuple[Path, Path]) -> Iterator[Playwright]:
    with sync_playwright() as p:  # after the store: ``watcher check`` runs its own loop
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def person(browser: Browser, base: str, name: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    context.add_cookies([{"name": "as", "value": f"{name}:analyst", "url": base}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    return context, page


@pytest.fixture
def alice(browser: Browser, base: str) -> Iterator[Page]:
    context, page = person(browser, base, "alice")
    yield page
    context.close()
    assert not page.errors  # type: ignore[attr-defined]


@pytest.fixture
def bob(browser: Browser, base: str) -> Iterator[Page]:
    context, page = person(browser, base, "bob")
    yield page
    context.close()
    assert not page.errors  # type: ignore[attr-defined]


def row(page: Page, item_id: int):  # a Locator
    return page.locator(f'li.item[data-id="{item_id}"]')


def move_to(page: Page, item_id: int) -> None:
    """Press j until the item is the current one, as a person would."""
    for _ in range(page.locator("li.item").count()):
        page.keyboard.press("j")
        if "current" in (row(page, item_id).get_attribute("class") or ""):
            return
    raise AssertionError(f"j never reached item {item_id}")


def test_two_people_triage_the_same_events(
    alice: Page, bob: Page, base: str, site, shots: Path
) -> None:
    everyone = len(all_items(site[1]))
    footer = footer_item(site[1])
    bob.goto(f"{base}/inbox")  # without accounts, who may be assigned: who used the inbox
    alice.goto(f"{base}/inbox")
    expect(alice.locator("#unread-count")).to_have_text(f"{everyone} unread")
    expect(alice.locator("#inbox-keys")).to_contain_text("j/k move")
    expect(row(alice, footer.id).locator(".badge.many")).to_have_text("×3")
    shoot(alice, shots, "inbox")

    move_to(alice, footer.id)
    alice.keyboard.press("i")  # important, kept for everyone
    expect(row(alice, footer.id)).to_have_class(re.compile(r"\bst-important\b"))
    expect(row(alice, footer.id).locator(".state")).to_have_text("important")

    alice.keyboard.press("Enter")  # the item; opening it reads it, for alice only
    expect(alice).to_have_url(f"{base}/inbox/{footer.id}")
    expect(alice.locator("h1 + p")).to_contain_text("the same edit on 3 targets")
    alice.fill("textarea[name=note]", "ICP 备案号全站更新，已核对")
    alice.click("text=Add note")
    alice.select_option("form.assign select[name=assignee]", "bob")
    alice.click("form.assign button")
    expect(alice.locator("#item-assignee")).to_have_text("bob")
    shoot(alice, shots, "inbox-item", full_page=True)

    alice.goto(f"{base}/inbox")
    expect(alice.locator("#unread-count")).to_have_text(f"{everyone - 1} unread")
    expect(row(alice, footer.id)).to_have_count(0)  # read: not in the unread view

    bob.goto(f"{base}/inbox")
    expect(bob.locator("#unread-count")).to_have_text(f"{everyone} unread")  # his own
    expect(row(bob, footer.id)).to_have_class(re.compile(r"\bunread\b"))
    expect(row(bob, footer.id).locator(".state")).to_have_text("important")
    expect(row(bob, footer.id).locator(".assignee")).to_have_text("→ bob")
    bob.click(f'li.item[data-id="{footer.id}"] a.title')
    expect(bob.locator("ul.notes")).to_contain_text("alice")
    expect(bob.locator("ul.notes")).to_contain_text("ICP 备案号全站更新，已核对")
    expect(bob.locator("ol.history li")).to_have_text(
        [
            re.compile("alice marked it important$"),
            re.compile("alice added a note$"),
            re.compile("alice assigned it to bob$"),
        ]
    )
    bob.goto(f"{base}/inbox?view=all&assignee=me")
    expect(bob.locator("li.item")).to_have_count(1)


def test_keys_mark_and_open_the_diff(alice: Page, base: str, site) -> None:
    footer = footer_item(site[1])
    failing = next(r for r in all_items(site[1]) if r.kind == "failing")
    alice.goto(f"{base}/inbox")
    move_to(alice, failing.id)
    alice.keyboard.press("x")
    expect(row(alice, failing.id).locator(".state")).to_have_text("noise")
    alice.keyboard.press("r")  # the same item, another state
    expect(row(alice, failing.id).locator(".state")).to_have_text("reviewed")
    assert {r.id: r.state for r in all_items(site[1])}[failing.id] == "reviewed"
    alice.reload()
    expect(row(alice, failing.id).locator(".state")).to_have_text("reviewed")  # stored
    ids = [
        int(i) for i in alice.locator("li.item").evaluate_all("els => els.map(e => e.dataset.id)")
    ]
    alice.reload()
    alice.keyboard.press("j")
    alice.keyboard.press("j")
    expect(row(alice, ids[1])).to_have_class(re.compile(r"\bcurrent\b"))
    alice.keyboard.press("k")
    expect(row(alice, ids[0])).to_have_class(re.compile(r"\bcurrent\b"))
    expect(row(alice, ids[1])).not_to_have_class(re.compile(r"\bcurrent\b"))
    move_to(alice, footer.id)
    alice.keyboard.press("o")
    expect(alice).to_have_url(re.compile(r"/t/page-[abc]/diff\?from=\w+&to=\w+$"))
    expect(alice.locator("body")).to_contain_text("04000002")


def test_bulk_select_and_filter(alice: Page, base: str, site, shots: Path) -> None:
    alice.goto(f"{base}/inbox")
    alice.select_option("select[name=tag]", "miit")
    alice.click("#inbox-filters button[type=submit]")
    expect(alice).to_have_url(re.compile(r"/inbox\?.*tag=miit"))
    shown = alice.locator("li.item")
    expect(shown).to_have_count(3)  # page-a and page-b's first captures, the footer
    alice.check("#select-all")
    alice.click(".bulk button[value=noise]")
    expect(alice).to_have_url(re.compile(r"/inbox\?.*tag=miit"))  # the filter is kept
    expect(alice.locator("li.item.st-noise")).to_have_count(3)
    states = [r.state for r in all_items(site[1])]
    assert states.count("noise") == 3
    alice.click("#read-all")
    expect(alice.locator("#unread-count")).to_have_text("0 unread")
    alice.goto(f"{base}/")
    expect(alice.locator("#inbox-unread")).to_have_text("Inbox: 0 unread")
