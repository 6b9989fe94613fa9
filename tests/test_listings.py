"""Listing pages end to end on a local site shaped like a ministry's: a GBK listing
with two pages, notices in GBK and UTF-8, deletions, soft 404s, redirects home,
outages, delistings, the cap, and JSON listings (MIIT's unit, gov.cn's search)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from govpages import gov_policy_page
from httpserver import HTTPServer

from watcher.cli.main import main
from watcher.store.documents import Documents
from watcher.store.index import Store

GBK = {"Content-Type": "text/html; charset=gb2312"}
UTF8 = {"Content-Type": "text/html; charset=utf-8"}


def listing_html(items: list[tuple[str, str, str]], next_href: str | None = None) -> bytes:
    rows = "".join(
        f'<li><a href="{href}" title="{title}">{title[:8]}…</a>'
        f'<span class="date">{date}</span></li>'
        for href, title, date in items
    )
    more = f'<a class="next" href="{next_href}">下一页</a>' if next_href else ""
    return (
        f'<html><head><meta charset="gb2312"><title>通知公告</title></head><body>'
        f'<div class="nav"><a href="/">首页</a></div>'
        f'<ul class="list">{rows}</ul>{more}</body></html>'
    ).encode("gbk")


def notice(title: str, body: str, charset: str = "utf-8") -> bytes:
    html = (
        f'<html><head><meta charset="{charset}"><title>{title}</title></head><body>'
        f'<div class="nav">首页 | 通知</div><div id="con_con"><h1>{title}</h1><p>{body}</p></div>'
        f"</body></html>"
    )
    return html.encode("gbk" if charset in ("gbk", "gb2312") else "utf-8")


ITEMS = [
    ("/art/3.html", "关于开展2026年工业互联网试点工作的通知", "2026-11-20"),
    ("/art/2.html", "关于印发船舶工业标准化工作要点的通知", "2026-11-10"),
    ("/art/1.html", "关于公布第一批示范项目名单的通知", "2026-11-01"),
]
PAGE2 = [("/art/0.html", "关于征求意见的通知", "2026-10-20")]


class Site:
    def __init__(self, server: HTTPServer, folder: Path) -> None:
        self.server = server
        self.folder = folder
        self.items = list(ITEMS)
        self.publish()
        server.route("/list_2.html", body=listing_html(PAGE2), headers=GBK)
        server.route("/", body=notice("工业和信息化部", "首页"), headers=UTF8)
        for href, title, _ in [*ITEMS, *PAGE2]:
            server.route(href, body=notice(title, f"{title}。正文。", "gbk"), headers=GBK)
        server.route("/hook", body=b"ok")

    def publish(self) -> None:
        self.server.route("/list.html", body=listing_html(self.items, "/list_2.html"), headers=GBK)

    def write_config(self, **follow: object) -> Path:
        options = {
            "links": "ul.list li a",
            "select": "#con_con",
            "pages": 2,
            "next": "a.next",
            "removal_checks": 2,
            "removal_after": "0s",
            **follow,
        }
        lines = "".join(
            f"      {k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in options.items()
        )
        config = self.folder / "targets.yaml"
        config.write_text(
            'settings: {host_delay: 0, base_url: "http://ui.example"}\n'
            "keywords:\n  shipbuilding: [船舶, 造船]\n"
            "targets:\n"
            "  - name: miit-notices\n"
            "    title: MIIT 通知公告\n"
            f"    url: {self.server.url('/list.html')}\n"
            "    retries: 0\n"
            "    alert: hits\n"
            "    notify: [analysts]\n"
            f"    follow:\n{lines}",
            encoding="utf-8",
        )
        notifiers = self.folder / "notifiers"
        notifiers.mkdir(exist_ok=True)
        port = self.server.url("/").rstrip("/").rsplit(":", 1)[1]
        (notifiers / "apprise.yml").write_text(
            f"urls:\n  - json://127.0.0.1:{port}/hook:\n      tag: analysts\n"
        )
        return config

    def check(self) -> dict:
        config = self.folder / "targets.yaml"
        data = self.folder / "snapshots"
        result = CliRunner().invoke(
            main, ["--config", str(config), "--data", str(data), "check", "--json"]
        )
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        self.stderr = result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        (line,) = [x for x in lines if x["target"] == "miit-notices"]
        return line

    def alerts(self) -> list[dict]:
        return [json.loads(r.body) for r in self.server.requests("/hook")]

    def documents(self) -> dict[str, object]:
        import sqlalchemy as sa

        from watcher.store.schema import targets

        with Store(self.folder / "snapshots", readonly=True) as store:
            docs = Documents(store.engine)
            with store.engine.connect() as conn:
                listing_id = conn.execute(
                    sa.select(targets.c.id).where(targets.c.name == "miit-notices")
                ).scalar_one()
            rows = docs.of_listing(listing_id)
        return {self.path(url): row for url, row in rows.items()}

    def path(self, url: str) -> str:
        return "/" + url.split("/", 3)[3]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with HTTPServer() as server:
        yield Site(server, tmp_path)


def test_first_check_is_a_baseline_of_both_pages_archived_without_alerts(site: Site) -> None:
    """Baseline means no alerts for what was already there, not no evidence: the
    items are fetched and archived, quietly."""
    site.write_config()
    line = site.check()
    assert line["status"] == "new" and line["documents"] == []
    docs = site.documents()
    assert set(docs) == {"/art/3.html", "/art/2.html", "/art/1.html", "/art/0.html"}
    assert {d.state for d in docs.values()} == {"active"}
    assert all(d.last_good_capture_id for d in docs.values())  # the evidence
    assert docs["/art/2.html"].title == "关于印发船舶工业标准化工作要点的通知"  # from a[title]
    assert docs["/art/2.html"].listed_date == "2026-11-10"
    assert site.server.hits("/art/3.html") == 1
    assert [(f["state"], f["reason"]) for f in line["document_fates"]] == [
        ("captured", "baseline")
    ] * 4
    assert site.alerts() == []


def test_a_long_baseline_is_archived_a_few_per_check(site: Site) -> None:
    from watcher.listings.follow import ARCHIVE_PER_CHECK

    many = [(f"/art/b{n}.html", f"关于第{n}批船舶项目的通知", "2026-11-01") for n in range(15)]
    for href, title, _ in many:
        site.server.route(href, body=notice(title, "船舶。正文。"), headers=UTF8)
    site.items = many
    site.publish()
    site.write_config(pages=1, next=None)
    site.check()
    states = [d.state for d in site.documents().values()]
    assert states.count("active") == ARCHIVE_PER_CHECK and states.count("baseline") == 5
    line = site.check()
    assert {d.state for d in site.documents().values()} == {"active"}
    assert line["documents"] == [] and site.alerts() == []  # archived, never alerted


def test_a_new_notice_with_hits_is_fetched_and_alerted(site: Site) -> None:
    site.write_config()
    site.check()
    new = ("/art/4.html", "关于推动船舶工业高质量发展的通知", "2026-11-25")
    site.server.route(
        new[0], body=notice(new[1], "推动船舶工业高质量发展。国防科工局。"), headers=UTF8
    )
    site.items.insert(0, new)
    site.publish()
    line = site.check()
    (doc,) = line["documents"]
    assert doc["url"].endswith("/art/4.html") and doc["status"] == "new"
    assert any(h["term"] == "船舶" for h in doc["hits"])
    (alert,) = site.alerts()
    assert alert["title"] == "New notice: 关于推动船舶工业高质量发展的通知 — 船舶 ×2"
    assert "New notice in MIIT 通知公告, dated 2026-11-25" in alert["message"]
    assert site.documents()["/art/4.html"].state == "active"
    # a new notice without hits is stored but, with `alert: hits`, not alerted
    quiet = ("/art/5.html", "关于公布名单的通知", "2026-11-26")
    site.server.route(quiet[0], body=notice(quiet[1], "名单如下。"), headers=UTF8)
    site.items.insert(0, quiet)
    site.publish()
    line = site.check()
    assert [d["url"].rsplit("/", 1)[1] for d in line["documents"]] == ["5.html"]
    assert len(site.alerts()) == 1


def test_the_cap_defers_the_rest_to_the_next_checks(site: Site) -> None:
    site.write_config(max_new=2)
    site.check()
    for n in range(10, 15):
        href = f"/art/{n}.html"
        site.server.route(href, body=notice(f"通知{n}", "船舶"), headers=UTF8)
        site.items.insert(0, (href, f"通知{n}号关于造船", "2026-11-27"))
    site.publish()
    line = site.check()
    assert len(line["documents"]) == 2 and line["deferred"] == 3
    line = site.check()
    assert len(line["documents"]) == 2 and line["deferred"] == 1
    line = site.check()
    assert len(line["documents"]) == 1 and line["deferred"] == 0


def test_deletion_is_confirmed_only_after_it_persists(site: Site) -> None:
    site.write_config(baseline=False, removal_checks=3, recheck="0s")
    site.check()  # no baseline: every item is fetched as a document
    assert site.server.hits("/art/2.html") == 1
    site.server.route("/art/2.html", status=404, body=b"not found")
    line = site.check()
    assert site.documents()["/art/2.html"].state == "suspected"
    (suspect,) = line["suspected_documents"]
    assert suspect["url"] == site.server.url("/art/2.html") and suspect["failed_checks"] == 1
    assert suspect["title"] == "关于印发船舶工业标准化工作要点的通知"
    assert line["removed_documents"] == [] and line["restored_documents"] == []
    site.check()
    assert site.documents()["/art/2.html"].state == "suspected"
    line = site.check()
    assert line["removed_documents"] == [site.server.url("/art/2.html")]
    doc = site.documents()["/art/2.html"]
    assert doc.state == "removed" and doc.last_good_capture_id
    removed = [a for a in site.alerts() if a["title"].startswith("Removed:")]
    assert len(removed) == 1 and "关于印发船舶工业标准化工作要点的通知" in removed[0]["title"]
    evidence = (
        f"The last good capture (the evidence): http://ui.example/c/{doc.last_good_capture_id}"
    )
    assert evidence in removed[0]["message"]
    site.check()  # still gone: told once
    assert len([a for a in site.alerts() if a["title"].startswith("Removed:")]) == 1
    site.server.route("/art/2.html", body=notice("关于印发", "回来了"), headers=GBK)
    line = site.check()
    assert site.documents()["/art/2.html"].state == "active"
    assert [d["url"] for d in line["restored_documents"]] == [site.server.url("/art/2.html")]
    assert line["restored_documents"][0]["evidence_id"] == doc.last_good_capture_id
    assert [a["title"] for a in site.alerts() if a["title"].startswith("Back again:")]


def test_soft_404_and_redirect_home_are_removals_outages_are_not(site: Site) -> None:
    site.write_config(baseline=False, recheck="0s")
    site.check()
    soft = (
        "<html><head><title>提示</title></head>"
        "<body>对不起，您访问的页面不存在或已被删除。</body></html>"
    )
    site.server.route("/art/1.html", body=soft.encode(), headers=UTF8)
    site.server.redirect("/art/3.html", "/")
    site.server.route("/art/2.html", status=500, body=b"busy")
    site.server.route("/art/0.html", status=521, body=b"<script>document.cookie='x'</script>")
    site.check()
    docs = site.documents()
    assert docs["/art/1.html"].state == "suspected"
    assert docs["/art/3.html"].state == "suspected"
    assert docs["/art/2.html"].state == "active"  # 500: an outage, not a removal
    assert docs["/art/0.html"].state == "active"  # a challenge page: blocked, not removed
    site.check()
    docs = site.documents()
    assert docs["/art/1.html"].state == "removed" and docs["/art/3.html"].state == "removed"
    assert docs["/art/2.html"].state == "active" and docs["/art/0.html"].state == "active"


def test_an_item_taken_out_of_the_listing_is_delisted(site: Site) -> None:
    site.write_config()
    site.check()
    site.items = [ITEMS[0], ITEMS[2]]  # the middle one goes; the one below it stays
    site.publish()
    line = site.check()
    assert [d["url"] for d in line["delisted_documents"]] == [site.server.url("/art/2.html")]
    docs = site.documents()
    assert docs["/art/2.html"].delisted_at is not None
    assert docs["/art/1.html"].delisted_at is None
    delisted = [a for a in site.alerts() if a["title"].startswith("No longer listed:")]
    assert len(delisted) == 1 and "船舶工业标准化" in delisted[0]["title"]


def test_an_item_that_scrolls_off_the_end_is_not_delisted(site: Site) -> None:
    site.write_config(pages=1, next=None)
    site.check()
    site.items = [("/art/9.html", "最新通知", "2026-11-28"), ITEMS[0], ITEMS[1]]
    site.server.route("/art/9.html", body=notice("最新通知", "内容"), headers=UTF8)
    site.publish()
    site.check()
    assert site.documents()["/art/1.html"].delisted_at is None


def test_json_listings_miit_unit_and_gov_cn_search(site: Site, tmp_path: Path) -> None:
    unit = {
        "success": True,
        "data": {
            "html": '<div class="page-content"><ul><li class="cf"><a class="fl" href="/art/3.html"'
            ' title="关于开展2026年工业互联网试点工作的通知">关于开展…</a>'
            '<span class="fr">2026-11-20</span></li></ul></div>'
        },
    }
    site.server.route(
        "/unit",
        body=json.dumps(unit, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    search = {
        "code": 200,
        "searchVO": {
            "listVO": [
                {
                    "title": "关于<em>船舶</em>工业的通知",
                    "url": site.server.url("/art/2.html"),
                    "pubtimeStr": "2026.11.10",
                    "pcode": "工信部装〔2026〕12号",
                },
            ]
        },
    }
    site.server.route(
        "/search",
        body=json.dumps(search, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    from watcher.config import Follow
    from watcher.listings.items import items_of

    miit = items_of(
        json.dumps(unit),
        "application/json",
        site.server.url("/unit"),
        Follow(html="data.html", links="li.cf a.fl"),
    )
    assert [(i.url.rsplit("/", 1)[1], i.title, i.date) for i in miit] == [
        ("3.html", "关于开展2026年工业互联网试点工作的通知", "2026-11-20")
    ]
    gov = items_of(
        json.dumps(search),
        "application/json",
        site.server.url("/search"),
        Follow(items="searchVO.listVO", title="title", url="url", date="pubtimeStr"),
    )
    assert [(i.title, i.date) for i in gov] == [("关于船舶工业的通知", "2026-11-10")]
    # and through a real check of a JSON listing target
    config = site.write_config()
    config.write_text(
        config.read_text(encoding="utf-8")
        .replace(site.server.url("/list.html"), site.server.url("/search"))
        .replace('      links: "ul.list li a"\n', '      items: "searchVO.listVO"\n')
        .replace("      pages: 2\n", "")
        .replace('      next: "a.next"\n', "")
        + "      date: pubtimeStr\n      baseline: false\n",
        encoding="utf-8",
    )
    line = site.check()
    assert [d["title"] for d in line["documents"]] == ["关于印发船舶工业标准化工作要点的通知"]


def gov_notice(modified: str) -> bytes:
    return (
        '<html><head><meta charset="utf-8"><title>关于推动船舶工业发展的通知</title>'
        f'<meta name="lastmodifiedtime" content="{modified}"></head><body><div id="con_con">'
        '<table class="bd1"><tr><td>发文机关：</td><td>工业和信息化部</td>'
        "<td>发文字号：</td><td>工信部装〔2026〕12号</td></tr>"
        "<tr><td>成文日期：</td><td>2026年11月20日</td></tr></table>"
        "<p>推动船舶工业高质量发展。</p></div></body></html>"
    ).encode()


def test_notice_metadata_is_kept_and_a_new_lastmodifiedtime_is_a_change(site: Site) -> None:
    site.write_config(recheck="0s")
    site.check()
    new = ("/art/7.html", "关于推动船舶工业发展的通知", "2026-11-21")
    site.server.route(new[0], body=gov_notice("2026-11-21-09:00:00"), headers=UTF8)
    site.items.insert(0, new)
    site.publish()
    site.check()
    (alert,) = [a for a in site.alerts() if a["title"].startswith("New notice:")]
    assert "发文字号：工信部装〔2026〕12号" in alert["message"]
    assert "发文机关：工业和信息化部" in alert["message"]
    assert "成文日期：2026-11-20" in alert["message"]
    site.server.route(new[0], body=gov_notice("2026-11-22-10:30:00"), headers=UTF8)
    site.check()
    name = site.documents()["/art/7.html"].name
    with Store(site.folder / "snapshots", readonly=True) as store:
        kinds = [c.kind for c in store.history(name)]
        metadata = store.history(name)[0].metadata
    assert kinds == ["changed", "new"]  # same text, new lastmodifiedtime: a change
    assert metadata["document_number"] == "工信部装〔2026〕12号"
    import httpx

    from watcher.web.app import create_app

    async def capture_page() -> str:
        app = create_app(site.folder / "snapshots", site.folder / "targets.yaml")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            with Store(site.folder / "snapshots", readonly=True) as store:
                newest = store.history(name)[0].id
            return (await c.get(f"/c/{newest}")).text

    import asyncio

    page = asyncio.run(capture_page())
    assert "<dt>发文字号</dt><dd>工信部装〔2026〕12号</dd>" in page


async def test_the_ui_shows_documents_under_their_listing_with_new_and_removed_marks(
    site: Site,
) -> None:
    import asyncio

    import feedparser
    import httpx

    from watcher.web.app import create_app

    site.write_config(baseline=False, recheck="0s", removal_checks=1)
    await asyncio.to_thread(site.check)
    site.server.route("/art/1.html", status=410, body=b"gone")
    await asyncio.to_thread(site.check)
    app = create_app(site.folder / "snapshots", site.folder / "targets.yaml")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        dashboard = (await c.get("/")).text
        assert "MIIT 通知公告" in dashboard and "关于印发船舶" not in dashboard  # not a row
        listing = (await c.get("/t/miit-notices")).text
        assert "Documents <span" in listing
        row = re.search(r'<tr class="d-removed"[^>]*>.*?</tr>', listing, re.S)
        assert row and "关于公布第一批示范项目名单的通知" in row.group(0)
        assert '<span class="mark removed">removed</span>' in row.group(0)
        assert 'class="mark new"' not in listing  # the last check found nothing new
        name = site.documents()["/art/2.html"].name
        page = (await c.get(f"/t/{name}")).text
        assert "关于印发船舶工业标准化工作要点的通知" in page and "/t/miit-notices" in page
        feed = feedparser.parse((await c.get("/t/miit-notices/feed.atom")).content)
        assert any("new notice" in e.title for e in feed.entries)
        api = {
            d["url"].rsplit("/", 1)[1]: d
            for d in (await c.get("/api/targets/miit-notices/documents")).json()
        }
        assert api["1.html"]["state"] == "removed" and api["2.html"]["state"] == "active"


def chinese_pdf(text: str) -> bytes:
    import io

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.setFont("STSong-Light", 14)
    page.drawString(72, 760, text)
    page.save()
    return out.getvalue()


def test_an_attachment_is_stored_read_and_scanned_for_keywords(site: Site) -> None:
    site.write_config()
    site.check()
    notice_html = (
        '<html><head><meta charset="utf-8"><title>关于发布名单的通知</title></head><body>'
        '<div id="con_con"><p>名单见附件。</p><a href="/files/list.pdf">附件：名单.pdf</a>'
        '<a href="/files/form.doc">附件2：申报表.doc</a></div></body></html>'
    )
    site.server.route("/art/8.html", body=notice_html.encode(), headers=UTF8)
    site.server.route(
        "/files/list.pdf",
        body=chinese_pdf("入选企业：某某船舶重工集团有限公司"),
        headers={"Content-Type": "application/pdf"},
    )
    site.server.route(
        "/files/form.doc",
        body=b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
        headers={"Content-Type": "application/msword"},
    )
    site.items.insert(0, ("/art/8.html", "关于发布名单的通知", "2026-11-27"))
    site.publish()
    line = site.check()
    urls = sorted(d["url"].rsplit("/", 1)[1] for d in line["documents"])
    assert urls == ["8.html", "form.doc", "list.pdf"]
    docs = site.documents()
    assert docs["/files/list.pdf"].kind == "attachment"
    assert docs["/files/list.pdf"].title == "附件：名单.pdf"
    titles = [a["title"] for a in site.alerts()]
    assert titles == ["New attachment: 附件：名单.pdf (关于发布名单的通知) — 船舶"]
    with Store(site.folder / "snapshots", readonly=True) as store:
        pdf = store.history(docs["/files/list.pdf"].name)[0]
        doc = store.history(docs["/files/form.doc"].name)[0]
        assert "入选企业：某某船舶重工集团有限公司" in store.text(pdf)
        assert "kept as evidence" in store.text(doc)
        assert store.raw(doc).startswith(b"\xd0\xcf\x11\xe0")


def test_an_edited_notice_is_rechecked_diffed_and_alerted(site: Site) -> None:
    site.write_config(baseline=False, recheck="0s")
    site.check()
    edited = notice("关于公布第一批示范项目名单的通知", "名单已更新：增加某船舶企业。", "gbk")
    site.server.route("/art/1.html", body=edited, headers=GBK)
    line = site.check()
    (doc,) = line["changed_documents"]
    assert doc["url"] == site.server.url("/art/1.html") and doc["status"] == "changed"
    assert [h["term"] for h in doc["hits"]] == ["船舶"] and line["documents"] == []
    changed = [a for a in site.alerts() if " changed — " in a["title"]]
    assert [a["title"] for a in changed] == ["关于公布第一批示范项目名单的通知 changed — 船舶"]
    assert "{+" in changed[0]["message"] and "船舶" in changed[0]["message"]
    name = site.documents()["/art/1.html"].name
    with Store(site.folder / "snapshots", readonly=True) as store:
        assert [c.kind for c in store.history(name)] == ["changed", "new"]


def test_the_test_command_shows_the_items_and_the_first_notice(site: Site) -> None:
    """`watcher test` on a listing: the items it would follow (both listing pages),
    and the text of the first, read as a check reads it; nothing is stored."""
    config = site.write_config()
    data = site.folder / "snapshots"
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "test", "miit-notices", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [site.path(i["url"]) for i in payload["items"]] == [
        href for href, _, _ in [*ITEMS, *PAGE2]
    ]
    assert payload["items"][1]["title"] == "关于印发船舶工业标准化工作要点的通知"
    first = payload["first_item"]
    assert first["text"] == f"{ITEMS[0][1]}\n{ITEMS[0][1]}。正文。"  # h1, then p
    assert first["encoding"] == "gb18030"
    assert not data.exists()
    human = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "test", "miit-notices"]
    )
    assert f"{len(ITEMS) + len(PAGE2)} items the listing would follow" in human.stdout
    assert "first item: " + ITEMS[0][1] in human.stdout


def test_a_json_listings_own_fields_are_kept_and_the_page_wins_visibly(site: Site) -> None:
    """gov.cn's policy search gives pcode, puborg and pubtime per item: they are kept
    with the document, fill in what its page lacks, and stay beside what it says."""
    policy, plain = "/zhengce/content_1.htm", "/zhengce/content_2.htm"
    site.server.route(policy, body=gov_policy_page(), headers=UTF8)
    site.server.route(plain, body=notice("关于船舶工业的通知", "正文。"), headers=UTF8)
    listed = [
        {
            "title": "工业和信息化部关于<em>船舶</em>工业的通知",
            "url": site.server.url(policy),
            "pcode": "工信部联规[2022]12号",  # the same number, written another way
            "puborg": "工业和信息化部办公厅",  # not what the page says
            "pubtime": 1646731805000,  # 2022-03-08 17:30:05 in Beijing
            "pubtimeStr": "2022.03.08",
            "summary": "推动船舶工业高质量发展",
            "childtype": "工业、交通",
        },
        {
            "title": "关于船舶工业的通知",
            "url": site.server.url(plain),
            "pcode": "工信厅科函〔2026〕３号",
            "puborg": "工业和信息化部",
            "pubtimeStr": "2026.11.10",
        },
    ]
    search = {"code": 200, "searchVO": {"listVO": listed}}
    site.server.route(
        "/search",
        body=json.dumps(search, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    config = site.write_config()
    config.write_text(
        config.read_text(encoding="utf-8")
        .replace(site.server.url("/list.html"), site.server.url("/search"))
        .replace('      links: "ul.list li a"\n', '      items: "searchVO.listVO"\n')
        .replace('      select: "#con_con"\n', "")
        .replace("      pages: 2\n", "")
        .replace('      next: "a.next"\n', "")
        + "      date: pubtimeStr\n      baseline: false\n      attachments: false\n",
        encoding="utf-8",
    )
    line = site.check()
    told = {site.path(d["url"]): d["metadata"] for d in line["documents"]}
    assert told[policy]["document_number"] == "工信部联规〔2022〕12号"
    assert told[plain]["issuer"] == "工业和信息化部"  # check --json tells what was stored
    docs = site.documents()
    assert docs[policy].listed_fields == listed[0]  # the item as the listing gave it
    assert docs[plain].listed_fields == listed[1]
    with Store(site.folder / "snapshots", readonly=True) as store:
        own = store.history(docs[policy].name)[0].metadata
        filled = store.history(docs[plain].name)[0].metadata
    assert own["document_number"] == "工信部联规〔2022〕12号"
    assert own["document_number_raw"] == "工信部联规〔2022〕12号"  # the page's own writing
    assert own["listing_document_number_raw"] == "工信部联规[2022]12号"
    assert own["issuer"] == "工业和信息化部"  # the page wins …
    assert own["listing_issuer"] == "工业和信息化部办公厅"  # … and the listing stays visible
    assert own["published_date"] == "2022-03-08"
    assert own["listing_published_date"] == "2022-03-08T17:30:05"
    assert filled == {  # the page says nothing: what the listing said is the document's
        "document_number": "工信厅科函〔2026〕3号",
        "document_number_raw": "工信厅科函〔2026〕３号",
        "issuer": "工业和信息化部",
        "published_date": "2026-11-10",
        "listing_document_number": "工信厅科函〔2026〕3号",
        "listing_document_number_raw": "工信厅科函〔2026〕３号",
        "listing_issuer": "工业和信息化部",
        "listing_published_date": "2026-11-10",
    }
    # the listing changes a field: the document keeps the newest, the capture its own
    listed[1]["puborg"] = "工业和信息化部科技司"
    site.server.route(
        "/search",
        body=json.dumps(search, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    site.check()
    assert site.documents()[plain].listed_fields["puborg"] == "工业和信息化部科技司"
    import httpx

    from watcher.web.app import create_app

    async def api() -> list[dict]:
        app = create_app(site.folder / "snapshots", site.folder / "targets.yaml")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return (await client.get("/api/targets/miit-notices/documents")).json()

    import asyncio

    by_path = {site.path(d["url"]): d for d in asyncio.run(api())}
    assert by_path[policy]["listed_fields"]["pcode"] == "工信部联规[2022]12号"
    assert by_path[plain]["listed_fields"]["puborg"] == "工业和信息化部科技司"


# --- the document life cycle (README: "A notice's life cycle"), every arrow walked ----------

WZWS_CHALLENGE = (
    b'<html><head><script type="text/javascript">var dynamicurl="/WZWSREL3pod";'
    b'var wzwschallenge="RANDOMSTR";</script></head><body></body></html>'
)
NOTICE_2 = notice(ITEMS[1][1], f"{ITEMS[1][1]}。正文。", "gbk")

# arrow, what the site does before the check, days that pass, URL path, the fate told
# in that check's `document_fates` (state, a fragment of the reason), the stored state
LIFE_CYCLE: list[tuple[str, str, float, str, tuple[str, str], str]] = [
    ("listed → captured (baseline)", "start", 0, "/art/2.html", ("captured", "baseline"), "active"),
    ("listed → captured (new)", "publish 4", 0, "/art/4.html", ("captured", "new"), "active"),
    ("listed → broken", "publish 5 (404)", 0, "/art/5.html", ("broken", "HTTP 404"), "broken"),
    ("broken → captured", "5 works", 0, "/art/5.html", ("captured", "new"), "active"),
    ("captured → blocked", "2 challenge", 0, "/art/2.html", ("blocked", "WZWS"), "blocked"),
    ("blocked → captured", "2 back", 0, "/art/2.html", ("captured", "no challenge"), "active"),
    ("captured → suspected", "2 404", 0, "/art/2.html", ("suspected", "HTTP 404"), "suspected"),
    ("suspected → captured", "2 back", 0, "/art/2.html", ("captured", "again"), "active"),
    ("captured → suspected", "2 410", 0, "/art/2.html", ("suspected", "HTTP 410"), "suspected"),
    ("suspected → removed", "2 410", 1.5, "/art/2.html", ("removed", "HTTP 410"), "removed"),
    ("removed → restored", "2 back", 0, "/art/2.html", ("restored", "again"), "active"),
    # taken out of the listing and deleted: checked at once, both told in that check
    ("captured → delisted", "1 out", 0, "/art/1.html", ("delisted", "no longer"), "suspected"),
]


def act(site: Site, what: str) -> None:
    server = site.server
    if what == "publish 4":
        server.route("/art/4.html", body=notice("关于新通知", "内容。"), headers=UTF8)
        site.items.insert(0, ("/art/4.html", "关于新通知", "2026-11-25"))
    elif what == "publish 5 (404)":  # listed, but the link never worked
        site.items.insert(0, ("/art/5.html", "关于某项目的通知", "2026-11-26"))
    elif what == "5 works":
        server.route("/art/5.html", body=notice("关于某项目的通知", "现已发布。"), headers=UTF8)
    elif what == "2 challenge":
        server.route("/art/2.html", body=WZWS_CHALLENGE, headers=UTF8)
    elif what == "2 back":
        server.route("/art/2.html", body=NOTICE_2, headers=GBK)
    elif what == "2 404":
        server.route("/art/2.html", status=404, body=b"<html>404 Not Found</html>")
    elif what == "2 410":
        server.route("/art/2.html", status=410, body=b"<html>410 Gone</html>")
    elif what == "1 out":  # taken out of the listing (an item below it stays) and deleted
        site.items = [i for i in site.items if i[0] != "/art/1.html"]
        server.route("/art/1.html", status=404, body=b"<html>404 Not Found</html>")
    site.publish()


async def test_every_arrow_of_the_life_cycle(site: Site) -> None:
    from clock import FakeClock

    from watcher.check.pages import Pages
    from watcher.check.run import run_once
    from watcher.config import load_config
    from watcher.fetch.client import Fetcher, FetchSettings
    from watcher.fetch.session import BrowserSession

    config = load_config(site.write_config(recheck="0s", removal_after="1d"))
    clock = FakeClock()
    told: dict[str, list[tuple[str, str | None]]] = {}
    with Store(site.folder / "snapshots") as store:
        async with Fetcher(FetchSettings(host_delay=0), clock=clock) as fetcher:
            pages = Pages(fetcher, BrowserSession())
            for arrow, what, days, path, (state, reason), stored in LIFE_CYCLE:
                act(site, what)
                await clock.advance(days * 86400 + 60)
                async with clock.autojump():
                    (result,) = await run_once(config, store, pages, clock=clock)
                line = json.loads(json.dumps(result.to_json()))
                fates = [
                    (f["state"], f["reason"] or "")
                    for f in line["document_fates"]
                    if site.path(f["url"]) == path
                ]
                told[arrow] = fates
                assert any(s == state and reason in r for s, r in fates), (arrow, fates)
                assert site.documents()[path].state == stored, arrow
    # the state changes, and only they, are told: once each
    assert [s for s, _ in told["captured → delisted"]] == ["delisted", "suspected"]
    assert told["suspected → removed"] == [("removed", "HTTP 410")]
    docs = site.documents()
    assert docs["/art/2.html"].last_good_capture_id  # the evidence was kept throughout
    with Store(site.folder / "snapshots", readonly=True) as store:
        # the challenge was never a version of the notice
        texts = [store.text(c) for c in store.history(docs["/art/2.html"].name)]
        assert texts and not any("wzwschallenge" in t or not t.strip() for t in texts)


def test_a_link_that_never_worked_is_broken_not_removed(site: Site) -> None:
    site.write_config(recheck="0s", removal_checks=1)
    site.check()
    site.items.insert(0, ("/art/6.html", "关于船舶项目的通知", "2026-11-27"))  # answers 404
    site.publish()
    line = site.check()
    assert [(d["state"], d["reason"]) for d in line["broken_documents"]] == [("broken", "HTTP 404")]
    line = site.check()
    assert line["removed_documents"] == [] and line["document_fates"] == []  # told once
    assert site.documents()["/art/6.html"].state == "broken"
    assert not [a for a in site.alerts() if a["title"].startswith("Removed:")]


def test_a_document_the_select_does_not_fit_is_captured_whole_and_told_once(
    site: Site,
) -> None:
    """Listings mix templates: a notice without #con_con (here a real gov.cn page) is
    evidence all the same."""
    page = Path(__file__).parent / "fixtures" / "pages" / "gov.cn"
    body = (page / "gongbao_2007-23_content_711039.html").read_bytes()
    site.write_config(recheck="0s")
    site.check()
    site.server.route("/art/7.html", body=body, headers=UTF8)
    site.items.insert(0, ("/art/7.html", "全国人民代表大会常务委员会关于批准的决议", "2007-06-29"))
    site.publish()
    line = site.check()
    said = [x for x in site.stderr.splitlines() if "matched nothing" in x]
    site.server.route("/art/7.html", body=body.replace(b"</body>", b"<p>x</p></body>"))
    site.check()
    said += [x for x in site.stderr.splitlines() if "matched nothing" in x]
    (doc,) = line["documents"]
    assert doc["status"] == "new" and doc["capture_id"]
    stored = site.documents()["/art/7.html"]
    assert stored.state == "active" and stored.select_missed
    with Store(site.folder / "snapshots", readonly=True) as store:
        assert "特别国债" in store.text(store.history(stored.name)[-1])
    assert len(said) == 1 and "#con_con" in said[0] and "whole page" in said[0]


async def test_the_dashboard_row_and_the_feeds_tell_each_fate(site: Site) -> None:
    import asyncio

    import feedparser
    import httpx

    from watcher.web.app import create_app

    site.write_config(baseline=False, recheck="0s", removal_checks=1)
    await asyncio.to_thread(site.check)
    site.server.route("/art/1.html", status=410, body=b"gone")
    site.server.route("/art/4.html", body=notice("关于新通知", "内容。"), headers=UTF8)
    site.items[:0] = [("/art/4.html", "关于新通知", "2026-11-25"), ("/art/6.html", "坏链接", "")]
    site.publish()
    line = await asyncio.to_thread(site.check)
    assert sorted(f["state"] for f in line["document_fates"]) == ["broken", "captured", "removed"]
    app = create_app(site.folder / "snapshots", site.folder / "targets.yaml")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        dashboard = (await c.get("/")).text
        row = re.search(r'<div class="sub documents">(.*?)</div>', dashboard)
        assert row and sorted(row.group(1).split(", ")) == ["1 broken", "1 new", "1 removed"]
        for path in ("/t/miit-notices/feed.atom", "/feed.atom"):
            feed = feedparser.parse((await c.get(path)).content)
            titles = [e.title for e in feed.entries]
            assert "关于公布第一批示范项目名单的通知 removed (MIIT 通知公告)" in titles
            assert "坏链接 broken link (MIIT 通知公告)" in titles
            removed = next(e for e in feed.entries if e.title.endswith("removed (MIIT 通知公告)"))
            assert "(HTTP 410)" in removed.summary and "/c/" in removed.link  # the evidence
        page = (await c.get("/t/miit-notices")).text
        assert '<span class="mark removed">broken link</span>' in page
        api = {
            site.path(d["url"]): d
            for d in (await c.get("/api/targets/miit-notices/documents")).json()
        }
        assert (api["/art/6.html"]["state"], api["/art/6.html"]["reason"]) == (
            "broken",
            "HTTP 404",
        )
