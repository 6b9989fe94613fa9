"""Keyword groups and the import of targets in a real browser, with real accounts:
an admin edits a group, previews the draft against the stored captures and saves
it into targets.yaml; uploads a urlwatch file, unticks a target and adds the rest,
the file's comments kept; a viewer sees no controls and their POSTs are refused.

The store is real SQLite with real blobs (captures written as in
tests/test_keyword_groups.py); the app is served by uvicorn on 127.0.0.1 and
Debian's Chromium drives it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from clock import FakeClock
from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, serving, shoot, shots
from test_keyword_groups import CAPTURES, CONFIG, NOW, _save

from watcher.cli.main import main
from watcher.config import load_config
from watcher.store.index import Store
from watcher.web.app import create_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
__all__ = ["shots"]  # a fixture used from test_browser

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"ada": "ada-admin-pw", "vic": "vic-viewer-pw"}
URLWATCH = Path(__file__).parent / "fixtures" / "import" / "urls.yaml"


@dataclass
class Site:
    config: Path
    data: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder = tmp_path_factory.mktemp("keywords")
    config = folder / "targets.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    data = folder / "snapshots"
    store = Store(data)
    for target, text, days in sorted(CAPTURES, key=lambda c: -c[2]):
        _save(store, target, text, days)
    store.close()
    for name, role in (("ada", "admin"), ("vic", "viewer")):
        command = ["--config", str(config), "--data", str(data), "user", "add", name]
        args = [*command, "--role", role, "--password-stdin"]
        with ThreadPoolExecutor(1) as pool:  # Playwright's loop may run in this thread
            result = pool.submit(CliRunner().invoke, main, args, input=PASSWORDS[name]).result()
        assert result.exit_code == 0, result.output
    return Site(config, data)


@pytest.fixture(scope="module")
def base(site: Site) -> Iterator[str]:
    app = create_app(site.data, site.config, clock=FakeClock(NOW), password_hasher=CHEAP)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        expect.set_options(timeout=TIMEOUT_MS)
        yield browser
        expect.set_options(timeout=5_000)
        browser.close()


def signed_in(browser: Browser, base: str, name: str) -> Page:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=base)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login?next=/inbox")
    page.fill("input[name=user]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("form[action='/login'] button[type=submit]")
    expect(page).to_have_url(f"{base}/inbox")
    return page


def test_an_admin_edits_a_group_sees_the_preview_and_saves_it(
    browser: Browser, base: str, site: Site, shots: Path
) -> None:
    page = signed_in(browser, base, "ada")
    page.click("header nav >> text=Keywords")
    expect(page).to_have_url(f"{base}/keywords")
    group = page.locator('section[data-group="shipbuilding"]')
    expect(group.locator(".keyword-preview")).to_have_attribute("data-captures", "3")
    expect(group.locator(".preview-count")).to_contain_text("3 captures on 2 targets")
    expect(group.locator("ul.examples li")).to_have_count(2)
    group.locator("summary").click()
    group.locator("textarea[name=terms]").fill("船舶\n造船\n通知")
    group.get_by_role("button", name="Preview").click()
    draft = page.locator('section[data-group="shipbuilding"] section.draft')
    expect(draft.locator(".keyword-preview")).to_have_attribute("data-captures", "4")
    expect(draft.locator("ul.terms li", has_text="通知")).to_contain_text("3")
    assert "通知" not in site.config.read_text(encoding="utf-8")  # a preview writes nothing
    shoot(page, shots, "keywords-draft-preview", full_page=True)
    example = draft.locator("ul.examples a").first
    href = example.get_attribute("href") or ""
    assert re.fullmatch(r"/c/[0-9A-Z]{26}", href), href
    draft_form = page.locator('section[data-group="shipbuilding"] form.group-edit')
    draft_form.get_by_role("button", name="Save").click()
    expect(page.locator("#keywords-done")).to_contain_text("Saved the group shipbuilding.")
    text = site.config.read_text(encoding="utf-8")
    assert re.search(r"\n  shipbuilding: \[船舶, 造船, 通知\] +# the seed's subject\n", text)
    assert text.startswith("# the team's watch list: these comments must survive every edit\n")
    expect(group.locator(".keyword-preview")).to_have_attribute("data-captures", "4")
    page.context.close()


def test_an_admin_imports_a_urlwatch_file_keeping_the_configs_comments(
    browser: Browser, base: str, site: Site, shots: Path
) -> None:
    page = signed_in(browser, base, "ada")
    page.click("header nav >> text=Import")
    expect(page).to_have_url(f"{base}/targets/import")
    page.set_input_files("input[type=file]", str(URLWATCH))
    page.get_by_role("button", name="Read the file").click()
    expect(page.locator(".import-preview h2")).to_contain_text("read as urlwatch")
    rows = page.locator("table.import-targets tbody tr")
    expect(rows).to_have_count(5)
    notes = page.locator("ul.import-notes li")
    expect(notes.filter(has_text="urls.yaml:14")).to_contain_text("max_tries")
    shoot(page, shots, "targets-import", full_page=True)
    page.get_by_label("Add sastind-news").uncheck()
    page.get_by_label("Add rendered-policy-page").uncheck()
    page.get_by_role("button", name="Add the ticked targets").click()
    expect(page.locator("#import-done")).to_contain_text(
        "Added 3 targets to targets.yaml: miit-notices, zhengce-zuixin, local-news."
    )
    text = site.config.read_text(encoding="utf-8")
    assert text.startswith("# the team's watch list: these comments must survive every edit\n")
    assert "  - name: miit            # MIIT notices\n" in text
    names = [t.name for t in load_config(site.config).targets]
    assert names[-3:] == ["miit-notices", "zhengce-zuixin", "local-news"]
    assert "sastind-news" not in names
    page.context.close()


def test_a_viewer_sees_no_controls_and_is_refused(browser: Browser, base: str, site: Site) -> None:
    page = signed_in(browser, base, "vic")
    expect(page.locator("header nav a", has_text="Keywords")).to_have_count(0)
    expect(page.locator("header nav a", has_text="Import")).to_have_count(0)
    page.goto("/keywords")
    expect(page.locator("section.keyword-group").first).to_be_visible()
    expect(page.locator("form.group-edit")).to_have_count(0)
    expect(page.locator("details.edit")).to_have_count(0)
    before = site.config.read_bytes()
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate(
        """async (token) => {
            const form = new URLSearchParams({action: "remove", group: "space", csrf: token});
            const answer = await fetch("/keywords", {method: "POST", body: form});
            const upload = new FormData();
            upload.append("csrf", token);
            upload.append("file", new Blob(["https://a.gov.cn/\\n"]), "urls.txt");
            const other = await fetch("/targets/import", {method: "POST", body: upload});
            return [answer.status, other.status];
        }""",
        token,
    )
    assert status == [403, 403]
    answer = page.goto("/targets/import")
    assert answer is not None and answer.status == 403
    expect(page.locator("main")).to_contain_text("this needs the admin role")
    assert site.config.read_bytes() == before
    page.context.close()
