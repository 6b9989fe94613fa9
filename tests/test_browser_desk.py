"""The analyst's desk in a real browser, with real accounts and real sign-ins: an
admin managing users on /users, two analysts triaging the same events (reading
apart, notes, states and assignment shared, one edit on two pages as one item),
every action in the item's history and the audit, a viewer without triage controls
whose POSTs are refused, noise turned into a rule in targets.yaml that silences the
next check, and an OIDC sign-in against a small provider on 127.0.0.1.

The store comes from real ``watcher check`` runs of a local site: a real article of
fgw.zj.gov.cn whose 浏览次数 counter changes at every check, and two pages whose
shared footer gets a new ICP number. The app is served by uvicorn on 127.0.0.1 and
Debian's Chromium drives it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from clock import FakeClock
from httpserver import HTTPServer
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, serving, shoot, shots
from test_inbox import NEW_FOOTER
from test_inbox import page as shared_footer_page
from test_suggest_rules import COUNTER_RULE
from test_suggest_rules import page as counter_page

from watcher.cli.main import main
from watcher.web.app import create_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium")
__all__ = ["shots"]  # a fixture used from test_browser

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SECRET_VAR = "WATCHER_TEST_DESK_OIDC_SECRET"
PASSWORDS = {"ada": "ada-admin-pw", "li.wei": "li-analyst-pw"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


@dataclass
class Desk:
    config: Path
    data: Path
    server: HTTPServer
    provider: Provider

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """The command, in a thread of its own: Playwright's loop runs in this one."""
        command = ["--config", str(self.config), "--data", str(self.data), *args]
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(CliRunner().invoke, main, command, input=stdin).result()
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, result.output
        return result.stdout

    def check(self, views: int, *, edit: bool = False) -> dict[str, str]:
        """One ``watcher check``; each target's status."""
        self.server.route("/art.html", body=counter_page(views, edit=edit), headers=HTML)
        lines = self.cli("check", "--json", "--no-notify").splitlines()
        return {r["target"]: r["status"] for r in map(json.loads, lines)}

    def rows(self, query: str, *args: object) -> list[tuple]:
        db = sqlite3.connect(self.data / "index.sqlite")
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()

    def items_of(self, target: str) -> list[tuple[int, str, str | None]]:
        return self.rows(
            "SELECT DISTINCT i.id, i.kind, i.state FROM inbox_items i"
            " JOIN inbox_events e ON e.item_id = i.id JOIN targets t ON t.id = e.target_id"
            " WHERE t.name = ? ORDER BY i.id",
            target,
        )


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    folder = tmp_path_factory.mktemp("desk")
    with (
        HTTPServer() as server,
        running_provider() as provider,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv(SECRET_VAR, CLIENT_SECRET)
        for key in "ab":
            server.route(
                f"/{key}", body=shared_footer_page(f"页面{key}", f"正文{key}。"), headers=HTML
            )
        config = folder / "targets.yaml"
        config.write_text(
            "# The desk's targets: kept as written when a rule is added.\n"
            "settings:\n"
            "  host_delay: 0\n"
            "  oidc:\n"
            f"    issuer: {provider.issuer}\n"
            f"    client_id: {CLIENT_ID}\n"
            f"    client_secret: ${{{SECRET_VAR}}}   # from the environment\n"
            "    role_claim: groups\n"
            "    roles: {watcher-analysts: analyst}\n"
            "defaults: {retries: 0, timeout: 10s}\n"
            "targets:\n"
            "  # 浙江省发改委: an article with a view counter\n"
            "  - name: zj-article\n"
            f"    url: {server.url('/art.html')}\n"
            '    exclude: [".bdsharebuttonbox"]\n'
            "\n"
            "  # two pages with the ministry's footer\n"
            f"  - {{name: page-a, url: '{server.url('/a')}'}}\n"
            f"  - {{name: page-b, url: '{server.url('/b')}'}}\n",
            encoding="utf-8",
        )
        site = Desk(config, folder / "snapshots", server, provider)
        # (counters chosen so that no change's characters are the footer's 1 → 2: the
        # inbox groups edits by their added and removed characters alone)
        site.check(100)  # everything new
        for key in "ab":
            body = shared_footer_page(f"页面{key}", f"正文{key}。", NEW_FOOTER)
            server.route(f"/{key}", body=body, headers=HTML)
        site.check(137)  # the counter; the footer on a and b: one item ×2
        site.check(262)  # the counter again
        for name, role in (("ada", "admin"), ("li.wei", "analyst")):
            site.cli("user", "add", name, "--role", role, "--password-stdin", stdin=PASSWORDS[name])
        yield site


@pytest.fixture(scope="module")
def base(desk: Desk) -> Iterator[str]:
    # reading is timed by the app's clock: a day after the checks
    clock = FakeClock(datetime.now(UTC) + timedelta(days=1))
    app = create_app(desk.data, desk.config, clock=clock, password_hasher=CHEAP)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[Browser]:
    with sync_playwright() as p:  # after the store: ``watcher check`` runs its own loop
        browser = launch(p)
        expect.set_options(timeout=TIMEOUT_MS)  # a loaded machine: as long as the pages'
        yield browser
        expect.set_options(timeout=5_000)  # Playwright's default, for the other modules
        browser.close()


def launch(p: Playwright) -> Browser:
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture
def people(browser: Browser, base: str) -> Iterator[dict[str, Page]]:
    """Signed-in browsers, one per person, opened on first use."""
    pages: dict[str, Page] = {}

    def sign_in(name: str, password: str | None = None) -> Page:
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=base)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors  # type: ignore[attr-defined]
        page.goto("/login?next=/inbox")
        page.fill("input[name=user]", name)
        page.fill("input[name=password]", password or PASSWORDS[name])
        page.click("form[action='/login'] button[type=submit]")
        expect(page).to_have_url(f"{base}/inbox")
        expect(page.locator("header .who")).to_contain_text(name)
        return page

    class People(dict):
        def __missing__(self, key: str) -> Page:
            name, _, password = key.partition(":")
            self[key] = sign_in(name, password or None)
            return self[key]

    pages = People()
    yield pages
    for page in pages.values():
        assert not page.errors, page.errors  # type: ignore[attr-defined]
        page.context.close()


