"""Attacks on the web UI, each a test: password oracles, sessions that outlive their
logout, guessing, DNS rebinding.

Real parts: the real app through its ASGI client (each client with its own address)
or a real uvicorn server on 127.0.0.1, a real store; time from a FakeClock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from clock import FakeClock, eventually_sync
from pgstores import index_engine

from watcher.core.clock import Clock
from watcher.store.index import Store
from watcher.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "s3cret"
# real argon2, cheap parameters: the tests try many passwords (one test checks the
# parameters the service uses)
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Site:
    config: Path
    data: Path

    def app(
        self,
        password: str | None = PASSWORD,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = CHEAP,
    ) -> object:
        return create_app(
            self.data,
            self.config,
            password=password,
            clock=clock or FakeClock(),
            password_hasher=hasher,
        )


@pytest.fixture
def site(tmp_path: Path) -> Site:
    data = tmp_path / "snapshots"
    Store(data).close()
    config = tmp_path / "targets.yaml"
    config.write_text(
        "settings:\n"
        "  base_url: http://watcher.example.org:8080/\n"
        "  allowed_hosts: [ui.example.net]\n"
        "targets:\n"
        "  - {name: miit, url: 'http://127.0.0.1:9/'}\n",
        encoding="utf-8",
    )
    return Site(config, data)


def client(app: object, address: str = "127.0.0.1", host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


async def log_in(c: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of((await c.get("/login")).text)
    return await c.post("/login", data={"password": password, "next": "/", "csrf": token})


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"any:{password}".encode()).decode()}


def rows(site: Site, query: str) -> list[tuple]:
    engine = index_engine(site.data)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- CSRF tokens


async def test_the_login_forms_token_is_no_oracle_for_the_password(
    site: Site, tmp_path: Path
) -> None:
    async with client(site.app()) as c:
        token = csrf_of((await c.get("/login")).text)
        seed = c.cookies.get("watcher_csrf", "")  # the random value the token is bound to
    # what anyone sees on the public page cannot confirm a guessed password offline
    # (it could: 200,000 guesses checked in 1.25 s)
    for guess in ("123456", "password", PASSWORD):
        key = hashlib.sha256(b"watcher-web:" + guess.encode()).digest()
        for message in ("csrf:", "csrf:" + seed, seed):
            for k in (key, guess.encode()):
                assert hmac.new(k, message.encode(), hashlib.sha256).hexdigest() != token
    # the token is the same whatever the password, and after a restart ...
    async with client(site.app(password="another one")) as c:
        c.cookies.set("watcher_csrf", seed)
        assert csrf_of((await c.get("/login")).text) == token
    # ... because its key is random, made once and kept with the data
    ((key,),) = rows(site, "SELECT value FROM web_secrets WHERE name = 'key'")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    other = Site(site.config, tmp_path / "other")
    Store(other.data).close()
    async with client(other.app()) as c:
        c.cookies.set("watcher_csrf", seed)
        assert csrf_of((await c.get("/login")).text) != token


async def test_a_form_token_from_another_browser_is_refused(site: Site) -> None:
    app = site.app()
    async with client(app) as victim, client(app) as attacker:
        token = csrf_of((await attacker.get("/login")).text)
        await victim.get("/login")  # the victim's browser has a login cookie of its own
        forged = await victim.post(
            "/login", data={"password": PASSWORD, "next": "/", "csrf": token}
        )
        assert forged.status_code == 403


# --------------------------------------------------------------------------- sessions


async def test_a_session_cookie_replayed_after_logout_is_refused(site: Site) -> None:
    app = site.app()
    async with client(app) as c:
        assert (await log_in(c)).status_code == 303
        stolen = c.cookies["watcher_session"]
        assert (await c.get("/api/targets")).status_code == 200
        page = (await c.get("/")).text
        assert (await c.post("/logout", data={"csrf": csrf_of(page)})).status_code == 303
    async with client(app) as replay:
        replay.cookies.set("watcher_session", stolen)
        assert (await replay.get("/api/targets")).status_code == 401
        page = await replay.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
    assert rows(site, "SELECT * FROM web_sessions") == []


async def test_sessions_survive_a_restart_but_not_a_new_password(site: Site) -> None:
    async with client(site.app()) as c:
        await log_in(c)
        cookie = c.cookies["watcher_session"]
    async with client(site.app()) as c:  # the service restarted, same password
        c.cookies.set("watcher_session", cookie)
        assert (await c.get("/api/targets")).status_code == 200
    site.app(password="a new one")  # the password was changed (it leaked, say)
    async with client(site.app()) as c:  # and back: the old sessions stay ended
        c.cookies.set("watcher_session", cookie)
        assert (await c.get("/api/targets")).status_code == 401


async def test_a_session_ends_after_14_days_by_the_clock(site: Site) -> None:
    clock = FakeClock()
    async with client(site.app(clock=clock)) as c:
        await log_in(c)
        await clock.advance(14 * 86400 - 1)
        assert (await c.get("/api/targets")).status_code == 200
        await clock.advance(2)
        assert (await c.get("/api/targets")).status_code == 401
    assert rows(site, "SELECT * FROM web_sessions") == []


async def test_the_store_holds_an_argon2_hash_and_hashed_session_ids_only(site: Site) -> None:
    app = site.app(hasher=None)  # the parameters the service uses
    async with client(app) as one, client(app) as two:
        await log_in(one)
        await log_in(two)
        cookies = {one.cookies["watcher_session"], two.cookies["watcher_session"]}
    assert len(cookies) == 2 and all(len(c) >= 40 for c in cookies)  # random, not derived
    stored = {r[0] for r in rows(site, "SELECT id FROM web_sessions")}
    assert stored == {hashlib.sha256(c.encode()).hexdigest() for c in cookies}
    ((encoded,),) = rows(site, "SELECT value FROM web_secrets WHERE name = 'password'")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    files = b"".join(p.read_bytes() for p in site.data.glob("index.sqlite*"))  # SQLite's
    for clear in (PASSWORD, *cookies):
        assert clear.encode() not in files
    guard = app.state.guard  # type: ignore[attr-defined]
    assert PASSWORD not in repr(vars(guard)) + repr(vars(guard.password))


def test_watcher_password_leaves_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from watcher.cli.serving import _take_password

    monkeypatch.setenv("WATCHER_PASSWORD", PASSWORD)
    assert _take_password() == PASSWORD
    import os

    assert "WATCHER_PASSWORD" not in os.environ  # worker processes do not inherit it


# --------------------------------------------------------------------------- guessing


async def test_wrong_passwords_from_one_address_back_off_until_guessing_is_hopeless(
    site: Site,
) -> None:
    clock = FakeClock()
    app = site.app(clock=clock)
    async with client(app, "203.0.113.7") as attacker, client(app, "198.51.100.2") as analyst:
        for _ in range(6):
            assert (await log_in(attacker, "guess")).status_code == 401
        waits = []
        for _ in range(3):
            refused = await log_in(attacker, PASSWORD)  # not even tried while it waits
            assert refused.status_code == 429 and "try again in" in refused.text
            waits.append(int(refused.headers["retry-after"]))
            await clock.advance(waits[-1])
            assert (await log_in(attacker, "guess")).status_code == 401
        assert waits == [1, 2, 4]
        assert (await log_in(analyst)).status_code == 303  # another address is not held up
        # an attacker who waits each time as told, for an hour: a handful of guesses,
        # not 262 a second
        guesses, start = 0, clock.monotonic()
        while clock.monotonic() - start < 3600:
            answer = await attacker.get("/api/targets", headers=basic(f"guess {guesses}"))
            if answer.status_code == 429:
                await clock.advance(int(answer.headers["retry-after"]))
            else:
                assert answer.status_code == 401
                guesses += 1
        assert guesses <= 12
        # once the door opens the right password works, and the address starts afresh
        await clock.advance(3600)
        assert (await log_in(attacker)).status_code == 303


async def test_basic_auth_guesses_meet_the_same_limit_with_a_json_429(site: Site) -> None:
    app = site.app()
    async with client(app, "203.0.113.9") as attacker, client(app, "192.0.2.1") as program:
        for _ in range(6):
            assert (await attacker.get("/api/targets", headers=basic("x"))).status_code == 401
        refused = await attacker.get("/api/targets", headers=basic(PASSWORD))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert "too many wrong passwords" in refused.json()["detail"]
        assert (await program.get("/api/targets", headers=basic(PASSWORD))).status_code == 200


async def test_parallel_guesses_cannot_slip_past_the_limit(site: Site) -> None:
    async with client(site.app(), "203.0.113.10") as attacker:
        answers = await asyncio.gather(
            *(attacker.get("/api/targets", headers=basic(f"guess {i}")) for i in range(20))
        )
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * 6 + [429] * 14


async def test_many_addresses_together_meet_a_global_budget(site: Site) -> None:
    clock = FakeClock()
    app = site.app(clock=clock)
    for n in range(30):  # one guess from each of 30 addresses: none is limited by itself
        async with client(app, f"203.0.113.{n + 20}") as c:
            assert (await c.get("/api/targets", headers=basic("guess"))).status_code == 401
    async with client(app, "203.0.113.99") as fresh:
        refused = await fresh.get("/api/targets", headers=basic(PASSWORD))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
        await clock.advance(60)
        assert (await fresh.get("/api/targets", headers=basic(PASSWORD))).status_code == 200
    # IPv6: one machine's /64 is one client
    async with client(app, "2001:db8::1") as a, client(app, "2001:db8::2:3") as b:
        for c in (a, b, a, b, a, b):
            await clock.advance(60)  # the global budget is not what stops them here
            assert (await c.get("/api/targets", headers=basic("guess"))).status_code == 401
        assert (await b.get("/api/targets", headers=basic(PASSWORD))).status_code == 429


# --------------------------------------------------------------------------- host names


async def test_a_page_on_another_site_cannot_read_the_ui_by_dns_rebinding(site: Site) -> None:
    app = site.app(password=None)  # no password: the Host header is the only defence
    async with client(app, host="rebind.evil.example:8080") as evil:
        for path in ("/", "/api/targets", "/healthz", "/login"):
            refused = await evil.get(path)
            assert refused.status_code == 400, path
            assert "does not answer to the host name 'rebind.evil.example'" in refused.text
            assert "settings.allowed_hosts" in refused.text
        assert (await evil.post("/t/miit/check", data={"csrf": "x"})).status_code == 400
    for host in ("127.0.0.1:8080", "localhost", "[::1]:8080", "LOCALHOST.", "ui.example.net"):
        async with client(app, host=host) as c:  # loopback names, and the config's
            assert (await c.get("/api/targets")).status_code == 200, host
    async with client(app, host="watcher.example.org:8080") as c:  # settings.base_url's
        assert (await c.get("/api/targets")).status_code == 200
    async with client(app) as c:
        nameless = await c.get("/api/targets", headers={"Host": ""})
        assert nameless.status_code == 400


async def test_a_host_name_added_to_the_config_is_answered_without_a_restart(
    site: Site,
) -> None:
    app = site.app(password=None)
    async with client(app, host="watcher.lan") as c:
        assert (await c.get("/api/targets")).status_code == 400
        text = site.config.read_text().replace("[ui.example.net]", "[ui.example.net, watcher.lan]")
        site.config.write_text(text + "\n", encoding="utf-8")
        assert (await c.get("/api/targets")).status_code == 200


@pytest.fixture
def served(site: Site) -> Iterator[int]:
    """The app on a real uvicorn server on 127.0.0.1, as the container runs it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(site.app(), host="127.0.0.1", port=port, log_level="warning")
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    eventually_sync(lambda: server.started or not thread.is_alive(), "uvicorn to start")
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_the_containers_health_check_still_reaches_the_ui(served: int) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r'CMD \["python", "-c", "(.*?)"\]', dockerfile)
    assert match, "the Dockerfile's HEALTHCHECK runs a python one-liner"
    env = {"WATCHER_PORT": str(served), "PATH": "/usr/bin:/bin"}
    probe = subprocess.run([sys.executable, "-c", match.group(1)], env=env, timeout=30)
    assert probe.returncode == 0  # urllib sends Host: 127.0.0.1:PORT, as curl does in CI
    with socket.create_connection(("127.0.0.1", served), timeout=10) as conn:
        conn.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
