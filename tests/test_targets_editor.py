"""Targets from the browser, over HTTP (tests/test_browser_editor.py drives the same in
Chromium): /targets lists the config's targets; admins pause, resume, edit, remove and
add them, each change written into targets.yaml with its comments kept and validated
by the loader; a pasted URL is fetched from a real server on 127.0.0.1, and a
selector re-reads the kept page at once; non-admins see no controls and are refused.
``paused: true`` keeps a target out of the schedule and out of ``watcher check``."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner
from clock import FakeClock
from fastapi.testclient import TestClient
from httpserver import HTTPServer
from test_inbox import AsUser, csrf_of

from watcher.check.preview import Preview, suggest_name
from watcher.cli.main import main
from watcher.config import load_config
from watcher.service.scheduler import Scheduler
from watcher.store.index import Store
from watcher.web.app import create_app
from watcher.web.drafts import Drafts, pane_document

HTML = {"Content-Type": "text/html; charset=utf-8"}
NOTICES = """<html><head><meta charset="utf-8"><title>通知公告 - 国防科工局</title></head>
<body onload="alert(1)"><div class="nav">首页 | 机构设置</div>
<div id="main"><h2>通知公告</h2>
<ul class="list">
<li><a href="/n/1.html">关于船舶工业高质量发展的通知</a><span>2024-05-01</span></li>
<li><a href="/n/2.html">关于开展军民融合专项检查的通知</a><span>2024-04-20</span></li>
</ul></div>
<div class="footer">网站标识码 bm1234 浏览次数：12</div>
<noscript>changed by a script</noscript>
</body></html>"""
SHELL = """<html><head><meta charset="utf-8"><title>工作动态</title></head><body>
<div id="app"></div><script>
document.getElementById('app').innerHTML =
  '<div class="news"><p>工业和信息化部召开船舶工业座谈会，'
  + '研究推进船舶工业数字化转型的有关工作。</p>'
  + '<p>会议指出，要坚持创新驱动，加快绿色智能船舶发展，提升产业链供应链韧性和安全水平。</p>'
  + '<p>会议要求，各地工业和信息化主管部门要加强统筹协调，'
  + '狠抓政策落实，推动船舶工业持续健康发展。</p></div>';
</script></body></html>"""
CONFIG = """\
# The team's targets: this comment stays.
settings:
  host_delay: 0
defaults:
  retries: 0   # tests: no retry
  timeout: 10s
keywords:
  shipbuilding: [船舶, 造船]
  mcf: [军民融合]
targets:
  # the first one, a news page
  - name: news
    url: {base}/news.html
    interval: 1h   # hourly

  # another one, with a select
  - name: other
    title: 其他
    url: {base}/other.html
    select: "#main"
