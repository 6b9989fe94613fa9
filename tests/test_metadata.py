"""metadata: 发文字号, issuer, dates, 索引号 and topic from notice pages, with provenance.

Golden values for the real pages in ``tests/fixtures/pages/`` were read off the
pages by hand (see SOURCES.md there); the made-up pages cover one source kind each.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path

import pytest
from govpages import gov_policy_page
from httpserver import HTTPServer

from watcher.analysis.analyse import Page, analyse
from watcher.analysis.metadata import NoticeMetadata, extract_metadata, normalize_document_number
from watcher.keywords import KeywordMatcher

PAGES = Path(__file__).parent / "fixtures" / "pages"  # the extraction goldens' real pages
FIELDS = [f.name for f in fields(NoticeMetadata) if f.name != "sources"]


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def set_fields(meta: NoticeMetadata) -> dict[str, str]:
    return {name: getattr(meta, name) for name in FIELDS if getattr(meta, name) is not None}


# --- real pages -----------------------------------------------------------------------

GOLDEN: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    # gov.cn 2023 template, State Council Gazette 2007/23 (an NPC decision: no 发文字号,
    # no metadata table). Times keep the meta's seconds.
    "gov.cn/gongbao_2007-23_content_711039.html": (
        {"published_date": "2007-08-20T23:59:59", "last_modified": "2007-08-20T23:59:59"},
        {"published_date": "meta:firstpublishedtime", "last_modified": "meta:lastmodifiedtime"},
    ),
    # Hanweb: meta PubDate has the minute; visible 发布日期：2016-11-22 agrees;
    # Maketime 2019-03-22 12:28:37 is a regeneration time and must not be used.
    "fgw.zj.gov.cn/article_art_1621004_30332664.html": (
        {
            "published_date": "2016-11-22T09:53",
            "title": "1-10月德清县固定资产投资结构趋稳趋优",
            "source": "省发改委",
        },
        {
            "published_date": "meta:PubDate",
            "title": "meta:ArticleTitle",
            "source": "meta:contentSource",
        },
    ),
    # TRS: an alt attribute on the info line says 2017-11-08 20:26 (stale template text);
    # the page's own text and meta say 2019-09-18 06:23.
    "shanxi.gov.cn/article_t20190918_693227.html": (
        {
            "published_date": "2019-09-18T06:23",
            "title": "山西品牌丝路行（南美站）正式启动",
            "source": "山西日报",
        },
        {
            "published_date": "meta:PubDate",
            "title": "meta:ArticleTitle",
            "source": "meta:ContentSource",
        },
    ),
    # No meta: "发布日期: 2021-01-05" (the URL says t20210106) and "信息来源:".
    "cmse.gov.cn/article_t20210106_47506.html": (
        {"published_date": "2021-01-05", "source": "中国空间技术研究院、中国运载火箭技术研究院等"},
        {"published_date": "text", "source": "text"},
    ),
    # <li>来源：新华社</li><li>作者：</li><li>2023-12-01 14:43</li>: the date has no
    # label, but it stands alone on the info line next to a labelled item.
    "kepu.gov.cn/article_content_1755244.html": (
        {"source": "新华社", "published_date": "2023-12-01T14:43"},
        {"source": "text", "published_date": "text"},
    ),
    # A search-results listing: every row has its own 发布时间; none is the page's.
    "jiujiang.gov.cn/irs_search_results.html": ({}, {}),
}


def test_the_golden_pages_are_the_extraction_fixtures() -> None:
    """The same real pages as the extraction goldens (tests/fixtures/pages/SOURCES.md)."""
    sources = page("SOURCES.md")
    for name in GOLDEN:
        assert (PAGES / name).is_file(), name
        assert name.split("/")[-1] in sources, name


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_real_pages(name: str) -> None:
    expected, sources = GOLDEN[name]
    meta = extract_metadata(page(name))
    assert set_fields(meta) == expected
    assert meta.sources == sources


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_an_analysis_reads_them_from_the_tree_its_text_comes_from(name: str) -> None:
    """A check parses a page once for its text and metadata (``MetadataReader``) and
    finds what reading the page on its own finds."""
    expected, _ = GOLDEN[name]
    body = page(name).encode()
    analysis, _ = analyse(Page(body, "text/html; charset=utf-8", "http://127.0.0.1/"), None, NONE)
    assert (analysis.metadata or {}) == expected


NONE = KeywordMatcher({})


def test_hidden_elements_say_nothing_of_the_page() -> None:
    """Metadata is read from the page as a reader sees it: a hidden block's label
    (a template's leftover) does not outrank the one shown."""
    html = (
        "<html><body><div style='display: none'>发布日期：2019-01-01</div>"
        "<div hidden>来源：某某网</div>"
        "<p>发布日期：2024-03-01</p><p>关于开展试点工作的通知</p></body></html>"
    )
    meta = extract_metadata(html)
    assert meta.published_date == "2024-03-01"
    assert meta.source is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fgw.zj.gov.cn/article_art_1621004_30332664.html", "2016-11-22"),  # <span>发布日期：
        ("shanxi.gov.cn/article_t20190918_693227.html", "2019-09-18T06:23"),  # 时间：… 来源：…
    ],
)
def test_real_pages_without_meta_fall_back_to_visible_labels(name: str, expected: str) -> None:
    html = re.sub(r"<meta\b[^>]*>", "", page(name))
    meta = extract_metadata(html)
    assert meta.published_date == expected
    assert meta.sources["published_date"] == "text"
    assert meta.last_modified is None


