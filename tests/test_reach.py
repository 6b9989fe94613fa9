"""Where fetches may connect: redirects and listing links to loopback, private and
link-local addresses are refused (on the address connected to) unless they are the
target's own or settings.allow_private opens them. A second real server listens on
127.0.0.5 (Linux binds the whole of 127/8 on lo); nothing leaves this machine."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from clock import FakeClock
from httpserver import HTTPServer

from watcher.cli.main import main
from watcher.fetch.addresses import Reach, classify
from watcher.fetch.client import Fetcher, FetchError, FetchOptions, FetchSettings
from watcher.store.index import Store

HTML = {"Content-Type": "text/html; charset=utf-8"}
SECRET = "内部管理页面 SECRET-5"


def page(title: str, body: str = "") -> bytes:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


@pytest.fixture
def other_server() -> Iterator[HTTPServer]:
    """A real server on 127.0.0.5: a loopback address that is not 127.0.0.1."""
    with HTTPServer("127.0.0.5") as server:
        yield server


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    clock = FakeClock()
    async with clock.autojump(), Fetcher(FetchSettings(host_delay=0), clock=clock) as f:
        yield f


@pytest.fixture
def intranet_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A DNS name that resolves to 127.0.0.5. There is no DNS server to ask here, so
    this one name is answered in place of the resolver; every other name is not."""
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host == "intranet.test":
            host = "127.0.0.5"
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "intranet.test"


# --- the classifier and the policy ----------------------------------------------------------

