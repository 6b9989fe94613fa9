"""`fetch: browser` and `fetch: auto` targets through real checks: Chromium renders,
the capture keeps the server's first answer and a screenshot, challenges are passed
and remembered, their cookies serve plain HTTP requests, and no Chromium is a clear
error for those targets only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from httpserver import HTTPServer, Request, Response

from watcher.cli.main import main
from watcher.store.index import Store

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)
HTML = {"Content-Type": "text/html; charset=utf-8"}

SHELL = """<html><head><meta charset="utf-8"><title>通知公告</title></head><body>
<ul id="list"></ul>
<script>
fetch('/data.json').then(r => r.json()).then(items => {
  document.getElementById('list').innerHTML =
    items.map(t => '<li>' + t + '</li>').join('');
});
</script></body></html>"""

CHALLENGE = """<html><head><script>
document.cookie = "__jsl_clearance=ok; path=/";
location.reload();
</script></head><body></body></html>"""
REAL = (
    '<html><head><meta charset="utf-8"><title>新闻</title></head>'
    "<body><p>国防科工局发布船舶工业通知</p></body></html>"
)


def guarded(request: Request) -> Response:
    """The real page only with the cookie the challenge sets; else the 521 challenge."""
    if request.cookies.get("__jsl_clearance") == "ok":
        return Response(200, REAL.encode(), HTML)
    return Response(521, CHALLENGE.encode(), {**HTML, "Set-Cookie": "__jsluid_h=abc; path=/"})


class Site:
    def __init__(self, server: HTTPServer, folder: Path) -> None:
        self.server = server
        self.folder = folder
        server.route("/shell.html", body=SHELL.encode(), headers=HTML)
        server.route(
            "/data.json",
            body=json.dumps(
                ["关于船舶工业的通知", "关于工业互联网的通知"], ensure_ascii=False
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        server.route("/guarded.html", handler=guarded)
        server.route("/guarded-api.json", handler=self.api)

    def api(self, request: Request) -> Response:
        if request.cookies.get("__jsl_clearance") == "ok":
            return Response(200, b'{"items": ["ok"]}', {"Content-Type": "application/json"})
        return Response(521, CHALLENGE.encode(), HTML)

    def config(self, targets: str, settings: str = "") -> Path:
        path = self.folder / "targets.yaml"
        path.write_text(
            f"settings: {{host_delay: 0{settings}}}\nkeywords:\n  shipbuilding: [船舶]\n"
            f"targets:\n{targets}",
            encoding="utf-8",
        )
        return path

    def watcher(self, *args: str) -> Any:
        """The `watcher` command on this site's config and data folder."""
        options = [
            "--config",
            str(self.folder / "targets.yaml"),
            "--data",
            str(self.folder / "data"),
        ]
        return CliRunner().invoke(main, [*options, *args])

    def check(self, *names: str) -> dict[str, dict]:
        result = self.watcher("check", "--json", "--no-notify", *names)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        return {line["target"]: line for line in lines}


def plain_requests(site: Site, path: str) -> list[Request]:
    """Requests made by watcher's HTTP client (a browser sends Sec-Fetch-* headers)."""
    return [r for r in site.server.requests(path) if "sec-fetch-mode" not in r.headers]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with HTTPServer() as server:
        yield Site(server, tmp_path)


def test_a_page_filled_by_a_script_is_captured_rendered(site: Site) -> None:
    site.config(
        f"  - name: shell\n    url: {site.server.url('/shell.html')}\n"
        "    fetch: browser\n    wait_for: '#list li'\n    select: '#list'\n"
    )
    line = site.check()["shell"]
    assert line["status"] == "new", line
    assert [h["term"] for h in line["hits"]] == ["船舶"]
    with Store(site.folder / "data", readonly=True) as store:
        (capture,) = store.history("shell")
        assert store.text(capture) == "关于船舶工业的通知\n关于工业互联网的通知"
        assert store.raw(capture) == SHELL.encode()  # what the server sent: the evidence
        assert capture.dom_sha256 and b"<li>" in store.blobs.get(capture.dom_sha256)
        png = store.blobs.get(capture.screenshot_sha256)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    again = site.check()["shell"]
    assert again["status"] == "unchanged"  # the same text: no new capture


def test_auto_passes_a_challenge_with_the_browser_and_remembers(site: Site) -> None:
    site.config(
        f"  - name: guarded\n    url: {site.server.url('/guarded.html')}\n"
        "    fetch: auto\n    retries: 0\n"
    )
    line = site.check()["guarded"]
    assert line["status"] == "new", line
    with Store(site.folder / "data", readonly=True) as store:
        (capture,) = store.history("guarded")
        assert "国防科工局发布船舶工业通知" in store.text(capture)
        assert capture.status_code == 521  # the first answer, kept as evidence
        assert b"__jsl_clearance" in store.raw(capture)
        assert store.target_state("guarded", site.server.url("/guarded.html")).fetch_learned == (
            "browser"
        )
    assert len(plain_requests(site, "/guarded.html")) == 1  # the attempt that met the 521
    from starlette.testclient import TestClient

    from watcher.web.app import create_app

    app = create_app(site.folder / "data", site.folder / "targets.yaml")
    page = TestClient(app, base_url="http://127.0.0.1").get("/t/guarded").text
    assert "rendered in Chromium" in page and "found a JavaScript challenge" in page
    site.check()
    # the second check went straight to the browser: no plain-HTTP attempt first
    assert len(plain_requests(site, "/guarded.html")) == 1