def row(page: Page, item_id: int):  # a Locator
    return page.locator(f'li.item[data-id="{item_id}"]')


def move_to(page: Page, item_id: int) -> None:
    for _ in range(page.locator("li.item").count()):
        page.keyboard.press("j")
        if "current" in (row(page, item_id).get_attribute("class") or ""):
            return
    raise AssertionError(f"j never reached item {item_id}")


def csrf(page: Page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value") or ""


def footer_item(desk: Desk) -> int:
    grouped = [i for i, kind, _ in desk.items_of("page-a") if kind == "changed"]
    assert len(grouped) == 1 and grouped[0] in {i for i, _, _ in desk.items_of("page-b")}
    return grouped[0]


def counter_items(desk: Desk) -> list[int]:
    return [i for i, kind, _ in desk.items_of("zj-article") if kind == "changed"]


# ------------------------------------------------------------------------------- users


def test_an_admin_adds_changes_and_removes_users_in_the_browser(
    people: dict[str, Page], desk: Desk, shots: Path
) -> None:
    ada = people["ada"]
    ada.click("header nav >> text=Users")
    expect(ada).to_have_url(re.compile(r"/users$"))
    form = ada.locator("form.add-user")
    for name, role in (("wang.fang", "analyst"), ("vera", "viewer"), ("temp", "viewer")):
        form.locator("input[name=name]").fill(name)
        form.locator("select[name=role]").select_option(role)
        form.locator("input[name=password]").fill(f"{name}-password")
        form.locator("button").click()
        expect(ada.locator("#users-done")).to_have_text(f"Added {name}.")
    temp = ada.locator('tr[data-user="temp"]')
    temp.locator("select[name=role]").select_option("analyst")
    temp.locator("text=Set role").click()
    expect(ada.locator('tr[data-user="temp"] td.role')).to_have_text("analyst")
    ada.locator('tr[data-user="temp"] input[name=password]').fill("another-password")
    ada.locator('tr[data-user="temp"] >> text=Reset password').click()
    expect(ada.locator("#users-done")).to_contain_text("temp has a new password")
    ada.locator('tr[data-user="temp"] >> text=Remove').click()
    expect(ada.locator('tr[data-user="temp"]')).to_have_count(0)
    expect(ada.locator('tr[data-user="ada"] .user-forms')).to_have_text("you")  # no lock-out
    shoot(ada, shots, "users", full_page=True)

    short = ada.request.post(
        "/users",
        form={
            "action": "add",
            "name": "x",
            "role": "viewer",
            "password": "short",
            "csrf": csrf(ada),
        },
    )
    assert short.status == 400 and "8 characters or more" in short.text()
    forged = ada.request.post("/users", form={"action": "remove", "name": "li.wei"})
    assert forged.status == 403  # no CSRF token
    users = dict(desk.rows("SELECT name, role FROM users"))
    assert users == {"ada": "admin", "li.wei": "analyst", "wang.fang": "analyst", "vera": "viewer"}
    audited = desk.rows("SELECT user_name, action, subject, detail FROM audit WHERE subject='temp'")
    assert [a[1] for a in audited] == ["user add", "user role", "user passwd", "user remove"]
    assert {a[0] for a in audited} == {"ada"}
    people["wang.fang:wang.fang-password"]  # the new account signs in with its password


# ------------------------------------------------------------------------------ triage


def test_two_analysts_triage_the_same_events(
    people: dict[str, Page], desk: Desk, base: str
) -> None:
    footer = footer_item(desk)
    li, wang = people["li.wei"], people["wang.fang:wang.fang-password"]
    li.reload()
    everyone = int(li.locator("#unread-count").inner_text().split()[0])
    assert everyone >= 5
    expect(row(li, footer).locator(".badge.many")).to_have_text("×2")  # one edit, two pages
    li.click(f'li.item[data-id="{footer}"] a.title')
    expect(li.locator("h1")).to_contain_text("One edit on 2 targets")
    li.click("button[value=important]")
    li.fill("textarea[name=note]", "ICP 备案号全站更新，已核对")
    li.click("text=Add note")
    expect(li.locator("ul.notes")).to_contain_text("ICP 备案号全站更新")  # the page is back
    assignee = li.locator("form.assign select[name=assignee]")
    assert "wang.fang" in assignee.locator("option").all_inner_texts()  # the accounts
    assert "temp" not in assignee.locator("option").all_inner_texts()  # removed
    assignee.select_option("wang.fang")
    li.click("form.assign button")
    expect(li.locator("#item-assignee")).to_have_text("wang.fang")
    expect(li.locator("ol.history li")).to_have_text(
        [
            re.compile("li.wei marked it important$"),
            re.compile("li.wei added a note$"),
            re.compile("li.wei assigned it to wang.fang$"),
        ]
    )
    li.goto("/inbox")
    expect(li.locator("#unread-count")).to_have_text(f"{everyone - 1} unread")

    wang.goto("/inbox")
    expect(wang.locator("#unread-count")).to_have_text(f"{everyone} unread")  # his own
    expect(row(wang, footer)).to_have_class(re.compile(r"\bunread\b"))
    expect(row(wang, footer).locator(".state")).to_have_text("important")
    expect(row(wang, footer).locator(".assignee")).to_have_text("→ wang.fang")
    wang.select_option("select[name=assignee]", "me")
    wang.click("#inbox-filters button[type=submit]")
    expect(wang).to_have_url(re.compile(r"assignee=me"))
    expect(wang.locator("li.item")).to_have_count(1)
    wang.click(f'li.item[data-id="{footer}"] a.title')
    expect(wang.locator("ul.notes")).to_contain_text("li.wei")
    expect(wang.locator("ul.notes")).to_contain_text("ICP 备案号全站更新，已核对")
    expect(wang.locator("#item-audit")).to_have_count(0)  # the audit is the admins'

    ada = people["ada"]
    ada.goto(f"/inbox/{footer}")
    ada.click("#item-audit")
    expect(ada).to_have_url(re.compile(rf"/audit\?subject=inbox\+item\+{footer}$"))
    expect(ada.locator("#audit tbody tr td:nth-child(3)")).to_have_text(["assign", "note", "mark"])
    expect(ada.locator("#audit tbody tr").first).to_contain_text("li.wei")
    expect(ada.locator("#audit tbody tr").first).to_contain_text("wang.fang")


def test_a_viewer_sees_no_triage_controls_and_is_refused(
    people: dict[str, Page], desk: Desk
) -> None:
    item = counter_items(desk)[0]
    vera = people["vera:vera-password"]
    vera.goto("/inbox?view=all")
    expect(vera.locator("li.item").first).to_be_visible()
    expect(vera.locator(".bulk button[value=read]")).to_have_count(1)  # reading is hers
    for value in ("reviewed", "important", "noise", "assign"):
        expect(vera.locator(f".bulk button[value={value}]")).to_have_count(0)
    expect(vera.locator("#inbox-keys")).not_to_contain_text("noise")
    vera.goto(f"/inbox/{item}")
    expect(vera.locator("button[value=unread]")).to_have_count(1)
    expect(vera.locator("button[value=noise]")).to_have_count(0)
    expect(vera.locator("form.assign")).to_have_count(0)
    expect(vera.locator("textarea[name=note]")).to_have_count(0)
    token = csrf(vera)
    before = desk.rows("SELECT state, assignee FROM inbox_items WHERE id = ?", item)
    for url, form in (
        (f"/inbox/{item}", {"action": "noise"}),
        (f"/inbox/{item}", {"action": "note", "note": "mine"}),
        ("/inbox/bulk", {"ids": str(item), "action": "assign", "assignee": "vera"}),
        (f"/inbox/{item}/rule", {"target": "zj-article", "kind": "ignore", "patterns": "x"}),
        ("/users", {"action": "remove", "name": "li.wei"}),
    ):
        answer = vera.request.post(url, form={**form, "csrf": token})
        assert answer.status == 403, (url, answer.status)
        assert "role" in answer.text()
    assert desk.rows("SELECT state, assignee FROM inbox_items WHERE id = ?", item) == before
    assert desk.rows("SELECT count(*) FROM users WHERE name = 'li.wei'") == [(1,)]


# ------------------------------------------------------------------------------- noise


def test_noise_becomes_a_rule_in_targets_yaml_and_the_next_check_is_silent(
    people: dict[str, Page], desk: Desk, shots: Path
) -> None:
    latest = max(counter_items(desk))
    li = people["li.wei"]
    li.goto("/inbox?view=all&target=zj-article")
    expect(row(li, latest).locator(".rule-link")).to_be_hidden()  # not noise yet
    move_to(li, latest)
    li.keyboard.press("x")
    expect(row(li, latest).locator(".state")).to_have_text("noise")
    row(li, latest).locator(".rule-link").click()  # offered where the noise is seen
    expect(li).to_have_url(re.compile(rf"/inbox/{latest}#rule$"))
    offer = li.locator("#rule li.rule").filter(has_text=COUNTER_RULE).first
    expect(offer.locator(".silenced")).to_have_text("2 past events")  # both counter changes
    expect(offer.locator("textarea")).to_have_value("ignore:\n  - '" + COUNTER_RULE + "'\n")
    expect(offer.locator("button.copy")).to_be_visible()  # an analyst copies it
    expect(li.locator("#rule form.add-rule")).to_have_count(0)

    ada = people["ada"]
    ada.goto(f"/inbox/{latest}")
    offer = ada.locator("#rule li.rule").filter(has_text=COUNTER_RULE).first
    shoot(ada, shots, "inbox-noise-rule", full_page=True)
    offer.locator("form.add-rule button").click()
    expect(ada.locator("#rule .done")).to_contain_text("Added to zj-article's ignore")
    expect(ada.locator("ol.history li").last).to_have_text(
        re.compile(rf"ada added the rule ignore: {re.escape(COUNTER_RULE)} on zj-article")
    )
    text = desk.config.read_text(encoding="utf-8")
    assert f"    ignore:\n      - '{COUNTER_RULE}'\n" in text
    assert text.startswith("# The desk's targets: kept as written when a rule is added.\n")
    assert f"client_secret: ${{{SECRET_VAR}}}   # from the environment\n" in text
    assert "  # two pages with the ministry's footer\n" in text
    assert ("ada", "rule add", "zj-article") in desk.rows(
        "SELECT user_name, action, subject FROM audit"
    )

    before = counter_items(desk)
    found = desk.check(391)  # the counter moves again: nothing to see
    assert found["zj-article"] == "unchanged"
    assert counter_items(desk) == before
    desk.check(415, edit=True)  # a real edit still comes through
    assert len(counter_items(desk)) == len(before) + 1


# -------------------------------------------------------------------------------- OIDC


def test_an_oidc_sign_in_lands_on_the_inbox_with_the_mapped_role(
    browser: Browser, base: str, desk: Desk
) -> None:
    desk.provider.claims = {"preferred_username": "zhao.lei", "groups": ["watcher-analysts"]}
    context = browser.new_context(viewport=DESKTOP, base_url=base)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/inbox")
        expect(page).to_have_url(re.compile(r"/login\?next=/inbox$"))
        page.click("text=Sign in with")  # to the provider on 127.0.0.1 and back
        expect(page).to_have_url(f"{base}/inbox")
        expect(page.locator("header .who")).to_have_text("zhao.lei (analyst)")
        item = counter_items(desk)[0]
        page.goto(f"/inbox/{item}")
        page.click("button[value=reviewed]")
        expect(page.locator("#item-state")).to_have_text("reviewed")
        expect(page.locator("ol.history li").last).to_have_text(
            re.compile("zhao.lei marked it reviewed$")
        )
    finally:
        context.close()
    assert desk.rows("SELECT role, password_hash FROM users WHERE name = 'zhao.lei'") == [
        ("analyst", None)
    ]
    assert desk.provider.token_requests and desk.provider.token_requests[-1]["code_verifier"]