KINDS = [
    ("169.254.169.254", "link-local"),  # a cloud's metadata service
    ("127.0.0.1", "loopback"),
    ("127.0.0.5", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: 127.0.0.1 on the wire
    ("::ffff:10.1.2.3", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("100.127.255.254", "shared (carrier-grade NAT)"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.7", "private"),  # documentation range
    ("8.8.8.8", None),
    ("100.63.255.255", None),  # just below the shared range
    ("100.128.0.0", None),  # just above it
    ("2001:4860:4860::8888", None),
    ("::ffff:8.8.8.8", None),
]


@pytest.mark.parametrize(("address", "kind"), KINDS)
def test_addresses_are_classified(address: str, kind: str | None) -> None:
    assert classify(address) == kind


def test_a_target_reaches_its_own_address_not_its_whole_class() -> None:
    reach = Reach.of("http://127.0.0.5:8000/list.html")
    assert reach.refusal("127.0.0.5", "http://127.0.0.5:9/x") is None
    assert reach.refusal("::ffff:127.0.0.5", "http://127.0.0.5:9/x") is None
    assert reach.refusal("8.8.8.8", "http://example.org/") is None
    for other in ("127.0.0.1", "::1", "0.0.0.0", "169.254.169.254"):
        refused = reach.refusal(other, "http://x.test/")
        assert refused is not None and other in refused and "settings.allow_private" in refused
    # localhost names the UI's own addresses: refused before connecting
    assert reach.refusal_of_host("http://localhost:8080/") is not None
    assert Reach.of("http://localhost:81/").refusal("::1", "http://localhost:81/") is None


def test_allow_private_widens_the_reach_by_network_or_wholly() -> None:
    listed = Reach.of("https://www.gov.cn/", ["10.0.0.0/8", "::1"])
    assert listed.refusal("10.9.8.7", "http://a/") is None
    assert listed.refusal("::1", "http://a/") is None
    assert listed.refusal("192.168.0.1", "http://a/") is not None
    assert Reach.of("https://www.gov.cn/", True).refusal("169.254.169.254", "http://a/") is None


# --- the fetcher: on the address connected to ----------------------------------------------


async def test_a_redirect_to_another_loopback_address_is_refused(
    fetcher: Fetcher, http_server: HTTPServer, other_server: HTTPServer
) -> None:
    other_server.route("/secret", body=page(SECRET), headers=HTML)
    http_server.redirect("/page", other_server.url("/secret"))
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(http_server.url("/page"), FetchOptions(retries=3))
    error = caught.value
    assert error.kind == "private" and error.attempts == 1  # not retried
    assert other_server.url("/secret") in str(error)
    assert "127.0.0.5 is a loopback address" in str(error)
    assert "settings.allow_private" in str(error)
    assert other_server.hits("/secret") == 0


async def test_a_name_resolving_to_a_private_address_is_caught_when_connecting(
    fetcher: Fetcher, http_server: HTTPServer, other_server: HTTPServer, intranet_name: str
) -> None:
    other_server.route("/secret", body=page(SECRET), headers=HTML)
    port = other_server.base_url.rsplit(":", 1)[1]
    http_server.redirect("/page", f"http://{intranet_name}:{port}/secret")
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(http_server.url("/page"), FetchOptions(retries=0))
    assert caught.value.kind == "private"
    assert f"{intranet_name}, at 127.0.0.5, is a loopback address" in str(caught.value)
    assert other_server.hits("/secret") == 0


async def test_a_kept_connection_is_not_lent_to_a_target_that_may_not_reach_it(
    fetcher: Fetcher, http_server: HTTPServer, other_server: HTTPServer, intranet_name: str
) -> None:
    """A target allowed 127.0.0.5 leaves a keep-alive connection to it; another
    target redirected to the same host and port must not get that connection."""
    other_server.route("/secret", body=page(SECRET), headers=HTML)
    port = other_server.base_url.rsplit(":", 1)[1]
    inside = f"http://{intranet_name}:{port}/secret"
    allowed = FetchOptions(retries=0, reach=Reach.of("https://www.gov.cn/", ["127.0.0.5"]))
    assert SECRET.encode() in (await fetcher.fetch(inside, allowed)).body
    http_server.redirect("/page", inside)
    with pytest.raises(FetchError, match="is a loopback address"):
        await fetcher.fetch(http_server.url("/page"), FetchOptions(retries=0))
    assert other_server.hits("/secret") == 1


@pytest.mark.parametrize(
    "location",
    ["data:text/html,<h1>hi</h1>", "javascript:alert(1)", "file:///etc/passwd", "ftp://x.test/"],
)
async def test_a_redirect_to_another_scheme_is_a_clear_error(
    fetcher: Fetcher, http_server: HTTPServer, location: str
) -> None:
    http_server.route("/page", status=302, headers={"Location": location})
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(http_server.url("/page"), FetchOptions(retries=0))
    message = str(caught.value)
    scheme = location.split(":", 1)[0]
    assert caught.value.kind == "redirects"
    assert f"redirect to a {scheme}: URL, {location}" in message
    assert "only http and https" in message


# --- end to end: checks, listings, the config --------------------------------------------


def write_config(folder: Path, url: str, settings: str = "", follow: str = "") -> Path:
    config = folder / "targets.yaml"
    config.write_text(
        f"settings: {{host_delay: 0{settings}}}\n"
        "targets:\n"
        "  - name: site\n"
        f"    url: {url}\n"
        "    retries: 0\n"
        f"{follow}",
        encoding="utf-8",
    )
    return config


def check(folder: Path) -> tuple[dict, CliRunner]:
    config, data = folder / "targets.yaml", folder / "snapshots"
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--json"]
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    (line,) = [x for x in lines if x["target"] == "site"]
    return line, result


def stored_texts(folder: Path) -> str:
    with Store(folder / "snapshots", readonly=True) as store:
        return "\n".join(
            store.text(capture) for name in store.target_names() for capture in store.history(name)
        )


def check_errors(folder: Path) -> list[str]:
    with Store(folder / "snapshots", readonly=True) as store:
        checks = [c for name in store.target_names() for c in store.checks_of(name)]
    return [c.error for c in checks if c.error]


def test_a_check_redirected_to_another_loopback_address_stores_nothing(
    tmp_path: Path, http_server: HTTPServer, other_server: HTTPServer
) -> None:
    other_server.route("/secret", body=page(SECRET), headers=HTML)
    http_server.redirect("/page", other_server.url("/secret"))
    write_config(tmp_path, http_server.url("/page"))
    line, _ = check(tmp_path)
    assert line["status"] == "error"
    assert not line["error"].startswith("internal error")
    assert f"refused to fetch {other_server.url('/secret')}" in line["error"]
    assert "settings.allow_private" in line["error"]
    assert other_server.hits("/secret") == 0
    assert SECRET not in stored_texts(tmp_path)


@pytest.mark.parametrize("allow", ["true", "[127.0.0.5]", "127.0.0.0/8"])
def test_allow_private_lets_the_redirect_through(
    tmp_path: Path, http_server: HTTPServer, other_server: HTTPServer, allow: str
) -> None:
    other_server.route("/secret", body=page(SECRET), headers=HTML)
    http_server.redirect("/page", other_server.url("/secret"))
    write_config(tmp_path, http_server.url("/page"), f", allow_private: {allow}")
    line, _ = check(tmp_path)
    assert line["status"] == "new", line
    assert SECRET in stored_texts(tmp_path)


def test_a_check_redirected_to_data_is_a_clear_error(
    tmp_path: Path, http_server: HTTPServer
) -> None:
    http_server.route("/page", status=302, headers={"Location": "data:text/html,<b>x</b>"})
    write_config(tmp_path, http_server.url("/page"))
    line, _ = check(tmp_path)
    assert line["status"] == "error"
    assert "redirect to a data: URL" in line["error"]
    assert "internal error" not in line["error"]


def listing_site(other: HTTPServer, ui: HTTPServer) -> None:
    """A listing on 127.0.0.5 whose links go to its own notices and to the UI's address."""
    port = ui.base_url.rsplit(":", 1)[1]
    links = [
        ("/art/1.html", "关于船舶工业的通知"),
        (ui.url("/admin"), "管理"),
        (f"http://localhost:{port}/admin", "本机"),
    ]
    items = "".join(f'<li><a href="{href}">{title}</a></li>' for href, title in links)
    other.route("/list.html", body=page("通知公告", f'<ul class="list">{items}</ul>'), headers=HTML)
    other.route("/art/1.html", body=page("通知", "<p>船舶工业正文</p>"), headers=HTML)
    ui.route("/admin", body=page(SECRET), headers=HTML)


FOLLOW = "    follow:\n      links: ul.list li a\n      baseline: false\n"


def test_a_listing_reaches_its_own_address_but_not_localhost(
    tmp_path: Path, http_server: HTTPServer, other_server: HTTPServer
) -> None:
    listing_site(other_server, http_server)
    write_config(tmp_path, other_server.url("/list.html"), follow=FOLLOW)
    line, _ = check(tmp_path)
    assert line["status"] == "new", line
    assert other_server.hits("/art/1.html") == 1  # its own links still work
    assert "船舶工业正文" in stored_texts(tmp_path)
    assert http_server.hits("/admin") == 0  # 127.0.0.1 and localhost: refused
    assert SECRET not in stored_texts(tmp_path)
    errors = "\n".join(check_errors(tmp_path))
    assert f"refused to fetch {http_server.url('/admin')}: 127.0.0.1 is a loopback" in errors
    assert "localhost, at 127.0.0.1, is a loopback address" in errors
    assert "internal error" not in errors


def test_allow_private_lets_a_listing_reach_localhost(
    tmp_path: Path, http_server: HTTPServer, other_server: HTTPServer
) -> None:
    listing_site(other_server, http_server)
    settings = ", allow_private: [127.0.0.1, '::1']"
    write_config(tmp_path, other_server.url("/list.html"), settings, follow=FOLLOW)
    check(tmp_path)
    assert http_server.hits("/admin") == 2
    assert SECRET in stored_texts(tmp_path)


def test_a_bad_allow_private_is_named_with_its_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1/", ", allow_private: [10.0.0.1, nope]")
    result = CliRunner().invoke(main, ["--config", str(config), "validate"])
    assert result.exit_code == 2
    assert "targets.yaml:1: settings.allow_private" in result.output
    assert "'nope'" in result.output
