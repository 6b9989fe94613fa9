"""One document across sites, over real checks of three local sites: a MIIT notice
reposted by SASTIND (one sentence edited) and, three days later by the injected
clock, by the Jiangsu 工信厅; a real gov.cn page reposted without a 文号 (linked by
its text); a later notice citing the first, which a user follows; the document
page, the deadlines page, the API and CSV, and metadata keyword terms."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from clock import FakeClock
from fastapi.testclient import TestClient
from httpserver import HTTPServer
from pgstores import index_engine

from watcher.check.pages import Pages
from watcher.check.run import run_once
from watcher.config import load_config
from watcher.fetch.client import Fetcher, FetchSettings
from watcher.fetch.session import BrowserSession
from watcher.store import works
from watcher.store.index import Store
from watcher.web.app import create_app

FIXTURES = Path(__file__).parent / "fixtures"
GOV_CN = FIXTURES / "pages" / "gov.cn" / "gongbao_2007-23_content_711039.html"
HTML = {"Content-Type": "text/html; charset=utf-8"}

TITLE = "工业和信息化部关于印发《船舶工业高质量发展行动计划》的通知"
BODY = [
    "各省、自治区、直辖市及计划单列市、新疆生产建设兵团工业和信息化主管部门，有关中央企业：",
    "为贯彻落实《国务院关于深化制造业与互联网融合发展的指导意见》（国发〔2016〕28号），"
    "推动船舶工业高质量发展，现将《船舶工业高质量发展行动计划》印发给你们，请结合实际认真贯彻落实。",
    "一、总体要求。坚持创新驱动，加快船舶工业转型升级，提升船舶配套能力，建设造船强国。",
    "二、重点任务。推进绿色智能船舶研发，完善船舶工业标准体系，加强关键核心技术攻关，"
    "培育具有国际竞争力的船舶企业集团。",
    "三、保障措施。各地工业和信息化主管部门要加强组织领导，落实支持政策，做好宣传引导。",
    "请各单位于2025年3月31日前将贯彻落实情况报送工业和信息化部装备工业二司。",
]
EDITED = "三、保障措施。各地国防科技工业管理部门要加强组织领导，落实支持政策，做好宣传引导。"


def notice(title: str, number: str, issuer: str, paragraphs: list[str], site: str) -> bytes:
    """A notice as the ministries' templates show it: an info block, then the text."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}_{site}</title>"
        f"<meta name='ArticleTitle' content='{title}'></head><body>"
        f"<div class='nav'>{site} 首页 &gt; 政策文件</div>"
        f"<div class='info'><span>发文机关：{issuer}</span><span>发文字号：{number}</span>"
        f"<span>发布日期：2025-01-06</span></div>"
        f"<h1>{title}</h1><div id='con'>{body}<p>{issuer}</p><p>2025年1月6日</p></div>"
        f"<div class='foot'>版权所有：{site}</div></body></html>"
    ).encode()


def repost_of_gov_cn() -> bytes:
    """The gov.cn page's text on a city site's own template, no 文号 anywhere."""
    text = (FIXTURES / "pages" / "gov.cn" / f"{GOV_CN.name}.expected.txt").read_text("utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    paragraphs = "".join(f"<p>{line}</p>" for line in lines)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{lines[0]}-九江市人民政府</title></head><body><div id='con'>{paragraphs}"
        "</div><div class='foot'>九江市人民政府办公室主办</div></body></html>"
    ).encode()


