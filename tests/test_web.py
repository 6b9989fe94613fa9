"""The web app in process (httpx's ASGI transport) over a real store filled by real
checks of a local site: pages, JSON API, feeds, search, health, metrics, security."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import feedparser
import httpx
import pytest
from click.testing import CliRunner
from clock import PATIENCE, eventually
from httpserver import HTTPServer
from pgstores import index_engine, on_postgresql

from watcher.cli.main import main
from watcher.store.search import QueryError, index_terms, parse_query
from watcher.web import pages
from watcher.web.app import create_app

GBK_PAGE = (
    "<html><head><meta charset=gbk><title>关于加快船只工业发展的通知</title></head><body>"
    "<div id=c><p>工业和信息化部关于加快船只工业高质量发展的通知。</p>"
    "<p>各省、自治区、直辖市工业和信息化主管部门：朱镕基、王堃。</p>"
    "<p>Industrial Internet innovation and development.</p></div></body></html>"
)
HOSTILE = (
    "<html><head><title>x<script>alert(1)</script></title></head><body>"
    "<p>&lt;script&gt;alert('text')&lt;/script&gt; 國防科工局</p>"
    '<script>window.__pwned = 1</script><img src=x onerror="alert(2)">'
    '<a href="javascript:alert(3)">link</a></body></html>'
)


def check(config: Path, data: Path) -> str:
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "check", "--no-notify"]
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1), result.output
    return result.output


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("web")
    with HTTPServer() as server:
        server.route("/notice", body=GBK_PAGE.encode("gbk"), headers={"Content-Type": "text/html"})
        server.route("/hostile", body=HOSTILE.encode(), headers={"Content-Type": "text/html"})
        server.route("/broken", status=500, body=b"down")
        config = folder / "targets.yaml"
        config.write_text(
            f"""settings: {{host_delay: 0, base_url: "http://watcher.example"}}
keywords:
  shipbuilding: [船舶, 造船]
  sastind: [国防科工局]
targets:
  - name: miit
    title: MIIT 通知公告
    url: {server.url("/notice")}
    tags: [miit, ministry]
  - name: hostile
    title: Hostile page
    url: {server.url("/hostile")}
  - name: broken
    title: Broken site
    url: {server.url("/broken")}
    retries: 0
""",
            encoding="utf-8",
        )
        data = folder / "snapshots"
        check(config, data)
        changed = GBK_PAGE.replace("船只工业高质量", "船舶工业高质量").replace(
            "</div>", "<p>新增：国防科工局发布船舶工业通知。</p></div>"
        )
        server.route("/notice", body=changed.encode("gbk"), headers={"Content-Type": "text/html"})
        check(config, data)
        reindex = ["--config", str(config), "--data", str(data), "reindex"]
        assert "indexed" in CliRunner().invoke(main, reindex).output
        yield config, data


def app_client(site, password: str | None = None) -> httpx.AsyncClient:
    config, data = site
    app = create_app(data, config, password=password)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


@pytest.fixture
async def client(site) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(site) as c:
        yield c


@pytest.fixture
async def locked(site) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(site, "s3cret") as c:
        yield c


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


# --------------------------------------------------------------------------- pages


async def test_dashboard_lists_targets_with_fresh_hits_first(client) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    order = [html.index(t) for t in ("MIIT 通知公告", "Hostile page", "Broken site")]
    assert order[0] < order[1]  # the target with hits in the last 7 days comes first
    # it never worked: said so, not shown as a target that just broke
    assert 'class="status s-never-ok">never succeeded' in html and "HTTP 500" in html
    assert 'class="hits"' in html


async def test_the_dashboard_shows_its_rows_a_page_at_a_time_in_the_order_asked(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config of thousands of targets is a dashboard of pages (10,000 rows in one were
    5 MB); the count, the sort and the filters see every target, the links keep them."""
    monkeypatch.setattr(pages, "DASHBOARD_ROWS", 2)
    asked = {"sort": "target", "order": "asc"}
    first = (await client.get("/", params=asked)).text
    second = (await client.get("/", params={**asked, "page": 2})).text
    assert '<span class="count">3</span>' in first and '<span class="count">3</span>' in second
    assert "Broken site" in first and "Hostile page" in first and "MIIT 通知公告" not in first
    assert "MIIT 通知公告" in second and "Broken site" not in second
    assert 'href="?page=2&amp;sort=target&amp;order=asc" rel="next"' in first
    assert 'href="?page=1&amp;sort=target&amp;order=asc" rel="prev"' in second
    assert "targets 3–3 of 3, page 2 of 2" in second
    beyond = (await client.get("/", params={**asked, "page": 9})).text
    assert "MIIT 通知公告" in beyond and "page 2 of 2" in beyond  # past the end: the last page


