"""Accounts and roles: users made with the CLI sign in to the real app, and what each
role may do; sessions that end with a new password or a removed user; the login
proxy's header believed only from its address.

Real parts: the CLI through its entry point, the real app through its ASGI client
(each client with its own address), a real store; time from a FakeClock.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from clock import FakeClock
from oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from pgstores import index_engine

from watcher.cli.main import main
from watcher.store.index import Store
from watcher.web.app import create_app

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CONFIG = "targets:\n  - {name: miit, url: 'http://127.0.0.1:9/'}\n"


@dataclass
class Site:
    config: Path
    data: Path

    def cli(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        runner = CliRunner()
        result = runner.invoke(
            main, ["--config", str(self.config), "--data", str(self.data), *args], input=stdin
        )
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    def add(self, name: str, role: str, password: str) -> None:
        code, out = self.cli(
            "user", "add", name, "--role", role, "--password-stdin", stdin=password
        )
        assert code == 0, out

    def app(self, password: str | None = None, **kwargs: object) -> object:
        return create_app(
            self.data, self.config, password=password, clock=FakeClock(),
            password_hasher=CHEAP, **kwargs,
        )  # fmt: skip

    def rows(self, query: str) -> list[tuple]:
        engine = index_engine(self.data)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.exec_driver_sql(query)]
        finally:
            engine.dispose()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    data = tmp_path / "snapshots"
    Store(data).close()
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return Site(config, data)


def client(app: object, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def log_in(c: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    token = csrf_of((await c.get("/login")).text)
    return await c.post(
        "/login", data={"user": user, "password": password, "next": "/", "csrf": token}
    )


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def check_now_as(c: httpx.AsyncClient) -> httpx.Response:
    token = csrf_of((await c.get("/t/miit")).text)
    return await c.post("/t/miit/check", data={"csrf": token}, headers={"Accept": "text/html"})


# --------------------------------------------------------------------------- roles


async def test_a_viewer_is_refused_check_now_and_an_analyst_may_and_it_is_recorded(
    site: Site,
) -> None:
    site.add("wang", "viewer", "viewer-pw")
    site.add("li", "analyst", "analyst-pw")
    site.add("zhao", "admin", "admin-pw")
    started: list[str] = []

    async def check_now(name: str) -> bool:
        started.append(name)
        return True

    app = site.app(check_now=check_now)
    async with client(app) as viewer, client(app) as analyst, client(app) as admin:
        assert (await viewer.get("/api/targets")).status_code == 401  # accounts: sign in
        assert (await log_in(viewer, "wang", "viewer-pw")).status_code == 303
        assert "Check now" not in (await viewer.get("/t/miit")).text
        refused = await check_now_as(viewer)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert "this needs the analyst role; wang is viewer" in refused.text
        assert started == []

        assert (await log_in(analyst, "li", "analyst-pw")).status_code == 303
        done = await check_now_as(analyst)
        assert done.status_code == 303 and started == ["miit"]
        assert (await analyst.get("/users")).status_code == 403  # admins only

        assert (await log_in(admin, "zhao", "admin-pw")).status_code == 303
        users = (await admin.get("/users")).text
        for name, role in (("wang", "viewer"), ("li", "analyst"), ("zhao", "admin")):
            assert re.search(rf"<td>{name}</td><td>{role}</td>", users), name
        assert re.search(r"<td>li</td><td>check now</td><td>miit</td>", users)
        assert re.search(r"<td>wang</td><td>sign in</td><td>wang</td>", users)
    assert site.rows("SELECT user_name, action, subject FROM audit WHERE action = 'check now'") == [
        ("li", "check now", "miit")
    ]
    last = dict(site.rows("SELECT name, last_login_at FROM users"))
    assert all(last.values()), last


async def test_the_api_takes_user_and_password_and_honours_the_role(site: Site) -> None:
    site.add("wang", "viewer", "viewer-pw")
    async with client(site.app()) as program:
        assert (await program.get("/api/targets", headers=basic("wang", "viewer-pw"))).is_success
        wrong = await program.get("/api/targets", headers=basic("wang", "analyst-pw"))
        assert wrong.status_code == 401
        nobody = await program.get("/api/targets", headers=basic("nobody", "viewer-pw"))
        assert nobody.status_code == 401
        refused = await program.get("/users", headers=basic("wang", "viewer-pw"))
        assert refused.status_code == 403 and "needs the admin role" in refused.text


async def test_the_password_shortcut_signs_in_an_admin_named_admin(site: Site) -> None:
    async with client(site.app(password="s3cret")) as c:
        token = csrf_of((await c.get("/login")).text)
        signed = await c.post("/login", data={"password": "s3cret", "next": "/", "csrf": token})
        assert signed.status_code == 303
        page = (await c.get("/users")).text
        assert "admin (admin)" in page and "Log out" in page
        assert re.search(r"<td>admin</td><td>sign in</td><td>admin</td>", page)


# --------------------------------------------------------------------------- the login page


async def test_the_login_page_shows_no_log_out_before_login_and_a_wrong_password_the_form(
    site: Site,
) -> None:
    site.add("li", "analyst", "analyst-pw")
    async with client(site.app()) as c:
        page = (await c.get("/login")).text
        assert "Log out" not in page
        assert 'name="user"' in page and 'name="password"' in page
        wrong = await log_in(c, "li", "nope")
        assert "www-authenticate" not in wrong.headers
        assert wrong.headers["content-type"].startswith("text/html")
        assert "Wrong user name or password." in wrong.text
        assert 'value="li"' in wrong.text and "Log out" not in wrong.text
        assert (await log_in(c, "li", "analyst-pw")).status_code == 303
        signed_in = (await c.get("/")).text
        assert "Log out" in signed_in and "li (analyst)" in signed_in
        out = await c.post("/logout", data={"csrf": csrf_of(signed_in)})
        assert out.status_code == 303
        assert "Log out" not in (await c.get("/login")).text
    actions = site.rows("SELECT user_name, action FROM audit ORDER BY id")
    assert actions[-2:] == [("li", "sign in"), ("li", "sign out")]


# --------------------------------------------------------------------------- sessions


async def test_sessions_end_when_the_password_changes_or_the_user_goes(site: Site) -> None:
    site.add("li", "analyst", "old-pw")
    site.add("wang", "viewer", "viewer-pw")
    app = site.app()
    async with client(app) as li, client(app) as wang:
        await log_in(li, "li", "old-pw")
        await log_in(wang, "wang", "viewer-pw")
        assert (await li.get("/api/targets")).is_success
        assert (await wang.get("/api/targets")).is_success

        code, out = site.cli("user", "passwd", "li", "--password-stdin", stdin="new-pw\n")
        assert code == 0 and "1 session(s) ended" in out
        assert (await li.get("/api/targets")).status_code == 401
        assert (await wang.get("/api/targets")).is_success  # others keep theirs
        assert (await li.get("/api/targets", headers=basic("li", "old-pw"))).status_code == 401
        assert (await li.get("/api/targets", headers=basic("li", "new-pw"))).is_success

        code, out = site.cli("user", "remove", "wang")
        assert code == 0 and "removed wang; 1 session(s) ended" in out
        assert (await wang.get("/api/targets")).status_code == 401
        assert (await log_in(wang, "wang", "viewer-pw")).status_code == 401
    assert site.rows("SELECT name FROM users") == [("li",)]


# --------------------------------------------------------------------------- the CLI


def test_user_commands_add_list_role_passwd_remove(site: Site) -> None:
    code, out = site.cli("user", "add", "li", "--role", "analyst", stdin="pw\npw\n")
    assert code == 0 and "added li (analyst)" in out
    code, out = site.cli("user", "add", "li", "--password-stdin", stdin="x\n")
    assert code == 2 and "there is already a user named 'li'" in out
    code, out = site.cli("user", "add", "ma", stdin="pw\nother\n")
    assert code == 2 and "the two passwords differ" in out
    assert site.rows("SELECT name FROM users WHERE name = 'ma'") == []
    site.add("wang", "viewer", "pw")
    code, out = site.cli("user", "role", "wang", "admin")
    assert code == 0 and "wang is now admin" in out
    code, out = site.cli("user", "list")
    lines = [line.split() for line in out.splitlines()]
    assert lines[0][:3] == ["name", "role", "last"]
    assert lines[1][:3] == ["li", "analyst", "never"]
    assert lines[2][:3] == ["wang", "admin", "never"]
    code, out = site.cli("user", "passwd", "nobody", "--password-stdin", stdin="x\n")
    assert code == 2 and "no user named 'nobody'" in out
    code, out = site.cli("user", "role", "li", "boss")
    assert code == 2 and "boss" in out
    stored = site.rows("SELECT password_hash FROM users WHERE name = 'li'")[0][0]
    assert stored.startswith("$argon2id$")
    assert site.rows("SELECT user_name, action, subject FROM audit ORDER BY id") == [
        ("cli", "user add", "li"),
        ("cli", "user add", "wang"),
        ("cli", "user role", "wang"),
    ]


# --------------------------------------------------------------------------- the login proxy


async def test_the_proxy_header_is_believed_only_from_the_configured_address(site: Site) -> None:
    site.config.write_text("settings:\n  trusted_proxies: [10.0.0.5]\n" + CONFIG, encoding="utf-8")
    site.add("li", "analyst", "pw")
    app = site.app()
    as_li = {"Remote-User": "li", "Accept": "text/html"}
    async with client(app, "10.0.0.5") as proxy, client(app, "10.0.0.6") as other:
        page = await proxy.get("/t/miit", headers=as_li)
        assert page.status_code == 200 and "li (analyst)" not in page.text  # no session
        assert (await proxy.get("/api/targets", headers={"Remote-User": "li"})).is_success
        forged = await other.get("/api/targets", headers={"Remote-User": "li"})
        assert forged.status_code == 401
        unknown = await proxy.get("/api/targets", headers={"Remote-User": "stranger"})
        assert unknown.status_code == 401
        admin_only = await proxy.get("/users", headers=as_li)
        assert admin_only.status_code == 403
    assert site.rows("SELECT name FROM users ORDER BY name") == [("li",)]


async def test_a_default_role_makes_users_the_proxy_names(site: Site) -> None:
    site.config.write_text(
        "settings:\n  trusted_proxies: [10.0.0.0/24]\n  trusted_user_header: X-Forwarded-User\n"
        "  trusted_default_role: viewer\n" + CONFIG,
        encoding="utf-8",
    )
    async with client(site.app(), "10.0.0.9") as proxy:
        assert (await proxy.get("/api/targets", headers={"X-Forwarded-User": "chen"})).is_success
        refused = await proxy.get("/users", headers={"X-Forwarded-User": "chen"})
        assert refused.status_code == 403 and "chen is viewer" in refused.text
        ignored = await proxy.get("/api/targets", headers={"Remote-User": "chen"})
        assert ignored.status_code == 401  # not the configured header
    assert site.rows("SELECT name, role, password_hash FROM users") == [("chen", "viewer", None)]


# --------------------------------------------------------------------------- OIDC


@pytest.fixture
def provider(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    with running_provider() as provider:
        monkeypatch.setenv("WATCHER_TEST_OIDC_SECRET", CLIENT_SECRET)
        site.config.write_text(
            "settings:\n  oidc:\n"
            f"    issuer: {provider.issuer}\n"
            f"    client_id: {CLIENT_ID}\n"
            "    client_secret: ${WATCHER_TEST_OIDC_SECRET}\n"
            "    role_claim: groups\n"
            "    roles: {watcher-analysts: analyst, watcher-admins: admin}\n" + CONFIG,
            encoding="utf-8",
        )
        yield provider


async def oidc_sign_in(c: httpx.AsyncClient, next: str = "/") -> httpx.Response:
    """The browser's part: to the provider (real HTTP) and back with its code."""
    start = await c.get("/login/oidc", params={"next": next})
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as browser:
        back = await browser.get(start.headers["location"])
    assert back.status_code == 302, back.text
    return await c.get(back.headers["location"])