def test_cookies_from_a_browser_visit_let_plain_http_through(site: Site) -> None:
    site.config(
        f"  - name: guarded\n    url: {site.server.url('/guarded.html')}\n    fetch: browser\n"
        f"  - name: api\n    url: {site.server.url('/guarded-api.json')}\n"
        "    cookies_from_browser: true\n    retries: 0\n"
    )
    lines = site.check()
    assert lines["guarded"]["status"] == "new"
    assert lines["api"]["status"] == "new", lines["api"]
    # plain HTTP got through with the cookie a browser visit earned (whichever target's
    # visit came first: they run concurrently)
    plain = plain_requests(site, "/guarded-api.json")
    assert plain[-1].cookies.get("__jsl_clearance") == "ok"
    # a later `watcher check` (a new process, whose cookies start empty) gets through
    # again; `watcher run` keeps them in memory for their lifetime
    lines = site.check("api")
    assert lines["api"]["status"] == "unchanged"


def test_without_chromium_browser_targets_fail_clearly_and_others_run(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.config(
        f"  - name: shell\n    url: {site.server.url('/shell.html')}\n    fetch: browser\n"
        f"  - name: plain\n    url: {site.server.url('/shell.html')}\n",
        settings=", browser: {executable: /nonexistent/chromium}",
    )
    lines = site.check()
    assert lines["plain"]["status"] == "new"
    assert lines["shell"]["status"] == "error"
    assert "apt-get install chromium" in lines["shell"]["error"]


async def test_the_capture_page_shows_the_screenshot(site: Site) -> None:
    import asyncio

    import httpx

    from watcher.web.app import create_app

    site.config(f"  - name: shell\n    url: {site.server.url('/shell.html')}\n    fetch: browser\n")
    await asyncio.to_thread(site.check)
    app = create_app(site.folder / "data", site.folder / "targets.yaml")
    with Store(site.folder / "data", readonly=True) as store:
        (capture,) = store.history("shell")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        page = (await c.get(f"/c/{capture.id}")).text
        assert f'src="/c/{capture.id}/screenshot.png"' in page
        png = await c.get(f"/c/{capture.id}/screenshot.png")
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")


def test_a_screenshot_goes_with_the_alert_when_asked(site: Site) -> None:
    site.server.route("/hook", body=b"ok")
    notifiers = site.folder / "notifiers"
    notifiers.mkdir()
    port = site.server.url("/").rstrip("/").rsplit(":", 1)[1]
    (notifiers / "apprise.yml").write_text(f"urls:\n  - json://127.0.0.1:{port}/hook\n")
    site.config(
        f"  - name: shell\n    url: {site.server.url('/shell.html')}\n"
        "    fetch: browser\n    wait_for: '#list li'\n    select: '#list'\n"
        "    alert_new: true\n    attach_screenshot: true\n"
    )
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(site.folder / "targets.yaml"),
            "--data",
            str(site.folder / "data"),
            "check",
        ],
    )
    assert result.exit_code == 0, result.output
    (post,) = site.server.requests("/hook")
    body = json.loads(post.body)
    assert body["title"].endswith("first capture — 船舶")
    (attached,) = body["attachments"]
    import base64

    assert base64.b64decode(attached["base64"]).startswith(b"\x89PNG")


def _test_command(site: Site, name: str) -> tuple[int, dict]:
    result = site.watcher("test", name, "--json")
    return result.exit_code, json.loads(result.stdout)


def test_the_test_command_renders_a_browser_target_as_check_does(site: Site) -> None:
    """`watcher test` goes through the check's path: `fetch: browser` renders the
    script-filled page, so the selected text and its hits are there (a plain fetch
    finds `#list` empty and says "select matched no text")."""
    site.config(
        f"  - name: shell\n    url: {site.server.url('/shell.html')}\n"
        "    fetch: browser\n    wait_for: '#list li'\n    select: '#list'\n"
    )
    code, payload = _test_command(site, "shell")
    assert code == 0, payload
    assert payload["text"] == "关于船舶工业的通知\n关于工业互联网的通知"
    assert [h["term"] for h in payload["hits"]] == ["船舶"]
    assert not (site.folder / "data").exists()  # nothing stored


def test_the_test_command_turns_to_the_browser_on_auto(site: Site) -> None:
    site.config(
        f"  - name: shell\n    url: {site.server.url('/shell.html')}\n"
        "    fetch: auto\n    wait_for: '#list li'\n    select: '#list'\n"
    )
    code, payload = _test_command(site, "shell")
    assert code == 0, payload
    assert "关于船舶工业的通知" in payload["text"]
    assert not (site.folder / "data").exists()
