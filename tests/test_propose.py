"""Proposals of regions to watch, on real and made pages: the notice list with its
paging, the article on article pages, and every fragment loading through the config
loader. Expected item links are hand-checked (tests/fixtures/propose/expected.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from watcher.analysis.extract import extract
from watcher.check.propose import Observed, Proposal, document_select, propose
from watcher.config import parse_config_text
from watcher.listings.items import items_of, next_page

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "propose" / "expected.json").read_text(encoding="utf-8"))
LISTINGS = [p for p, e in EXPECTED.items() if e["kind"] == "listing"]
ARTICLES = [p for p, e in EXPECTED.items() if e["kind"] == "article"]


def _page(path: str) -> str:
    return (FIXTURES / path).read_text(encoding="utf-8", errors="replace")


def _target(proposal: Proposal, url: str):
    target = {"name": "proposed", "url": url, **proposal.fragment}
    text = yaml.safe_dump({"targets": [target]}, allow_unicode=True)
    return parse_config_text(text, "proposed.yaml").targets[0]


@pytest.mark.parametrize("path", LISTINGS)
def test_the_notice_list_is_proposed_first_and_reads_its_links(path: str) -> None:
    expected = EXPECTED[path]
    html = _page(path)
    proposals = propose(html, expected["url"])
    first = proposals[0]
    assert first.kind == "listing", [p.label for p in proposals]
    target = _target(first, expected["url"])
    found = items_of(html, "text/html", expected["url"], target.follow)
    assert [i.url for i in found] == expected["links"]
    assert first.sample == tuple(i.title for i in found[:3])
    assert target.select == (first.selector,)  # the listing's own capture: its list
    kept = extract(html, expected["url"], select=target.select).text
    assert all(title[:10] in kept for title in first.sample)  # shown cut short, with …
    count = len(expected["links"])
    assert f"{count} link{'s' if count > 1 else ''}" in first.label
    if "next_page" in expected:
        assert target.follow.pages == 2
        assert next_page(html, expected["url"], target.follow, 1) == expected["next_page"]
        assert "2 pages" in first.label
    else:
        assert target.follow.pages == 1


@pytest.mark.parametrize("path", ARTICLES)
def test_the_article_comes_first_on_article_pages(path: str) -> None:
    proposals = propose(_page(path), EXPECTED[path]["url"])
    first = proposals[0]
    assert first.kind == "article"
    assert first.fragment == {"select": "auto"}
    assert first.label.startswith("Main article (")
    assert first.sample and EXPECTED[path]["title"] in first.sample[0]


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_every_fragment_loads_through_the_config_loader(path: str) -> None:
    url = EXPECTED[path]["url"]
    for proposal in propose(_page(path), url):
        target = _target(proposal, url)
        assert target.name == "proposed"
        if proposal.kind == "listing":
            assert target.follow is not None and target.follow.links


def test_a_menu_and_a_pager_are_not_notice_lists() -> None:
    html = """<html><head><title>x</title></head><body>
    <ul class="nav"><li><a href="/a/">首页</a></li><li><a href="/b/">政务公开</a></li>
    <li><a href="/c/">办事服务</a></li></ul>
    <div class="pages"><a href="index_1.html">2</a><a href="index_2.html">3</a></div>
    <p>本站正在维护，请稍后访问。本站正在维护，请稍后访问。</p></body></html>"""
    assert [p.kind for p in propose(html, "https://example.gov.cn/")] == ["article"]


def test_an_empty_or_broken_page_gives_no_proposal() -> None:
    assert propose("", "https://example.gov.cn/") == []
    assert propose("\x00\x01", "https://example.gov.cn/") == []


def test_a_miit_column_shell_proposes_its_unit_endpoint() -> None:
    """The unit the shell's script tag names, as the example config's miit-news watches it."""
    column = "https://www.miit.gov.cn/xwdt/szyw/index.html"
    html = _page("propose/miit_column_shell.html")
    first = propose(html, column)[0]
    assert first.kind == "json-listing"
    example = yaml.safe_load((FIXTURES.parent.parent / "targets.yaml").read_text("utf-8"))
    miit_news = next(t for t in example["targets"] if t["name"] == "miit-news")
    target = _target(first, column)
    assert target.url == miit_news["url"]
    assert target.headers == {"Referer": column}
    assert (target.follow.html, target.follow.links) == ("data.html", "li.cf a.fl")
    answer = (FIXTURES / "sites" / "miit.gov.cn" / "unit_szyw.json").read_text("utf-8")
    found = items_of(answer, "application/json", target.url, target.follow)
    assert [i.date for i in found] == ["2026-11-21", "2026-11-19"]


def test_the_policy_library_app_proposes_its_search_api() -> None:
    library = "https://sousuo.www.gov.cn/zcwjk/policyDocumentLibrary?t=zhengcelibrary_gw"
    first = propose(_page("propose/govcn_library_shell.html"), library)[0]
    assert first.kind == "json-listing"
    target = _target(first, library)
    assert target.url == (
        "https://sousuo.www.gov.cn/search-gov/data?t=zhengcelibrary_gw&sort=pubtime"
        "&sortType=1&searchfield=title&p=1&n=20"
    )
    follow = target.follow
    assert (follow.items, follow.url, follow.title, follow.date) == (
        "searchVO.listVO",
        "url",
        "title",
        "pubtimeStr",
    )
    assert (follow.pages, follow.page_param) == (2, "p")
    answer = (FIXTURES / "sites" / "gov.cn" / "search_gw.json").read_text("utf-8")
    found = items_of(answer, "application/json", target.url, follow)
    assert [(i.title, i.date) for i in found] == [
        ("国务院关于推动船舶工业高质量发展的意见", "2026-11-20")
    ]


def test_json_listings_from_observed_answers_need_urls_and_titles() -> None:
    rows = {
        "data": {
            "rows": [
                {
                    "id": n,
                    "name": f"第{n}号公告关于船舶工业",
                    "link": f"/c/{n}.html",
                    "time": f"2026-11-{n:02d}",
                }
                for n in range(1, 6)
            ]
        }
    }
    counts = {"total": 5, "items": [{"id": 1, "count": 3}]}
    observed = [
        Observed("https://x.gov.cn/api/list?page=1", "application/json", json.dumps(rows).encode()),
        Observed("https://x.gov.cn/api/counts", "application/json", json.dumps(counts).encode()),
        Observed("https://x.gov.cn/api/broken", "application/json", b"{not json"),
    ]
    proposals = propose("<html><body></body></html>", "https://x.gov.cn/col/", observed)
    assert len(proposals) == 1
    target = _target(proposals[0], "https://x.gov.cn/col/")
    follow = target.follow
    assert (follow.items, follow.url, follow.title, follow.date) == (
        "data.rows",
        "link",
        "name",
        "time",
    )
    assert (follow.pages, follow.page_param) == (2, "page")
    assert proposals[0].label == "JSON listing: 5 items at /api/list, 2 pages"


@pytest.mark.parametrize(
    ("path", "url", "parts"),
    [
        (
            "sites/miit.gov.cn/article.html",
            "https://www.miit.gov.cn/zwgk/zcwj/wjfb/tz/art/2026/art_3f1c.html",
            ("h1#con_title", "div.cinfo", "div#con_con"),
        ),
        (
            "sites/sastind.gov.cn/article.html",
            "https://www.sastind.gov.cn/n10086200/n10086319/c10912345/content.html",
            ("div.article_title", "div.article_info", "div#article"),
        ),
    ],
)
def test_document_select_names_title_metadata_and_body(path: str, url: str, parts) -> None:
    assert document_select(_page(path), url) == parts


def test_document_select_takes_gov_cns_policy_table_above_the_body() -> None:
    from govpages import gov_policy_page

    url = "https://www.gov.cn/zhengce/content/2022-03/08/content_5678.htm"
    assert document_select(gov_policy_page().decode(), url) == ("table.bd1", "div#UCAP-CONTENT")


@pytest.mark.parametrize("path", [p for p in ARTICLES if (FIXTURES / f"{p}.article.txt").exists()])
def test_document_select_keeps_the_hand_cut_article(path: str) -> None:
    """What the proposed selectors keep holds every line of the page's expected body
    (``select: auto``'s test set) but at most a closing 编辑 line."""
    html, url = _page(path), EXPECTED[path]["url"]
    parts = document_select(html, url)
    if not parts:  # the gazette page: its heading sits inside its body, auto keeps it
        assert path.startswith("pages/gov.cn/")
        return
    target = _target(
        Proposal("listing", "x", {"follow": {"links": "a", "select": list(parts)}}), url
    )
    kept = "".join(extract(html, url, select=target.follow.select).text.split())
    want = (FIXTURES / f"{path}.article.txt").read_text("utf-8").splitlines()
    missing = [line for line in want if line.strip() and "".join(line.split()) not in kept]
    assert len(missing) <= 1 and all("编辑" in line for line in missing), missing


def test_document_select_keeps_auto_for_a_listing_or_no_page() -> None:
    assert document_select(_page("sites/sastind.gov.cn/list.html"), "https://x.gov.cn/") == ()
    assert document_select("", "https://x.gov.cn/") == ()


def test_hostile_pages_give_proposals_not_errors() -> None:
    """Deep nesting, a row that is a whole page, 5,000 rows, junk in hrefs."""
    deep = "<div><a href='/c/123456.html'>关于船舶工业发展的通知公告</a>" * 3000 + "</div>" * 3000
    rows = "".join(
        f"<li><a href='/art/2026/art_{n:08d}.html'>关于第{n}批船舶工业项目的通知</a>"
        f"<span>2026-11-{n % 28 + 1:02d}</span></li>"
        for n in range(5000)
    )
    junk = "<ul>" + "<li><a href='http://[::1'>坏的链接地址一</a> 2026-01-01</li>" * 3 + "</ul>"
    for body in (deep, f"<ul class='list'>{rows}</ul>", junk, "<p>" + "字" * 100_000 + "</p>"):
        html = f"<html><head><title>通知</title></head><body>{body}</body></html>"
        for proposal in propose(html, "https://x.gov.cn/col/"):
            _target(proposal, "https://x.gov.cn/col/")
    many = propose(f"<html><body><ul class='list'>{rows}</ul></body></html>", "https://x.gov.cn/")
    assert many[0].label == "Notice list: 5,000 links"


def test_the_listing_reader_skips_a_link_that_is_no_url() -> None:
    html = (
        "<ul><li><a href='http://[::1'>坏的链接</a></li>"
        "<li><a href='/c/1.html'>好的链接</a></li></ul>"
    )
    follow = (
        parse_config_text(
            "targets:\n- {name: l, url: 'https://x.gov.cn/', follow: {links: li a}}\n", "t.yaml"
        )
        .targets[0]
        .follow
    )
    assert [i.url for i in items_of(html, "text/html", "https://x.gov.cn/", follow)] == [
        "https://x.gov.cn/c/1.html"
    ]


@pytest.mark.parametrize(
    ("path", "total"),
    [
        ("sites/sastind.gov.cn/list.html", 363),  # 共363页
        ("propose/trs_list.html", 12),  # createPageHTML(12, …)
        ("propose/param_table.html", 15),  # 尾页: page=15
    ],
)
def test_the_label_says_how_many_pages_the_listing_has(path: str, total: int) -> None:
    first = propose(_page(path), EXPECTED[path]["url"])[0]
    assert first.label.endswith(f", 2 pages (of {total})")


def test_the_last_page_link_of_numbered_files_counts_trs_pages_from_index_1() -> None:
    html = """<html><body><ul class="list">
    <li><a href="./202411/t20241128_501234.htm">工业互联网平台白皮书（2024年）</a> 2024-11-28</li>
    <li><a href="./202411/t20241122_500987.htm">船舶工业数字化白皮书（2024年）</a> 2024-11-22</li>
    </ul><div class="page"><a href="index_1.htm">2</a> <a href="index_7.htm">尾页</a></div>
    </body></html>"""
    first = propose(html, "http://www.caict.ac.cn/kxyj/qwfb/bps/index.htm")[0]
    assert first.label == "Notice list: 2 links, 2 pages (of 8)"
    assert first.fragment["follow"]["next"] == "a[href$='index_1.htm']"


def test_miit_policy_search_answers_give_the_example_configs_items_path() -> None:
    """Items one level into each result (``groupData[0].data``), as targets.yaml's
    miit-policy-files reads them; an answer that is a bare list, at ``@``."""
    answer = (FIXTURES / "sites" / "miit.gov.cn" / "search_zcwj.json").read_bytes()
    api = "https://www.miit.gov.cn/search-front-server/api/search/info?p=1&pg=20"
    library = "https://www.miit.gov.cn/search/zcwjk.html"
    (first,) = propose("<html><body></body></html>", library, [Observed(api, "", answer)])
    target = _target(first, library)
    assert target.follow.items == "data.searchResult.dataResults[].groupData[0].data"
    found = items_of(answer.decode(), "application/json", target.url, target.follow)
    assert len(found) == 2 and first.sample == tuple(i.title for i in found)

    rows = json.dumps([{"title": "关于船舶工业的通知", "url": "/a/1.html"}]).encode()
    (bare,) = propose("", "https://x.gov.cn/", [Observed("https://x.gov.cn/l.json", "", rows)])
    assert bare.fragment["follow"]["items"] == "@"
    follow = _target(bare, "https://x.gov.cn/").follow
    assert [i.url for i in items_of(rows.decode(), None, "https://x.gov.cn/l.json", follow)] == [
        "https://x.gov.cn/a/1.html"
    ]


_ROW = st.fixed_dictionaries(
    {
        "url": st.sampled_from(["/a/1.html", "http://[::1", "", "x"]),
        "title": st.just("关于船舶的通知"),
    },
    optional={
        "date": st.sampled_from(["2026-11-20", 0, None]),
        "html": st.just("<a href=/b/3.html>"),
    },
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(
        [
            "/a/1.html",
            "关于船舶工业的通知",
            "2026-11-20",
            "<a href='/x/2.html'>通知通知通知</a>",
            "",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["url", "title", "date", "data", "html", "a b"]), inner)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@example(answer=[{"url": "/a/1.html", "title": "关于船舶的通知"}], html="")  # no date field
@given(answer=_JSON, html=st.text(alphabet="<>/a hrefli=\"'通知2026-1", max_size=200))
def test_propose_never_raises_on_any_answer_or_markup(answer, html: str) -> None:
    observed = [
        Observed("https://x.gov.cn/api?page=1", "application/json", json.dumps(answer).encode())
    ]
    for proposal in propose(html, "https://x.gov.cn/col/", observed):
        _target(proposal, "https://x.gov.cn/col/")