class Sites:
    """Three government sites on one local server, checked with a fake clock."""

    def __init__(self, server: HTTPServer, folder: Path) -> None:
        self.server, self.folder = server, folder
        self.clock = FakeClock()
        self.data = folder / "snapshots"
        names = {
            "miit": "/miit/n1.html",
            "sastind": "/sastind/n1.html",
            "jiangsu": "/jsgxt/n1.html",
            "jiangsu-citing": "/jsgxt/n2.html",
            "gov-cn": "/gov/content_711039.htm",
            "jiujiang": "/jiujiang/art_1.html",
        }
        for path in names.values():
            server.route(path, status=404, body=b"<html>not yet</html>")
        rows = "".join(
            f"  - {{name: {name}, url: '{server.url(path)}', "
            f"select: '{'#UCAP-CONTENT' if name == 'gov-cn' else '#con'}', notify: [analysts]}}\n"
            for name, path in names.items()
        )
        server.route("/jj/list.html", status=404, body=b"<html>not yet</html>")
        rows += (
            f"  - {{name: jiujiang-list, url: '{server.url('/jj/list.html')}', "
            "follow: {links: 'ul li a', select: '#con', baseline: false}}\n"
        )
        self.config_path = folder / "targets.yaml"
        self.config_path.write_text(
            'settings: {host_delay: 0, base_url: "http://watcher.example",\n'
            "  deadline_reminders: {notify: [deadlines], before: 340d}}\n"
            "keywords:\n  sastind: ['issuer:国防科工局', 国防科工局]\n"
            "  rules: ['docno:工信部装']\n"
            f"targets:\n{rows}",
            encoding="utf-8",
        )

    def publish(self, path: str, body: bytes) -> None:
        self.server.route(path, body=body, headers=HTML)

    async def check(self, after: timedelta) -> None:
        config = load_config(self.config_path)
        await self.clock.advance(after.total_seconds())
        with Store(self.data) as store:
            async with Fetcher(FetchSettings(host_delay=0), clock=self.clock) as fetcher:
                pages = Pages(fetcher, BrowserSession())
                async with self.clock.autojump():
                    await run_once(config, store, pages, clock=self.clock)

    def rows(self, query: str) -> list[Any]:
        engine = index_engine(self.data)
        try:
            with engine.connect() as conn:
                return list(conn.exec_driver_sql(query))
        finally:
            engine.dispose()

    def client(self) -> TestClient:
        app = create_app(self.data, self.config_path, clock=self.clock)
        return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)

    def document_of(self, target: str) -> int:
        (row,) = self.rows(
            "SELECT work_id FROM work_copies JOIN targets ON targets.id = target_id "
            f"WHERE targets.name = '{target}'"
        )
        return int(row[0])


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """Day 0: MIIT and gov.cn publish, SASTIND reposts 2 hours later with one sentence
    changed; 3 days later Jiangsu reposts and Jiujiang reposts gov.cn's text; a user
    follows the MIIT notice; 5 days later Jiangsu publishes a notice citing it."""
    yield from built(tmp_path_factory)


def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """The three sites checked through the scenario, served while the tests run."""
    import asyncio

    folder = tmp_path_factory.mktemp("documents")
    with HTTPServer() as server:
        made = Sites(server, folder)
        asyncio.run(scenario(made))
        yield made