async def test_the_dashboard_s_kept_rows_follow_every_check_and_the_config(
    tmp_path: Path,
) -> None:
    """The rows are kept between requests only while the store's newest check and the
    config are the ones they were read under: a check, or an edit of the config, shows
    at the next request."""
    from datetime import UTC, datetime

    from watcher.store.index import CheckRecord, Store

    config = tmp_path / "targets.yaml"
    config.write_text("targets:\n  - name: a\n    url: http://127.0.0.1:9/a\n", "utf-8")
    data = tmp_path / "snapshots"
    with Store(data) as store:
        target = store.target_state("a", "http://127.0.0.1:9/a").id
    app = create_app(data, config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        assert "not checked" in (await c.get("/")).text
        assert "not checked" in (await c.get("/")).text  # kept: nothing changed
        with Store(data) as store:
            at = datetime.now(UTC)
            store.save_checks([CheckRecord(target, at, "error", 0.1, 503, 1, "HTTP 503")])
        page = (await c.get("/")).text
        assert "not checked" not in page and "HTTP 503" in page
        config.write_text(
            "targets:\n  - name: a\n    title: 新的标题\n    url: http://127.0.0.1:9/a\n",
            "utf-8",
        )
        os.utime(config, (at.timestamp() + 5, at.timestamp() + 5))  # a new mtime, surely
        assert "新的标题" in (await c.get("/")).text
        assert "新的标题" in (await c.get("/api/targets")).text


async def test_the_dashboard_reads_again_only_the_targets_touched_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 rows cost 400 ms to read: between two requests only the targets checked
    (or registered) since are read again, and each minute the 7 days of hits are
    counted again, so a hit 7 days old leaves the row without any check."""
    import time
    from datetime import UTC, datetime

    from watcher.store import dialects, postgres, sqlite, views
    from watcher.store.index import CheckRecord, Store

    for dialect in (sqlite, postgres):  # the mechanism, not PostgreSQL's margin
        monkeypatch.setattr(dialect, "LATE_COMMITS", 0)
    clock = [time.time()]  # the wall clock; the rows' age is not what this is about
    monkeypatch.setattr(
        pages,
        "time",
        type("Clock", (), {"time": lambda: clock[0], "monotonic": time.monotonic}),
    )
    read: list[set[int] | None] = []
    summaries = views.summaries
    monkeypatch.setattr(
        views, "summaries", lambda *a, **k: read.append(k.get("ids")) or summaries(*a, **k)
    )
    with HTTPServer() as server:
        server.route(
            "/a", body="<p>船舶工业通知</p>".encode(), headers={"Content-Type": "text/html"}
        )
        config = tmp_path / "targets.yaml"
        config.write_text(
            f"keywords:\n  ships: [船舶]\ntargets:\n  - name: a\n    url: {server.url('/a')}\n"
            "  - name: b\n    url: http://127.0.0.1:9/b\n",
            "utf-8",
        )
        data = tmp_path / "snapshots"
        with Store(data) as store:
            b = store.target_state("b", "http://127.0.0.1:9/b").id
        await asyncio.to_thread(check, config, data)  # a: captured with its hit; b: refused
    app = create_app(data, config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        first = (await c.get("/")).text
        assert 'class="hits">1</a>' in first and read == [None]  # every row read once
        assert 'class="hits">1</a>' in (await c.get("/")).text and read == [None]
        with Store(data) as store:
            at = datetime.now(UTC)
            store.save_checks([CheckRecord(b, at, "error", 0.1, 503, 1, "HTTP 503")])
        page = (await c.get("/")).text
        assert "HTTP 503" in page and 'class="hits">1</a>' in page
        assert read == [None, {b}]  # b alone read again
        clock[0] += 8 * 86400  # the hit is 8 days old: counted again, no row read
        page = (await c.get("/")).text
        assert 'class="hits"' not in page and "HTTP 503" in page and read == [None, {b}]
        assert dialects.of(app.state.context.store.engine).LATE_COMMITS == 0


def test_rows_touched_since_include_late_commits_below_the_newest_id(tmp_path: Path) -> None:
    """On PostgreSQL a check may commit after one with a higher id: the ids just below
    the newest seen are read again, LATE_COMMITS of them."""
    from datetime import UTC, datetime

    from watcher.store import dialects, views
    from watcher.store.index import CheckRecord, Store

    with Store(tmp_path / "data") as store:
        a, b, c = (store.target_state(n, f"http://127.0.0.1:9/{n}").id for n in "abc")
        at = datetime.now(UTC)
        store.save_checks([CheckRecord(t, at, "ok", 0.1, 200) for t in (a, b, c)])
        seen = views.rows_version(store)
        margin = dialects.of(store.engine).LATE_COMMITS
        assert views.touched(store, seen) == ({a, b, c} if margin >= 3 else set())
        store.save_checks([CheckRecord(b, at, "ok", 0.1, 200)])
        assert b in views.touched(store, seen)
        assert views.touched(store, views.RowsVersion(None, None, None)) == {a, b, c}


def test_the_web_ui_uses_the_service_s_config_while_the_file_is_as_the_service_read_it(
    tmp_path: Path,
) -> None:
    """`watcher run` parsed the config already: the web UI takes that one (10,000
    targets are 22 MB and 2.5 s to parse again) until the file changes."""
    from watcher.config import file_stamp, load_config
    from watcher.web.context import WebContext

    path = tmp_path / "targets.yaml"
    path.write_text("targets:\n  - name: a\n    url: http://127.0.0.1:9/a\n", "utf-8")
    stamp, running = file_stamp(path), load_config(path)
    context = WebContext(tmp_path, path, shared_config=lambda: (stamp, running))
    assert context.config() is running and context.config() is running
    path.write_text("targets:\n  - name: b\n    url: http://127.0.0.1:9/b\n", "utf-8")
    os.utime(path, ns=(stamp[0] + 10**9, stamp[0] + 10**9))
    mine = context.config()
    assert mine is not running and [t.name for t in mine.targets] == ["b"]
    path.write_text("targets: [", "utf-8")  # broken: the last good one stays
    assert context.config() is mine


async def test_dashboard_filters_and_sorts(client) -> None:
    only = (await client.get("/", params={"tag": "ministry"})).text
    assert "MIIT 通知公告" in only and "Hostile page" not in only
    by_errors = (await client.get("/", params={"sort": "errors", "order": "desc"})).text
    assert by_errors.index("Broken site") < by_errors.index("MIIT 通知公告")
    by_name = (await client.get("/", params={"sort": "target", "order": "asc"})).text
    assert by_name.index("Broken site") < by_name.index("Hostile page") < by_name.index("MIIT")


async def test_target_page_has_its_timeline_and_a_compare_form(client) -> None:
    html = (await client.get("/t/miit")).text
    assert html.count('name="from"') == 2 and html.count('name="to"') == 2
    assert 'action="/t/miit/diff"' in html
    assert "2 captures" in html
    assert (await client.get("/t/nothing-here")).status_code == 404


async def test_diff_marks_one_changed_character_and_the_hit(client) -> None:
    html = (await client.get("/t/miit/diff")).text
    assert "<del>只</del>" in html
    assert re.search(r'<ins><mark class="hit" data-group="shipbuilding"[^>]*>舶</mark></ins>', html)
    assert 'id="change-1"' in html and 'id="change-2"' in html
    side = (await client.get("/t/miit/diff", params={"view": "side"})).text
    assert '<table class="diff diff-side"' in side and '<td class="old">' in side


async def test_capture_page_shows_facts_and_the_original_only_sandboxed(client) -> None:
    api = (await client.get("/api/targets/hostile/captures")).json()
    capture_id = api["captures"][0]["id"]
    page = await client.get(f"/c/{capture_id}")
    assert page.status_code == 200
    html = page.text
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html
    assert f'<iframe class="archive" src="/c/{capture_id}/raw" sandbox' in html
    raw = await client.get(f"/c/{capture_id}/raw")
    assert raw.headers["content-security-policy"].startswith("sandbox;")
    assert "script-src" not in raw.headers["content-security-policy"]  # none at all
    download = await client.get(f"/c/{capture_id}/download")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.content == HOSTILE.encode()


async def test_every_response_carries_the_security_headers(client) -> None:
    for path in ("/", "/t/miit", "/api/targets", "/feed.atom", "/healthz", "/static/style.css"):
        headers = (await client.get(path)).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert "content-security-policy" in headers, path
    page_csp = (await client.get("/")).headers["content-security-policy"]
    assert "script-src 'self'" in page_csp and "frame-ancestors 'none'" in page_csp


async def test_hits_page_links_each_hit_to_its_diff(client) -> None:
    html = (await client.get("/hits", params={"group": "shipbuilding"})).text
    link = re.search(r'class="hit-link" href="(/t/miit/diff\?from=\w+&amp;to=\w+)"', html)
    assert link, html
    diff = await client.get(link.group(1).replace("&amp;", "&"))
    assert diff.status_code == 200 and "<del>只</del>" in diff.text


async def test_search_two_hanzi_latin_words_and_phrases(client) -> None:
    two = (await client.get("/search", params={"q": "船舶"})).text
    assert "关于加快船只工业发展的通知" in two and "<mark>船舶</mark>工业" in two  # the title
    latin = (await client.get("/search", params={"q": "innovation"})).text
    assert "Industrial Internet <mark>innovation</mark>" in latin
    phrase = (await client.get("/search", params={"q": '"industrial internet"'})).text
    assert "<mark>Industrial Internet</mark> innovation" in phrase
    wrong_order = (await client.get("/search", params={"q": '"internet industrial"'})).text
    assert "Nothing found" in wrong_order  # a phrase is confirmed whole, in order
    traditional = (await client.get("/search", params={"q": "國防科工局"})).text
    # traditional in the query finds simplified text, and traditional text too
    assert 'href="/t/miit"' in traditional and 'href="/t/hostile"' in traditional
    one = (await client.get("/search", params={"q": "船"})).text
    assert "at least two Chinese characters" in one


def results_of(html: str) -> list[str]:
    """The search results' targets, in order."""
    return re.findall(r'<div class="sub"><a href="/t/([^"]+)">', html)


async def test_search_lists_a_page_once_with_its_versions(client) -> None:
    html = (await client.get("/search", params={"q": "Industrial"})).text
    assert results_of(html) == ["miit"]  # both captures hold the word: one result
    assert '<span class="versions">2 versions</span>' in html
    newest = re.search(r'<a href="/c/(\w+)" class="result-title"', html)
    assert newest and newest.group(1) in (await client.get("/t/miit")).text
    assert "<mark>Industrial</mark> Internet" in html
    api = (await client.get("/api/search", params={"q": "Industrial"})).json()
    assert [(r["capture"]["target"], r["versions"]) for r in api["results"]] == [("miit", 2)]


async def test_search_marks_terms_and_escapes_the_text(client) -> None:
    html = (await client.get("/search", params={"q": "alert"})).text
    assert results_of(html) == ["hostile"]
    assert "&lt;script&gt;<mark>alert</mark>(" in html
    assert "<script>alert" not in html and "<mark>alert</mark>(&#39;text&#39;)" in html
    # traditional in the text, simplified in the query: the text as written is marked
    simplified = (await client.get("/search", params={"q": "国防科工局"})).text
    assert "<mark>國防科工局</mark>" in simplified


async def test_search_or_finds_either_and_says_how_it_was_read(client) -> None:
    either = (await client.get("/search", params={"q": "船舶 OR alert"})).text
    assert sorted(results_of(either)) == ["hostile", "miit"]
    assert "Searched for <code>船舶 OR alert</code>" in either
    assert "<mark>船舶</mark>" in either and "<mark>alert</mark>" in either
    both = (await client.get("/search", params={"q": "船舶 alert"})).text
    assert results_of(both) == [] and "Searched for <code>船舶 AND alert</code>" in both
    assert "write OR between words to find either" in both
    lower = (await client.get("/search", params={"q": "船舶 or alert"})).text
    assert re.search(r"(&#34;|&quot;)or(&#34;|&quot;) was searched for as a word", lower)
    quoted = (await client.get("/search", params={"q": '"industrial internet" | 國防科工局'})).text
    assert sorted(results_of(quoted)) == ["hostile", "miit"]
    api = (await client.get("/api/search", params={"q": "船舶 OR alert"})).json()
    assert sorted(r["capture"]["target"] for r in api["results"]) == ["hostile", "miit"]


async def test_search_filters_by_target_kind_and_days(client) -> None:
    q = "国防科工局"
    assert sorted(results_of((await client.get("/search", params={"q": q})).text)) == [
        "hostile",
        "miit",
    ]
    one = (await client.get("/search", params={"q": q, "target": "hostile"})).text
    assert results_of(one) == ["hostile"] and "narrowed by the filters" in one
    pages = (await client.get("/search", params={"q": q, "kind": "pages"})).text
    assert len(results_of(pages)) == 2
    documents = (await client.get("/search", params={"q": q, "kind": "documents"})).text
    assert results_of(documents) == [] and "with these filters" in documents
    future = (await client.get("/search", params={"q": q, "since": "2999-01-01"})).text
    assert results_of(future) == []
    past = (await client.get("/search", params={"q": q, "until": "2000-01-01"})).text
    assert results_of(past) == []
    wide = {"q": q, "since": "2000-01-01", "until": "2999-12-31"}
    assert len(results_of((await client.get("/search", params=wide)).text)) == 2


async def test_hits_show_each_hit_in_its_context(client) -> None:
    html = (await client.get("/hits", params={"group": "shipbuilding"})).text
    snippets = re.findall(r'<td class="hit-snippet">(.*?)</td>', html)
    assert snippets and all("<mark>" in s for s in snippets), snippets
    assert any("加快<mark>船舶</mark>工业高质量" in s for s in snippets)


async def test_feeds_are_valid_atom(client) -> None:
    for path in ("/feed.atom", "/t/miit/feed.atom", "/hits/shipbuilding/feed.atom"):
        response = await client.get(path)
        assert response.headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(response.content)
        assert not feed.bozo, (path, feed.get("bozo_exception"))
        assert feed.version == "atom10"
        assert feed.entries, path
    entries = feedparser.parse((await client.get("/hits/shipbuilding/feed.atom")).content).entries
    assert entries[0].title.startswith("MIIT 通知公告 changed") and "船舶" in entries[0].title
    assert entries[0].link.startswith("http://watcher.example/t/miit/diff?from=")


async def test_json_api(client) -> None:
    targets = (await client.get("/api/targets")).json()
    by_name = {t["name"]: t for t in targets}
    assert by_name["miit"]["captures"] == 2 and by_name["broken"]["status"] == "error"
    # paged: the same targets in the same order, the next page linked, the total said
    first = await client.get("/api/targets", params={"page": 1, "per_page": 2})
    assert first.json() == targets[:2] and first.headers["x-total-count"] == "3"
    assert first.headers["link"] == '<http://127.0.0.1/api/targets?page=2&per_page=2>; rel="next"'
    last = await client.get("/api/targets", params={"page": 2, "per_page": 2})
    assert last.json() == targets[2:] and "link" not in last.headers
    assert (await client.get("/api/targets", params={"page": 0})).status_code == 422
    captures = (await client.get("/api/targets/miit/captures")).json()
    newest = captures["captures"][0]
    assert captures["total"] == 2 and newest["kind"] == "changed"
    one = (await client.get(f"/api/captures/{newest['id']}")).json()
    assert "船舶工业高质量" in one["text"] and any(h["term"] == "船舶" for h in one["hits"])
    diff = (await client.get("/api/targets/miit/diff")).json()
    assert diff["to"] == newest["id"] and diff["added"] > 0
    hits = (await client.get("/api/hits", params={"group": "sastind"})).json()
    assert hits and all(h["group"] == "sastind" for h in hits)
    found = (await client.get("/api/search", params={"q": "船舶"})).json()
    assert found["results"] and "船舶" in found["results"][0]["snippets"][0]
    assert (await client.get("/api/search", params={"q": "“”"})).status_code == 400
    assert (await client.get("/api/captures/NOPE0000")).status_code == 404
    spec = (await client.get("/api/openapi.json")).json()
    assert {"/api/targets", "/api/search", "/api/hits"} <= set(spec["paths"])


async def test_healthz_and_metrics(client, site, tmp_path) -> None:
    assert (await client.get("/healthz")).text == "ok\n"
    metrics = (await client.get("/metrics")).text
    assert 'watcher_checks_total{status="error"} 2' in metrics
    assert "watcher_check_duration_seconds_bucket" in metrics
    assert "watcher_outbox_backlog 0" in metrics
    if on_postgresql():
        return  # a missing data folder is a missing index on SQLite only
    config, _ = site
    broken = create_app(tmp_path / "missing", config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=broken), base_url="http://127.0.0.1"
    ) as c:
        response = await c.get("/healthz")
    assert response.status_code == 503 and "store unreadable" in response.text