"""


@pytest.fixture
def site(http_server: HTTPServer, tmp_path: Path) -> Path:
    for path in ("/news.html", "/other.html", "/notices.html"):
        http_server.route(path, body=NOTICES.encode(), headers=HTML)
    http_server.route("/shell.html", body=SHELL.encode(), headers=HTML)
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG.format(base=http_server.url("").rstrip("/")), encoding="utf-8")
    return config


@pytest.fixture
def app(site: Path):
    Store(site.parent / "snapshots").close()  # as `watcher run` makes it: the CSRF key's home
    app = create_app(site.parent / "snapshots", site, clock=FakeClock())
    app.add_middleware(AsUser)
    yield app
    app.state.inbox_writer.close()


def client_as(app, name: str, role: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    client.cookies.set("as", f"{name}:{role}")
    return client


def test_targets_lists_every_configured_target_and_admins_get_the_controls(app, site) -> None:
    admin = client_as(app, "ada", "admin")
    page = admin.get("/targets").text
    assert 'data-target="news"' in page and 'data-target="other"' in page
    assert "every 1h" in page and "其他" in page and "not checked yet" in page
    assert 'action="/targets/news/pause"' in page and 'href="/targets/new"' in page
    assert 'href="/targets"' in admin.get("/").text  # the header link, for admins
    viewer = client_as(app, "vic", "viewer")
    page = viewer.get("/targets").text
    assert 'data-target="news"' in page
    assert "/pause" not in page and "/targets/new" not in page and "Remove" not in page
    assert 'href="/targets"' not in viewer.get("/").text


def test_non_admins_posts_are_refused_and_the_file_is_untouched(app, site) -> None:
    before = site.read_bytes()
    client = client_as(app, "ada", "admin")
    token = csrf_of(client.get("/targets").text)  # a good token: the role is what is refused
    for role in ("viewer", "analyst"):
        client.cookies.set("as", f"someone:{role}")
        for path in ("/targets/news/pause", "/targets/news/remove", "/targets/news/resume"):
            refused = client.post(path, data={"csrf": token})
            assert refused.status_code == 403 and "admin" in refused.text, path
        form = {"csrf": token, "name": "x", "url": "http://127.0.0.1/"}
        assert client.post("/targets/save", data=form).status_code == 403
        assert client.post("/targets/fetch", data=form).status_code == 403
        assert client.get("/targets/new").status_code == 403
        assert client.get("/targets/news/edit").status_code == 403
    assert site.read_bytes() == before


def test_pause_resume_and_remove_keep_the_files_comments(app, site) -> None:
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/targets").text)
    assert admin.post("/targets/news/pause", data={"csrf": "wrong"}).status_code == 403
    done = admin.post("/targets/news/pause", data={"csrf": token})
    assert done.status_code == 303 and done.headers["location"] == "/targets?done=paused&name=news"
    text = site.read_text(encoding="utf-8")
    assert (
        "    interval: 1h   # hourly\n    paused: true\n\n  # another one, with a select\n" in text
    )
    assert load_config(site).target("news").paused
    page = admin.get("/targets").text
    assert re.search(r'data-target="news" class="paused">.*?<td class="state">paused', page, re.S)
    assert 'action="/targets/news/resume"' in page
    done = admin.post("/targets/news/resume", data={"csrf": token})
    assert done.status_code == 303
    assert site.read_text(encoding="utf-8") == CONFIG.format(base=_base(site))
    gone = admin.post("/targets/nope/pause", data={"csrf": token})
    assert gone.status_code == 404 and "no target named 'nope'" in unescape(gone.text)
    done = admin.post("/targets/other/remove", data={"csrf": token})
    assert done.status_code == 303
    text = site.read_text(encoding="utf-8")
    assert "name: other" not in text and "# The team's targets: this comment stays." in text
    assert [t.name for t in load_config(site).targets] == ["news"]


def _base(site: Path) -> str:
    return re.search(r"url: (http://127\.0\.0\.1:\d+)/news", site.read_text("utf-8")).group(1)


def test_a_pasted_url_is_fetched_shown_and_its_text_follows_the_selector(
    app, site, http_server
) -> None:
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/targets/new").text)
    url = http_server.url("/notices.html")
    fetched = admin.post("/targets/fetch", data={"csrf": token, "url": url})
    assert fetched.status_code == 303 and fetched.headers["location"].startswith(
        "/targets/new?draft="
    )
    assert http_server.hits("/notices.html") == 1
    draft = fetched.headers["location"].split("=", 1)[1]
    page = admin.get(fetched.headers["location"]).text
    assert f'src="/targets/drafts/{draft}/page"' in page and 'sandbox="allow-scripts"' in page
    assert 'value="notices"' in unescape(page)  # the name suggested
    stored = unescape(re.search(r'id="stored-text"[^>]*>(.*?)</pre>', page, re.S).group(1))
    assert stored.startswith("通知公告 - 国防科工局\n首页 | 机构设置") and "浏览次数：12" in stored
    assert "船舶 ×1" in unescape(page)  # the hits of every group on the whole page

    pane = admin.get(f"/targets/drafts/{draft}/page")
    policy = pane.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts; default-src 'none'; script-src 'nonce-")
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert f'<script nonce="{nonce}">' in pane.text and "watcher-pick" in pane.text
    assert "onload" not in pane.text and pane.text.count("<script") == 1

    headers = {"X-CSRF-Token": token}
    answer = admin.post(
        f"/targets/drafts/{draft}/text",
        json={"select": "ul.list", "keywords": ["mcf"]},
        headers=headers,
    ).json()
    assert (
        answer["text"]
        == "关于船舶工业高质量发展的通知2024-05-01\n关于开展军民融合专项检查的通知2024-04-20"
    )
    assert answer["error"] is None and answer["characters"] == len(answer["text"])
    assert [(h["group"], h["term"], h["count"]) for h in answer["hits"]] == [("mcf", "军民融合", 1)]
    missed = admin.post(
        f"/targets/drafts/{draft}/text",
        json={"select": ".nothing", "keywords": []},
        headers=headers,
    ).json()
    assert missed["text"] == "" and "'.nothing' matched nothing" in missed["error"]
    bad = admin.post(
        f"/targets/drafts/{draft}/text", json={"select": "ul[", "keywords": []}, headers=headers
    )
    assert "'ul[' is not a CSS selector" in bad.json()["error"]
    assert admin.post(f"/targets/drafts/{draft}/text", json={"select": "ul"}).status_code == 403
    assert http_server.hits("/notices.html") == 1  # re-read from the kept bytes
    other = client_as(app, "bob", "admin")  # another admin's draft is none of theirs
    assert (
        other.post(
            f"/targets/drafts/{draft}/text",
            json={"select": "ul"},
            headers={"X-CSRF-Token": csrf_of(other.get("/targets").text)},
        ).status_code
        == 404
    )


def test_save_adds_the_target_with_only_what_it_sets_and_refuses_what_would_not_load(
    app, site, http_server
) -> None:
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/targets/new").text)
    url = http_server.url("/notices.html")
    draft = (
        admin.post("/targets/fetch", data={"csrf": token, "url": url})
        .headers["location"]
        .split("=", 1)[1]
    )
    form = {
        "csrf": token, "draft": draft, "url": url, "name": "sastind-notices",
        "title": "国防科工局 通知公告", "select": "ul.list", "keywords": ["shipbuilding"],
        "schedule": "cron", "cron": "0 */2 * * *", "notify": "analysts, leads", "fetch": "http",
    }  # fmt: skip
    bad = admin.post("/targets/save", data={**form, "name": "news"})
    assert bad.status_code == 400
    assert "there is already a target named &#39;news&#39;" in bad.text
    bad = admin.post("/targets/save", data={**form, "cron": "every day"})
    assert bad.status_code == 400 and "cron:" in bad.text
    bad = admin.post("/targets/save", data={**form, "select": "ul["})
    assert bad.status_code == 400 and "targets.yaml:" in bad.text and "select" in bad.text
    assert site.read_text(encoding="utf-8") == CONFIG.format(base=_base(site))
    done = admin.post("/targets/save", data=form)
    assert (
        done.status_code == 303
        and done.headers["location"] == "/targets?done=added&name=sastind-notices"
    )
    text = site.read_text(encoding="utf-8")
    assert text.startswith(CONFIG.format(base=_base(site)))  # the rest as it was, comments too
    assert text[len(CONFIG.format(base=_base(site))) :] == (
        "  - name: sastind-notices\n"
        "    title: 国防科工局 通知公告\n"
        f"    url: {url}\n"
        "    select: ul.list\n"
        "    keywords:\n      - shipbuilding\n"
        "    cron: '0 */2 * * *'\n"
        "    notify:\n      - analysts\n      - leads\n"
    )
    added = load_config(site).target("sastind-notices")
    assert (
        added.select == ("ul.list",)
        and added.cron == "0 */2 * * *"
        and added.notify == ("analysts", "leads")
    )


def test_edit_changes_only_the_keys_that_changed(app, site) -> None:
    admin = client_as(app, "ada", "admin")
    page = admin.get("/targets/other/edit").text
    token = csrf_of(page)
    assert 'value="#main"' in page and 'name="name" value="other"' in page and "readonly" in page
    form = {
        "csrf": token, "editing": "other", "url": load_config(site).target("other").url,
        "name": "other", "title": "其他", "select": "#main", "keywords": ["shipbuilding", "mcf"],
        "schedule": "interval", "interval": "1h", "notify": "", "fetch": "http",
    }  # fmt: skip
    before = site.read_text(encoding="utf-8")
    assert admin.post("/targets/save", data=form).status_code == 303
    assert site.read_text(encoding="utf-8") == before  # nothing changed, nothing written
    done = admin.post(
        "/targets/save",
        data={**form, "schedule": "cron", "cron": "30 8 * * *", "select": "", "keywords": ["mcf"]},
    )
    assert done.status_code == 303 and done.headers["location"] == "/targets?done=saved&name=other"
    text = site.read_text(encoding="utf-8")
    assert "select" not in text.split("name: other")[1]
    edited = load_config(site).target("other")
    assert edited.cron == "30 8 * * *" and edited.interval is None and edited.keywords == ("mcf",)
    assert "# another one, with a select" in text and "interval: 1h   # hourly" in text


def test_a_script_shell_is_read_in_the_browser(app, site, http_server) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium")
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/targets/new").text)
    fetched = admin.post(
        "/targets/fetch", data={"csrf": token, "url": http_server.url("/shell.html")}
    )
    page = unescape(admin.get(fetched.headers["location"]).text)
    assert "the page is a script shell: its text comes from the browser" in page
    assert "研究推进船舶工业数字化转型" in page
    assert re.search(r"<option selected>browser</option>", page)


def test_paused_targets_are_left_out_of_the_schedule_and_of_watcher_check(
    site, http_server
) -> None:
    text = site.read_text(encoding="utf-8").replace(
        "interval: 1h   # hourly", "interval: 1h\n    paused: true"
    )
    site.write_text(text, encoding="utf-8")
    config = load_config(site)
    assert config.target("news").paused and not config.target("other").paused

    async def nothing(name: str) -> bool:
        return True

    scheduler = Scheduler(nothing, FakeClock())
    scheduler.sync(config.targets, {})
    assert set(scheduler.next_runs()) == {"other"}
    data = site.parent / "snapshots"
    args = ["--config", str(site), "--data", str(data), "check", "--json", "--no-notify"]
    result = CliRunner().invoke(main, args)
    assert [json.loads(line)["target"] for line in result.stdout.splitlines()] == ["other"]
    assert "paused, not checked: news" in result.stderr
    assert http_server.hits("/news.html") == 0
    named = CliRunner().invoke(main, [*args, "news"])
    assert [json.loads(line)["target"] for line in named.stdout.splitlines()] == ["news"]


def test_drafts_are_kept_per_user_for_an_hour_and_a_few_at_a_time() -> None:
    clock = FakeClock()
    page = Preview("u", "u", 200, "t", "text", None, b"x" * 1000, "text/html", "<p>x</p>", "http")
    drafts = Drafts(clock, kept=2, budget=10_000)
    first = drafts.add("ada", page, None)
    assert drafts.get(first.token, "ada") == first and drafts.get(first.token, "bob") is None
    second, third = drafts.add("ada", page, None), drafts.add("ada", page, None)
    assert drafts.get(first.token, "ada") is None  # the oldest went
    assert drafts.get(second.token, "ada") and drafts.get(third.token, "ada")
    big = Preview("u", "u", 200, "t", "text", None, b"x" * 9_000, "text/html", "", "http")
    drafts.add("ada", big, None)
    assert drafts.get(third.token, "ada") is None  # over the budget: the oldest went
    clock._now += timedelta(hours=1, seconds=1).total_seconds()
    assert drafts.get(second.token, "ada") is None


def test_the_pane_keeps_the_page_but_nothing_active() -> None:
    html = (
        '<html><head><meta http-equiv="refresh" content="0;url=http://x"><base href="http://x/">'
        '<link rel="stylesheet" href="http://x/a.css"><style>p{color:red}</style></head>'
        '<body><p onclick="steal()" style="font-weight:bold">正文</p>'
        '<a href="javascript:go()">x</a>'
        '<iframe src="http://x"></iframe><object data="x.swf"></object>'
        '<script>steal()</script><form action="javascript:x"><input></form></body></html>'
    )
    pane = pane_document(html, "N0NCE")
    for gone in (
        "refresh",
        "<base",
        "<link",
        "onclick",
        "javascript:",
        "<iframe",
        "<object",
        "steal()",
    ):
        assert gone not in pane, gone
    assert "<style>p{color:red}</style>" in pane and 'style="font-weight:bold"' in pane
    assert '<script nonce="N0NCE">' in pane and pane.count("<script") == 1


def test_suggested_names_come_from_the_address_and_are_free() -> None:
    url = "https://www.miit.gov.cn/jgsj/zfs/gzdt/index.html"
    assert suggest_name(url, []) == "miit-jgsj-zfs-gzdt"
    assert suggest_name(url, ["miit-jgsj-zfs-gzdt"]) == "miit-jgsj-zfs-gzdt-2"


async def test_a_running_service_takes_a_saved_target_and_a_pause_from_the_editor(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    """``watcher run`` reloads the file the editor wrote: the new target is checked on
    its schedule, and once paused it is scheduled no more."""
    from clock import eventually
    from test_service import PAGE, paths, running, target, write_config

    from watcher.service.daemon import Service, ServiceTimings

    http_server.route("/a", body=PAGE, headers=HTML)
    http_server.route("/new.html", body=NOTICES.encode(), headers=HTML)
    config, data, notifiers = paths(tmp_path)
    write_config(config, [target("a", http_server.url("/a"))])
    service = Service(config, data, notifiers, timings=ServiceTimings(watch_every=0.2))
    async with running(service):
        await eventually(lambda: http_server.hits("/a") >= 1, "the first check")
        app = create_app(data, config)
        app.add_middleware(AsUser)
        admin = client_as(app, "ada", "admin")
        token = csrf_of(admin.get("/targets/new").text)
        url = http_server.url("/new.html")
        draft = admin.post("/targets/fetch", data={"csrf": token, "url": url})
        form = {
            "csrf": token, "draft": draft.headers["location"].split("=", 1)[1], "url": url,
            "name": "fresh", "select": "ul.list", "schedule": "interval", "interval": "5s",
            "keywords": ["shipbuilding"], "fetch": "http",
        }  # fmt: skip
        assert admin.post("/targets/save", data=form).status_code == 303  # first run within 0.5 s
        await eventually(lambda: "fresh" in service.scheduler.next_runs(), "the reload")
        await eventually(lambda: http_server.hits("/new.html") >= 2, "the new target's check")
        assert admin.post("/targets/fresh/pause", data={"csrf": token}).status_code == 303
        await eventually(lambda: "fresh" not in service.scheduler.next_runs(), "the pause")
        assert service.config.target("fresh").paused
        app.state.inbox_writer.close()


def test_a_paused_target_is_never_overdue_for_the_health_check() -> None:
    from watcher.config import Target
    from watcher.service.health import Progress

    started = FakeClock().now()
    later = started + timedelta(days=2)
    paused = Target(
        name="quiet", url="http://127.0.0.1/q", interval=3600, paused=True, alert="changes"
    )
    progress = Progress(started, {"quiet": None})
    assert progress.stalled([paused], later) is None
    awake = paused.model_copy(update={"paused": False})
    assert "checks stalled" in (progress.stalled([awake], later) or "")


def test_without_scripts_show_its_text_reads_the_selector_and_saves_nothing(
    app, site, http_server
) -> None:
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/targets/new").text)
    url = http_server.url("/notices.html")
    where = admin.post("/targets/fetch", data={"csrf": token, "url": url}).headers["location"]
    draft = where.split("=", 1)[1]
    before = site.read_bytes()
    form = {"csrf": token, "draft": draft, "url": url, "name": "n", "select": "div.footer"}
    shown = admin.post("/targets/save", data={**form, "action": "show"})
    assert shown.status_code == 200 and site.read_bytes() == before
    stored = unescape(re.search(r'id="stored-text"[^>]*>(.*?)</pre>', shown.text, re.S).group(1))
    assert stored == "网站标识码 bm1234 浏览次数：12"
    assert 'value="div.footer"' in shown.text


def test_a_json_listings_own_address_and_headers_are_saved_with_it(app, site, http_server) -> None:
    """A JSON listing proposed from a page watches its endpoint, not the page."""
    admin = client_as(app, "ada", "admin")
    token = csrf_of(admin.get("/targets/new").text)
    page = http_server.url("/notices.html")
    api = http_server.url("/api/list.json") + "?page=1"
    extra = {"url": api, "headers": {"Referer": page}}
    follow = {"items": "data.list", "url": "url", "title": "title"}
    form = {
        "csrf": token, "url": page, "name": "api-list", "follow": json.dumps(follow),
        "extra": json.dumps(extra), "keywords": ["shipbuilding", "mcf"],
    }  # fmt: skip
    for bad in ('{"name": "x"}', "[1]", "{"):
        refused = admin.post("/targets/save", data={**form, "extra": bad})
        assert refused.status_code == 400 and "the proposal&#39;s keys" in refused.text
    assert admin.post("/targets/save", data=form).status_code == 303
    saved = load_config(site).target("api-list")
    assert saved.url == api and saved.headers["Referer"] == page
    assert saved.follow is not None and saved.follow.items == "data.list"
    text = site.read_text(encoding="utf-8")
    assert text.index("name: api-list") < text.index(api) < text.index("follow:")