async def scenario(made: Sites) -> None:
    """The checks, on one event loop (the fake clock's)."""
    made.publish(
        "/miit/n1.html",
        notice(TITLE, "工信部装〔2025〕3号", "工业和信息化部", BODY, "工业和信息化部"),
    )
    made.publish("/gov/content_711039.htm", GOV_CN.read_bytes())
    await made.check(timedelta(minutes=1))
    edited = [EDITED if p.startswith("三、") else p for p in BODY]
    made.publish(
        "/sastind/n1.html",
        notice(TITLE, "工信部装[２０２５]３号", "国防科工局", edited, "国家国防科技工业局"),
    )
    await made.check(timedelta(hours=2))
    made.publish(
        "/jsgxt/n1.html",
        notice(
            "转发" + TITLE, "工信部装（2025）3号", "工业和信息化部", BODY, "江苏省工业和信息化厅"
        ),
    )
    made.publish("/jiujiang/art_1.html", repost_of_gov_cn())
    made.publish(  # the city's notice list, leading to the same repost at another address
        "/jj/list.html",
        b"<html><head><meta charset='utf-8'><title>\xe9\x80\x9a\xe7\x9f\xa5</title></head>"
        b"<body><ul><li><a href='/jj/art_2.html'>x</a></li></ul></body></html>",
    )
    made.publish("/jj/art_2.html", repost_of_gov_cn())
    await made.check(timedelta(days=3))
    miit = made.document_of("miit")
    with made.client() as client:
        page = client.get(f"/d/{miit}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf, page.text
        said = client.post(f"/d/{miit}/follow", data={"csrf": csrf[1], "on": "1"})
        assert said.status_code == 303, said.text
    citing = [
        "各设区市工业和信息化局：",
        f"现将《{TITLE[:-3]}的通知》（工信部装〔2025〕3号）转发给你们，请认真贯彻执行。",
        "请于2025年4月15日前将推进情况报送省工业和信息化厅装备工业处。",
        "征求意见截止时间为2025年2月28日。",
    ]
    made.publish(
        "/jsgxt/n2.html",
        notice(
            "关于做好船舶工业高质量发展工作的通知",
            "苏工信装〔2025〕12号",
            "江苏省工业和信息化厅",
            citing,
            "江苏省工业和信息化厅",
        ),
    )
    await made.check(timedelta(days=5))


def test_three_copies_of_one_notice_are_one_document_whoever_writes_its_number(sites) -> None:
    miit = sites.document_of("miit")
    assert sites.document_of("sastind") == miit  # [２０２５] with full-width digits
    assert sites.document_of("jiangsu") == miit  # （2025）, and 转发 before the title
    assert sites.document_of("jiangsu-citing") != miit
    (row,) = sites.rows(f"SELECT key, document_number, issuer FROM works WHERE id = {miit}")
    assert tuple(row) == ("工信部装〔2025〕3号", "工信部装〔2025〕3号", "工业和信息化部")
    linked = dict(
        sites.rows(
            "SELECT targets.name, linked_by FROM work_copies JOIN targets ON targets.id = target_id"
        )
    )
    assert linked["miit"] == "first" and linked["sastind"] == "number"


def test_a_repost_without_a_number_is_linked_by_its_text(sites) -> None:
    assert sites.document_of("jiujiang") == sites.document_of("gov-cn")
    ((how, similarity),) = sites.rows(
        "SELECT linked_by, similarity FROM work_copies JOIN targets ON targets.id = target_id "
        "WHERE targets.name = 'jiujiang'"
    )
    assert how == "text" and similarity >= works.TEXT_MATCH
    assert sites.document_of("gov-cn") not in {sites.document_of("miit")}


def test_the_document_page_shows_who_was_first_who_followed_and_the_edited_sentence(
    sites,
) -> None:
    with sites.client() as client:
        page = client.get(f"/d/{sites.document_of('miit')}")
    assert page.status_code == 200
    html = page.text
    order = [m for m in re.findall(r'<tr class="copy[^"]*" data-target="([^"]+)"', html)]
    assert order[0] == "miit" and set(order) == {"miit", "sastind", "jiangsu"}
    assert order[-1] == "jiangsu"  # three days later
    jiangsu_row = html[html.index('data-target="jiangsu"') :].split("</tr>")[0]
    assert "3 d" in jiangsu_row and "same text" in jiangsu_row
    sastind_row = html[html.index('data-target="sastind"') :].split("</tr>")[0]
    assert "changed" in sastind_row and "2 h 0 min" in sastind_row
    # the character-level diff of the repost: the one changed phrase marked
    diff = html[html.index("miit → sastind") :]
    assert re.search(r"<del[^>]*>工业和信息化主管</del>", diff), diff[:2000]
    assert re.search(r"<ins[^>]*>国防科技工业管理</ins>", diff), diff[:2000]
    assert "工信部装〔2025〕3号" in html
    assert "2025-03-31" in html  # its deadline
    assert "First seen (Beijing time)" in html and "UTC" not in html  # as the times are


def test_citations_both_ways_and_a_followed_document_cited_is_an_event_and_an_alert(
    sites,
) -> None:
    miit, citing = sites.document_of("miit"), sites.document_of("jiangsu-citing")
    with sites.client() as client:
        cited_page = client.get(f"/d/{miit}").text
        citing_page = client.get(f"/d/{citing}").text
    cited_by = cited_page[cited_page.index("Cited by") :]
    assert f'href="/d/{citing}"' in cited_by and "苏工信装〔2025〕12号" in cited_by
    cites = citing_page[citing_page.index("<h2>Cites") : citing_page.index("Cited by")]
    assert f'href="/d/{miit}"' in cites
    assert "国发〔2016〕28号" not in cites  # the MIIT notice cites it, not this one
    title = "工信部装〔2025〕3号 is cited by a new notice of 江苏省工业和信息化厅"
    items = sites.rows("SELECT kind, title FROM inbox_items WHERE kind = 'cited'")
    assert [tuple(r) for r in items] == [("cited", title)]
    messages = sites.rows("SELECT kind, title, body_text, tags FROM messages WHERE kind = 'cited'")
    assert len(messages) == 1
    _kind, said, body, tags = messages[0]
    assert said == title and f"http://watcher.example/d/{miit}" in body
    assert _json(tags) == ["analysts"]
    # the MIIT notice's own citation of a State Council opinion is kept, unresolved
    unresolved = sites.rows(f"SELECT number, cited_id FROM work_citations WHERE work_id = {miit}")
    assert ("国发〔2016〕28号", None) in [tuple(r) for r in unresolved]


def test_deadlines_page_lists_upcoming_dates_with_what_they_ask(sites) -> None:
    with sites.client() as client:
        page = client.get("/deadlines").text
        every = client.get("/deadlines?past=1").text
        api = client.get("/api/deadlines?past=1").json()["deadlines"]
    # the fake clock is in 2024: all three are ahead, soonest first
    dates = re.findall(r'<td class="date">([\d-]+)</td>', page)
    assert dates == ["2025-02-28", "2025-03-31", "2025-04-15"]
    assert {d["kind"] for d in api} == {"comments", "submit"}
    assert "请于2025年4月15日前将推进情况报送" in every


def _json(value: Any) -> Any:
    """A JSON column as the driver gives it: text on SQLite, decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def test_each_deadline_is_reminded_once_to_the_reminder_tags(sites) -> None:
    rows = sites.rows(
        "SELECT title, tags, created_at FROM messages WHERE kind = 'deadline' ORDER BY title"
    )
    # checks on 2024-05-10 (and 2 h later), 05-13 and 05-18, 340 days ahead from each:
    # MIIT's 2025-03-31 at its first capture, the citing notice's two on 05-18
    assert [(r[0][:30], _json(r[1])) for r in rows] == [
        ("Deadline in 286 days (2025-02-", ["deadlines"]),
        ("Deadline in 325 days (2025-03-", ["deadlines"]),
        ("Deadline in 332 days (2025-04-", ["deadlines"]),
    ]
    assert "工信部装〔2025〕3号" in rows[1][0]
    assert sites.rows("SELECT count(*) FROM work_deadlines WHERE reminded_at IS NULL") == [(0,)]


def test_api_and_csv_of_documents_copies_citations_and_deadlines(sites) -> None:
    miit = sites.document_of("miit")
    with sites.client() as client:
        one = client.get(f"/api/documents/{miit}").json()
        listed = client.get("/api/documents").json()["documents"]
        table = client.get("/api/documents.csv")
        copies = client.get(f"/api/documents/{miit}/copies.csv").text
        cites = client.get("/api/citations.csv").text
        deadlines = client.get("/api/deadlines.xlsx?past=1")
        sheet = client.get("/api/documents.xlsx")
        odd = client.get("/api/documents.pdf")
        missing = client.get("/api/documents/999999")
    assert [c["target"] for c in one["copies"]] == ["miit", "sastind", "jiangsu"]
    assert one["cited_by"][0]["citing_id"] == sites.document_of("jiangsu-citing")
    assert one["deadlines"][0]["date"] == "2025-03-31"
    assert any(d["id"] == miit and d["copies"] == 3 for d in listed)
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text.lstrip("\ufeff"))))
    assert any(r["document_number"] == "工信部装〔2025〕3号" and r["copies"] == "3" for r in rows)
    assert [r["target"] for r in csv.DictReader(io.StringIO(copies.lstrip("\ufeff")))] == [
        "miit",
        "sastind",
        "jiangsu",
    ]
    assert "国发〔2016〕28号" in cites
    assert sheet.headers["content-disposition"] == 'attachment; filename="documents.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(sheet.content), read_only=True)
    cells = [[c for c in row] for row in book.active.iter_rows(values_only=True)]
    assert cells[0][:4] == ["id", "document_number", "issuer", "title"]
    assert any(r[1] == "工信部装〔2025〕3号" and r[5] == 3 for r in cells[1:])
    assert isinstance(cells[1][4], datetime)  # a real date a spreadsheet sorts by
    dates = openpyxl.load_workbook(io.BytesIO(deadlines.content), read_only=True).active
    assert "2025-03-31" in [row[0] for row in dates.iter_rows(values_only=True)]
    assert odd.status_code == 404
    assert missing.status_code == 404 and "no document 999999" in missing.text


def test_listing_rows_captures_and_inbox_items_link_to_the_document(sites) -> None:
    miit, gov = sites.document_of("miit"), sites.document_of("gov-cn")
    with sites.client() as client:
        listing = client.get("/t/jiujiang-list").text
    row = listing[listing.index("<tbody>") :]
    assert re.search(f'<a href="/d/{gov}" class="document-link"[^>]*>3 sites</a>', row), row
    (capture,) = sites.rows(
        "SELECT captures.id FROM captures JOIN targets ON targets.id = target_id "
        "WHERE targets.name = 'sastind'"
    )
    (item,) = sites.rows("SELECT id FROM inbox_items WHERE kind = 'cited'")
    with sites.client() as client:
        capture_page = client.get(f"/c/{capture[0]}").text
        item_page = client.get(f"/inbox/{item[0]}").text
        listed = client.get("/documents").text
        inbox = client.get("/inbox?view=all").text
    assert "cited by a new notice" in inbox
    assert "工信部装〔2025〕3号 is cited by a new notice of 江苏省工业和信息化厅" in inbox
    assert f'href="/d/{miit}"' in capture_page
    assert f'href="/d/{sites.document_of("jiangsu-citing")}"' in item_page
    assert f'href="/d/{miit}"' in listed


def test_issuer_and_number_terms_hit_on_a_new_notices_metadata(sites) -> None:
    hits = sites.rows(
        "SELECT targets.name, term FROM hits JOIN captures ON captures.id = capture_id "
        "JOIN targets ON targets.id = captures.target_id ORDER BY targets.name, term"
    )
    found = {(name, term) for name, term in hits}
    assert ("sastind", "issuer:国防科工局") in found  # 发文机关 国防科工局
    assert ("miit", "issuer:国防科工局") not in found  # issued by MIIT
    assert {n for n, t in found if t == "docno:工信部装"} == {"miit", "sastind", "jiangsu"}
    assert ("jiangsu-citing", "docno:工信部装") not in found  # 苏工信装: another prefix


def test_an_unknown_document_is_a_page_saying_so(sites) -> None:
    with sites.client() as client:
        page = client.get("/d/424242")
    assert page.status_code == 404 and "no document 424242" in page.text


def test_an_alert_of_a_new_notice_links_to_the_notice_across_sites(sites) -> None:
    from datetime import UTC, datetime

    from watcher.alerts.compose import Composer
    from watcher.alerts.events import Event

    (capture,) = sites.rows(
        "SELECT captures.id FROM captures JOIN targets ON targets.id = target_id "
        "WHERE targets.name = 'jiangsu'"
    )
    event = Event(
        "new",
        "jiangsu",
        "江苏省工信厅",
        "http://127.0.0.1/jsgxt/n1.html",
        datetime(2024, 5, 13, tzinfo=UTC),
        capture_id=capture[0],
        metadata={"document_number": "工信部装〔2025〕3号"},
    )
    composed = Composer("http://watcher.example").compose(event)
    link = f"http://watcher.example/c/{capture[0]}/document"
    assert link in composed.text and link in composed.html
    assert link in composed.markdown
    plain = Composer("http://watcher.example").compose(
        Event("new", "a", "A", "http://127.0.0.1/a", event.at, capture_id=capture[0])
    )
    assert "/document" not in plain.text  # a page that is no notice
    with sites.client() as client:
        opened = client.get(f"/c/{capture[0]}/document")
        unknown = client.get("/c/01NOSUCHCAPTURE000000000000/document")
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/d/{sites.document_of('miit')}"
    assert unknown.headers["location"] == "/c/01NOSUCHCAPTURE000000000000"


FIRST_SEEN = (
    "SELECT w.first_seen_at, t.name FROM works w JOIN targets t ON t.id = w.first_target_id"
    " ORDER BY 1, 2"
)


def test_link_documents_links_a_store_made_before_documents_were_linked(tmp_path_factory) -> None:
    from click.testing import CliRunner

    from watcher.cli.main import main

    scenario_run = built(tmp_path_factory)
    made = next(scenario_run)
    copies = (
        "SELECT targets.name, linked_by FROM work_copies JOIN targets ON targets.id = target_id"
    )
    before = sorted(made.rows(copies))
    firsts = made.rows(FIRST_SEEN)
    engine = index_engine(made.data)
    with engine.begin() as conn:  # what an older watcher's store holds: no documents
        for table in ("work_follows", "work_deadlines", "work_citations", "work_hash_counts",
                      "work_sketches", "work_copies", "works"):  # fmt: skip
            conn.exec_driver_sql(f"DELETE FROM {table}")
    engine.dispose()
    args = ["--config", str(made.config_path), "--data", str(made.data), "link-documents"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "linked" in first.output and "new documents" in first.output
    assert sorted(made.rows(copies)) == before  # the same copies, linked the same way
    assert made.rows(FIRST_SEEN) == firsts  # who published first, told the same
    assert ("jiujiang-list",) not in {(name,) for name, _ in made.rows(copies)}
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "every stored notice is linked" in again.output
    scenario_run.close()


def test_an_edited_copy_stays_on_its_document_and_is_not_sketched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check hands the analysis the document the target's notice belongs to; an
    edit that keeps its 文号 (or has none) keeps the copy there, so no sketch is made,
    and the copy's last capture is the edited one."""
    import asyncio

    from watcher.analysis import identity

    sketched: list[int] = []
    real = identity._sketch
    monkeypatch.setattr(identity, "_sketch", lambda *a: sketched.append(1) or real(*a))
    states = []

    async def edited_once(made: Sites, url: str) -> None:
        page = notice(TITLE, "工信部装〔2025〕3号", "工业和信息化部", BODY, "工业和信息化部")
        made.publish("/miit/n1.html", page)
        await made.check(timedelta(minutes=1))
        with Store(made.data) as store:
            states.append(store.target_states([("miit", url), ("gov-cn", url + "x")]))
        edited = [EDITED if p.startswith("三、") else p for p in BODY]
        page = notice(TITLE, "工信部装〔2025〕3号", "工业和信息化部", edited, "工业和信息化部")
        made.publish("/miit/n1.html", page)
        await made.check(timedelta(hours=1))

    with HTTPServer() as server:
        made = Sites(server, tmp_path)
        asyncio.run(edited_once(made, server.url("/miit/n1.html")))
    assert sketched == [1]  # the first capture's, to find its document
    assert states[0]["miit"].document == ("工信部装〔2025〕3号",)
    assert states[0]["gov-cn"].document is None  # never captured
    ((copy_last, target_last, captures),) = made.rows(
        "SELECT work_copies.last_capture_id, targets.last_capture_id,"
        " (SELECT COUNT(*) FROM captures WHERE target_id = targets.id)"
        " FROM work_copies JOIN targets ON targets.id = work_copies.target_id"
        " WHERE targets.name = 'miit'"
    )
    assert captures == 2 and copy_last == target_last