async def test_oidc_signs_in_with_pkce_and_maps_the_role_claim(
    site: Site, provider: Provider
) -> None:
    provider.claims = {"preferred_username": "chen", "groups": ["staff", "watcher-analysts"]}
    async with client(site.app()) as c:
        assert (await c.get("/api/targets")).status_code == 401  # OIDC on: sign in
        login = (await c.get("/login")).text
        assert 'href="/login/oidc?next=/"' in login and provider.issuer in login
        start = await c.get("/login/oidc", params={"next": "/t/miit"})
        asked = dict(httpx.URL(start.headers["location"]).params)
        assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
        async with httpx.AsyncClient() as browser:
            back = await browser.get(start.headers["location"])
        done = await c.get(back.headers["location"])
        assert done.status_code == 200 and 'url=/t/miit"' in done.text
        page = (await c.get("/t/miit")).text
        assert "chen (analyst)" in page and "Log out" in page
        assert provider.token_requests[0]["code_verifier"]  # PKCE: the verifier was sent
        replay = await c.get(back.headers["location"])  # the same code and state again
        assert replay.status_code == 400 and "expired or was not started here" in replay.text
    assert site.rows("SELECT name, role, password_hash FROM users") == [("chen", "analyst", None)]
    assert ("chen", "sign in") in site.rows("SELECT user_name, action FROM audit")


