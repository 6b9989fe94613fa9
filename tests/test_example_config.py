"""The example ``targets.yaml`` against saved bytes of each site's shape.

Every example target is checked with ``watcher test`` against a local server that
answers its listing (the MIIT search API and column unit, SASTIND's list pages,
gov.cn's search API and static list) and its notices, with the config's URLs
rewritten to the server. So the example stays valid, and its selectors keep
finding what they are there for: the listing's items, and each notice's title,
dates and body without the site's frame. The bytes are in ``fixtures/sites/``
(shapes from the research notes on those sites; the gov.cn notice is the real
page with its policy table, see ``govpages.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from govpages import gov_policy_page
from httpserver import HTTPServer, Request, Response

from watcher.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SITES = Path(__file__).parent / "fixtures" / "sites"
HOSTS = (  # longest first: sousuo.www.gov.cn before www.gov.cn
    "https://sousuo.www.gov.cn",
    "https://www.sastind.gov.cn",
    "https://www.miit.gov.cn",
    "http://www.miit.gov.cn",
    "https://www.gov.cn",
)
HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json;charset=UTF-8"}


class Sites:
    def __init__(self, server: HTTPServer, folder: Path) -> None:
        self.server, self.folder = server, folder
        self.base = server.url("/").rstrip("/")
        miit_article = (SITES / "miit.gov.cn/article.html").read_bytes()
        sastind_article = (SITES / "sastind.gov.cn/article.html").read_bytes()
        self.json("/search-front-server/api/search/info", "miit.gov.cn/search_zcwj.json")
        self.json(
            "/api-gateway/jpaas-publish-server/front/page/build/unit", "miit.gov.cn/unit_szyw.json"
        )
        for path in (
            "/zwgk/zcwj/wjfb/tz/art/2026/art_3f1c2b0a9d8e4f7a8b6c5d4e3f2a1b0c.html",
            "/zwgk/zcwj/wjfb/tz/art/2026/art_0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e.html",
            "/xwdt/szyw/art/2026/art_3f1c2b0a9d8e4f7a8b6c5d4e3f2a1b0c.html",
            "/xwdt/szyw/art/2026/art_99aa88bb77cc66dd55ee44ff33aa22bb.html",
        ):
            server.route(path, body=miit_article, headers=HTML)
        list_dir = "/n10086200/n10086319"
        server.route(
            f"{list_dir}/index.html",
            body=(SITES / "sastind.gov.cn/list.html").read_bytes(),
            headers=HTML,
        )
        server.route(
            f"{list_dir}/index_10126608_2.html",
            body=(SITES / "sastind.gov.cn/list_2.html").read_bytes(),
            headers=HTML,
        )
        for c in ("c10912345", "c10912001", "c10911876"):
            server.route(f"{list_dir}/{c}/content.html", body=sastind_article, headers=HTML)
        gw, bm = (self.rewritten(SITES / f"gov.cn/search_{t}.json") for t in ("gw", "bm"))
        past_the_end = json.dumps({"code": 200, "searchVO": {"listVO": []}}).encode()

        def search(req: Request) -> Response:
            if "&p=2&" in f"&{req.query}&":
                return Response(200, past_the_end, JSON)
            return Response(200, gw if "zhengcelibrary_gw" in req.query else bm, JSON)

        server.route("/search-gov/data", handler=search)
        server.route(
            "/zhengce/zuixin/", body=(SITES / "gov.cn/zuixin.html").read_bytes(), headers=HTML
        )
        policy = gov_policy_page()
        for path in (
            "/zhengce/content/202611/content_7012345.htm",
            "/zhengce/zhengceku/202611/content_7012399.htm",
            "/zhengce/zhengceku/202611/content_7012300.htm",
            "/zhengce/202611/content_7012345.htm",
            "/zhengce/202611/content_7012201.htm",
        ):
            server.route(path, body=policy, headers=HTML)
        text = (ROOT / "targets.yaml").read_text(encoding="utf-8")
        self.config = folder / "targets.yaml"
        self.config.write_text(
            self.rewrite(text).replace("host_delay: 1s", "host_delay: 0s"), encoding="utf-8"
        )

    def rewrite(self, text: str) -> str:
        for host in HOSTS:
            text = text.replace(host, self.base)
        return text

    def rewritten(self, path: Path) -> bytes:
        return self.rewrite(path.read_text(encoding="utf-8")).encode("utf-8")

    def json(self, route: str, fixture: str) -> None:
        self.server.route(route, body=self.rewritten(SITES / fixture), headers=JSON)

    def test(self, name: str) -> dict:
        args = [
            "--config",
            str(self.config),
            "--data",
            str(self.folder / "data"),
            "test",
            name,
            "--json",
        ]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    with HTTPServer() as server:
        yield Sites(server, tmp_path_factory.mktemp("example"))


MIIT_NOTICE = "工业和信息化部关于开展2026年工业互联网一体化进园区“百城千园行”活动的通知"
FRAME = ("网站标识码", "扫一扫", "分享到", "京ICP备", "当前位置", "您现在的位置")
GOV_TABLE = ("发文字号：", "工信部联规〔2022〕12号")
GOV_BODY = "会议决定：批准发行15500亿元特别国债购买外汇"

# target -> (its items' titles, lines its first notice's text must hold, where they start)
EXPECTED = {
    "miit-policy-files": (
        [MIIT_NOTICE, "工业和信息化部 国家发展改革委关于印发船舶工业高质量发展行动方案的通知"],
        (MIIT_NOTICE, "发布时间：2026-11-20 16:05", "工信部信管〔2026〕188号", "2.活动报名表"),
    ),
    "miit-news": (
        [
            "工业和信息化部召开工业互联网和船舶工业数字化转型推进会",
            "全国工业和信息化主管部门负责同志座谈会在京召开",
        ],
        (MIIT_NOTICE, "发布时间：2026-11-20 16:05", "工信部信管〔2026〕188号", "2026年11月18日"),
    ),
    "sastind-news": (
        [
            "国防科工局召开船舶工业军民融合发展推进会",
            "国防科技工业2026年度标准化工作会议召开",
            "第三届卫星应用与军民融合论坛在京举行",  # from the second list page
        ],
        (
            "国防科工局召开船舶工业军民融合发展推进会",
            "发布日期：2026-11-24",
            "船舶工业军民融合重点任务清单.pdf",
        ),
    ),
    "govcn-state-council-documents": (
        ["国务院关于推动船舶工业高质量发展的意见"],
        (*GOV_TABLE, GOV_BODY),
    ),
    "govcn-department-documents": (
        [
            "工业和信息化部等八部门关于加快推进工业互联网标识解析体系建设的通知",
            "国家国防科技工业局关于印发《军民融合科技成果转化管理办法》的通知",
        ],
        (*GOV_TABLE, GOV_BODY),
    ),
    "govcn-latest-policy": (
        [
            "国务院关于推动船舶工业高质量发展的意见",
            "国务院办公厅关于进一步优化政务服务提升行政效能的意见",
        ],
        (*GOV_TABLE, GOV_BODY),
    ),
}


def test_every_example_target_is_held_against_saved_bytes() -> None:
    from watcher.config import load_config

    assert {t.name for t in load_config(ROOT / "targets.yaml").targets} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_example_target_finds_its_items_and_its_notices_text(sites: Sites, name: str) -> None:
    titles, holds = EXPECTED[name]
    found = sites.test(name)
    assert found["status"] == "ok" and found["items_error"] is None
    assert [item["title"] for item in found["items"]] == titles
    first = found["first_item"]
    assert first["status"] == "ok", first["error"]
    text = first["text"]
    for line in holds:
        assert line in text, (line, text[:500])
    assert not [w for w in FRAME if w in text]
    positions = [text.index(line) for line in holds]
    assert positions == sorted(positions)  # in the page's order


def test_the_listings_own_selection_holds_its_list(sites: Sites) -> None:
    sastind = sites.test("sastind-news")
    assert sastind["text"].startswith("国防科工局召开船舶工业军民融合发展推进会")
    assert "网站标识码" not in sastind["text"]
    latest = sites.test("govcn-latest-policy")
    assert latest["text"].splitlines()[0] == "国务院关于推动船舶工业高质量发展的意见2026-11-20"


def test_the_gov_cn_api_is_paged_by_its_p_parameter(sites: Sites) -> None:
    sites.test("govcn-department-documents")
    pages = [
        r.query for r in sites.server.requests("/search-gov/data") if "zhengcelibrary_bm" in r.query
    ]
    assert any("&p=1&" in f"&{q}&" for q in pages) and any("&p=2&" in f"&{q}&" for q in pages)


def test_the_miit_api_is_asked_with_the_library_as_referer(sites: Sites) -> None:
    sites.test("miit-policy-files")
    (request, *_) = sites.server.requests("/search-front-server/api/search/info")
    assert request.headers["referer"] == f"{sites.base}/search/zcwjk.html"
    assert "cateid=196" in request.query