async def test_check_now_needs_the_service_and_a_csrf_token(client) -> None:
    html = (await client.get("/t/miit")).text
    assert "Check now" not in html  # `watcher serve` has no checker
    refused = await client.post("/t/miit/check", data={"csrf": "wrong"})
    assert refused.status_code == 403


async def test_check_now_starts_a_check_in_the_service(site) -> None:
    config, data = site
    asked: list[str] = []

    async def check_now(name: str) -> bool:
        asked.append(name)
        return name == "miit"

    app = create_app(data, config, check_now=check_now)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        html = (await c.get("/t/miit")).text
        assert "Check now" in html
        token = csrf_of(html)
        done = await c.post("/t/miit/check", data={"csrf": token})
        assert done.status_code == 303 and done.headers["location"] == "/t/miit?checking=1"
        cross_site = await c.post(
            "/t/miit/check", data={"csrf": token}, headers={"Origin": "http://evil.example"}
        )
        assert cross_site.status_code == 403
    assert asked == ["miit"]


# --------------------------------------------------------------------------- login


async def test_with_a_password_everything_needs_login(locked) -> None:
    page = await locked.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
    api = await locked.get("/api/targets")
    assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Basic")
    assert (await locked.get("/feed.atom")).status_code == 401
    assert (await locked.get("/healthz")).status_code == 200  # for the container's check
    basic = base64.b64encode(b"analyst:s3cret").decode()
    ok = await locked.get("/api/targets", headers={"Authorization": f"Basic {basic}"})
    assert ok.status_code == 200
    bad = base64.b64encode(b"analyst:nope").decode()
    assert (
        await locked.get("/api/targets", headers={"Authorization": f"Basic {bad}"})
    ).status_code == 401