def test_text_argument_is_used_for_the_free_text_scan() -> None:
    # the text watcher.analysis.extract gives for the fgw page (its golden file), with no HTML
    text = (
        "1-10月德清县固定资产投资结构趋稳趋优\n发布日期：2016-11-22 信息来源：省发改委\n1-10月，…"
    )
    meta = extract_metadata("", text)
    assert set_fields(meta) == {"published_date": "2016-11-22", "source": "省发改委"}


# --- a gov.cn policy page: the labelled table ------------------------------------------

GOV_CN_POLICY = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>国务院办公厅关于示例工作的通知_国务院文件_中国政府网</title>
<meta name="manuscriptId" content="5700001">
<meta name="firstpublishedtime" content="2024-03-08-17:30:05">
<meta name="lastmodifiedtime" content="2024-03-09-09:15:00">
</head><body>
<div class="header">首页 | 简 | 繁 | EN</div></html>
<div class="content">
<table class="bd1"><tbody>
<tr><td><b>索<span></span>引<span></span>号：</b></td><td>000014349/2024-00021</td>
    <td><b>主题分类：</b></td><td class="zcwj_ztfl">工业、交通\\信息产业（含电信）</td></tr>
<tr><td><b>发文机关：</b></td><td>国务院办公厅</td>
    <td><b>成文日期：</b></td><td>2024年03月05日</td></tr>
<tr><td><b>标　　题：</b></td><td colspan="3">国务院办公厅关于示例工作的通知</td></tr>
<tr><td><b>发文字号：</b></td><td>国办发〔2024〕5号</td>
    <td><b>发布日期：</b></td><td>2024年03月08日</td></tr>