REFUSED_BECAUSE = {"nonce": ("nonce",), "aud": ("aud", "azp")}


@pytest.mark.parametrize("tamper", ["nonce", "aud"])
async def test_oidc_refuses_an_id_token_with_a_wrong_nonce_or_audience(
    site: Site, provider: Provider, tamper: str
) -> None:
    provider.claims = {"preferred_username": "chen", "groups": ["watcher-admins"]}
    provider.tamper = tamper
    async with client(site.app()) as c:
        refused = await oidc_sign_in(c)
        assert refused.status_code == 401 and "OIDC sign-in refused" in refused.text
        # a token for another audience: Authlib names `azp`, which it then requires
        assert any(word in refused.text for word in REFUSED_BECAUSE[tamper]), refused.text
        assert "set-cookie" not in refused.headers or "watcher_session" not in str(
            refused.headers.get_list("set-cookie")
        )
        assert (await c.get("/api/targets")).status_code == 401
    assert site.rows("SELECT name FROM users") == []


async def test_oidc_without_a_role_is_refused_unless_a_default_role_is_set(
    site: Site, provider: Provider
) -> None:
    provider.claims = {"preferred_username": "sun", "groups": ["staff"]}
    async with client(site.app()) as c:
        refused = await oidc_sign_in(c)
        assert refused.status_code == 403 and "&#39;sun&#39; has no role here" in refused.text
    site.config.write_text(
        site.config.read_text().replace(
            "    role_claim", "    default_role: viewer\n    role_claim"
        ),
        encoding="utf-8",
    )
    async with client(site.app()) as c:
        assert (await oidc_sign_in(c)).status_code == 200
        assert "sun (viewer)" in (await c.get("/")).text


# --------------------------------------------------------------------------- the audit


def test_actions_for_a_subject_are_its_own_newest_first(site: Site) -> None:
    from watcher.store.websec import WebAuthStore
    from watcher.web.identity import User

    clock = FakeClock()
    accounts = WebAuthStore(site.data).accounts
    accounts.record_action(User("li", "analyst"), "triage", "event:7", "read", clock.now())
    accounts.record_action("wang", "note", "event:8", "looked at it", clock.now())
    later = clock.now() + timedelta(minutes=5)
    accounts.record_action("zhao", "triage", "event:7", "dismissed", later)
    found = accounts.actions_for("event:7")
    assert [(a.user, a.action, a.detail, a.at) for a in found] == [
        ("zhao", "triage", "dismissed", later),
        ("li", "triage", "read", clock.now()),
    ]
    assert [a.subject for a in accounts.recent_actions()] == ["event:7", "event:8", "event:7"]