async def test_login_form_sets_a_session_and_logout_ends_it(locked) -> None:
    form = (await locked.get("/login", params={"next": "/t/miit"})).text
    token = csrf_of(form)
    wrong = await locked.post("/login", data={"password": "x", "next": "/t/miit", "csrf": token})
    assert wrong.status_code == 401 and "Wrong password." in wrong.text
    right = await locked.post(
        "/login", data={"password": "s3cret", "next": "/t/miit", "csrf": token}
    )
    assert right.status_code == 303 and right.headers["location"] == "/t/miit"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert (await locked.get("/t/miit")).status_code == 200
    stale = await locked.post("/login", data={"password": "s3cret", "next": "/", "csrf": token})
    assert stale.status_code == 403  # the token was bound to the session before login
    token = csrf_of((await locked.get("/login")).text)
    evil = await locked.post(
        "/login", data={"password": "s3cret", "next": "//evil.example/", "csrf": token}
    )
    assert evil.headers["location"] == "/"
    page = (await locked.get("/")).text
    out = await locked.post("/logout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    locked.cookies.clear()
    assert (await locked.get("/api/targets")).status_code == 401


async def test_login_without_csrf_is_refused(locked) -> None:
    response = await locked.post("/login", data={"password": "s3cret", "next": "/"})
    assert response.status_code == 403


# --------------------------------------------------------------------------- search terms


def test_index_terms_are_bigrams_words_and_simplified() -> None:
    terms = set(index_terms("國防科工局 SASTIND ２０２５年 船").split())
    assert {"国防", "防科", "科工", "工局", "sastind", "2025", "年船"} <= terms  # a space joins
    assert "船" in index_terms("２０２５ 船").split()  # a lone Hanzi is itself
    query = parse_query('船舶 "industrial internet"')
    assert query.terms == ("船舶", "industrial internet")
    assert set(query.tokens) == {"船舶", "industrial", "internet"}
    with pytest.raises(QueryError):
        parse_query("   ")


# --------------------------------------------------------------------------- in the service


async def test_watcher_run_serves_the_ui_and_check_now_checks(tmp_path: Path) -> None:
    """The UI in the service's own event loop, on a real port; "check now" runs a check;
    new texts become searchable once no check runs."""
    import asyncio
    import socket

    from watcher.service.daemon import Service, ServiceTimings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with HTTPServer() as server:
        server.route("/notice", body=GBK_PAGE.encode("gbk"), headers={"Content-Type": "text/html"})
        config = tmp_path / "targets.yaml"
        config.write_text(
            f"settings: {{host_delay: 0}}\ntargets:\n  - name: miit\n"
            f"    url: {server.url('/notice')}\n    interval: 1h\n",
            encoding="utf-8",
        )
        # checked now (the CLI runs its own event loop: on a thread), next check in 1 h
        assert "1 new" in await asyncio.to_thread(check, config, tmp_path / "data")
        service = Service(
            config,
            tmp_path / "data",
            tmp_path / "notifiers",
            web=("127.0.0.1", port),
            timings=ServiceTimings(index_every=0.2),
        )
        task = asyncio.create_task(service.run())
        try:

            def serving() -> bool:
                if task.done():
                    return True  # failed to start: its error is raised below
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    return False
                return True

            await eventually(serving, "the UI to listen")
            assert not task.done()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
                page = await c.get("/t/miit")
                assert page.status_code == 200 and "Check now" in page.text
                before = server.hits("/notice")
                done = await c.post("/t/miit/check", data={"csrf": csrf_of(page.text)})
                assert done.status_code == 303
                await eventually(lambda: service.checks_done == 1, "the check")
                assert server.hits("/notice") == before + 1
                # and, with no check running, the service adds the texts to the search index
                await eventually(lambda: not service.store.unindexed_texts(), "the index")
                found = (await c.get("/search", params={"q": "船只"})).text
                assert "<mark>船只</mark>工业" in found
        finally:
            service.stop()
            await asyncio.wait_for(task, PATIENCE)


async def test_reindex_fills_the_search_index_of_an_older_store(tmp_path: Path) -> None:
    import asyncio

    with HTTPServer() as server:
        server.route("/notice", body=GBK_PAGE.encode("gbk"), headers={"Content-Type": "text/html"})
        config = tmp_path / "targets.yaml"
        config.write_text(
            f"settings: {{host_delay: 0}}\ntargets:\n  - name: miit\n"
            f"    url: {server.url('/notice')}\n",
            encoding="utf-8",
        )
        data = tmp_path / "data"
        # the CLI runs its own event loop: from this async test, on a thread
        await asyncio.to_thread(check, config, data)
    engine = index_engine(data)  # made as a store from before the search index
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("INSERT INTO search(search) VALUES ('delete-all')")
        else:
            conn.exec_driver_sql("DELETE FROM search")
        conn.exec_driver_sql("DELETE FROM search_texts")
    engine.dispose()
    app = create_app(data, config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        before = (await c.get("/search", params={"q": "船只"})).text
        # not "Nothing found" while the text waits: it may well be found in a moment
        assert "Nothing found" not in before
        assert "1 captured text is still being indexed" in before and "1 more is waiting" in before
        result = await asyncio.to_thread(
            CliRunner().invoke, main, ["--config", str(config), "--data", str(data), "reindex"]
        )
        assert result.exit_code == 0 and "indexed 1 of 1 texts" in result.output
        assert "<mark>船只</mark>工业" in (await c.get("/search", params={"q": "船只"})).text
    again = CliRunner().invoke(main, ["--config", str(config), "--data", str(data), "reindex"])
    assert "the search index is complete" in again.output


def test_a_moved_paragraph_is_marked_where_it_went_and_where_it_came_from(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    from test_keywords import NOTICE, swap_paragraphs

    notice = NOTICE.read_bytes().decode("gbk")
    config = tmp_path / "targets.yaml"
    config.write_text(
        "settings: {host_delay: 0}\nkeywords:\n  shipbuilding: [船舶]\ntargets:\n"
        f"  - name: notice\n    url: {http_server.url('/n')}\n    select: '#article'\n",
        "utf-8",
    )
    data = tmp_path / "snapshots"
    for page in (notice, swap_paragraphs(notice, "一、验收范围", "三、请各单位")):
        http_server.route("/n", body=page.encode("gbk"), headers={"Content-Type": "text/html"})
        check(config, data)

    async def pages() -> list[str]:
        async with app_client((config, data)) as client:
            views = ("inline", "side")
            return [(await client.get("/t/notice/diff", params={"view": v})).text for v in views]

    for html in asyncio.run(pages()):
        assert 'href="#move-1-in">↷ moved to line' in html
        assert 'href="#move-1-out">↶ moved from line' in html
        assert "<ins>" not in html and "<del>" not in html
        assert '<mark class="hit"' not in html  # 船舶 moved: it was not added
        assert "+0</span> <span" in html and "64 moved</span>" in html