</tbody></table>
<table class="bd1"><tr><td><b>主 题 词：</b></td><td></td></tr></table>
<div class="pages_content" id="UCAP-CONTENT">
<p>国务院办公厅关于示例工作的通知</p><p>国办发〔2024〕5号</p>
<p>各省、自治区、直辖市人民政府，国务院各部委、各直属机构：</p>
<p>　　根据《国务院关于另一项工作的通知》（国发〔2023〕1号），现就有关事项通知如下。</p>
<p style="text-align:right">国务院办公厅&nbsp;&nbsp;&nbsp;&nbsp;</p>
<p style="text-align:right">2024年3月5日&nbsp;&nbsp;</p>
<p>（此件公开发布）</p>
</div></div></body></html>"""


def test_gov_cn_policy_table() -> None:
    meta = extract_metadata(GOV_CN_POLICY)
    assert set_fields(meta) == {
        "document_number": "国办发〔2024〕5号",
        "document_number_raw": "国办发〔2024〕5号",
        "issuer": "国务院办公厅",
        "written_date": "2024-03-05",
        "published_date": "2024-03-08",  # the table's day beats firstpublishedtime
        "index_number": "000014349/2024-00021",
        "topic": "工业、交通\\信息产业（含电信）",
        "last_modified": "2024-03-09T09:15:00",
        "title": "国务院办公厅关于示例工作的通知",
    }
    assert meta.sources == {
        "document_number": "table",
        "document_number_raw": "table",
        "issuer": "table",
        "written_date": "table",
        "published_date": "table",
        "index_number": "table",
        "topic": "table",
        "last_modified": "meta:lastmodifiedtime",
        "title": "table",
    }


def test_last_modified_change_is_visible_with_the_same_text() -> None:
    later = GOV_CN_POLICY.replace("2024-03-09-09:15:00", "2024-04-01-10:00:00")
    before, after = extract_metadata(GOV_CN_POLICY), extract_metadata(later)
    assert before.last_modified != after.last_modified
    assert after.to_json()["last_modified"] == "2024-04-01T10:00:00"


def test_definition_list_without_colons() -> None:
    html = """<dl class="xxgk">
      <dt>索引号</dt><dd>bm07-2024-00123</dd>
      <dt>发文机关</dt><dd>工业和信息化部</dd>
      <dt>发文字号</dt><dd>工信部联规〔2022〕12号</dd>
      <dt>成文日期</dt><dd>2022-01-05</dd>
      <dt>主题分类</dt><dd>无</dd>
    </dl>"""
    meta = extract_metadata(html)
    assert set_fields(meta) == {
        "index_number": "bm07-2024-00123",
        "issuer": "工业和信息化部",
        "document_number": "工信部联规〔2022〕12号",
        "document_number_raw": "工信部联规〔2022〕12号",
        "written_date": "2022-01-05",
    }
    assert set(meta.sources.values()) == {"table"}


def test_empty_label_cell_does_not_take_the_next_label() -> None:
    html = (
        "<table><tr><td>主题分类：</td><td></td><td>发布日期：</td><td>2024-03-08</td></tr></table>"
    )
    meta = extract_metadata(html)
    assert meta.topic is None
    assert meta.published_date == "2024-03-08"


def test_table_beats_meta_and_meta_beats_text() -> None:
    html = """<head><meta name="PubDate" content="2024-03-09 10:00"></head><body>
      <span>发布日期：2024-03-10</span>
      <table><tr><td>发布日期：</td><td>2024-03-08</td></tr></table></body>"""
    assert extract_metadata(html).published_date == "2024-03-08"
    no_table = re.sub(r"<table>.*</table>", "", html)
    meta = extract_metadata(no_table)
    assert (meta.published_date, meta.sources["published_date"]) == (
        "2024-03-09T10:00",
        "meta:PubDate",
    )


# --- meta tags only -------------------------------------------------------------------

MIIT_META_ONLY = """<html><head>
<meta name="SiteName" content="中华人民共和国工业和信息化部">
<meta name="SiteIDCode" content="bm07000001">
<meta name="ColumnName" content="通知">
<meta name="ArticleTitle" content="关于开展示例工作的通知">
<meta name="PubDate" content="2024-03-05 16:50">
<meta name="ContentSource" content="科技司">
<meta name="MakeTime" content="2024-06-30 02:00:00">
<meta name="lastmodifiedtime" content="2024-03-06-08:00:00">
</head><body><h1>关于开展示例工作的通知</h1><p>正文。</p></body></html>"""


def test_meta_tags_only() -> None:
    meta = extract_metadata(MIIT_META_ONLY)
    assert set_fields(meta) == {
        "published_date": "2024-03-05T16:50",  # not MakeTime, a regeneration time
        "last_modified": "2024-03-06T08:00:00",
        "title": "关于开展示例工作的通知",
        "source": "科技司",  # 信息来源, not 发文机关
    }
    assert meta.sources == {
        "published_date": "meta:PubDate",
        "last_modified": "meta:lastmodifiedtime",
        "title": "meta:ArticleTitle",
        "source": "meta:ContentSource",
    }
    assert meta.issuer is None


def test_meta_names_are_case_insensitive_and_bad_values_are_skipped() -> None:
    html = """<meta name="pubdate" content="not a date">
      <meta name="PUBDATE" content="2024-13-45">
      <meta name="firstpublishedtime" content="2024-03-05-09:30:00">
      <meta name="contentsource" content="">"""
    meta = extract_metadata(html)
    assert meta.published_date == "2024-03-05T09:30:00"
    assert meta.sources == {"published_date": "meta:firstpublishedtime"}


# --- free text only -------------------------------------------------------------------

MIIT_NOTICE_TEXT = """工业和信息化部 国家发展改革委 财政部关于示例工作的通知
工信部联规〔2022〕12号
各省、自治区、直辖市工业和信息化主管部门：
根据《国务院关于另一项工作的通知》（国发〔2021〕3号），现将有关事项通知如下。
国发〔2021〕4号文件同时废止。
工业和信息化部　　　国家发展改革委
财政部
2022年1月5日
（此件社会公开）
附件：示例清单（2023年1月1日修订）"""


def test_free_text_only() -> None:
    meta = extract_metadata("", MIIT_NOTICE_TEXT)
    assert set_fields(meta) == {
        "document_number": "工信部联规〔2022〕12号",  # the line under the title, not a citation
        "document_number_raw": "工信部联规〔2022〕12号",
        "issuer": "工业和信息化部、国家发展改革委、财政部",
        "written_date": "2022-01-05",
    }
    assert meta.sources == {
        "document_number": "text",
        "document_number_raw": "text",
        "issuer": "text:signature",
        "written_date": "text:signature",
    }


def test_free_text_from_html_body() -> None:
    html = "<div id='con_con'>" + "".join(f"<p>{line}</p>" for line in MIIT_NOTICE_TEXT.split("\n"))
    meta = extract_metadata(html + "</div>")
    assert meta.document_number == "工信部联规〔2022〕12号"
    assert meta.written_date == "2022-01-05"


def test_labelled_dates_in_free_text() -> None:
    text = "示例通知\n发布时间：2024-03-05 10:30 来源：国防科工局\n正文"
    meta = extract_metadata("", text)
    assert set_fields(meta) == {"published_date": "2024-03-05T10:30", "source": "国防科工局"}
    assert extract_metadata("", "日期：2024年3月5日\n正文").published_date == "2024-03-05"


def test_number_only_in_a_sentence_is_a_citation() -> None:
    meta = extract_metadata("", "关于示例的通知\n根据《示例办法》（国发〔2021〕3号）执行。")
    assert meta.document_number is None


def test_chinese_numeral_signature_date() -> None:
    meta = extract_metadata("", "示例决定\n正文。\n国　务　院\n二〇〇七年六月二十九日")
    assert (meta.issuer, meta.written_date) == ("国务院", "2007-06-29")


def test_headline_above_a_date_is_not_a_signature() -> None:
    meta = extract_metadata("", "第二场新闻发布会\n2012年6月24日\n正文")
    assert meta.issuer is None and meta.written_date is None


@pytest.mark.parametrize(
    "text",
    [
        "一、时间：2024年3月6日上午9:00\n二、地点：北京",  # a meeting's time
        "<p>时间：2024年3月6日</p>",
        "申报截止日期：2024年3月6日",  # 日期 glued to other Hanzi is not the label
        "会议日期选择 2024年3月6日",
    ],
)
def test_dates_that_are_not_the_publication_date(text: str) -> None:
    assert extract_metadata(text).published_date is None
    assert extract_metadata("", re.sub(r"<[^>]+>", "", text)).published_date is None


# --- brackets and digits --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("工信部联规〔2022〕12号", "工信部联规〔2022〕12号"),
        ("国办发[2024]5号", "国办发〔2024〕5号"),
        ("科工计（2023）100号", "科工计〔2023〕100号"),
        ("科工计［2023］100号", "科工计〔2023〕100号"),
        ("京政发(2024)3号", "京政发〔2024〕3号"),
        ("浙政办发【2024】7号", "浙政办发〔2024〕7号"),
        ("苏政发﹝2024﹞8号", "苏政发〔2024〕8号"),
        ("国发〔 2024 〕 第 9 号", "国发〔2024〕9号"),
        ("工信部联规［２０２２］１２号", "工信部联规〔2022〕12号"),
        ("国卫办医函〔2024〕012号", "国卫办医函〔2024〕12号"),
        ("国务院令第750号", "国务院令第750号"),
        ("工业和信息化部令 第 61 号", "工业和信息化部令第61号"),
        ("工业和信息化部公告2022年第8号", "工业和信息化部公告2022年第8号"),
        ("国家国防科技工业局公告 ２０２３年 第０３号", "国家国防科技工业局公告2023年第3号"),
        ("工信厅科函〔2022〕12号", "工信厅科函〔2022〕12号"),
        ("工信部规函[2023]5号", "工信部规函〔2023〕5号"),
    ],
)
def test_bracket_variants(raw: str, normalised: str) -> None:
    assert normalize_document_number(raw) == normalised
    table = f"<table><tr><td>发文字号：</td><td>{raw}</td></tr></table>"
    meta = extract_metadata(table)
    assert (meta.document_number, meta.document_number_raw) == (normalised, raw)
    text_meta = extract_metadata("", f"示例通知\n{raw}\n各有关单位：")
    assert (text_meta.document_number, text_meta.document_number_raw) == (normalised, raw)


@pytest.mark.parametrize(
    "value",
    [
        "2023-12-01 14:43",
        "2023年12月1日",
        "2023/12/01",
        "２０２３－１２－０１",
        "二〇二三年十二月一日",
    ],
)
def test_a_bare_date_on_an_info_line_is_the_publication_date(value: str) -> None:
    """The kepu.gov.cn info line (real page above), with each way dates are written."""
    html = f"<h1>标题</h1><ul><li>来源：新华社</li><li>作者：</li><li>{value}</li></ul>"
    meta = extract_metadata(html)
    assert meta.published_date == ("2023-12-01T14:43" if ":" in value else "2023-12-01")
    assert meta.sources["published_date"] == "text"


def test_a_bare_date_loses_to_a_labelled_one_and_alone_means_nothing() -> None:
    labelled = (
        "<ul><li>来源：新华社</li><li>2023-12-01</li></ul><p>发布时间：2023-12-02 来源：x</p>"
    )
    assert extract_metadata(labelled).published_date == "2023-12-02"
    # dates beside links, with no labelled neighbour: a list, not the page's date
    assert (
        extract_metadata("<ul><li><a>通知</a></li><li>2023-12-01</li></ul>").published_date is None
    )


def test_validity_where_the_page_states_it() -> None:
    html = "<table><tr><td>有效性：</td><td>有效</td><td>主题分类：</td><td>工业</td></tr></table>"
    meta = extract_metadata(html)
    assert (meta.validity, meta.topic) == ("有效", "工业")
    assert meta.sources["validity"] == "table"


@pytest.mark.parametrize("raw", ["", "无", "国发2024年5号", "根据通知执行", "ICP备05070218号"])
def test_not_document_numbers(raw: str) -> None:
    assert normalize_document_number(raw) is None


def test_unknown_number_form_under_a_trusted_label_is_kept_as_written() -> None:
    meta = extract_metadata("<table><tr><td>文号：</td><td>京政发〔2024〕</td></tr></table>")
    assert (meta.document_number, meta.document_number_raw) == ("京政发〔2024〕", "京政发〔2024〕")
    assert extract_metadata("<div>文号</div><div>请输入</div>").document_number is None


def test_full_width_digits() -> None:
    html = """<table>
      <tr><td>成文日期：</td><td>２０２４年３月５日</td></tr>
      <tr><td>发布日期：</td><td>２０２４－０３－０８</td></tr>
      <tr><td>发文字号：</td><td>科工计［２０２３］１００号</td></tr></table>"""
    meta = extract_metadata(html)
    assert meta.written_date == "2024-03-05"
    assert meta.published_date == "2024-03-08"
    assert meta.document_number == "科工计〔2023〕100号"
    assert meta.document_number_raw == "科工计［２０２３］１００号"
    text_meta = extract_metadata(
        "", "示例\n发布日期：２０２４年３月５日\n工业和信息化部\n２０２４年３月５日"
    )
    assert text_meta.published_date == "2024-03-05"
    assert text_meta.written_date == "2024-03-05"


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2024年3月5日", "2024-03-05"),
        ("2024 年 03 月 05 日", "2024-03-05"),
        ("2024-03-05", "2024-03-05"),
        ("2024/3/5", "2024-03-05"),
        ("2024.03.05", "2024-03-05"),
        ("2024-03-05 14:43", "2024-03-05T14:43"),
        ("2024-03-05 14:43:09", "2024-03-05T14:43:09"),
        ("2024年3月5日 14:43", "2024-03-05T14:43"),
        ("２０２４年３月５日", "2024-03-05"),
        ("二〇二四年三月五日", "2024-03-05"),
        ("二〇二四年十二月三十一日", "2024-12-31"),
        ("2024-02-30", None),
        ("2024-03-05 25:00", "2024-03-05"),
        ("3月5日", None),
    ],
)
def test_date_forms(value: str, iso: str | None) -> None:
    meta = extract_metadata(f"<table><tr><td>成文日期：</td><td>{value}</td></tr></table>")
    assert meta.written_date == iso


# --- nothing, listings, hostile input -------------------------------------------------


def test_page_with_no_metadata() -> None:
    meta = extract_metadata(
        "<html><head><title>首页</title></head><body><p>欢迎访问。</p></body></html>"
    )
    assert meta == NoticeMetadata()
    assert all(getattr(meta, name) is None for name in FIELDS)
    assert meta.sources == {}
    assert meta.to_json() == {}


def test_listing_with_many_dates_gives_none() -> None:
    rows = "".join(
        f"<li><a href='/a{i}'>标题{i}</a><span>发布时间：2024-03-0{i}</span></li>"
        for i in range(1, 6)
    )
    assert extract_metadata(f"<ul>{rows}</ul>").published_date is None
    two = "".join(f"<p>发布日期：2024-03-0{i}</p>" for i in (1, 2))
    assert extract_metadata(two).published_date == "2024-03-01"  # first of two: the page's


def test_to_json_only_set_fields() -> None:
    meta = extract_metadata(MIIT_META_ONLY)
    data = meta.to_json()
    assert set(data) == {"published_date", "last_modified", "title", "source", "sources"}
    assert data["sources"] == meta.sources and data["sources"] is not meta.sources


def test_metadata_is_hashable_and_frozen() -> None:
    meta = extract_metadata(GOV_CN_POLICY)
    assert hash(meta) == hash(extract_metadata(GOV_CN_POLICY))
    with pytest.raises(AttributeError):
        meta.issuer = "x"  # type: ignore[misc]


HOSTILE = {
    "empty": "",
    "spaces": " \n\t\u3000",
    "not html": "just some text, no tags",
    "xml declaration": "<?xml version='1.0' encoding='gbk'?><html><p>正文</p></html>",
    "control characters": "\x00\x01\x02<p>\x0b发布日期：\x00</p>\x7f",
    "lone surrogates": "<p>发布日期：\ud800\udfff</p>\ufffe\uffff",
    "unclosed everything": "<html><head><title>x<body><table><tr><td>发文字号：<td>",
    "only a comment": "<!-- <p>发布日期：2024-03-05</p>",
    "script text": "<script>var s = '发布日期：2024-03-05';</script>",
    "stray close tags": "</td></tr></table></html></body><p>x",
    "deep nesting": "<div>" * 20_000 + "x" + "</div>" * 20_000,
    "unclosed fonts": "<font>" * 20_000 + "<p>正文</p>",
    "many label cells": "<table><tr>" + "<td>发布日期：</td>" * 20_000 + "</tr></table>",
    "huge attribute": '<p title="' + "a" * 1_000_000 + '">x</p>',
    "huge meta": '<meta name="PubDate" content="' + "2" * 1_000_000 + '">',
    "many brackets": "<p>" + "国〔" * 100_000 + "</p>",
    "many years": "<p>" + "2024年" * 100_000 + "</p>",
    "many labels": "<p>" + "发布日期：" * 100_000 + "</p>",
    "long prefix": "<p>" + "国" * 500_000 + "〔2024〕1号</p>",
    "one long line": "<p>" + "工业和信息化部 " * 100_000 + "</p>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_never_raises(name: str) -> None:
    start = time.process_time()  # CPU of this process: other processes' load is not in it
    meta = extract_metadata(HOSTILE[name])
    assert isinstance(meta, NoticeMetadata)
    assert meta.published_date is None
    assert time.process_time() - start < 5  # no catastrophic backtracking


def test_comment_and_script_content_are_not_metadata() -> None:
    assert extract_metadata(HOSTILE["only a comment"]) == NoticeMetadata()
    assert extract_metadata(HOSTILE["script text"]) == NoticeMetadata()


def test_unusual_argument_types_do_not_raise() -> None:
    assert extract_metadata(None) == NoticeMetadata()  # type: ignore[arg-type]
    meta = extract_metadata("<p>发布日期：2024-03-05</p>".encode())  # type: ignore[arg-type]
    assert meta.published_date == "2024-03-05"
    assert extract_metadata("<p>x</p>", 42) == NoticeMetadata()  # type: ignore[arg-type]


def test_broken_markup_still_gives_the_table() -> None:
    html = "<table><td>发文字号：<td>国发〔2024〕1号<tr><td>成文日期<td>2024年1月2日"
    meta = extract_metadata(html)
    assert meta.document_number == "国发〔2024〕1号"
    assert meta.written_date == "2024-01-02"
    assert meta.sources["written_date"] == "table"


def test_table_below_a_nesting_too_deep_for_libxml2() -> None:
    html = "<font>" * 5_000 + GOV_CN_POLICY
    assert extract_metadata(html).document_number == "国办发〔2024〕5号"


def test_a_one_megabyte_page_is_fast() -> None:
    filler = "".join(
        f"<div class='item'><a href='/n{i}'>第{i}条新闻标题</a><span>浏览{i}次</span></div>"
        for i in range(12_000)
    )
    html = GOV_CN_POLICY.replace('<div class="content">', "<div class='content'>" + filler)
    assert len(html.encode()) > 1_000_000
    start = time.process_time()
    meta = extract_metadata(html)
    assert time.process_time() - start < 3
    assert meta.document_number == "国办发〔2024〕5号"


def test_threads_share_nothing() -> None:
    pages = [GOV_CN_POLICY, MIIT_META_ONLY] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(extract_metadata, pages))
    assert results == [extract_metadata(p) for p in pages]


# --- plain targets: stored on the capture, told by check / history / the API -----------

PLAIN = {  # target -> path on the local site
    "gov-policy": "/zhengce/content_1.htm",
    "kepu": "/politics/content_1755244.html",
    "zj-fgw": "/art/2016/11/22/art_1621004_30332664.html",
}
POLICY_METADATA = {
    "document_number": "工信部联规〔2022〕12号",
    "document_number_raw": "工信部联规〔2022〕12号",
    "issuer": "工业和信息化部",
    "written_date": "2022-03-01",
    "published_date": "2022-03-08",
    "index_number": "000014349/2022-00012",
    "topic": "工业、交通\\信息产业（含电信）",
    "last_modified": "2007-08-20T23:59:59",
}


def plain_site(server: HTTPServer, folder: Path) -> Path:
    """Plain targets (no ``follow``) over real pages."""
    bodies = {
        "gov-policy": gov_policy_page(),
        "kepu": (PAGES / "kepu.gov.cn/article_content_1755244.html").read_bytes(),
        "zj-fgw": (PAGES / "fgw.zj.gov.cn/article_art_1621004_30332664.html").read_bytes(),
    }
    lines = ["settings: {host_delay: 0}", "targets:"]
    for name, path in PLAIN.items():
        server.route(path, body=bodies[name], headers={"Content-Type": "text/html; charset=utf-8"})
        lines += [f"  - name: {name}", f"    url: {server.url(path)}", "    retries: 0"]
    config = folder / "targets.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def run_cli(config: Path, *args: str) -> list[dict]:
    from click.testing import CliRunner

    from watcher.cli.main import main

    data = config.parent / "snapshots"
    result = CliRunner().invoke(main, ["--config", str(config), "--data", str(data), *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_plain_targets_keep_their_metadata_and_every_output_tells_it(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    config = plain_site(http_server, tmp_path)
    first = {line["target"]: line for line in run_cli(config, "check", "--json", "--no-notify")}
    assert first["gov-policy"]["metadata"] == POLICY_METADATA
    assert first["kepu"]["metadata"] == {"published_date": "2023-12-01T14:43", "source": "新华社"}
    assert first["zj-fgw"]["metadata"] == {
        "published_date": "2016-11-22T09:53",
        "title": "1-10月德清县固定资产投资结构趋稳趋优",
        "source": "省发改委",
    }
    # the same bytes again: nothing new is stored, and the capture's metadata is still told
    again = {line["target"]: line for line in run_cli(config, "check", "--json", "--no-notify")}
    assert again["gov-policy"]["status"] == "unchanged"
    assert again["gov-policy"]["metadata"] == POLICY_METADATA

    (history,) = run_cli(config, "history", "gov-policy", "--json")
    assert history["id"] == first["gov-policy"]["capture_id"]
    assert history["metadata"] == POLICY_METADATA
    (shown,) = run_cli(config, "show", history["id"], "--json")
    assert shown["metadata"] == POLICY_METADATA

    import httpx

    from watcher.web.app import create_app

    async def api() -> tuple[dict, dict]:
        app = create_app(tmp_path / "snapshots", config)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            one = (await client.get(f"/api/captures/{history['id']}?text=false")).json()
            listed = (await client.get("/api/targets/kepu/captures")).json()
        return one, listed

    one, listed = asyncio.run(api())
    assert one["metadata"] == POLICY_METADATA
    assert listed["captures"][0]["metadata"]["published_date"] == "2023-12-01T14:43"


def test_a_page_without_metadata_says_so_with_an_empty_object(
    http_server: HTTPServer, tmp_path: Path
) -> None:
    http_server.route("/p", body=b"<html><body><p>plain words</p></body></html>")
    config = tmp_path / "targets.yaml"
    config.write_text(f"targets:\n  - name: p\n    url: {http_server.url('/p')}\n")
    (line,) = run_cli(config, "check", "--json", "--no-notify")
    assert line["metadata"] == {}
    (history,) = run_cli(config, "history", "p", "--json")
    assert history["metadata"] == {}


def _long_page(head: str, middle: str, tail: str, rows: int = 6_000) -> str:
    cells = "".join(f"<tr><td>{i}</td><td>某某船舶有限公司</td></tr>" for i in range(rows))
    half = rows // 2
    body = cells[: len(cells) * half // rows]
    return (
        f"<html><body><h1>关于示例工作的通知</h1>{head}<table>{body}</table>{middle}"
        f"<table>{cells[len(body) :]}</table>{tail}</body></html>"
    )


def test_a_long_pages_labels_are_read_at_its_start_and_end_only() -> None:
    """A label before the body or after it is found however long the page; one among
    the middle of 18,000 table elements is not (the walk reads 4,000 and 1,000)."""
    label = "<p>发文字号：工信部规〔2024〕3号</p>"
    date = "<p>发布时间：2024-05-06</p>"
    at_start = extract_metadata(_long_page(label, "", ""), "正文")
    assert at_start.document_number == "工信部规〔2024〕3号"
    at_end = extract_metadata(_long_page("", "", date), "正文")
    assert at_end.published_date == "2024-05-06"
    in_middle = extract_metadata(_long_page("", label, ""), "正文")
    assert in_middle.document_number is None
    assert extract_metadata(_long_page("", label, "", rows=300), "正文").document_number
